"""One partition's Reo.Dev delivery, without Dagster: validate, record, send, account.

The asset hands over the partition's events a chunk at a time (built from ``user_revenue`` a
chunk at a time), the ledger and a client (none for a dry run). Each chunk is validated and
registered in the ledger before any of its events is sent, and only a few thousand events are
ever held, whatever the partition's size. What comes back says what happened; the asset only
decides how the run ends. A ledger given the run's ``RunKey`` keeps the run's row of
``reo_delivery_runs`` from start to end (``outcome``).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from reo_dt_assets.progress import Progress
from reo_dt_assets.reo.client import ReoClient, ReoStoppedError
from reo_dt_assets.reo.events import BuildResult
from reo_dt_assets.reo.ledger import DRY_RUN_NOTE, DeliveryLedger
from reo_dt_assets.reo.payload import payload_problems
from reo_dt_assets.reo.sender import SendResult, Snapshot

PREVIEW = 5


@dataclass
class DeliveryOutcome:
    built: int = 0
    corrections: int = 0  # of the built events, corrections of delivered users (opt-in)
    rejected: int = 0
    already_delivered: int = 0
    to_send: int = 0
    device_only_users: int = 0
    device_only_revenue_usd: float = 0.0
    enriched: int = 0
    sent_now: int = 0
    failed: int = 0
    pending: int = 0
    delivered_total: int = 0
    seconds: float = 0.0
    pace: Snapshot | None = None  # requests, 429s and requests in flight of the sending
    stopped: str | None = None  # why the whole delivery stopped (a refused key, a set-up
    stop_retryable: bool = False  # mistake, an outage), and whether a later run may succeed
    preview: list[dict[str, Any]] = field(default_factory=list)  # dry run: payloads to send
    dry_run: bool = False

    @property
    def undelivered(self) -> int:
        return self.failed + self.pending

    @property
    def outcome(self) -> str:
        """How the run ended, as ``reo_delivery_runs.outcome`` says it."""
        if self.stopped:
            return "stopped"
        if self.dry_run:
            return "previewed"
        return "undelivered" if self.undelivered else "delivered"


def deliver(
    chunks: Iterable[BuildResult],
    ledger: DeliveryLedger,
    client: ReoClient | None,
    *,
    date: dt.date,
    app_id: str,
    log: logging.Logger,
    expected: int | None = None,
) -> DeliveryOutcome:
    """Record the partition's events and send what is not yet delivered (``client=None``:
    record them as pending and send nothing). ``expected`` events to send, if known, give the
    progress lines an ETA."""
    outcome = DeliveryOutcome()
    pending_note = None if client else DRY_RUN_NOTE
    recover(ledger, log)

    def to_send() -> Iterator[tuple[str, dict[str, Any]]]:
        for chunk in chunks:
            rejected = {
                e.event_id: "; ".join(problems)
                for e in chunk.events
                if (problems := payload_problems(e.payload))
            }
            registered = ledger.register(
                date, app_id, chunk.events, rejected, pending_note=pending_note
            )
            outcome.built += len(chunk.events)
            outcome.corrections += sum(e.kind == "correction" for e in chunk.events)
            outcome.rejected += len(rejected)
            outcome.already_delivered += registered.already_delivered
            outcome.to_send += len(registered.to_send)
            outcome.device_only_users += chunk.device_only_users
            outcome.device_only_revenue_usd += chunk.device_only_revenue_usd
            outcome.enriched += chunk.enriched
            yield from registered.to_send

    def work() -> None:
        if client is None:
            outcome.dry_run = True
            for _, payload in to_send():
                if len(outcome.preview) < PREVIEW:
                    outcome.preview.append(payload)
            return
        _send(to_send(), ledger, client, outcome, date, app_id, log, expected)

    return _in_run(ledger, outcome, work)


def redeliver(
    ledger: DeliveryLedger,
    client: ReoClient,
    *,
    date: dt.date,
    app_id: str,
    log: logging.Logger,
    expected: int,
) -> DeliveryOutcome:
    """The sweep of an old partition: send its ``expected`` undelivered events again from the
    payloads the ledger stored (DT no longer serves the day, and nothing is rebuilt), within the
    same pace and the same exactly-once rules as a delivery. The caller folded killed runs'
    journals (``recover``) before it counted them."""
    outcome = DeliveryOutcome(to_send=expected)

    def work() -> None:
        ledger.count_events(expected)
        events = ledger.undelivered_events(date, app_id)
        _send(events, ledger, client, outcome, date, app_id, log, expected)

    return _in_run(ledger, outcome, work)


def recover(ledger: DeliveryLedger, log: logging.Logger) -> None:
    """Fold killed runs' journals into the ledger before it is read (``DeliveryLedger.recover``)."""
    if recovered := ledger.recover():
        log.info(f"{recovered} send results a killed run journaled are now in the ledger")


def _in_run(
    ledger: DeliveryLedger, outcome: DeliveryOutcome, work: Callable[[], None]
) -> DeliveryOutcome:
    """``work()``, in the run's row of the run log when the ledger keeps one: started first,
    ended with the outcome (``errored`` if ``work`` raised)."""
    if ledger.run is None:
        work()
        return outcome
    ledger.start_run()
    try:
        work()
    except BaseException:
        ledger.finish_run("errored", outcome.pace)
        raise
    ledger.finish_run(outcome.outcome, outcome.pace)
    return outcome


def _send(
    events: Iterator[tuple[str, dict[str, Any]]],
    ledger: DeliveryLedger,
    client: ReoClient,
    outcome: DeliveryOutcome,
    date: dt.date,
    app_id: str,
    log: logging.Logger,
    expected: int | None,
) -> None:
    """Send ``events`` at the pace Reo.Dev's answers allow, recording every result."""
    progress = Progress(log, "Reo.Dev", expected, unit="events", every_seconds=10.0)
    tally: Counter[bool] = Counter()
    started = time.monotonic()

    def on_results(results: list[SendResult]) -> None:
        ledger.record(results, outcome.pace)
        tally.update(result.delivered for result in results)

    def on_progress(pace: Snapshot) -> None:
        outcome.pace = pace  # the run's row gets it with the next batch
        progress.update(
            tally.total(),
            f"{pace.in_flight} in flight (limit {pace.limit}"
            + (f", {pace.rate_cap:.0f} requests/s" if pace.rate_cap else "")
            + f"), {pace.throttled_share:.1%} of {pace.requests} requests answered 429",
        )

    try:
        outcome.pace = client.send_all(
            events,
            on_results,
            on_progress=on_progress,
            hand_back_seconds=ledger.hand_back_seconds,
        )
    except ReoStoppedError as error:
        outcome.stopped, outcome.stop_retryable = str(error), error.retryable
        outcome.pace = error.pace
    except BaseException:
        with suppress(Exception):  # confirmations go into the ledger, or stay journaled
            ledger.close()
        raise
    ledger.close()
    counts = ledger.status_counts(date, app_id)
    outcome.sent_now = tally[True]
    outcome.seconds = time.monotonic() - started
    outcome.failed = counts.get("failed", 0)
    outcome.pending = counts.get("pending", 0)
    outcome.delivered_total = counts.get("delivered", 0)
