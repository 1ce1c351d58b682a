"""A run killed mid-delivery recovers by itself: under the daemon, and from the CLI without one.

Under ``dg dev`` the project's instance settings (``deploy/dagster.yaml``) are under test: the
run worker is SIGKILLed while the Reo sandbox has received part of the partition's events, and
then, with no one touching the instance, the dead run must be marked failed, the
``reo_delivery`` slot it held freed, and the automatic retry must deliver the rest. From the CLI
(``dg launch``, no daemon) the project's executor is: the next CLI run of the partition finds the
dead run, marks it failed, frees its slot and completes. Reo.Dev may receive again only events
that were in flight at the kill (received but not yet confirmed in the ledger).
"""

import datetime as dt
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage

from reo_dt_assets.components import wiring as pools
from reo_dt_assets.components.executor import assign_stranded_steps, process_gone, this_process
from reo_dt_assets.components.results import mark_not_retryable
from reo_dt_assets.sandbox.dt_server import DTSandbox
from reo_dt_assets.sandbox.reo_server import ReoFaults, ReoSandbox
from reo_dt_assets_dev.dev import PROJECT, prepare_home
from reo_dt_assets_tests.chain import daily_revenue_events_job
from reo_dt_assets_tests.deployment import (
    Deployment,
    deployment,
    process_tree,
    sandbox_env,
    stop_group,
)
from reo_dt_assets_tests.helpers import wait_for

APP = "148721"
RETRY = "dagster/auto_retry_run_id"  # set on a failed run when the daemon retries it
SUCCESS, FAILURE = dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE


@pytest.fixture
def slow_reo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    """The deployment, with 250 ms per Reo request: a partition's delivery lasts seconds."""
    with deployment(tmp_path, monkeypatch, reo_faults=ReoFaults(latency_ms=250)) as running:
        yield running


@pytest.mark.slow
def test_killed_run_is_failed_freed_and_retried(slow_reo: Deployment) -> None:
    day = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    partition = f"{APP}|{day}"
    truth = slow_reo.dt.ground_truth(day, APP)
    events = sum(1 for kind, _ in truth.users if kind == "user_id")
    run_id = slow_reo.launch(daily_revenue_events_job.name, partition)

    with dg.DagsterInstance.get() as instance:
        # Mid-delivery: Reo.Dev has a quarter of the events, the run still holds the slot.
        wait_for(
            "a quarter of the events sent", lambda: len(slow_reo.reo.counts()) >= events // 4, 180
        )
        assert run_id in holders(instance)
        worker = next(
            int(str(event.dagster_event.engine_event_data.metadata["pid"].value))
            for event in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
            if event.dagster_event and event.message.startswith("Started process for run")
        )
        for pid, _ in process_tree(worker):  # the run worker and whatever it started
            os.kill(pid, signal.SIGKILL)
        assert len(slow_reo.reo.counts()) < events, "the run finished before it was killed"

        wait_for("the dead run failed", lambda: status(instance, run_id) == FAILURE, 60)
        # What the dead run left: the events Reo.Dev read (requests it was still answering
        # included) that the ledger does not have as delivered. Nothing sends until the retry
        # gets the slot.
        wait_for("the killed requests answered", lambda: slow_reo.reo.in_flight == 0, 10)
        unconfirmed = set(slow_reo.reo.counts()) - ledger(slow_reo.data, "delivered")
        assert run_id in holders(instance)  # the slot outlives the run ...

        # ... until the monitoring daemon frees it.
        wait_for("the slot freed", lambda: run_id not in holders(instance), 60)
        retry_id = wait_for("an automatic retry", lambda: tags(instance, run_id).get(RETRY), 60)
        wait_for("the retry ended", lambda: status(instance, retry_id) in (SUCCESS, FAILURE), 180)
        assert status(instance, retry_id) == SUCCESS
        assert partition in instance.get_materialized_partitions(dg.AssetKey("reo_usage_events"))

    counts = slow_reo.reo.counts()
    assert len(counts) == events  # every event received
    duplicated = {event_id for event_id, n in counts.items() if n > 1}
    # Again only what was unconfirmed at the kill, and once.
    assert duplicated <= unconfirmed, duplicated - unconfirmed
    assert sum(counts.values()) - events == len(duplicated)
    assert len(ledger(slow_reo.data, "delivered")) == events == len(ledger(slow_reo.data))


@pytest.mark.slow
def test_killed_cli_run_is_failed_and_freed_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``dg launch`` twice, no daemon: the first is SIGKILLed mid-delivery holding the
    ``reo_delivery`` slot; the second frees it by itself and delivers the rest."""
    home, data = tmp_path / "home", tmp_path / "data"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    prepare_home(home)
    day = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    partition = f"{APP}|{day}"
    with DTSandbox() as dt_sandbox, ReoSandbox(faults=ReoFaults(latency_ms=250)) as reo:
        env = sandbox_env(home, data, dt_sandbox, reo)
        events = sum(1 for kind, _ in dt_sandbox.ground_truth(day, APP).users if kind == "user_id")
        launch = [
            str(PROJECT / ".venv" / "bin" / "dg"),
            "launch",
            "--job",
            daily_revenue_events_job.name,
            "--partition",
            partition,
        ]
        with (tmp_path / "first.log").open("wb") as log:
            first = subprocess.Popen(
                launch,
                cwd=PROJECT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_for("a quarter of the events sent", lambda: len(reo.counts()) >= events // 4, 180)
        finally:
            stop_group(first, signal.SIGKILL)
        with dg.DagsterInstance.get() as instance:
            (dead,) = instance.get_run_ids()
            assert status(instance, dead) == dg.DagsterRunStatus.STARTED
            assert dead in holders(instance)  # nothing else would ever free it
        wait_for("the killed requests answered", lambda: reo.in_flight == 0, 10)
        unconfirmed = set(reo.counts()) - ledger(data, "delivered")

        second = subprocess.run(
            launch, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300
        )
        assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
        with dg.DagsterInstance.get() as instance:
            (rerun,) = set(instance.get_run_ids()) - {dead}
            assert status(instance, rerun) == SUCCESS
            assert status(instance, dead) == FAILURE
            assert not holders(instance)
            said = [record.user_message for record in instance.all_logs(rerun)]
            assert any(f"run {dead} was dead" in line for line in said), said
            (failed,) = instance.all_logs(dead, of_type=dg.DagsterEventType.RUN_FAILURE)
            assert failed.dagster_event is not None
            assert "is gone" in (failed.dagster_event.message or "")

        counts = reo.counts()
    assert len(counts) == events
    duplicated = {event_id for event_id, n in counts.items() if n > 1}
    assert duplicated <= unconfirmed, duplicated - unconfirmed
    assert len(ledger(data, "delivered")) == events == len(ledger(data))


def ledger(data: Path, only: str = "") -> set[str]:
    """Event ids in the delivery ledger (those with status ``only``, if given)."""
    with duckdb.connect(str(data / "reo_dt.duckdb"), read_only=True) as conn:
        rows = conn.execute(
            "SELECT event_id FROM reo_event_deliveries WHERE ? = '' OR status = ?", [only, only]
        ).fetchall()
    return {event_id for (event_id,) in rows}


def status(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRunStatus | None:
    run = instance.get_run_by_id(run_id)
    return run.status if run else None


def tags(instance: dg.DagsterInstance, run_id: str) -> Mapping[str, str]:
    run = instance.get_run_by_id(run_id)
    return run.tags if run else {}


def holders(instance: dg.DagsterInstance) -> set[str]:
    """Runs holding a ``reo_delivery`` slot."""
    return instance.event_log_storage.get_concurrency_info(pools.REO_DELIVERY).active_run_ids


@dg.asset(hooks={mark_not_retryable})
def refused() -> None:
    """A failure no retry can fix (bad credentials, a report DT cannot serve, bad input), with
    the hook every asset of the project carries."""
    raise dg.Failure("Reo.Dev answered Authentication Failure", allow_retries=False)


@dg.asset
def refused_untagged() -> None:
    """The same failure without the hook: marked only the way an op ``RetryPolicy`` reads."""
    raise dg.Failure("Reo.Dev answered Authentication Failure", allow_retries=False)


@dg.asset
def interrupted() -> None:
    """A failure a retry may fix (DT or Reo.Dev still failing after the clients' retries)."""
    raise dg.Failure("Reo.Dev answered 503 after 20 attempts")


def test_only_retryable_failures_are_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run retries follow the run's tags when it fails: ``mark_not_retryable`` tags the run of a
    ``dg.Failure(allow_retries=False)``, which turns them off for that run alone; the Failure
    alone does not (it only bypasses an op ``RetryPolicy``)."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    prepare_home(tmp_path)
    with dg.DagsterInstance.get() as instance:
        will_retry = {}
        for asset in (refused, refused_untagged, interrupted):
            result = dg.materialize([asset], instance=instance, raise_on_error=False)
            will_retry[asset.key.to_user_string()] = tags(instance, result.run_id).get(
                "dagster/will_retry"
            )
    assert will_retry == {"refused": "false", "refused_untagged": "true", "interrupted": "true"}


def test_a_process_is_gone_by_host_pid_and_start_time() -> None:
    """What the executor judges a dead run by: this host, the pid, and its start time (a pid
    reused by a later process is not the run's)."""
    assert not process_gone(this_process())
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "from reo_dt_assets.components.executor import this_process as p; print(p())",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert process_gone(child.stdout.strip())  # it exited
    host, pid, _ = this_process().rsplit(":", 2)
    assert process_gone(f"{host}:{pid}:1")  # our pid, but another process's start time
    assert not process_gone(f"elsewhere.example:{child.stdout.split(':')[1]}:1")  # not ours to say


def test_a_step_left_waiting_for_a_free_slot_gets_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race of two runs on a one-slot pool, as the instance stores it: run B registered its
    wait after run A had freed the slot, so nobody gave B the free slot (``make demo`` hung on
    it). The executor's watcher gives it; a slot still held is not given."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    prepare_home(tmp_path)
    pool, step = pools.REO_DELIVERY, "reo_usage_events"
    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, SqlEventLogStorage)
        assert storage.claim_concurrency_slot(pool, "run-a", step).is_claimed
        assert not storage.claim_concurrency_slot(pool, "run-b", step).is_claimed  # waits
        assert assign_stranded_steps(instance) == []  # A still holds the slot
        storage.free_concurrency_slots_for_run("run-a")  # A ends: B is given the slot
        assert storage.claim_concurrency_slot(pool, "run-b", step).is_claimed
        storage.free_concurrency_slots_for_run("run-b")
        # C saw the slot held (by B) before it was freed, and registers its wait only now.
        storage.add_pending_step(pool, "run-c", step, should_assign=False)
        assert not storage.claim_concurrency_slot(pool, "run-c", step).is_claimed  # stuck
        assert assign_stranded_steps(instance) == [
            f"gave a free {pool} slot to a step left waiting ({step} first)"
        ]
        assert storage.claim_concurrency_slot(pool, "run-c", step).is_claimed
        assert assign_stranded_steps(instance) == []  # one slot, taken
