"""The real deployment for end-to-end tests: ``dagster dev`` beside both sandboxes, on loopback.

Shared by the tests that go through the webserver and the daemon (a backfill, a dead run) and by
the ``make ui`` signal tests, so starting, waiting for and stopping the processes, and looking at
what is left of them, is written once. Every process started here is stopped here.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import dagster as dg
import httpx
import pytest

from reo_dt_assets.sandbox.dt_server import DTFaults, DTSandbox
from reo_dt_assets.sandbox.reo_server import ReoFaults, ReoSandbox
from reo_dt_assets_dev.dev import PROJECT, dagster_dev_command, dagster_dev_env, prepare_home
from reo_dt_assets_tests.helpers import wait_for

LAUNCH_RUN = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on Error { message }
  }
}"""
BACKFILL_STATUS = """
query Status($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status }
    ... on PythonError { message }
  }
}"""
BACKFILL_ENDED = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}
LAUNCH_BACKFILL = """
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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_is_free(port: int) -> bool:
    """Whether a server could listen on ``port`` now (as servers bind: with SO_REUSEADDR)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_for_ui(url: str, process: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    """Until the webserver answers ``/server_info``; fails at once if ``process`` exits."""

    def answers() -> bool:
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            return httpx.get(f"{url}/server_info", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    wait_for(f"{url} answers", answers, timeout, every=0.5)


def stop_group(process: subprocess.Popen, first: signal.Signals = signal.SIGINT) -> None:
    """``first`` (SIGINT: dagster dev ignores SIGTERM) to the whole process group, SIGKILL if it
    lingers."""
    group = process.pid
    with suppress(ProcessLookupError):  # it may have stopped by itself
        os.killpg(group, first)
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


def _stat(pid: int) -> list[str] | None:
    """Fields of ``/proc/<pid>/stat`` from the state on (field 3), or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text[text.rindex(")") + 2 :].split()


def process_tree(root: int) -> set[tuple[int, str]]:
    """``root`` and all its descendants, as (pid, start time) so a reused pid is not mistaken."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        stat = _stat(int(entry.name)) if entry.name.isdigit() else None
        if stat:
            children.setdefault(int(stat[1]), []).append(int(entry.name))
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        stat = _stat(pid)
        if stat:
            tree.add((pid, stat[19]))
            todo.extend(children.get(pid, []))
    return tree


def alive(processes: set[tuple[int, str]]) -> set[tuple[int, str]]:
    """Those of ``processes`` still running (a zombie has stopped: it only waits to be reaped)."""
    left = set()
    for pid, started in processes:
        stat = _stat(pid)
        if stat and stat[19] == started and stat[0] != "Z":
            left.add((pid, started))
    return left


def rolled_up_by_the_sensor(
    instance: dg.DagsterInstance, days: list[dt.date], timeout: float = 240
) -> list[dg.DagsterRun]:
    """The ``daily_rollup_job`` runs of ``days``, once each has succeeded: the rollup sensor
    launches them after a backfill, with no launch by anyone (a failed one fails at once)."""

    def rolled_up() -> list[dg.DagsterRun] | None:
        runs = [
            record.dagster_run
            for record in instance.get_run_records(dg.RunsFilter(job_name="daily_rollup_job"))
        ]
        assert not [run for run in runs if run.status == dg.DagsterRunStatus.FAILURE]
        done = [run for run in runs if run.status == dg.DagsterRunStatus.SUCCESS]
        return done if len(done) >= len(days) else None

    rollups = wait_for("the sensor rolled the days up", rolled_up, timeout, every=1)
    assert sorted(run.tags["dagster/partition"] for run in rollups) == sorted(map(str, days))
    assert all(run.tags["dagster/sensor_name"] == "daily_rollup_sensor" for run in rollups)
    return rollups


class Deployment:
    def __init__(
        self,
        home: Path,
        data: Path,
        dt: DTSandbox,
        reo: ReoSandbox,
        start: Callable[[], tuple[str, subprocess.Popen]],
    ):
        self.home, self.data, self.dt, self.reo, self._start = home, data, dt, reo, start
        self.url, self.process = start()

    def restart(self) -> None:
        """``dagster dev`` stopped (webserver, daemon, code server) and started again on the
        same instance, sandboxes and environment: a daemon restart."""
        stop_group(self.process)
        self.url, self.process = self._start()

    def wait_for_run_processes(self, timeout: float = 60) -> None:
        """Until no run is queued or going and every run's process has exited (a run has ended
        some time before its process does; a sensor's run may still be queued): stopping
        ``dagster dev`` then interrupts none, whose KeyboardInterrupt would be a traceback in the
        log."""
        going = [
            dg.DagsterRunStatus.QUEUED,
            dg.DagsterRunStatus.NOT_STARTED,
            dg.DagsterRunStatus.STARTING,
            dg.DagsterRunStatus.STARTED,
            dg.DagsterRunStatus.CANCELING,
        ]

        def exited() -> bool:
            with dg.DagsterInstance.get() as instance:
                if instance.get_runs_count(dg.RunsFilter(statuses=going)):
                    return False
                pids = {
                    int(str(event.dagster_event.engine_event_data.metadata["pid"].value))
                    for run_id in instance.get_run_ids()
                    for event in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
                    if event.dagster_event and event.message.startswith("Started process for run")
                }
            return all((stat := _stat(pid)) is None or stat[0] == "Z" for pid in pids)

        wait_for("the runs' processes exited", exited, timeout)

    def graphql(self, query: str, variables: dict) -> dict:
        response = httpx.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables}, timeout=60
        )
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, body
        return body["data"]

    def launch(self, job: str, partition: str, tags: dict[str, str] | None = None) -> str:
        """Launch ``job`` on ``partition`` (with ``tags``) through the webserver; the run's
        id."""
        run_tags = {"dagster/partition": partition, **(tags or {})}
        launched = self.graphql(
            LAUNCH_RUN,
            {
                "params": {
                    "selector": {
                        "repositoryLocationName": "reo_dt_assets",
                        "repositoryName": "__repository__",
                        "jobName": job,
                    },
                    "executionMetadata": {
                        "tags": [{"key": key, "value": value} for key, value in run_tags.items()]
                    },
                }
            },
        )["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        return launched["run"]["runId"]

    def backfill(
        self, assets: list[str], partitions: list[str], tags: dict[str, str] | None = None
    ) -> str:
        """Launch a backfill of ``assets`` over ``partitions`` through the webserver; its id."""
        launched = self.graphql(
            LAUNCH_BACKFILL,
            {
                "params": {
                    "assetSelection": [{"path": [name]} for name in assets],
                    "partitionNames": partitions,
                    "tags": [{"key": key, "value": value} for key, value in (tags or {}).items()],
                }
            },
        )["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        return launched["backfillId"]

    def backfill_ended(self, backfill_id: str, timeout: float = 420) -> str:
        """The backfill's status once it ended, asked of the webserver every second."""

        def ended() -> str | None:
            answer = self.graphql(BACKFILL_STATUS, {"id": backfill_id})
            status = answer["partitionBackfillOrError"].get("status", "")
            return status if status in BACKFILL_ENDED else None

        return wait_for("the backfill ended", ended, timeout, every=1)


def sandbox_env(home: Path, data: Path, dt: DTSandbox, reo: ReoSandbox) -> dict[str, str]:
    """The environment of a ``dg`` command (``dev``, ``launch``) on both sandboxes, with
    ``DAGSTER_HOME`` and ``REO_DT_DATA_DIR`` as given."""
    return {
        **dagster_dev_env(),
        "DAGSTER_HOME": str(home),
        "DT_CLIENT_ID": dt.client_id,
        "DT_CLIENT_SECRET": dt.client_secret,
        "DT_REPORTING_BASE_URL": dt.url,
        "REO_API_KEY": reo.api_key,
        "REO_INGEST_BASE_URL": reo.url,
        "REO_DT_DATA_DIR": str(data),
        "REO_DT_APPS_FILE": str(PROJECT / "apps.toml"),
    }


@contextmanager
def deployment(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    reo_faults: ReoFaults | None = None,
    dt_faults: DTFaults | None = None,
    environment: dict[str, str] | None = None,
) -> Iterator[Deployment]:
    """``dagster dev`` on a free port and a fresh ``DAGSTER_HOME`` with the project's
    ``dagster.yaml`` (or one the test wrote there first), both sandboxes, ``REO_DT_DATA_DIR`` in
    ``tmp_path``; the whole ``dagster dev`` process group is stopped on exit. The log (of every
    start, when restarted) must be free of tracebacks."""
    home, data, log = tmp_path / "home", tmp_path / "data", tmp_path / "dagster-dev.log"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    prepare_home(home)
    with (
        DTSandbox(faults=dt_faults or DTFaults(not_ready_polls=1)) as dt_sandbox,
        ReoSandbox(faults=reo_faults) as reo,
    ):
        env = {**sandbox_env(home, data, dt_sandbox, reo), **(environment or {})}

        def start() -> tuple[str, subprocess.Popen]:
            port = free_port()
            with log.open("ab") as output:
                process = subprocess.Popen(
                    dagster_dev_command("127.0.0.1", port),
                    env=env,
                    cwd=tmp_path,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            url = f"http://127.0.0.1:{port}"
            try:
                wait_for_ui(url, process, log)
            except BaseException:
                stop_group(process)
                raise
            return url, process

        running = Deployment(home, data, dt_sandbox, reo, start)
        try:
            yield running
        finally:
            stop_group(running.process)
        assert b"Traceback" not in log.read_bytes(), log.read_text()[-3000:]
