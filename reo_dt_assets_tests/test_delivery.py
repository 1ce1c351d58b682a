"""One partition's delivery without Dagster: events, a DuckDB ledger file, the Reo.Dev sandbox."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from reo_dt_assets.http_retry import RetryPolicy
from reo_dt_assets.reo.client import ReoClient
from reo_dt_assets.reo.delivery import DRY_RUN_NOTE, deliver
from reo_dt_assets.reo.events import BuildResult, build_events
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


def _client(reo: ReoSandbox, api_key: str | None = None) -> ReoClient:
    retry = RetryPolicy(attempts=5, base_delay=0.01, max_delay=0.02)
    return ReoClient(api_key or reo.api_key, reo.url, max_concurrency=4, retry=retry)


def test_dry_run_then_delivery_then_nothing_again(reo_sandbox: ReoSandbox, tmp_path: Path) -> None:
    ledger = file_ledger(tmp_path / "ledger.duckdb")
    built = _built(30)
    dry = deliver(built, ledger, None, date=DAY, app_id="1", log=LOG)
    assert (dry.to_send, dry.sent_now, len(dry.preview)) == (30, 0, 5)
    assert reo_sandbox.requests == 0
    assert {e.last_error for e in ledger.partition_events(DAY, "1")} == {DRY_RUN_NOTE}
    with _client(reo_sandbox) as client:
        sent = deliver(built, ledger, client, date=DAY, app_id="1", log=LOG)
        again = deliver(built, ledger, client, date=DAY, app_id="1", log=LOG)
    assert (sent.sent_now, sent.delivered_total, sent.undelivered) == (30, 30, 0)
    assert (again.to_send, again.already_delivered, again.sent_now) == (0, 30, 0)
    assert len(reo_sandbox.received) == 30


def test_refused_key_leaves_every_event_with_a_reason(
    reo_sandbox: ReoSandbox, tmp_path: Path
) -> None:
    ledger = file_ledger(tmp_path / "ledger.duckdb")
    with _client(reo_sandbox, api_key="wrong-key") as client:
        outcome = deliver(_built(40), ledger, client, date=DAY, app_id="1", log=LOG)
    assert outcome.stopped is not None and "REO_API_KEY" in outcome.stopped
    assert "wrong-key" not in outcome.stopped
    events = ledger.partition_events(DAY, "1")
    assert len(events) == 40 and outcome.undelivered == 40
    assert all(e.status != "delivered" and e.last_error for e in events)
