"""The ``daily_revenue`` asset (one day across every app of the catalog) and the HTML page of
the last days that is refreshed with it (``revenue_report``)."""

import datetime as dt
from pathlib import Path
from typing import Any

import dagster as dg

from reo_dt_assets.daily.store import write_day
from reo_dt_assets.defs import pools
from reo_dt_assets.defs.catalog import CATALOG
from reo_dt_assets.defs.groups import GROUP, OWNERS, layer
from reo_dt_assets.defs.partitions import daily
from reo_dt_assets.defs.reo.assets import reo_usage_events
from reo_dt_assets.defs.resources import StorageResource, WarehouseResource
from reo_dt_assets.defs.revenue.assets import user_revenue
from reo_dt_assets.defs.tables import column_schema
from reo_dt_assets.report import latest_day, read_partitions, write_report
from reo_dt_assets.schema import DAILY_REVENUE

REPORT_DAYS = 7  # the page shows the week up to the last day rolled up


@dg.asset(
    partitions_def=daily,
    # A day of the rollup reads every app's partition of that day: Dagster infers that mapping
    # from the shared "date" dimension.
    deps=[user_revenue, reo_usage_events],
    group_name=GROUP,
    owners=OWNERS,
    tags=layer("rollup"),
    kinds={"duckdb"},
    pool=pools.DUCKDB_WRITER,
    code_version="1",
    metadata={"dagster/column_schema": column_schema(DAILY_REVENUE)},
    # The rollup schedule runs at 13:30 UTC, after the per-app partitions of 12:30.
    freshness_policy=dg.FreshnessPolicy.cron(
        deadline_cron="0 15 * * *", lower_bound_delta=dt.timedelta(hours=3)
    ),
)
def daily_revenue(
    context: dg.AssetExecutionContext, duckdb: WarehouseResource
) -> dg.MaterializeResult:
    """Revenue, users and delivered events per app for one UTC day, across the catalog.

    Grain: one row per (report_date, app_id) of every catalog app, loaded or not (``loaded``
    says which), with the day-over-day change. Source: ``user_revenue``,
    ``user_revenue_partitions`` and the delivery ledger. Its checks say whether every app landed
    and was delivered, and whether the day looks like the same weekday of the last four weeks.

    Which days landed: the Partitions tab (one cell per day). The overview shows the day rolled
    up last, which after a backfill of old days is not yesterday. A day is rolled up when its
    last app lands (``daily_rollup_sensor``), and again by the 13:30 UTC schedule.
    """
    day = dt.date.fromisoformat(context.partition_key)
    with duckdb.get_connection() as conn:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        apps = [app.app_id for app in CATALOG.apps_on(day)]
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
    }
    for row in loaded.iter_rows(named=True):  # one plot per app, partitions in date order
        metadata[f"revenue_usd_{row['app_id']}"] = round(row["revenue_usd"], 2)
        metadata[f"users_{row['app_id']}"] = row["users"]
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    deps=[daily_revenue],
    group_name=GROUP,
    owners=OWNERS,
    tags=layer("report"),
    kinds={"html"},
    pool=pools.DUCKDB_WRITER,  # reads the table right after the rollup writes it
    code_version="1",
)
def revenue_report(
    context: dg.AssetExecutionContext, duckdb: WarehouseResource, storage: StorageResource
) -> dg.MaterializeResult:
    """The page the revenue team opens first: revenue per app per day and events delivered, for
    the week up to the last day rolled up, as bar charts and a table (one HTML file, no script).

    Grain: one file, ``<data dir>/report.html``, rewritten whole. Source: ``daily_revenue``.
    Refreshed by every run of ``daily_rollup_job`` (the rollup sensor's, the schedule's,
    ``make demo``'s). Money to the cent; the exact values stay in the tables.
    """
    with duckdb.get_connection() as conn:
        last = latest_day(conn) or dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
        first = last - dt.timedelta(days=REPORT_DAYS - 1)
        figures = read_partitions(conn, first, last)
    table = duckdb.table_name(DAILY_REVENUE)
    path = write_report(figures, first, last, Path(storage.data_dir) / "report.html", table)
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
