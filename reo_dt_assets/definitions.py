"""The code location: assets, checks and resources of reo-dt-assets."""

import dagster as dg

from reo_dt_assets.defs.digital_turbine import assets as dt_assets
from reo_dt_assets.defs.digital_turbine import checks as dt_checks
from reo_dt_assets.defs.reo import assets as reo_assets
from reo_dt_assets.defs.reo import checks as reo_checks
from reo_dt_assets.defs.resources import build_resources
from reo_dt_assets.defs.revenue import assets as revenue_assets
from reo_dt_assets.defs.revenue import checks as revenue_checks
from reo_dt_assets.defs.schedules import daily_revenue_events_job, daily_revenue_events_schedule

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([dt_assets, revenue_assets, reo_assets]),
    asset_checks=dg.load_asset_checks_from_modules([dt_checks, revenue_checks, reo_checks]),
    jobs=[daily_revenue_events_job],
    schedules=[daily_revenue_events_schedule],
    resources=build_resources(),
    # A run's steps form a chain (report -> check -> table -> checks -> events -> checks), so
    # one process per run is as fast as one per step and far lighter on a small machine.
    executor=dg.in_process_executor,
)
