"""The project as dg Components, for this code location and any other dg project.

``DigitalTurbineSource`` pulls DT's user-level reports into ``user_revenue``;
``ReoDevDelivery`` sends a source's table to Reo.Dev (and rolls the days up); ``ReoDtAlerts``
tells people what failed. ``dg list components`` shows them (the ``dagster_dg_cli.registry_modules``
entry point), ``dg scaffold defs <type> <path>`` writes a working ``defs.yaml``. The modules beside
this one build their definitions; the library under ``reo_dt_assets`` knows nothing of Dagster.
"""

from reo_dt_assets.components.delivery import ReoDevDelivery, ReoDtAlerts
from reo_dt_assets.components.source import DigitalTurbineSource

__all__ = ["DigitalTurbineSource", "ReoDevDelivery", "ReoDtAlerts"]
