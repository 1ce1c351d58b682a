"""Delivery you can audit: the run log ``reo_delivery_runs`` against the ledger and what the
Reo.Dev sandbox saw (a clean run, a faulty one, one that stopped), the failure threshold check,
and the sweep of an old partition from the ledger's stored payloads, with no DT request."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from reo_dt_assets.sandbox.dt_server import DTSandbox
from reo_dt_assets.sandbox.reo_server import ReoSandbox
from reo_dt_assets_tests.chain import (
    DEFS,
    daily_revenue,
)
from reo_dt_assets_tests.helpers import all_resources, deliver_partition, load_partition

DAY = dt.date(2026, 11, 20)  # past every pull age: the sweep's
APP = "148721"
KEY = f"{APP}|{DAY}"


def _load(dt_sandbox: DTSandbox, data_dir: Path) -> None:
    load_partition(dt_sandbox.url, data_dir, KEY)


def _deliver(
    dt_sandbox: DTSandbox, reo: ReoSandbox, data_dir: Path, dry_run: bool = False, **options: Any
) -> dg.ExecuteInProcessResult:
    return deliver_partition(dt_sandbox.url, reo.url, data_dir, KEY, dry_run, **options)


def _sweep(dt_sandbox: DTSandbox, reo: ReoSandbox, data_dir: Path) -> dg.ExecuteInProcessResult:
    job = DEFS.resolve_job_def("reo_delivery_sweep_job")
    return job.execute_in_process(
        resources=all_resources(dt_sandbox.url, data_dir, reo.url), raise_on_error=False
    )


def _query(data_dir: Path, sql: str) -> list[dict[str, Any]]:
    with duckdb.connect(str(data_dir / "reo_dt.duckdb"), read_only=True) as conn:
        cursor = conn.execute(sql)
        names = [d[0] for d in cursor.description or []]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _runs(data_dir: Path) -> list[dict[str, Any]]:
    return _query(data_dir, "SELECT * FROM reo_delivery_runs ORDER BY started_at")


def _statuses(data_dir: Path) -> dict[str, int]:
    rows = _query(data_dir, "SELECT status, count(*) AS n FROM reo_event_deliveries GROUP BY 1")
    return {row["status"]: row["n"] for row in rows}


def test_the_run_log_counts_what_the_ledger_and_reo_saw(
    dt_sandbox: DTSandbox, reo_sandbox: ReoSandbox, tmp_path: Path
) -> None:
    _load(dt_sandbox, tmp_path)
    reo_sandbox.faults.update(error_rate=0.1, throttle_rate=0.2, retry_after_seconds=0.01)
    first = _deliver(dt_sandbox, reo_sandbox, tmp_path, retry_attempts=20)
    assert first.success
    [run] = _runs(tmp_path)
    events = sum(_statuses(tmp_path).values())
    assert run["run_id"] == first.run_id and run["mode"] == "delivery"
    assert (run["outcome"], run["finished_at"] is not None) == ("delivered", True)
    assert run["events"] == events == _statuses(tmp_path)["delivered"]
    assert run["delivered_now"] == len(reo_sandbox.counts()) == events
    assert (run["requests"], run["throttled"]) == (reo_sandbox.requests, reo_sandbox.throttled)
    # every request was delivered, throttled or answered 5xx: the 5xx were tried again
    assert run["other_retries"] == run["requests"] - events - run["throttled"] > 0
    assert (run["failed"], run["rejected"], run["delivered_before"]) == (0, 0, 0)
    assert run["first_error"] is None
    assert 0 < run["rtt_p50_ms"] <= run["rtt_p95_ms"]
    assert run["in_flight_ceiling"] >= 1 and run["requests_per_second"] > 0
    assert run["seconds"] > 0
    [materialization] = first.asset_materializations_for_node("reo_usage_events")
    link = materialization.metadata["delivery_run"].value
    assert isinstance(link, str) and first.run_id in link and "reo_delivery_runs" in link

    again = _deliver(dt_sandbox, reo_sandbox, tmp_path)
    assert again.success
    second = _runs(tmp_path)[1]
    assert (second["delivered_before"], second["delivered_now"], second["requests"]) == (
        events,
        0,
        0,
    )
    day = dg.materialize(
        [daily_revenue],
        partition_key=DAY.isoformat(),
        resources=all_resources(dt_sandbox.url, tmp_path, reo_sandbox.url),
    )
    assert day.success
    [health] = _query(
        tmp_path,
        "SELECT delivery_requests, delivery_throttled, events_rejected FROM daily_revenue "
        f"WHERE report_date = '{DAY}' AND app_id = '{APP}'",
    )
    assert health == {
        "delivery_requests": reo_sandbox.requests,
        "delivery_throttled": reo_sandbox.throttled,
        "events_rejected": 0,
    }


def test_a_stopped_run_counts_its_events_failed_and_the_sweep_sends_them_without_dt(
    dt_sandbox: DTSandbox, reo_sandbox: ReoSandbox, tmp_path: Path
) -> None:
    """The classic reverse-ETL bug is a failed row remembered as seen and never sent again:
    here the failed events stay failed in the stopped run's row, and the sweep sends them."""
    _load(dt_sandbox, tmp_path)
    reo_sandbox.faults.update(error_rate=1.0)
    stopped = _deliver(dt_sandbox, reo_sandbox, tmp_path, outage_limit_seconds=0.5)
    assert not stopped.success
    [run] = _runs(tmp_path)
    events = run["events"]
    assert run["outcome"] == "stopped" and run["finished_at"] is not None
    assert (run["failed"], run["delivered_now"]) == (events, 0) and events > 0
    assert run["requests"] == reo_sandbox.requests > 0
    assert run["first_error"]
    assert _statuses(tmp_path) == {"failed": events}

    reo_sandbox.faults.update(error_rate=0.0)
    reo_sandbox.received.clear()
    dt_requests = dt_sandbox.stats.report_requests
    swept = _sweep(dt_sandbox, reo_sandbox, tmp_path)
    assert swept.success
    assert dt_sandbox.stats.report_requests == dt_requests  # DT no longer serves the day
    assert len(reo_sandbox.received) == len(reo_sandbox.counts()) == events
    assert _statuses(tmp_path) == {"delivered": events}
    first, sweep = _runs(tmp_path)
    assert (first["failed"], first["delivered_now"]) == (events, 0)  # the failure stays told
    assert (sweep["mode"], sweep["outcome"], sweep["run_id"]) == (
        "sweep",
        "delivered",
        swept.run_id,
    )
    assert (sweep["events"], sweep["delivered_now"], sweep["failed"]) == (events, events, 0)

    requests = reo_sandbox.requests
    assert _sweep(dt_sandbox, reo_sandbox, tmp_path).success  # nothing left: nothing sent
    assert reo_sandbox.requests == requests and len(_runs(tmp_path)) == 2


# A delivery killed after Reo.Dev confirmed some events, before its journal went into the ledger.
KILLED_JOURNAL = """
import os, sys
from pathlib import Path
from reo_dt_assets.reo.journal import Journal
from reo_dt_assets.reo.sender import SendResult
folder, run_id, date, app, *confirmed = sys.argv[1:]
journal = Journal(Path(folder), {"run_id": run_id, "date": date, "app_id": app, "mode": "delivery"})
journal.append([SendResult(event_id, True, 1, 200, None) for event_id in confirmed])
os._exit(0)
"""


def test_the_sweep_folds_a_killed_runs_journal_first_and_sends_nothing_it_confirmed(
    dt_sandbox: DTSandbox, reo_sandbox: ReoSandbox, tmp_path: Path
) -> None:
    _load(dt_sandbox, tmp_path)
    reo_sandbox.faults.update(error_rate=1.0)
    assert not _deliver(dt_sandbox, reo_sandbox, tmp_path, outage_limit_seconds=0.5).success
    [run] = _runs(tmp_path)
    failed = [
        row["event_id"] for row in _query(tmp_path, "SELECT event_id FROM reo_event_deliveries")
    ]
    confirmed = failed[::2]
    subprocess.run(
        [
            sys.executable,
            "-c",
            KILLED_JOURNAL,
            str(tmp_path / "reo_dt.journal"),
            run["run_id"],
            str(DAY),
            APP,
            *confirmed,
        ],
        check=True,
    )
    reo_sandbox.faults.update(error_rate=0.0)
    reo_sandbox.received.clear()
    assert _sweep(dt_sandbox, reo_sandbox, tmp_path).success
    assert set(reo_sandbox.counts()) == set(failed) - set(confirmed)  # each once, none confirmed
    assert len(reo_sandbox.received) == len(failed) - len(confirmed)
    assert _statuses(tmp_path) == {"delivered": len(failed)}
    killed, sweep = _runs(tmp_path)
    assert killed["delivered_now"] == len(confirmed)  # the killed run's row counts its journal
    assert (sweep["events"], sweep["delivered_now"]) == (len(failed) - len(confirmed),) * 2
    assert not list((tmp_path / "reo_dt.journal").glob("*"))


def test_the_sweep_leaves_a_dry_run_alone(
    dt_sandbox: DTSandbox, reo_sandbox: ReoSandbox, tmp_path: Path
) -> None:
    _load(dt_sandbox, tmp_path)
    assert _deliver(dt_sandbox, reo_sandbox, tmp_path, dry_run=True).success
    [run] = _runs(tmp_path)
    assert (run["mode"], run["outcome"], run["dry_run"]) == ("dry_run", "previewed", run["events"])
    assert _sweep(dt_sandbox, reo_sandbox, tmp_path).success
    assert reo_sandbox.requests == 0


def test_rejected_events_past_the_threshold_fail_the_check_naming_the_reason(
    dt_sandbox: DTSandbox, reo_sandbox: ReoSandbox, tmp_path: Path
) -> None:
    _load(dt_sandbox, tmp_path)
    with duckdb.connect(str(tmp_path / "reo_dt.duckdb"), read_only=True) as conn:
        [(user,)] = conn.execute(
            "SELECT min(user_id) FROM user_revenue WHERE user_key_type = 'user_id' "
            "AND user_id NOT LIKE '%@%' AND user_id NOT LIKE '%/%'"
        ).fetchall()
    directory = tmp_path / "directory.csv"
    directory.write_text(f"user_id,user_agent\n{user},{'Mozilla/5.0 ' * 30000}\n")
    within = _deliver(
        dt_sandbox, reo_sandbox, tmp_path, directory=str(directory), failure_threshold_pct=5.0
    )
    assert within.success
    [threshold] = [
        e
        for e in within.get_asset_check_evaluations()
        if e.check_name == "failures_within_threshold"
    ]
    assert threshold.passed  # 1 of some 80: under 5%
    [run] = _runs(tmp_path)
    assert run["rejected"] == 1 and "256 KiB" in (run["first_error"] or "")
    strict = _deliver(
        dt_sandbox, reo_sandbox, tmp_path, directory=str(directory), failure_threshold_pct=0.0
    )
    [failed] = [
        e
        for e in strict.get_asset_check_evaluations()
        if e.check_name == "failures_within_threshold"
    ]
    assert strict.success  # red, not blocking: the events are all accounted for
    assert not failed.passed and failed.severity == dg.AssetCheckSeverity.ERROR
    assert "1 of " in (failed.description or "") and "over Reo.Dev's 256 KiB (1)" in (
        failed.description or ""
    )
