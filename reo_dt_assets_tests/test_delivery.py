"""One partition's delivery without Dagster: events, a DuckDB ledger file, the Reo.Dev sandbox."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path

from reo_dt_assets.reo.client import ReoClient
from reo_dt_assets.reo.delivery import DRY_RUN_NOTE, deliver
from reo_dt_assets.reo.events import BuildResult, build_events
from reo_dt_assets.retry import RetryPolicy
from reo_dt_assets.sandbox.reo_server import ReoSandbox
from reo_dt_assets_tests.helpers import file_ledger

DAY = dt.date(2026, 11, 20)
LOG = logging.getLogger(__name__)


def _built(users: int) -> BuildResult:
    rows = [
        {
            "user_key": f"dev{n}@example.com",
            "user_key_type": "user_id",
            "user_id": f"dev{n}@example.com",
            "impressions": n,
            "revenue_usd": n / 100,
            "ad_networks": ["AdMob"],
        }
        for n in range(users)
    ]
    return build_events(
        rows, date=DAY, app_id="1", product_id="p", activity_type="AD_REVENUE", environment=None
    )


def _chunks(users: int, size: int) -> list[BuildResult]:
    """The events of ``_built(users)``, ``size`` at a time, as the asset reads them."""
    events = _built(users).events
    return [BuildResult(events[n : n + size]) for n in range(0, users, size)]


def _client(reo: ReoSandbox, api_key: str | None = None) -> ReoClient:
    retry = RetryPolicy(attempts=5, base_delay=0.01, max_delay=0.02)
    return ReoClient(api_key or reo.api_key, reo.url, max_concurrency=4, retry=retry)


def test_dry_run_then_delivery_then_nothing_again(reo_sandbox: ReoSandbox, tmp_path: Path) -> None:
    ledger = file_ledger(tmp_path / "ledger.duckdb")
    built = _built(30)
    dry = deliver([built], ledger, None, date=DAY, app_id="1", log=LOG)
    assert (dry.to_send, dry.sent_now, len(dry.preview)) == (30, 0, 5)
    assert reo_sandbox.requests == 0
    assert {e.last_error for e in ledger.partition_events(DAY, "1")} == {DRY_RUN_NOTE}
    with _client(reo_sandbox) as client:
        sent = deliver([built], ledger, client, date=DAY, app_id="1", log=LOG)
        again = deliver([built], ledger, client, date=DAY, app_id="1", log=LOG)
    assert (sent.sent_now, sent.delivered_total, sent.undelivered) == (30, 30, 0)
    assert (again.to_send, again.already_delivered, again.sent_now) == (0, 30, 0)
    assert len(reo_sandbox.received) == 30


def test_refused_key_leaves_every_event_with_a_reason(
    reo_sandbox: ReoSandbox, tmp_path: Path
) -> None:
    ledger = file_ledger(tmp_path / "ledger.duckdb")
    with _client(reo_sandbox, api_key="wrong-key") as client:
        outcome = deliver(_chunks(40, 10), ledger, client, date=DAY, app_id="1", log=LOG)
    assert outcome.stopped is not None and "REO_API_KEY" in outcome.stopped
    assert "wrong-key" not in outcome.stopped
    events = list(ledger.partition_events(DAY, "1", chunk=7))
    assert len(events) == 40 and outcome.undelivered == 40
    assert all(e.status != "delivered" and e.last_error for e in events)


def test_a_partition_goes_out_a_chunk_at_a_time_each_registered_before_sent(
    reo_sandbox: ReoSandbox, tmp_path: Path
) -> None:
    ledger = file_ledger(tmp_path / "ledger.duckdb")
    registered_before_sent: list[bool] = []
    chunks = _chunks(95, 10)

    def watched() -> Iterator[BuildResult]:
        for chunk in chunks:
            yield chunk
            # The chunk's events are registered when the next one is asked for, at the latest;
            # none of the next chunk's events may have been received before it is read.
            later = {e.event_id for c in chunks[chunks.index(chunk) + 1 :] for e in c.events}
            received = {str(p["event_id"]) for p in reo_sandbox.received}
            registered_before_sent.append(not later & received)

    with _client(reo_sandbox) as client:
        outcome = deliver(watched(), ledger, client, date=DAY, app_id="1", log=LOG)
    assert (outcome.built, outcome.sent_now, outcome.delivered_total) == (95, 95, 95)
    assert all(registered_before_sent) and len(registered_before_sent) == 10
    assert outcome.pace is not None and outcome.pace.requests == 95
    events = list(ledger.partition_events(DAY, "1", chunk=7))
    assert len(events) == len({e.event_id for e in events}) == 95
