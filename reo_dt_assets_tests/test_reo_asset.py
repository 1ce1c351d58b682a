"""reo_usage_events end to end: sandboxes over loopback, DuckDB on disk, faults and a kill."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from reo_dt_assets.components.results import NOT_RETRYABLE
from reo_dt_assets.reo.client import MAX_UNRECORDED
from reo_dt_assets.reo.events import build_events
from reo_dt_assets.reo.journal import orphans
from reo_dt_assets.reo.ledger import payload_json
from reo_dt_assets.reo.payload import payload_problems
from reo_dt_assets.revenue.store import event_users
from reo_dt_assets.sandbox.dt_server import DTSandbox
from reo_dt_assets.sandbox.reo_server import ReoSandbox
from reo_dt_assets.schema import DELIVERIES
from reo_dt_assets_tests.chain import (
    reo_usage_events,
    reo_usage_events_checks,
)
from reo_dt_assets_tests.helpers import (
    all_resources,
    deliver_partition,
    load_partition,
    step_failure,
    wait_for,
)
from reo_dt_assets_tests.stores import legacy_event_id, older_file_store

DAY = dt.date(2026, 11, 20)
APP = "148721"
KEY = f"{APP}|{DAY}"


def _load(dt_sandbox: DTSandbox, data_dir: Path) -> None:
    load_partition(dt_sandbox.url, data_dir, KEY)


def _deliver(
    dt_sandbox: DTSandbox,
    reo: ReoSandbox,
    data_dir: Path,
    dry_run: bool = False,
    **reo_options: object,
) -> dg.ExecuteInProcessResult:
    return deliver_partition(dt_sandbox.url, reo.url, data_dir, KEY, dry_run, **reo_options)


def _ledger(data_dir: Path) -> dict[str, str]:
    with duckdb.connect(str(data_dir / "reo_dt.duckdb"), read_only=True) as conn:
        return dict(conn.execute("SELECT event_id, status FROM reo_event_deliveries").fetchall())


def _expected_users(dt_sandbox: DTSandbox) -> set[str]:
    truth = dt_sandbox.ground_truth(DAY, APP)
    return {key for kind, key in truth.users if kind == "user_id"}


def _meta(result: dg.ExecuteInProcessResult) -> dict:
    [materialization] = result.asset_materializations_for_node("reo_usage_events")
    return {k: v.value for k, v in materialization.metadata.items()}


def test_every_event_once_with_faults(
    dt_sandbox: DTSandbox, reo_sandbox: ReoSandbox, tmp_path: Path
) -> None:
    _load(dt_sandbox, tmp_path)
    reo_sandbox.faults.update(
        error_rate=0.15,
        throttle_rate=0.05,
        failure_body_rate=0.05,
        drop_after_read_rate=0.03,
        retry_after_seconds=0.01,
    )
    result = _deliver(dt_sandbox, reo_sandbox, tmp_path, retry_attempts=12)
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    users = _expected_users(dt_sandbox)
    received = {p["meta"]["dt_app_id"] + p["user_id"] for p in reo_sandbox.received}
    assert len({p["event_id"] for p in reo_sandbox.received}) == len(users)
    assert received >= {APP + u for u in users if "@" in u}  # emails pass through unchanged
    counts = reo_sandbox.counts()
    duplicated = {event for event, n in counts.items() if n > 1}
    assert duplicated <= set(reo_sandbox.dropped_event_ids)
    assert all(payload_problems(p) == [] for p in reo_sandbox.received)
    meta = _meta(result)
    truth = dt_sandbox.ground_truth(DAY, APP)
    device_only = sum(1 for kind, _ in truth.users if kind != "user_id")
    assert (meta["built"], meta["sent_now"], meta["device_only_skipped"]) == (
        len(users),
        len(users),
        device_only,
    )
    assert set(_ledger(tmp_path).values()) == {"delivered"}
    # The ledger described as the table it is, and no blank cell.
    assert meta["ledger_rows"] == len(users)
    assert meta["dagster/table_name"] == "reo_dt.main.reo_event_deliveries"
    assert [c.name for c in meta["dagster/column_schema"].columns] == DELIVERIES.column_names
    assert meta["events_per_second"] > 0
    assert "" not in meta.values()


def test_rematerializing_sends_nothing_again(
    dt_sandbox: DTSandbox, reo_sandbox: ReoSandbox, tmp_path: Path
) -> None:
    _load(dt_sandbox, tmp_path)
    assert _deliver(dt_sandbox, reo_sandbox, tmp_path).success
    received = len(reo_sandbox.received)
    _load(dt_sandbox, tmp_path)  # the day re-pulled: same users, same event ids
    again = _deliver(dt_sandbox, reo_sandbox, tmp_path)
    assert again.success
    assert len(reo_sandbox.received) == received
    meta = _meta(again)
    assert (meta["sent_now"], meta["already_delivered"]) == (0, meta["built"])
    assert "events_per_second" not in meta  # nothing sent, no rate


def test_failed_events_fail_the_asset_and_are_retried_alone(
    dt_sandbox: DTSandbox, reo_sandbox: ReoSandbox, tmp_path: Path
) -> None:
    _load(dt_sandbox, tmp_path)
    reo_sandbox.faults.error_rate = 0.3
    first = _deliver(dt_sandbox, reo_sandbox, tmp_path, retry_attempts=1)
    assert not first.success
    ledger = _ledger(tmp_path)
    failed = {event for event, status in ledger.items() if status == "failed"}
    assert failed and "delivered" in ledger.values()
    step, message = step_failure(first)
    assert step == "reo_usage_events"
    assert f"{len(failed)} events of {APP} on {DAY} are not delivered" in message
    before = len(reo_sandbox.received)
    reo_sandbox.faults.error_rate = 0.0
    second = _deliver(dt_sandbox, reo_sandbox, tmp_path)
    assert second.success
    assert {str(p["event_id"]) for p in reo_sandbox.received[before:]} == failed


def test_dry_run_sends_nothing_and_previews(
    dt_sandbox: DTSandbox, reo_sandbox: ReoSandbox, tmp_path: Path
) -> None:
    _load(dt_sandbox, tmp_path)
    result = _deliver(dt_sandbox, reo_sandbox, tmp_path, dry_run=True)
    assert result.success
    assert reo_sandbox.requests == 0
    meta = _meta(result)
    assert meta["sent_now"] == 0 and meta["would_send"] == meta["built"] > 0
    preview = meta["preview"]["payloads"]
    assert len(preview) == 5 and all(payload_problems(p) == [] for p in preview)
    assert set(_ledger(tmp_path).values()) == {"pending"}


def test_wrong_key_stops_at_once_naming_the_variable(
    dt_sandbox: DTSandbox, reo_sandbox: ReoSandbox, tmp_path: Path
) -> None:
    _load(dt_sandbox, tmp_path)
    result = _deliver(dt_sandbox, reo_sandbox, tmp_path, reo_key="not-the-key", max_concurrency=4)
    assert not result.success
    step, message = step_failure(result)
    assert step == "reo_usage_events" and "REO_API_KEY" in message
    assert "not-the-key" not in message
    assert reo_sandbox.requests <= 4 and reo_sandbox.received == []
    with duckdb.connect(str(tmp_path / "reo_dt.duckdb"), read_only=True) as conn:
        rows = conn.execute("SELECT status, last_error FROM reo_event_deliveries").fetchall()
    assert len(rows) == len(_expected_users(dt_sandbox))
    # Every event of the partition is left with a reason: refused, or not sent because of it.
    assert {status for status, _ in rows} == {"failed"}
    assert all(error and "REO_API_KEY" in error for _, error in rows)
    assert "not-the-key" not in str(rows)


def test_directory_enrichment(
    dt_sandbox: DTSandbox, reo_sandbox: ReoSandbox, tmp_path: Path
) -> None:
    _load(dt_sandbox, tmp_path)
    username = sorted(u for u in _expected_users(dt_sandbox) if "@" not in u and "/" not in u)[0]
    directory = tmp_path / "directory.csv"
    directory.write_text(
        "user_id,email,github,linkedin,ip_addr,user_agent\n"
        f"{username},dev@corp.example,,,198.51.100.4,curl/8\n"
    )
    assert _deliver(dt_sandbox, reo_sandbox, tmp_path, directory=str(directory)).success
    [payload] = [p for p in reo_sandbox.received if p["user_id"] == "dev@corp.example"]
    assert (payload["user_id_type"], payload["ip_addr"], payload["user_agent"]) == (
        "EMAIL",
        "198.51.100.4",
        "curl/8",
    )


KILLED_CHILD = """
import sys, dagster as dg
from pathlib import Path
from reo_dt_assets_tests.helpers import all_resources
from reo_dt_assets_tests.chain import reo_usage_events
dt_url, reo_url, data_dir, key, ceiling = sys.argv[1:]
resources = all_resources(dt_url, Path(data_dir), reo_url, max_concurrency=int(ceiling))
dg.materialize([reo_usage_events], partition_key=key, resources=resources)
"""


@pytest.mark.slow
@pytest.mark.parametrize("ceiling", [4, 128])  # 128: the default REO_MAX_CONCURRENCY
def test_sigkill_mid_delivery_loses_nothing(tmp_path: Path, ceiling: int) -> None:
    with DTSandbox(rows=4000) as dt_sandbox, ReoSandbox() as reo:
        _load(dt_sandbox, tmp_path)
        reo.faults.latency_ms = 20
        child = subprocess.Popen(
            [
                sys.executable,
                "-c",
                KILLED_CHILD,
                dt_sandbox.url,
                reo.url,
                str(tmp_path),
                KEY,
                str(ceiling),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:

            def mid_delivery() -> bool:
                assert child.poll() is None, "the child ended before it was killed"
                # beyond what may be unrecorded: some confirmations are in the ledger
                return len(reo.received) >= MAX_UNRECORDED + 100

            wait_for("612 events received", mid_delivery, timeout=120, every=0.02)
        finally:
            child.kill()
            child.wait(timeout=30)
        confirmed = {e for e, status in _ledger(tmp_path).items() if status == "delivered"}
        users = _expected_users(dt_sandbox)
        assert 0 < len(confirmed) < len(users)  # killed in the middle, some confirmations kept
        # The run log of the killed run says what its ledger says, and that it never ended.
        [killed] = _run_log(tmp_path)
        assert (killed["outcome"], killed["finished_at"]) == ("running", None)
        assert killed["delivered_now"] == len(confirmed) and killed["failed"] == 0
        # Confirmed since the last fold: in the killed run's journal, not yet in the ledger.
        journaled = _journaled(tmp_path)
        assert not journaled & confirmed  # empty if the kill came right after a fold
        recorded = confirmed | journaled
        reo.faults.latency_ms = 0
        result = _deliver(dt_sandbox, reo, tmp_path)
        assert result.success
        counts = reo.counts()
        assert len(counts) == len(users)  # every event arrived
        duplicated = {event for event, n in counts.items() if n > 1}
        assert not duplicated & recorded  # a confirmed event is never sent again
        # Received but not yet journaled at the kill: in flight or in the last hand-back.
        assert len(duplicated) <= MAX_UNRECORDED
        assert set(_ledger(tmp_path).values()) == {"delivered"}
        assert not _journaled(tmp_path)  # folded into the ledger, and deleted
        meta = _meta(result)
        assert meta["already_delivered"] == len(recorded)
        killed, rerun = _run_log(tmp_path)
        assert killed["delivered_now"] == len(recorded)  # the killed run's confirmations
        assert (rerun["delivered_before"], rerun["delivered_now"]) == (
            len(recorded),
            len(users) - len(recorded),
        )
        figures = {"in_ledger": len(confirmed), "journaled": len(journaled)}
        print(json.dumps({**figures, "resent": len(duplicated)}))


def _journaled(data_dir: Path) -> set[str]:
    """The events a dead run's journal holds as delivered."""
    return {
        timed.result.event_id
        for orphan in orphans(data_dir / "reo_dt.journal")
        for timed in orphan.results
        if timed.result.delivered
    }


@pytest.fixture(autouse=True)
def _no_stray_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REO_DT_USER_DIRECTORY", raising=False)


def test_partition_not_loaded_fails_and_sends_nothing(
    dt_sandbox: DTSandbox, reo_sandbox: ReoSandbox, tmp_path: Path
) -> None:
    _load(dt_sandbox, tmp_path)  # another day is loaded, this one is not
    result = dg.materialize(
        [reo_usage_events],
        partition_key=f"{APP}|2026-11-19",
        resources=all_resources(dt_sandbox.url, tmp_path, reo_sandbox.url),
        raise_on_error=False,
    )
    assert not result.success
    assert "materialize user_revenue" in step_failure(result)[1]
    assert reo_sandbox.requests == 0


def test_revenue_changed_after_delivery_only_warns(
    dt_sandbox: DTSandbox, reo_sandbox: ReoSandbox, tmp_path: Path
) -> None:
    _load(dt_sandbox, tmp_path)
    assert _deliver(dt_sandbox, reo_sandbox, tmp_path).success
    with duckdb.connect(str(tmp_path / "reo_dt.duckdb")) as conn:  # DT revised the day
        conn.execute("UPDATE user_revenue SET revenue_usd = revenue_usd * 2")
    result = _deliver(dt_sandbox, reo_sandbox, tmp_path)
    assert result.success
    [revenue] = [
        e
        for e in result.get_asset_check_evaluations()
        if e.check_name == "revenue_matches_user_revenue"
    ]
    assert not revenue.passed and revenue.severity == dg.AssetCheckSeverity.WARN


def test_directory_from_a_duckdb_table(
    dt_sandbox: DTSandbox, reo_sandbox: ReoSandbox, tmp_path: Path
) -> None:
    _load(dt_sandbox, tmp_path)
    username = sorted(u for u in _expected_users(dt_sandbox) if "@" not in u and "/" not in u)[0]
    with duckdb.connect(str(tmp_path / "reo_dt.duckdb")) as conn:
        conn.execute("CREATE TABLE publisher_users (user_id VARCHAR, linkedin VARCHAR)")
        conn.execute(
            "INSERT INTO publisher_users VALUES (?, ?)",
            [username, "https://www.linkedin.com/in/dev-42"],
        )
    assert _deliver(dt_sandbox, reo_sandbox, tmp_path, directory="duckdb:publisher_users").success
    [payload] = [
        p for p in reo_sandbox.received if p["user_id"] == "https://www.linkedin.com/in/dev-42"
    ]
    assert payload["user_id_type"] == "LINKEDIN"


def test_missing_directory_file_fails_naming_the_setting(
    dt_sandbox: DTSandbox, reo_sandbox: ReoSandbox, tmp_path: Path
) -> None:
    _load(dt_sandbox, tmp_path)
    result = _deliver(dt_sandbox, reo_sandbox, tmp_path, directory=str(tmp_path / "nope.csv"))
    assert not result.success
    assert "REO_DT_USER_DIRECTORY" in step_failure(result)[1]
    assert reo_sandbox.requests == 0


def _deliver_on(
    instance: dg.DagsterInstance, dt_sandbox: DTSandbox, reo: ReoSandbox, data_dir: Path, **opts
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [reo_usage_events, reo_usage_events_checks],
        partition_key=KEY,
        resources=all_resources(dt_sandbox.url, data_dir, reo.url, **opts),
        instance=instance,
        raise_on_error=False,
    )


def _run_log(data_dir: Path) -> list[dict]:
    with duckdb.connect(str(data_dir / "reo_dt.duckdb"), read_only=True) as conn:
        cursor = conn.execute("SELECT * FROM reo_delivery_runs ORDER BY started_at")
        names = [d[0] for d in cursor.description or []]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _ledger_reasons(data_dir: Path) -> list[tuple[str, str | None]]:
    with duckdb.connect(str(data_dir / "reo_dt.duckdb"), read_only=True) as conn:
        return conn.execute("SELECT status, last_error FROM reo_event_deliveries").fetchall()


def _assert_stopped_at_once(
    result: dg.ExecuteInProcessResult,
    instance: dg.DagsterInstance,
    reo: ReoSandbox,
    data_dir: Path,
    users: int,
    *,
    retryable: bool = False,
) -> str:
    """The run failed at once: few requests, every event with the reason, retryable or not."""
    assert not result.success
    step, message = step_failure(result)
    assert step == "reo_usage_events"
    assert reo.requests <= 64 and reo.received == []
    rows = _ledger_reasons(data_dir)
    assert len(rows) == users and {status for status, _ in rows} == {"failed"}
    assert all(error for _, error in rows)
    run = instance.get_run_by_id(result.run_id)
    assert run is not None
    assert (run.tags.items() >= NOT_RETRYABLE.items()) is not retryable
    return message


@pytest.mark.parametrize("shape", ["documented", "empty_object", "accepted_empty", "plain_text"])
def test_every_success_shape_delivers_each_event_once(
    dt_sandbox: DTSandbox, reo_sandbox: ReoSandbox, tmp_path: Path, shape: str
) -> None:
    _load(dt_sandbox, tmp_path)
    reo_sandbox.faults.update(success_shape=shape)
    result = _deliver(dt_sandbox, reo_sandbox, tmp_path)
    assert result.success
    users = len(_expected_users(dt_sandbox))
    assert reo_sandbox.requests == users and len(reo_sandbox.counts()) == users
    assert set(_ledger(tmp_path).values()) == {"delivered"}


@pytest.mark.parametrize(
    "shape", ["documented", "unauthorized", "forbidden_empty", "ok_documented", "bad_request_empty"]
)
def test_every_refusal_shape_stops_naming_the_key(
    dt_sandbox: DTSandbox, reo_sandbox: ReoSandbox, tmp_path: Path, shape: str
) -> None:
    _load(dt_sandbox, tmp_path)
    reo_sandbox.faults.update(refusal_shape=shape)
    instance = dg.DagsterInstance.ephemeral()
    result = _deliver_on(instance, dt_sandbox, reo_sandbox, tmp_path, reo_key="not-the-key")
    users = len(_expected_users(dt_sandbox))
    message = _assert_stopped_at_once(result, instance, reo_sandbox, tmp_path, users)
    assert "REO_API_KEY" in message and "not-the-key" not in message + str(
        _ledger_reasons(tmp_path)
    )


def test_event_id_typed_as_the_table_says_stops_then_the_setting_delivers(
    dt_sandbox: DTSandbox, reo_sandbox: ReoSandbox, tmp_path: Path
) -> None:
    _load(dt_sandbox, tmp_path)
    reo_sandbox.faults.update(event_id_type="string")
    instance = dg.DagsterInstance.ephemeral()
    users = len(_expected_users(dt_sandbox))
    result = _deliver_on(instance, dt_sandbox, reo_sandbox, tmp_path, max_concurrency=16)
    message = _assert_stopped_at_once(result, instance, reo_sandbox, tmp_path, users)
    assert "event_id" in message and "REO_EVENT_ID_TYPE=string" in message
    again = _deliver_on(instance, dt_sandbox, reo_sandbox, tmp_path, event_id_type="string")
    assert again.success
    assert all(isinstance(p["event_id"], str) for p in reo_sandbox.received)
    assert (
        set(reo_sandbox.counts()) == set(_ledger(tmp_path)) and len(reo_sandbox.counts()) == users
    )
    assert set(_ledger(tmp_path).values()) == {"delivered"}


def test_event_id_typed_as_the_examples_say_is_the_default(
    dt_sandbox: DTSandbox, reo_sandbox: ReoSandbox, tmp_path: Path
) -> None:
    _load(dt_sandbox, tmp_path)
    reo_sandbox.faults.update(event_id_type="integer")
    assert _deliver(dt_sandbox, reo_sandbox, tmp_path).success
    assert all(type(p["event_id"]) is int for p in reo_sandbox.received)
    assert reo_sandbox.requests == len(_expected_users(dt_sandbox))


def test_an_activity_type_not_set_up_stops_naming_the_fix(
    dt_sandbox: DTSandbox, reo_sandbox: ReoSandbox, tmp_path: Path
) -> None:
    _load(dt_sandbox, tmp_path)
    reo_sandbox.faults.update(unknown_activity_types="AD_REVENUE")
    instance = dg.DagsterInstance.ephemeral()
    result = _deliver_on(instance, dt_sandbox, reo_sandbox, tmp_path, max_concurrency=16)
    users = len(_expected_users(dt_sandbox))
    message = _assert_stopped_at_once(result, instance, reo_sandbox, tmp_path, users)
    assert "Settings > Product Usage" in message and "'AD_REVENUE'" in message


def test_reo_down_longer_than_the_limit_fails_retryable_losing_nothing(
    dt_sandbox: DTSandbox, reo_sandbox: ReoSandbox, tmp_path: Path
) -> None:
    _load(dt_sandbox, tmp_path)
    reo_sandbox.faults.update(error_rate=1.0)
    instance = dg.DagsterInstance.ephemeral()
    result = _deliver_on(instance, dt_sandbox, reo_sandbox, tmp_path, outage_limit_seconds=1.0)
    users = len(_expected_users(dt_sandbox))
    message = _assert_stopped_at_once(
        result, instance, reo_sandbox, tmp_path, users, retryable=True
    )
    assert "unavailable since" in message and "Nothing was lost" in message
    reo_sandbox.faults.update(error_rate=0.0)
    assert _deliver_on(instance, dt_sandbox, reo_sandbox, tmp_path).success
    assert len(reo_sandbox.counts()) == users and set(_ledger(tmp_path).values()) == {"delivered"}


def test_a_payload_over_256_kib_is_rejected_never_sent(
    dt_sandbox: DTSandbox, reo_sandbox: ReoSandbox, tmp_path: Path
) -> None:
    _load(dt_sandbox, tmp_path)
    username = sorted(u for u in _expected_users(dt_sandbox) if "@" not in u and "/" not in u)[0]
    directory = tmp_path / "directory.csv"
    directory.write_text(f"user_id,user_agent\n{username},{'Mozilla/5.0 ' * 30000}\n")
    result = _deliver(dt_sandbox, reo_sandbox, tmp_path, directory=str(directory))
    assert result.success and _meta(result)["rejected"] == 1
    assert reo_sandbox.requests == len(_expected_users(dt_sandbox)) - 1
    [(status, reason)] = [row for row in _ledger_reasons(tmp_path) if row[0] != "delivered"]
    assert status == "rejected" and reason and "256 KiB" in reason


def test_a_ledger_of_the_hex_id_release_upgrades_without_resending(
    dt_sandbox: DTSandbox, reo_sandbox: ReoSandbox, tmp_path: Path
) -> None:
    """The ledger's exact rows as the release before integer ids wrote them, in a store of
    that release (schema version 4, before versions were recorded): half of the partition
    delivered under 32-hex ids, half failed. The upgrade sends only the failed half, each once,
    and keeps one row per event."""
    _load(dt_sandbox, tmp_path)
    database = tmp_path / "reo_dt.duckdb"
    with duckdb.connect(str(database)) as conn:  # the events, as today's code builds them
        rows = event_users(conn, DAY, APP).iter_rows(named=True)
        users = build_events(
            rows,
            date=DAY,
            app_id=APP,
            product_id="puzzle-quest",
            activity_type="AD_REVENUE",
            environment="PRODUCTION",
        ).events
    older_file_store(database, tmp_path / "old.duckdb", 4, versioned=False)
    (tmp_path / "old.duckdb").replace(database)
    with duckdb.connect(str(database)) as conn:
        for n, event in enumerate(users):
            legacy = legacy_event_id(APP, DAY.isoformat(), event.user_key, "AD_REVENUE")
            payload = payload_json({**event.payload, "event_id": legacy})
            delivered = n % 2 == 0
            conn.execute(
                f"INSERT INTO {DELIVERIES.name} VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, "
                "now(), now(), CASE WHEN ? THEN now() END)",
                [
                    legacy,
                    DAY,
                    APP,
                    event.user_key,
                    "delivered" if delivered else "failed",
                    200 if delivered else 503,
                    None if delivered else "HTTP 503: Service Unavailable",
                    hashlib.sha256(payload.encode()).hexdigest(),
                    payload,
                    event.revenue_usd,
                    delivered,
                ],
            )
    result = _deliver(dt_sandbox, reo_sandbox, tmp_path)
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    assert reo_sandbox.requests == len(users) // 2 and len(reo_sandbox.counts()) == len(users) // 2
    ledger = _ledger(tmp_path)
    assert len(ledger) == len(users) and set(ledger.values()) == {"delivered"}
    assert all(event_id.isdigit() for event_id in ledger)
    assert _meta(result)["already_delivered"] == (len(users) + 1) // 2


def test_a_rate_limited_reo_gets_everything_once_and_few_429s(tmp_path: Path) -> None:
    """Reo.Dev takes 150 requests a second, 10 ms away: the pace finds the limit instead of
    sending into it. A partition of ~600 events is mostly the start, where the first 429s are
    what finds the limit (and, in this test, the sandbox shares the process and its GIL with
    the run): 429s stay a minority; bench/reo_delivery.py measures the steady share (2.5-3%)."""
    with DTSandbox(rows=3000) as dt_sandbox, ReoSandbox() as reo:
        _load(dt_sandbox, tmp_path)
        reo.faults.update(latency_ms=10, rate_limit=150)
        result = _deliver(dt_sandbox, reo, tmp_path, max_concurrency=64)
        assert result.success
        users = _expected_users(dt_sandbox)
        assert len(reo.counts()) == len(users) and set(reo.counts().values()) == {1}
        assert reo.throttled <= 0.2 * reo.requests, reo.stats()
        meta = _meta(result)
        assert meta["throttled_share"] == pytest.approx(reo.throttled / reo.requests, abs=0.01)
        assert meta["requests"] == reo.requests and meta["concurrency_median"] >= 1
