"""Checks of a day across apps: coverage (errors) and a same-weekday anomaly band (warns)."""

import datetime as dt
from collections.abc import Iterator

import dagster as dg

from reo_dt_assets.daily.store import day_rows, same_weekday_history
from reo_dt_assets.daily.verdicts import anomaly_verdict, coverage_verdict
from reo_dt_assets.defs.daily.assets import daily_revenue
from reo_dt_assets.defs.partitions import daily
from reo_dt_assets.defs.resources import WarehouseResource
from reo_dt_assets.defs.verdicts import check_result


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            "every_app_loaded_and_delivered",
            asset=daily_revenue,
            partitions_def=daily,
            description="Every catalog app has the day loaded and all its events delivered.",
        ),
        dg.AssetCheckSpec(
            "day_looks_like_its_weekday",
            asset=daily_revenue,
            partitions_def=daily,
            description="Revenue and users of each app within 0.5-2x the median of the same "
            "weekday over the last four weeks (a warning).",
        ),
    ]
)
def daily_revenue_checks(
    context: dg.AssetCheckExecutionContext, duckdb: WarehouseResource
) -> Iterator[dg.AssetCheckResult]:
    day = dt.date.fromisoformat(context.partition_key)
    with duckdb.get_connection() as conn:
        rows = day_rows(conn, day)
        history = same_weekday_history(conn, day)
    yield check_result(coverage_verdict(rows), context.partition_key)
    yield check_result(anomaly_verdict(rows, history), context.partition_key)
