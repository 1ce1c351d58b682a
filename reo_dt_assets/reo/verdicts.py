"""The ``reo_usage_events`` checks decided from the ledger and ``user_revenue``."""

from __future__ import annotations

import json
from collections.abc import Iterable

from reo_dt_assets.reo.ledger import LedgerEvent
from reo_dt_assets.reo.payload import payload_problems
from reo_dt_assets.verdict import CheckVerdict

REVENUE_TOLERANCE_USD = 1e-6


def events_verdicts(
    events: Iterable[LedgerEvent], users_with_user_id: int, user_id_revenue_usd: float
) -> list[CheckVerdict]:
    """Payload contract, every event accounted for, revenue equal to ``user_revenue``'s; one
    pass over the events (a partition may hold a million). The revenue is the usage events'
    plus the changes of the corrections not superseded (``reo.corrections``)."""
    count, usage, invalid_count, unaccounted_count, total = 0, 0, 0, 0, 0.0
    invalid: list[str] = []
    unaccounted: list[str] = []
    for event in events:
        count += 1
        if event.kind == "usage":
            usage += 1
        if event.kind == "usage" or event.status != "rejected":
            total += event.revenue_usd
        if event.status != "rejected" and (problems := payload_problems(json.loads(event.payload))):
            invalid_count += 1
            if len(invalid) < 10:
                invalid.append(f"{event.event_id}: {'; '.join(problems)}")
        if event.status != "delivered" and not event.last_error:
            unaccounted_count += 1
            if len(unaccounted) < 10:
                unaccounted.append(event.event_id)
    matches = abs(total - user_id_revenue_usd) <= REVENUE_TOLERANCE_USD
    return [
        CheckVerdict(
            "payloads_match_contract",
            not invalid_count,
            metadata={
                "events": count,
                "invalid_count": invalid_count,
                "invalid": "\n".join(invalid) or "none",
            },
        ),
        CheckVerdict(
            "every_event_accounted_for",
            not unaccounted_count and usage >= users_with_user_id,
            metadata={
                "ledger_events": count,
                "usage_events": usage,
                "users_with_user_id": users_with_user_id,
                "unaccounted_count": unaccounted_count,
                "unaccounted": ", ".join(unaccounted) or "none",
            },
        ),
        CheckVerdict(
            "revenue_matches_user_revenue",
            matches,
            None
            if matches
            else (
                "events carry a different revenue than user_revenue: the day was re-pulled with "
                "changed revenue after its events were delivered (they are not re-sent; an app "
                "with a correction_activity_type sends corrections past its thresholds)"
            ),
            {
                # Money to the cent for display, as the assets show it; exact values in DuckDB.
                "events_revenue_usd": round(total, 2),
                "user_revenue_usd": round(user_id_revenue_usd, 2),
                "difference_usd": round(total - user_id_revenue_usd, 2) + 0.0,  # never -0.0
                "note": "user_revenue_usd is the revenue of users with a User ID: user_revenue's "
                "revenue_usd_total less device_only_revenue_usd (unattributed revenue is in "
                "neither)",
            },
            # Delivered events are not re-sent, so a re-pulled day differs by design.
            warn_only=not matches,
        ),
    ]
