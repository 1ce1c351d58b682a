"""The ``daily_revenue`` asset: one day across every app of the catalog."""

import datetime as dt
from typing import Any

import dagster as dg

from reo_dt_assets.daily.store import write_day
from reo_dt_assets.defs import pools
from reo_dt_assets.defs.catalog import CATALOG
from reo_dt_assets.defs.groups import GROUP, OWNERS, layer
from reo_dt_assets.defs.partitions import daily
from reo_dt_assets.defs.reo.assets import reo_usage_events
from reo_dt_assets.defs.resources import WarehouseResource
from reo_dt_assets.defs.revenue.assets import user_revenue
from reo_dt_assets.defs.tables import column_schema
from reo_dt_assets.schema import DAILY_REVENUE


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
    """
    day = dt.date.fromisoformat(context.partition_key)
    with duckdb.get_connection() as conn:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        apps = [app.app_id for app in CATALOG.apps_on(day)]
        rows = write_day(conn, day, apps, now, log=context.log)
    loaded = rows.filter("loaded")
    metadata: dict[str, Any] = {
        "dagster/row_count": rows.height,
        "dagster/column_schema": column_schema(DAILY_REVENUE),
        "apps_loaded": f"{loaded.height} of {rows.height}",
        "revenue_usd": round(float(loaded["revenue_usd"].sum()), 2),
        "users": int(loaded["users"].sum()),
        "events_delivered": int(rows["events_delivered"].sum()),
    }
    for row in loaded.iter_rows(named=True):  # one plot per app, partitions in date order
        metadata[f"revenue_usd_{row['app_id']}"] = round(row["revenue_usd"], 2)
        metadata[f"users_{row['app_id']}"] = row["users"]
    return dg.MaterializeResult(metadata=metadata)
