"""The ``reo_usage_events`` checks decided from the ledger and ``user_revenue``."""

from __future__ import annotations

import json

from reo_dt_assets.reo.ledger import LedgerEvent
from reo_dt_assets.reo.payload import payload_problems
from reo_dt_assets.verdict import CheckVerdict

REVENUE_TOLERANCE_USD = 1e-6


def events_verdicts(
    events: list[LedgerEvent], users_with_user_id: int, user_id_revenue_usd: float
) -> list[CheckVerdict]:
    """Payload contract, every event accounted for, revenue equal to ``user_revenue``'s."""
    invalid = [
        f"{event.event_id}: {'; '.join(problems)}"
        for event in events
        if event.status != "rejected" and (problems := payload_problems(json.loads(event.payload)))
    ]
    unaccounted = [e.event_id for e in events if e.status != "delivered" and not e.last_error]
    total = sum(event.revenue_usd for event in events)
    matches = abs(total - user_id_revenue_usd) <= REVENUE_TOLERANCE_USD
    return [
        CheckVerdict(
            "payloads_match_contract",
            not invalid,
            metadata={"events": len(events), "invalid": "\n".join(invalid[:10]) or "none"},
        ),
        CheckVerdict(
            "every_event_accounted_for",
            not unaccounted and len(events) >= users_with_user_id,
            metadata={
                "ledger_events": len(events),
                "users_with_user_id": users_with_user_id,
                "unaccounted": ", ".join(unaccounted[:10]) or "none",
            },
        ),
        CheckVerdict(
            "revenue_matches_user_revenue",
            matches,
            None
            if matches
            else (
                "events carry a different revenue than user_revenue: the day was re-pulled with "
                "changed revenue after its events were delivered (they are not re-sent)"
            ),
            {
                "events_revenue_usd": round(total, 6),
                "user_revenue_usd": round(user_id_revenue_usd, 6),
            },
            # Delivered events are not re-sent, so a re-pulled day differs by design.
            warn_only=not matches,
        ),
    ]
