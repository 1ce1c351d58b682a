"""The daily job over all three layers, and its schedule: yesterday plus a lookback, every app."""

import datetime as dt
from collections.abc import Iterator

import dagster as dg

from reo_dt_assets.defs.catalog import CATALOG
from reo_dt_assets.defs.digital_turbine.assets import dt_user_level_report
from reo_dt_assets.defs.digital_turbine.partitions import report_key
from reo_dt_assets.defs.reo.assets import reo_usage_events
from reo_dt_assets.defs.revenue.assets import user_revenue
from reo_dt_assets.settings import lookback_days

daily_revenue_events_job = dg.define_asset_job(
    name="daily_revenue_events_job",
    selection=dg.AssetSelection.assets(dt_user_level_report, user_revenue, reo_usage_events),
    description="Raw DT report -> user_revenue -> Reo.Dev events, with every check, for one "
    "(app, day) partition.",
)


def partitions_due(today: dt.date, lookback: int) -> Iterator[tuple[str, dt.date]]:
    """(app, day) for yesterday and the ``lookback`` days before it, within each app's start."""
    for days_ago in range(1, lookback + 2):
        day = today - dt.timedelta(days=days_ago)
        for app in CATALOG.apps:
            if day >= max(CATALOG.start_date, app.start_date or CATALOG.start_date):
                yield app.app_id, day


@dg.schedule(
    job=daily_revenue_events_job,
    cron_schedule="30 12 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="12:30 UTC, after DT publishes the previous day: yesterday for every app, and "
    "REO_DT_LOOKBACK_DAYS earlier days re-pulled (delivered events are not re-sent).",
)
def daily_revenue_events_schedule(
    context: dg.ScheduleEvaluationContext,
) -> Iterator[dg.RunRequest]:
    today = context.scheduled_execution_time.date()
    for app_id, day in partitions_due(today, lookback_days()):
        yield dg.RunRequest(
            run_key=f"{report_key(app_id, day)}@{today}",
            partition_key=report_key(app_id, day),
            tags={"reo_dt/scheduled_for": today.isoformat()},
        )
