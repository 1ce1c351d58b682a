"""Corrections: Reo.Dev told again of a delivered user whose revenue a later pull moved.

Reo.Dev has no update and no delete: an event it received stays as it was. When DT restates a
day after its events were delivered, an app that opts in (``correction_activity_type`` in the
catalog) sends one more event per user whose revenue moved by more than both thresholds: the new
total, what Reo.Dev was told before and the change, in ``meta``. Off by default, because Reo.Dev
counts every event as activity of the user.

What Reo.Dev was told of a user is the delivered usage event's revenue plus the changes of the
user's delivered corrections (a correction's ledger row carries its change, so the ledger's
revenue adds up to what Reo.Dev holds). A correction's ``event_id`` is stable per version (the
new total), so a re-run registers the same event and the ledger sends it once. A correction not
yet delivered when the day moves again is superseded (rejected, with the reason) by the next.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass

from reo_dt_assets.reo.events import BuildResult, BuiltEvent, event_id, wire_event_id
from reo_dt_assets.reo.ledger import Connect, DeliveryLedger
from reo_dt_assets.schema import DELIVERIES, USER_REVENUE


@dataclass(frozen=True)
class Thresholds:
    """A user is corrected when the move exceeds both (``min_pct`` of what Reo.Dev was told;
    any move from zero counts)."""

    min_usd: float
    min_pct: float


_CANDIDATES = f"""
WITH told AS (
    SELECT user_key, sum(revenue_usd) AS told_usd,
           any_value(event_id) FILTER (WHERE coalesce(kind, 'usage') = 'usage') AS usage_id,
           any_value(payload) FILTER (WHERE coalesce(kind, 'usage') = 'usage') AS payload
    FROM {DELIVERIES.name}
    WHERE report_date = $date AND app_id = $app AND status = 'delivered' AND user_key > $after
    GROUP BY user_key
    HAVING usage_id IS NOT NULL
)
SELECT t.user_key, t.usage_id, t.payload, t.told_usd,
       coalesce(u.revenue_usd, 0) AS revenue_usd, coalesce(u.impressions, 0) AS impressions
FROM told t
LEFT JOIN {USER_REVENUE.name} u
  ON u.report_date = $date AND u.app_id = $app AND u.user_key = t.user_key
WHERE abs(coalesce(u.revenue_usd, 0) - t.told_usd) > $min_usd
  AND (t.told_usd = 0
       OR abs(coalesce(u.revenue_usd, 0) - t.told_usd) / abs(t.told_usd) * 100 > $min_pct)
ORDER BY t.user_key
LIMIT $chunk
"""


def correction_chunks(
    ledger: DeliveryLedger,
    connect: Connect,
    *,
    date: dt.date,
    app_id: str,
    activity_type: str,
    thresholds: Thresholds,
    event_id_type: str = "integer",
    chunk: int = 10_000,
) -> Iterator[BuildResult]:
    """The partition's corrections, ``chunk`` users at a time, in ``user_key`` order.

    Read from the ledger and ``user_revenue`` on ``connect``'s connections (the file, or a
    DuckLake catalog whose search path reaches the ledger). The ledger's undelivered corrections
    of the partition are superseded first; the delivery registers the ones still due again."""
    ledger.supersede_corrections(date, app_id)
    event_at = int(dt.datetime.combine(date, dt.time(), dt.UTC).timestamp())
    after = ""
    while True:
        with connect() as conn:
            rows = conn.execute(
                _CANDIDATES,
                {
                    "date": date,
                    "app": app_id,
                    "after": after,
                    "min_usd": thresholds.min_usd,
                    "min_pct": thresholds.min_pct,
                    "chunk": chunk,
                },
            ).fetchall()
        if not rows:
            return
        result = BuildResult()
        for user_key, usage_id, usage_payload, told, revenue, impressions in rows:
            new = f"{revenue:.9f}"
            key = event_id(app_id, date, user_key, f"{activity_type}|{new}")
            payload = json.loads(usage_payload)
            payload.update(
                activity_type=activity_type,
                event_id=wire_event_id(key, event_id_type),
                event_at=event_at,
                meta={
                    "revenue_usd": new,
                    "revenue_usd_before": f"{told:.9f}",
                    "revenue_change_usd": f"{revenue - told:+.9f}",
                    "impressions": str(int(impressions)),
                    "report_date": date.isoformat(),
                    "dt_app_id": app_id,
                    "corrects_event_id": usage_id,
                },
            )
            result.events.append(BuiltEvent(key, user_key, revenue - told, payload, "correction"))
        yield result
        if len(rows) < chunk:
            return
        after = rows[-1][0]
