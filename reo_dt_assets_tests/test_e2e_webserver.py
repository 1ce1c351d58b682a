"""End to end through the real webserver and daemon: a partition backfill launched over GraphQL.

Starts ``dagster dev`` (webserver + daemon) on a free loopback port with a temporary
``DAGSTER_HOME`` and both sandboxes, launches a backfill of 3 days x 2 apps with the documented
``launchPartitionBackfill`` mutation, waits for it, then checks DuckDB against the sandbox's
ground truth, every check result, and what the Reo sandbox received. Every process it starts
(the whole ``dagster dev`` process group) is stopped.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import httpx
import pytest

from reo_dt_assets.dev import PROJECT, dagster_dev_command, dagster_dev_env
from reo_dt_assets.sandbox.dt_server import DTFaults, DTSandbox
from reo_dt_assets.sandbox.reo_server import ReoSandbox

APPS = ("148721", "203945")
ASSETS = ("dt_user_level_report", "user_revenue", "reo_usage_events")
LAUNCH = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on PartitionKeysNotFoundError { message }
    ... on InvalidStepError { invalidStepKey }
    ... on InvalidOutputError { stepKey }
    ... on UnauthorizedError { message }
  }
}"""
STATUS = """
query Status($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status }
    ... on PythonError { message }
  }
}"""
DONE = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Deployment:
    def __init__(self, url: str, home: Path, data: Path, dt: DTSandbox, reo: ReoSandbox):
        self.url, self.home, self.data, self.dt, self.reo = url, home, data, dt, reo

    def graphql(self, query: str, variables: dict) -> dict:
        response = httpx.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables}, timeout=60
        )
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, body
        return body["data"]


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    from reo_dt_assets.dev import prepare_home

    home, data, log = tmp_path / "home", tmp_path / "data", tmp_path / "dagster-dev.log"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    prepare_home(home)
    with DTSandbox(faults=DTFaults(not_ready_polls=1)) as dt_sandbox, ReoSandbox() as reo:
        env = {
            **dagster_dev_env(),
            "DAGSTER_HOME": str(home),
            "DT_CLIENT_ID": dt_sandbox.client_id,
            "DT_CLIENT_SECRET": dt_sandbox.client_secret,
            "DT_REPORTING_BASE_URL": dt_sandbox.url,
            "REO_API_KEY": reo.api_key,
            "REO_INGEST_BASE_URL": reo.url,
            "REO_DT_DATA_DIR": str(data),
            "REO_DT_APPS_FILE": str(PROJECT / "apps.toml"),
        }
        port = _free_port()
        with log.open("wb") as output:
            process = subprocess.Popen(
                dagster_dev_command("127.0.0.1", port),
                env=env,
                cwd=tmp_path,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 120
            while True:
                assert process.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, "dagster dev did not answer in 120 s"
                try:
                    if httpx.get(f"{url}/server_info", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.5)
            yield Deployment(url, home, data, dt_sandbox, reo)
        finally:
            _stop_group(process)
        assert b"Traceback" not in log.read_bytes(), log.read_text()[-3000:]


def _stop_group(process: subprocess.Popen) -> None:
    """SIGINT to the whole process group (dagster dev ignores SIGTERM), SIGKILL if it lingers."""
    group = process.pid
    os.killpg(group, signal.SIGINT)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(group, signal.SIGKILL)
        process.wait(timeout=10)
    for _ in range(100):  # the group's other processes (daemon, code server, runs) follow
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.killpg(group, signal.SIGKILL)


def test_backfill_through_the_webserver(deployment: Deployment) -> None:
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    days = [yesterday - dt.timedelta(days=n) for n in range(3)]
    keys = [f"{app}|{day}" for app in APPS for day in days]
    launched = deployment.graphql(
        LAUNCH,
        {
            "params": {
                "assetSelection": [{"path": [name]} for name in ASSETS],
                "partitionNames": keys,
            }
        },
    )["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]

    deadline = time.monotonic() + 420
    status = ""
    while time.monotonic() < deadline:
        answer = deployment.graphql(STATUS, {"id": backfill_id})["partitionBackfillOrError"]
        status = answer.get("status", "")
        if status in DONE:
            break
        time.sleep(2)
    assert status in ("COMPLETED", "COMPLETED_SUCCESS"), status

    with dg.DagsterInstance.get() as instance:
        runs = instance.get_run_records(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
        assert runs and all(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        for name in ASSETS:
            materialized = instance.get_materialized_partitions(dg.AssetKey(name))
            assert set(keys) <= materialized, (name, materialized)
        evaluations = [
            event.dagster_event.event_specific_data
            for record in runs
            for event in instance.all_logs(
                record.dagster_run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
            )
            if event.dagster_event
        ]
    assert len(evaluations) == 8 * len(keys)  # 1 + 4 + 3 checks per partition
    assert all(getattr(e, "passed", False) for e in evaluations)

    with duckdb.connect(str(deployment.data / "reo_dt.duckdb"), read_only=True) as conn:
        for app in APPS:
            for day in days:
                truth = deployment.dt.ground_truth(day, app)
                rows = dict(
                    conn.execute(
                        "SELECT user_key, revenue_usd FROM user_revenue "
                        "WHERE report_date = ? AND app_id = ?",
                        [day, app],
                    ).fetchall()
                )
                assert len(rows) == len(truth.users)
                for (_, key), totals in truth.users.items():
                    assert rows[key] == pytest.approx(totals.revenue_usd, abs=1e-9)
        expected_events = conn.execute(
            "SELECT count(*) FROM user_revenue WHERE user_key_type = 'user_id'"
        ).fetchone()
    counts = deployment.reo.counts()
    assert expected_events and len(counts) == expected_events[0]
    assert set(counts.values()) == {1}  # every event received exactly once
