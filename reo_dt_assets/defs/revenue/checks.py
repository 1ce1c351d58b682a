"""Checks of the ``user_revenue`` table: schema, key, signs, reconciliation with the raw CSV, and
a warning when a reload moved a day whose events were already delivered.

One step runs the five (one DuckDB connection); the first four block the events built from the
table, the restatement warning never does.
"""

from collections.abc import Iterator
from pathlib import Path

import dagster as dg

from reo_dt_assets.defs.partitions import report_of, report_partitions
from reo_dt_assets.defs.resources import StorageResource, WarehouseResource
from reo_dt_assets.defs.revenue.assets import user_revenue
from reo_dt_assets.defs.verdicts import check_result
from reo_dt_assets.digital_turbine.raw import raw_report_path
from reo_dt_assets.revenue.queries import (
    delivered_events,
    duplicate_keys,
    last_load_restatement,
    loaded_totals,
    negative_rows,
    raw_totals,
    schema_problems,
)
from reo_dt_assets.revenue.verdicts import (
    REVENUE_TOLERANCE_USD,
    restatement_verdict,
    table_verdicts,
)
from reo_dt_assets.schema import USER_REVENUE


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            "schema_matches_contract",
            asset=user_revenue,
            blocking=True,
            partitions_def=report_partitions,
            description="Column names, types and nullability match the contract.",
        ),
        dg.AssetCheckSpec(
            "key_is_unique",
            asset=user_revenue,
            blocking=True,
            partitions_def=report_partitions,
            description="(report_date, app_id, user_key) is unique.",
        ),
        dg.AssetCheckSpec(
            "amounts_not_negative",
            asset=user_revenue,
            blocking=True,
            partitions_def=report_partitions,
            description="revenue_usd >= 0 and impressions >= 0.",
        ),
        dg.AssetCheckSpec(
            "reconciles_with_raw_report",
            asset=user_revenue,
            blocking=True,
            partitions_def=report_partitions,
            description="Users + unattributed = the raw CSV's rows, impressions "
            f"(exactly) and revenue (within {REVENUE_TOLERANCE_USD} USD).",
        ),
        dg.AssetCheckSpec(
            "restatement_within_threshold",
            asset=user_revenue,
            blocking=False,
            partitions_def=report_partitions,
            description="A warning when this load moved the day's revenue by more than "
            "REO_DT_RESTATEMENT_WARN_PCT (10% unless set) after its events were delivered: "
            "Reo.Dev holds the old numbers.",
        ),
    ]
)
def user_revenue_checks(
    context: dg.AssetCheckExecutionContext, duckdb: WarehouseResource, storage: StorageResource
) -> Iterator[dg.AssetCheckResult]:
    date, app_id = report_of(context.partition_key)
    raw = raw_totals(raw_report_path(Path(storage.data_dir), date, app_id))
    with duckdb.get_connection() as conn:
        problems = schema_problems(conn, USER_REVENUE)
        duplicates = duplicate_keys(conn, date, app_id) if not problems else []
        negatives = negative_rows(conn, date, app_id) if not problems else 0
        loaded = loaded_totals(conn, date, app_id) if not problems else None
        moved = last_load_restatement(conn, date, app_id)
        events = delivered_events(conn, date, app_id)
    for verdict in [
        *table_verdicts(problems, duplicates, negatives, loaded, raw),
        restatement_verdict(moved, events, storage.restatement_warn_pct),
    ]:
        yield check_result(verdict, context.partition_key, context.log)
