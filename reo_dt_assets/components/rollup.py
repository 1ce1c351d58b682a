"""The daily view across apps: ``daily_revenue`` (one day across every app of the catalog) and
its checks, lifetime value by first-revenue cohort (``revenue_cohorts``) and its check, the HTML
page of the last days refreshed with it (``revenue_report``), the job that
runs both, and what starts it: a sensor when a day's last app lands, a schedule as fallback.
"""

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg

from reo_dt_assets.components.executor import executor
from reo_dt_assets.components.resources import StorageResource, WarehouseResource
from reo_dt_assets.components.results import check_result, column_schema
from reo_dt_assets.components.schedule import days_due
from reo_dt_assets.components.wiring import DUCKDB_WRITER, Wiring, layer, report_key
from reo_dt_assets.daily.cohorts import cohort_totals, recent_curves, write_cohorts
from reo_dt_assets.daily.store import day_rows, same_weekday_history, write_day
from reo_dt_assets.daily.verdicts import anomaly_verdict, cohorts_verdict, coverage_verdict
from reo_dt_assets.report import latest_day, read_partitions, write_report
from reo_dt_assets.schema import DAILY_REVENUE, DAILY_REVENUE_SPLITS, REVENUE_COHORTS

REPORT_DAYS = 7  # the page shows the week up to the last day rolled up
REPORT_COHORTS = 8  # and the LTV curves of each app's 8 latest cohorts
PARTITION_TAG = "dagster/partition"
WAITING = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def build_rollup_assets(
    w: Wiring, d: Wiring, upstream: dg.AssetKey, events: dg.AssetKey
) -> tuple[
    dg.AssetsDefinition,
    dg.AssetChecksDefinition,
    dg.AssetsDefinition,
    dg.AssetChecksDefinition,
    dg.AssetsDefinition,
]:
    """``daily_revenue`` and its checks, ``revenue_cohorts`` and its check, and
    ``revenue_report`` (named by the delivery ``d``) over the source ``w``'s ``upstream`` table
    and the delivery's ``events``."""
    duckdb_key, storage_key = w.name("duckdb"), w.name("storage")

    @dg.asset(
        key=d.key("daily_revenue"),
        group_name=d.group,
        owners=list(d.owners),
        tags=layer("rollup"),
        partitions_def=w.daily,
        # A day of the rollup reads every app's partition of that day: Dagster infers that mapping
        # from the shared "date" dimension.
        deps=[upstream, events],
        kinds={"duckdb"},
        pool=w.pool(DUCKDB_WRITER),
        required_resource_keys={duckdb_key},
        code_version="1",
        metadata={"dagster/column_schema": column_schema(DAILY_REVENUE)},
        # The rollup schedule runs at 13:30 UTC, after the per-app partitions of 12:30.
        freshness_policy=dg.FreshnessPolicy.cron(
            deadline_cron="0 15 * * *", lower_bound_delta=dt.timedelta(hours=3)
        ),
    )
    def daily_revenue(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        """Revenue, users and delivered events per app for one UTC day, across the catalog.

        Grain: one row per (report_date, app_id) of every catalog app, loaded or not (``loaded``
        says which), with the day-over-day change and ARPDAU (revenue per user of the day); and,
        in ``daily_revenue_splits``, one row per (report_date, app_id, ad network or placement
        type) with its users and revenue. Source: ``user_revenue``,
        ``user_revenue_partitions`` and the delivery ledger. Its checks say whether every app landed
        and was delivered, and whether the day looks like the same weekday of the last four weeks.

        Which days landed: the Partitions tab (one cell per day). The overview shows the day rolled
        up last, which after a backfill of old days is not yesterday. A day is rolled up when its
        last app lands (``daily_rollup_sensor``), and again by the 13:30 UTC schedule.
        """
        duckdb: WarehouseResource = getattr(context.resources, duckdb_key)
        day = dt.date.fromisoformat(context.partition_key)
        with duckdb.get_connection() as conn:
            now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            apps = [app.app_id for app in w.catalog.apps_on(day)]
            rows = write_day(conn, day, apps, now, log=context.log)
        loaded = rows.filter("loaded")
        metadata: dict[str, Any] = {
            "dagster/row_count": rows.height,
            "dagster/table_name": duckdb.table_name(DAILY_REVENUE),
            "dagster/column_schema": column_schema(DAILY_REVENUE),
            "apps_loaded": f"{loaded.height} of {rows.height}",
            "revenue_usd": round(float(loaded["revenue_usd"].sum()), 2),
            "unattributed_revenue_usd": round(float(loaded["unattributed_revenue_usd"].sum()), 2),
            "note": "revenue_usd is the users' (user_revenue); + unattributed_revenue_usd = DT's "
            "whole reports of the day",
            "users": int(loaded["users"].sum()),
            "events_delivered": int(rows["events_delivered"].sum()),
            "splits_table": duckdb.table_name(DAILY_REVENUE_SPLITS),
        }
        for row in loaded.iter_rows(named=True):  # one plot per app, partitions in date order
            metadata[f"revenue_usd_{row['app_id']}"] = round(row["revenue_usd"], 2)
            metadata[f"users_{row['app_id']}"] = row["users"]
            if row["arpdau_usd"] is not None:
                metadata[f"arpdau_usd_{row['app_id']}"] = round(row["arpdau_usd"], 4)
        return dg.MaterializeResult(metadata=metadata)

    @dg.asset(
        key=d.key("revenue_cohorts"),
        group_name=d.group,
        owners=list(d.owners),
        tags=layer("rollup"),
        deps=[daily_revenue],
        kinds={"duckdb"},
        pool=w.pool(DUCKDB_WRITER),
        required_resource_keys={duckdb_key},
        code_version="1",
        metadata={"dagster/column_schema": column_schema(REVENUE_COHORTS)},
    )
    def revenue_cohorts(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        """Lifetime value by first-revenue cohort: the users whose first revenue was on a day,
        and their revenue on each day since, per app.

        Grain: one row per (app_id, first_revenue_day, days_since), from the cohort's first day
        to the app's last loaded day: cohort users, users active that day, the day's revenue,
        cumulative revenue and cumulative revenue per user (the cohort's LTV curve). Source:
        ``user_revenue``, every loaded day. Not partitioned: rebuilt whole, in one transaction,
        by every rollup, since a reload of any day moves cohorts.
        """
        duckdb: WarehouseResource = getattr(context.resources, duckdb_key)
        with duckdb.get_connection() as conn:
            rows = write_cohorts(conn, log=context.log)
            totals = cohort_totals(conn)
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": rows,
                "dagster/table_name": duckdb.table_name(REVENUE_COHORTS),
                "dagster/column_schema": column_schema(REVENUE_COHORTS),
                "cohorts": totals.cohorts,
                "users": totals.users,
                "revenue_usd": round(totals.revenue_usd, 2),
            }
        )

    @dg.asset_check(
        name="cohorts_add_up_to_user_revenue",
        asset=revenue_cohorts,
        blocking=True,
        required_resource_keys={duckdb_key},
        description="Every user with revenue is in one cohort, and the cohorts' revenue is that "
        "of user_revenue (to 1e-6 USD).",
    )
    def cohorts_add_up_to_user_revenue(
        context: dg.AssetCheckExecutionContext,
    ) -> dg.AssetCheckResult:
        duckdb: WarehouseResource = getattr(context.resources, duckdb_key)
        with duckdb.get_connection() as conn:
            totals = cohort_totals(conn)
        verdict = cohorts_verdict(totals)
        return dg.AssetCheckResult(
            passed=verdict.passed, description=verdict.description, metadata=verdict.metadata
        )

    @dg.asset(
        key=d.key("revenue_report"),
        group_name=d.group,
        owners=list(d.owners),
        tags=layer("report"),
        deps=[daily_revenue, revenue_cohorts],
        kinds={"html"},
        pool=w.pool(DUCKDB_WRITER),  # reads the table right after the rollup writes it
        code_version="1",
        required_resource_keys={duckdb_key, storage_key},
    )
    def revenue_report(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        """The page the revenue team opens first: revenue per app per day and events delivered, for
        the week up to the last day rolled up, as bar charts and a table (one HTML file, no script),
        and the lifetime value curves of each app's latest cohorts.

        Grain: one file, ``<data dir>/report.html``, rewritten whole. Source: ``daily_revenue``
        and ``revenue_cohorts``.
        Refreshed by every run of the rollup job (the rollup sensor's, the schedule's,
        ``make demo``'s). Money to the cent; the exact values stay in the tables.
        """
        duckdb: WarehouseResource = getattr(context.resources, duckdb_key)
        storage: StorageResource = getattr(context.resources, storage_key)
        with duckdb.get_connection() as conn:
            last = latest_day(conn) or dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
            first = last - dt.timedelta(days=REPORT_DAYS - 1)
            figures = read_partitions(conn, first, last)
            curves = recent_curves(conn, last, REPORT_COHORTS)
        table = duckdb.table_name(DAILY_REVENUE)
        path = write_report(
            figures, first, last, Path(storage.data_dir) / "report.html", table, curves
        )
        days = sorted({f.day for f in figures})
        context.log.info(f"{path}: {len(days)} of the days {first} to {last} have data")
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(path)),
                "link": dg.MetadataValue.url(path.as_uri()),
                "days_covered": f"{first} to {last}",
                "days_with_data": len(days),
                "apps": len({f.app_id for f in figures}),
            }
        )

    @dg.multi_asset_check(
        name=d.name("daily_revenue_checks"),  # the op: one per instance
        specs=[
            dg.AssetCheckSpec(
                "every_app_loaded_and_delivered",
                asset=daily_revenue,
                partitions_def=w.daily,
                description="Every catalog app has the day loaded and all its events delivered.",
            ),
            dg.AssetCheckSpec(
                "day_looks_like_its_weekday",
                asset=daily_revenue,
                partitions_def=w.daily,
                description="Revenue and users of each app within 0.5-2x the median of the same "
                "weekday over the last four weeks (a warning).",
            ),
        ],
        required_resource_keys={duckdb_key},
    )
    def daily_revenue_checks(
        context: dg.AssetCheckExecutionContext,
    ) -> Iterator[dg.AssetCheckResult]:
        """Coverage (errors) and the same-weekday anomaly band (warns)."""
        duckdb: WarehouseResource = getattr(context.resources, duckdb_key)
        day = dt.date.fromisoformat(context.partition_key)
        with duckdb.get_connection() as conn:
            rows = day_rows(conn, day)
            history = same_weekday_history(conn, day)
        yield check_result(coverage_verdict(rows), context.partition_key)
        yield check_result(anomaly_verdict(rows, history), context.partition_key)

    return (
        daily_revenue,
        daily_revenue_checks,
        revenue_cohorts,
        cohorts_add_up_to_user_revenue,
        revenue_report,
    )


def build_rollup_automation(
    w: Wiring,
    d: Wiring,
    assets: Sequence[dg.AssetsDefinition],
    events: dg.AssetKey,
    pull_ages: Callable[[], tuple[int, ...]],
) -> tuple[Any, dg.ScheduleDefinition, dg.SensorDefinition]:
    """The rollup job of ``assets``, its 13:30 UTC schedule (the days of ``pull_ages``) and the
    sensor that rolls a day up when the last app's ``events`` land.

    A day is rolled up when it lands: when the last app of a day is delivered, its rollup runs.

    Without it ``daily_revenue`` lagged the per-app runs until someone launched the rollup or the
    13:30 UTC schedule ran. The sensor watches every successful run of the code location (the daily
    job's, a backfill's, a launch from the UI); for a run of an (app, day) partition it asks the
    instance whether every catalog app of that day has ``reo_usage_events`` materialized and none is
    queued or running, and then requests that day's rollup once. Its run key is the day
    and the newest of those materializations, so the same landing rolls up once, and a later re-pull
    of the day rolls it up again. The schedule stays as the fallback that runs whatever happened, so
    its coverage check turns red when an app is missing.
    """
    job = dg.define_asset_job(
        name=d.name("daily_rollup_job"),
        selection=dg.AssetSelection.assets(*assets),
        description="daily_revenue and its checks for one day, across every app of the catalog, "
        "then the HTML report of the week up to the last day rolled up.",
        executor_def=executor,
    )

    @dg.schedule(
        name=d.name("daily_rollup_schedule"),
        job=job,
        cron_schedule="30 13 * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="13:30 UTC, an hour after the per-app runs: the same days rolled up across "
        "apps.",
    )
    def daily_rollup_schedule(context: dg.ScheduleEvaluationContext) -> Iterator[dg.RunRequest]:
        today = context.scheduled_execution_time.date()
        for day in days_due(w.catalog, today, pull_ages()):
            yield dg.RunRequest(run_key=f"{day}@{today}", partition_key=day.isoformat())

    @dg.run_status_sensor(
        name=d.name("daily_rollup_sensor"),
        run_status=dg.DagsterRunStatus.SUCCESS,
        request_job=job,
        minimum_interval_seconds=10,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Rolls a day up (daily_revenue, then revenue_report) as soon as its last "
        "catalog app is delivered, once per landing; the 13:30 UTC schedule is the fallback.",
    )
    def daily_rollup_sensor(context: dg.RunStatusSensorContext) -> dg.RunRequest | dg.SkipReason:
        run = context.dagster_run
        day = w.report_day(run.tags.get(PARTITION_TAG))
        if day is None:
            return dg.SkipReason(f"run {run.run_id} is not of an (app, day) partition")
        apps = [app.app_id for app in w.catalog.apps_on(day)]
        instance = context.instance
        return rollup_request(
            day,
            apps,
            landed_apps(instance, events, day, apps),
            busy_apps(instance, w, day, run.run_id),
        )

    return job, daily_rollup_schedule, daily_rollup_sensor


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


def landed_apps(
    instance: dg.DagsterInstance, events: dg.AssetKey, day: dt.date, apps: Sequence[str]
) -> dict[str, int]:
    """For each app of ``apps`` whose (app, day) ``events`` were delivered: its latest
    materialization's storage id."""
    wanted = {report_key(app, day): app for app in apps}
    found: dict[str, int] = {}
    cursor = None
    while True:
        result = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=events, asset_partitions=list(wanted)),
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


def busy_apps(instance: dg.DagsterInstance, w: Wiring, day: dt.date, other_than: str) -> set[str]:
    """The apps with a run of their (app, day) queued or running, ``other_than`` aside."""
    runs = instance.get_runs(dg.RunsFilter(statuses=WAITING))
    return {
        run.tags[PARTITION_TAG].partition("|")[0]
        for run in runs
        if run.run_id != other_than and w.report_day(run.tags.get(PARTITION_TAG)) == day
    }
