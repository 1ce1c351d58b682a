"""Checks of a partition's Reo.Dev events, read back from the delivery ledger."""

from collections.abc import Iterator

import dagster as dg

from reo_dt_assets.defs.partitions import report_of, report_partitions
from reo_dt_assets.defs.reo.assets import reo_usage_events
from reo_dt_assets.defs.resources import WarehouseResource
from reo_dt_assets.defs.verdicts import check_result
from reo_dt_assets.reo.ledger import DeliveryLedger
from reo_dt_assets.reo.verdicts import events_verdicts
from reo_dt_assets.revenue.store import user_id_totals


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            "payloads_match_contract",
            asset=reo_usage_events,
            blocking=True,
            partitions_def=report_partitions,
            description="Every recorded payload not rejected meets the contract.",
        ),
        dg.AssetCheckSpec(
            "every_event_accounted_for",
            asset=reo_usage_events,
            blocking=True,
            partitions_def=report_partitions,
            description="Every event is delivered or carries a recorded reason.",
        ),
        dg.AssetCheckSpec(
            "revenue_matches_user_revenue",
            asset=reo_usage_events,
            blocking=True,
            partitions_def=report_partitions,
            description="Events' revenue = the partition's revenue of users "
            "with a User ID in user_revenue.",
        ),
    ]
)
def reo_usage_events_checks(
    context: dg.AssetCheckExecutionContext, duckdb: WarehouseResource
) -> Iterator[dg.AssetCheckResult]:
    date, app_id = report_of(context.partition_key)
    events = DeliveryLedger(duckdb.get_ledger_connection).partition_events(date, app_id)
    with duckdb.get_connection() as conn:
        users, revenue = user_id_totals(conn, date, app_id)
    for verdict in events_verdicts(events, users, revenue):
        yield check_result(verdict, context.partition_key)
