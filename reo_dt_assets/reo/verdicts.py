"""The ``reo_usage_events`` checks decided from the ledger and ``user_revenue``."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable

from reo_dt_assets.reo.ledger import SUPERSEDED, LedgerEvent
from reo_dt_assets.reo.payload import payload_problems
from reo_dt_assets.verdict import CheckVerdict

REVENUE_TOLERANCE_USD = 1e-6


TOP_REASONS = 5


def events_verdicts(
    events: Iterable[LedgerEvent],
    users_with_user_id: int,
    user_id_revenue_usd: float,
    *,
    failure_pct: float,
) -> list[CheckVerdict]:
    """Payload contract, every event accounted for, revenue equal to ``user_revenue``'s, failed
    and rejected events within ``failure_pct`` % of the events; one pass over the events (a
    partition may hold a million). The revenue is the usage events' plus the changes of the
    corrections not superseded (``reo.corrections``)."""
    count, usage, invalid_count, unaccounted_count, total = 0, 0, 0, 0, 0.0
    invalid: list[str] = []
    unaccounted: list[str] = []
    reasons: Counter[str] = Counter()  # of the failed and rejected events
    for event in events:
        count += 1
        if event.status in ("failed", "rejected") and event.last_error != SUPERSEDED:
            reasons[_reason(event.last_error)] += 1
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
        failure_verdict(reasons, count, failure_pct),
    ]


def _reason(error: str | None) -> str:
    """A reason without what differs per event (its id, a payload's figures), to count."""
    return (error or "no reason recorded").split(": ", 1)[0][:120]


def failure_verdict(reasons: Counter[str], events: int, failure_pct: float) -> CheckVerdict:
    """Failed + rejected events at most ``failure_pct`` % of the partition's ``events``;
    otherwise the top reasons, with their counts."""
    bad = reasons.total()
    share = bad / events * 100 if events else 0.0
    passed = share <= failure_pct
    top = "; ".join(f"{reason} ({n})" for reason, n in reasons.most_common(TOP_REASONS))
    return CheckVerdict(
        "failures_within_threshold",
        passed,
        None
        if passed
        else (
            f"{bad} of {events} events ({share:.1f}%) failed or were rejected, over the "
            f"{failure_pct:g}% of REO_DT_DELIVERY_FAILURE_PCT. Top reasons: {top}. Failed "
            "events are sent again by the next run (or the sweep); rejected ones need the "
            "payload or the app's Reo.Dev set-up fixed, then a run."
        ),
        {
            "failed_or_rejected": bad,
            "events": events,
            "share_pct": round(share, 2),
            "threshold_pct": failure_pct,
            "top_reasons": top or "none",
        },
    )
