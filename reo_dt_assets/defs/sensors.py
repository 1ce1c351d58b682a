"""A day is rolled up when it lands: when the last app of a day is delivered, its rollup runs.

Without it ``daily_revenue`` lagged the per-app runs until someone launched the rollup or the
13:30 UTC schedule ran. The sensor watches every successful run of the code location (the daily
job's, a backfill's, a launch from the UI); for a run of an (app, day) partition it asks the
instance whether every catalog app of that day has ``reo_usage_events`` materialized and none is
queued or running, and then requests that day's ``daily_rollup_job`` once. Its run key is the day
and the newest of those materializations, so the same landing rolls up once, and a later re-pull
of the day rolls it up again. The schedule stays as the fallback that runs whatever happened, so
its coverage check turns red when an app is missing.
"""

import datetime as dt
from collections.abc import Mapping, Sequence

import dagster as dg

from reo_dt_assets.defs.catalog import CATALOG
from reo_dt_assets.defs.partitions import report_key
from reo_dt_assets.defs.schedules import daily_rollup_job

LANDED = dg.AssetKey("reo_usage_events")  # the end of an (app, day)'s chain
PARTITION_TAG = "dagster/partition"
WAITING = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def report_day(partition_key: str | None) -> dt.date | None:
    """The day of an ``"<app>|<YYYY-MM-DD>"`` key; None for any other key (a day's, none)."""
    app_id, _, day = (partition_key or "").partition("|")
    if not app_id or app_id not in CATALOG.app_ids:
        return None
    try:
        return dt.date.fromisoformat(day)
    except ValueError:
        return None


def rollup_request(
    day: dt.date, apps: Sequence[str], landed: Mapping[str, int], busy: set[str]
) -> dg.RunRequest | dg.SkipReason:
    """The day's rollup once every app in ``apps`` has ``landed`` (the storage id of its latest
    materialization) and none is ``busy`` (queued or running); else why not yet."""
    missing = [app for app in apps if app not in landed]
    if missing:
        return dg.SkipReason(f"{day}: waiting for {', '.join(missing)} to land")
    if busy & set(apps):
        return dg.SkipReason(f"{day}: {', '.join(sorted(busy))} still queued or running")
    newest = max(landed[app] for app in apps)
    return dg.RunRequest(
        run_key=f"rollup:{day}@{newest}",
        partition_key=day.isoformat(),
        tags={"reo_dt/rolled_up_on": "landing"},
    )


def landed_apps(instance: dg.DagsterInstance, day: dt.date, apps: Sequence[str]) -> dict[str, int]:
    """For each app of ``apps`` whose (app, day) was delivered: its latest materialization's
    storage id."""
    wanted = {report_key(app, day): app for app in apps}
    found: dict[str, int] = {}
    cursor = None
    while True:
        result = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=LANDED, asset_partitions=list(wanted)),
            limit=100,
            cursor=cursor,
        )
        for record in result.records:  # newest first
            app = wanted.get(record.partition_key or "")
            if app is not None:
                found.setdefault(app, record.storage_id)
        if not result.has_more or len(found) == len(wanted):
            return found
        cursor = result.cursor


def busy_apps(instance: dg.DagsterInstance, day: dt.date, other_than: str) -> set[str]:
    """The apps with a run of their (app, day) queued or running, ``other_than`` aside."""
    runs = instance.get_runs(dg.RunsFilter(statuses=WAITING))
    return {
        run.tags[PARTITION_TAG].partition("|")[0]
        for run in runs
        if run.run_id != other_than and report_day(run.tags.get(PARTITION_TAG)) == day
    }


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    request_job=daily_rollup_job,
    minimum_interval_seconds=10,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Rolls a day up (daily_revenue, then revenue_report) as soon as its last catalog "
    "app is delivered, once per landing; the 13:30 UTC schedule is the fallback.",
)
def daily_rollup_sensor(context: dg.RunStatusSensorContext) -> dg.RunRequest | dg.SkipReason:
    run = context.dagster_run
    day = report_day(run.tags.get(PARTITION_TAG))
    if day is None:
        return dg.SkipReason(f"run {run.run_id} is not of an (app, day) partition")
    apps = [app.app_id for app in CATALOG.apps_on(day)]
    instance = context.instance
    return rollup_request(
        day, apps, landed_apps(instance, day, apps), busy_apps(instance, day, run.run_id)
    )
