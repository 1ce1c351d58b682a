"""The app catalog loaded once, when the code location loads, so bad entries fail early."""

from reo_dt_assets.catalog import load_catalog
from reo_dt_assets.settings import apps_file

CATALOG = load_catalog(apps_file())
