"""The project's own definitions, as its code location builds them from ``defs/`` (its
components' ``defs.yaml``), for the tests to materialize: the chain of one (app, day) partition
with every check, the rollup, the jobs, schedules and sensors, and the source's wiring (catalog,
partitions). Imported only by tests, after conftest points the catalog at theirs."""

import dagster as dg

from reo_dt_assets.definitions import defs, source_wiring

DEFS = defs()  # what `dg` and the webserver load from the folder
WIRING = source_wiring()
CATALOG = WIRING.catalog
report_partitions, daily = WIRING.report_partitions, WIRING.daily
report_of, report_day = WIRING.report_of, WIRING.report_day


def _asset(name: str) -> dg.AssetsDefinition:
    return DEFS.get_assets_def(name)


def _checks(asset: str) -> dg.AssetsDefinition:
    """The checks of ``asset`` (the folder loader hands them back as an ``AssetsDefinition``)."""
    [checks] = [
        c
        for c in DEFS.asset_checks or []
        if isinstance(c, dg.AssetsDefinition)
        and {key.asset_key for key in c.check_keys} == {dg.AssetKey(asset)}
    ]
    return checks


def _named(definitions: list, name: str):
    [found] = [d for d in definitions if d.name == name]
    return found


dt_user_level_report = _asset("dt_user_level_report")
dt_user_level_report_columns = _checks("dt_user_level_report")
user_revenue = _asset("user_revenue")
user_revenue_checks = _checks("user_revenue")
reo_usage_events = _asset("reo_usage_events")
reo_usage_events_checks = _checks("reo_usage_events")
daily_revenue = _asset("daily_revenue")
daily_revenue_checks = _checks("daily_revenue")
revenue_cohorts = _asset("revenue_cohorts")
revenue_cohorts_checks = _checks("revenue_cohorts")
revenue_report = _asset("revenue_report")

daily_revenue_events_job = DEFS.resolve_job_def("daily_revenue_events_job")
daily_rollup_job = DEFS.resolve_job_def("daily_rollup_job")
daily_revenue_events_schedule: dg.ScheduleDefinition = _named(
    list(DEFS.schedules or []), "daily_revenue_events_schedule"
)
daily_rollup_schedule: dg.ScheduleDefinition = _named(
    list(DEFS.schedules or []), "daily_rollup_schedule"
)
daily_rollup_sensor: dg.RunStatusSensorDefinition = _named(
    list(DEFS.sensors or []), "daily_rollup_sensor"
)

CHAIN = [
    dt_user_level_report,
    dt_user_level_report_columns,
    user_revenue,
    user_revenue_checks,
    reo_usage_events,
    reo_usage_events_checks,
]
