"""The code location: every definition under ``defs/``, found by ``dg``'s folder loader, once
every setting in the environment is known to be usable (``settings.validate``)."""

from pathlib import Path

import dagster as dg

from reo_dt_assets import settings
from reo_dt_assets.defs.executor import executor


@dg.definitions
def defs() -> dg.Definitions:
    settings.validate()  # before the folder loader reads any of them
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
        dg.Definitions(executor=executor),
    )
