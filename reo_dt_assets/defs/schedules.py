"""The daily jobs and their schedules: yesterday plus a lookback, every app, then the rollup.

12:30 UTC pulls, loads and delivers each (app, day); 13:30 UTC rolls each of those days up
across apps, once the per-app runs are done (they take minutes; an app still failing then shows
as a hole in the rollup, and its retry's success is rolled up the next day, in the lookback).
"""

import datetime as dt
from collections.abc import Iterator

import dagster as dg

from reo_dt_assets.catalog import Catalog
from reo_dt_assets.defs.catalog import CATALOG
from reo_dt_assets.defs.daily.assets import daily_revenue
from reo_dt_assets.defs.digital_turbine.assets import dt_user_level_report
from reo_dt_assets.defs.partitions import report_key
from reo_dt_assets.defs.reo.assets import reo_usage_events
from reo_dt_assets.defs.revenue.assets import user_revenue
from reo_dt_assets.settings import lookback_days

daily_revenue_events_job = dg.define_asset_job(
    name="daily_revenue_events_job",
    selection=dg.AssetSelection.assets(dt_user_level_report, user_revenue, reo_usage_events),
    description="Raw DT report -> user_revenue -> Reo.Dev events, with every check, for one "
    "(app, day) partition.",
)


def days_due(catalog: Catalog, today: dt.date, lookback: int) -> list[dt.date]:
    """Yesterday and the ``lookback`` days before it, within the catalog's partitions."""
    days = [today - dt.timedelta(days=n) for n in range(1, lookback + 2)]
    return [day for day in days if day >= catalog.start_date]


def partitions_due(
    catalog: Catalog, today: dt.date, lookback: int
) -> Iterator[tuple[str, dt.date]]:
    """(app, day) for each day due and each app active that day."""
    for day in days_due(catalog, today, lookback):
        for app in catalog.apps_on(day):
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
    for app_id, day in partitions_due(CATALOG, today, lookback_days()):
        yield dg.RunRequest(
            run_key=f"{report_key(app_id, day)}@{today}",
            partition_key=report_key(app_id, day),
            tags={"reo_dt/scheduled_for": today.isoformat()},
        )


daily_rollup_job = dg.define_asset_job(
    name="daily_rollup_job",
    selection=dg.AssetSelection.assets(daily_revenue),
    description="daily_revenue and its checks for one day, across every app of the catalog.",
)


@dg.schedule(
    job=daily_rollup_job,
    cron_schedule="30 13 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="13:30 UTC, an hour after the per-app runs: the same days rolled up across apps.",
)
def daily_rollup_schedule(context: dg.ScheduleEvaluationContext) -> Iterator[dg.RunRequest]:
    today = context.scheduled_execution_time.date()
    for day in days_due(CATALOG, today, lookback_days()):
        yield dg.RunRequest(run_key=f"{day}@{today}", partition_key=day.isoformat())
