"""One partition's Reo.Dev delivery, without Dagster: validate, record, send, account.

The asset builds the events and hands them here with the ledger and a client (none for a dry
run); what comes back says what happened, and the asset only decides how the run ends.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from reo_dt_assets.progress import Progress
from reo_dt_assets.reo.client import ReoClient, ReoStoppedError
from reo_dt_assets.reo.events import BuildResult
from reo_dt_assets.reo.ledger import DeliveryLedger
from reo_dt_assets.reo.payload import payload_problems
from reo_dt_assets.reo.sender import SendResult

DRY_RUN_NOTE = "dry run: not sent yet"


@dataclass
class DeliveryOutcome:
    built: int
    rejected: int
    already_delivered: int
    to_send: int
    sent_now: int = 0
    failed: int = 0
    pending: int = 0
    delivered_total: int = 0
    seconds: float = 0.0
    stopped: str | None = None  # why the whole delivery stopped (a refused key, a set-up
    stop_retryable: bool = False  # mistake, an outage), and whether a later run may succeed
    preview: list[dict[str, Any]] = field(default_factory=list)  # dry run: payloads to send

    @property
    def undelivered(self) -> int:
        return self.failed + self.pending


def deliver(
    built: BuildResult,
    ledger: DeliveryLedger,
    client: ReoClient | None,
    *,
    date: dt.date,
    app_id: str,
    log: logging.Logger,
) -> DeliveryOutcome:
    """Record the partition's events and send what is not yet delivered (``client=None``:
    record them as pending and send nothing)."""
    rejected = {
        e.event_id: "; ".join(problems)
        for e in built.events
        if (problems := payload_problems(e.payload))
    }
    registered = ledger.register(
        date, app_id, built.events, rejected, pending_note=None if client else DRY_RUN_NOTE
    )
    outcome = DeliveryOutcome(
        built=len(built.events),
        rejected=len(rejected),
        already_delivered=registered.already_delivered,
        to_send=len(registered.to_send),
    )
    if client is None:
        outcome.preview = [payload for _, payload in registered.to_send[:5]]
        return outcome
    progress = Progress(log, "Reo.Dev", len(registered.to_send), unit="events", every_seconds=10.0)
    tally: Counter[bool] = Counter()
    started = time.monotonic()

    def on_results(results: list[SendResult]) -> None:
        ledger.record(results)
        tally.update(result.delivered for result in results)
        progress.update(tally.total())

    try:
        client.send_all(registered.to_send, on_results)
    except ReoStoppedError as error:
        outcome.stopped, outcome.stop_retryable = str(error), error.retryable
    counts = ledger.status_counts(date, app_id)
    outcome.sent_now = tally[True]
    outcome.seconds = time.monotonic() - started
    outcome.failed = counts.get("failed", 0)
    outcome.pending = counts.get("pending", 0)
    outcome.delivered_total = counts.get("delivered", 0)
    return outcome
