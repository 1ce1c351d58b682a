"""Checks of a partition's Reo.Dev events, read back from the delivery ledger."""

import json
from collections.abc import Iterator

import dagster as dg
from dagster_duckdb import DuckDBResource

from reo_dt_assets.defs.digital_turbine.partitions import report_of
from reo_dt_assets.defs.reo.assets import reo_usage_events
from reo_dt_assets.reo.payload import payload_problems
from reo_dt_assets.schema import DELIVERIES, USER_REVENUE

REVENUE_TOLERANCE_USD = 1e-6


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            "payloads_match_contract",
            asset=reo_usage_events,
            blocking=True,
            description="Every recorded payload not rejected meets the contract.",
        ),
        dg.AssetCheckSpec(
            "every_event_accounted_for",
            asset=reo_usage_events,
            blocking=True,
            description="Every event is delivered or carries a recorded reason.",
        ),
        dg.AssetCheckSpec(
            "revenue_matches_user_revenue",
            asset=reo_usage_events,
            blocking=True,
            description="Events' revenue = the partition's revenue of users "
            "with a User ID in user_revenue.",
        ),
    ]
)
def reo_usage_events_checks(
    context: dg.AssetCheckExecutionContext, duckdb: DuckDBResource
) -> Iterator[dg.AssetCheckResult]:
    date, app_id = report_of(context.partition_key)
    with duckdb.get_connection() as conn:
        ledger = conn.execute(
            f"SELECT event_id, status, last_error, payload, revenue_usd FROM {DELIVERIES.name} "
            "WHERE report_date = ? AND app_id = ?",
            [date, app_id],
        ).fetchall()
        expected = conn.execute(
            f"SELECT count(*), coalesce(sum(revenue_usd), 0) FROM {USER_REVENUE.name} "
            "WHERE report_date = ? AND app_id = ? AND user_key_type = 'user_id'",
            [date, app_id],
        ).fetchall()[0]
    invalid = [
        f"{event_id}: {'; '.join(problems)}"
        for event_id, status, _, payload, _ in ledger
        if status != "rejected" and (problems := payload_problems(json.loads(payload)))
    ]
    yield dg.AssetCheckResult(
        check_name="payloads_match_contract",
        passed=not invalid,
        metadata={"events": len(ledger), "invalid": "\n".join(invalid[:10])},
    )
    unaccounted = [
        event_id for event_id, status, error, _, _ in ledger if status != "delivered" and not error
    ]
    yield dg.AssetCheckResult(
        check_name="every_event_accounted_for",
        passed=not unaccounted and len(ledger) >= int(expected[0]),
        metadata={
            "ledger_events": len(ledger),
            "users_with_user_id": int(expected[0]),
            "unaccounted": ", ".join(unaccounted[:10]),
        },
    )
    total = sum(row[4] for row in ledger)
    matches = abs(total - float(expected[1])) <= REVENUE_TOLERANCE_USD
    yield dg.AssetCheckResult(
        check_name="revenue_matches_user_revenue",
        passed=matches,
        # A re-pulled day whose revenue changed after delivery differs by design (delivered
        # events are not re-sent): worth a warning, not an error.
        severity=dg.AssetCheckSeverity.ERROR if matches else dg.AssetCheckSeverity.WARN,
        description=None
        if matches
        else (
            "events carry a different revenue than user_revenue: the day was re-pulled with "
            "changed revenue after its events were delivered (they are not re-sent)"
        ),
        metadata={"events_revenue_usd": total, "user_revenue_usd": float(expected[1])},
    )
