"""The runs' executor: Dagster's in-process one, which also frees the pool slots of dead runs.

A run's steps form a chain (report -> check -> table -> checks -> events -> checks), so one
process per run is as fast as one per step and far lighter on a small machine.

Under ``dg dev`` the daemon's run monitoring frees the slots of a run whose process died. A run
started from the CLI (``dg launch``, ``dagster asset materialize``) has no daemon behind it: killed
mid-delivery, it would stay STARTED and hold its ``reo_delivery`` slot, and the next run of the
partition would wait for that slot forever. So each run records the process it runs in (host,
pid, start time) in a tag, and while it runs it looks, every few seconds, at the runs holding or
waiting for a slot: one whose recorded process on this host is gone is marked failed, and its
slots freed; one that ended a while ago (as run monitoring waits) has its slots freed. A run on
another host is never judged from here.

It also hands a free slot to a step left waiting for it. Dagster gives a freed slot to the next
waiting step when it is freed; a step that registered its wait just after (it saw the slot taken,
then the slot was freed before its wait was stored) is never given one and waits forever, busy.
With runs in parallel (``make demo``, a backfill) this happened within a few runs.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage

PROCESS_TAG = "reo_dt/process"  # host:pid:start time of the process a run executes in
CHECK_EVERY_SECONDS = 5.0
ENDED_SECONDS = 10.0  # a run that ended holds slots this long before they are freed


def _start_time(pid: int) -> str | None:
    """The process's start time (clock ticks since boot, from ``/proc``), or None if it is gone
    or a zombie; "" where ``/proc`` is not there and the process exists."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return ""
    fields = stat[stat.rindex(")") + 2 :].split()
    return None if fields[0] == "Z" else fields[19]


def this_process() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_time(pid)}"


def process_gone(recorded: str) -> bool:
    """Whether the process a ``PROCESS_TAG`` names is gone; False for one on another host."""
    host, pid, started = recorded.rsplit(":", 2)
    if host != socket.gethostname() or not pid.isdigit():
        return False
    now = _start_time(int(pid))
    return now is None or (bool(started) and bool(now) and now != started)


def free_dead_runs(instance: dg.DagsterInstance, own_run_id: str) -> list[str]:
    """Fail the runs holding or waiting for pool slots whose process is gone, free their slots
    and those of runs that ended ``ENDED_SECONDS`` ago; say what was done, one line per run."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    done = []
    now = dt.datetime.now(dt.UTC).timestamp()
    for run_id in storage.get_concurrency_run_ids() - {own_run_id}:
        record = instance.get_run_record_by_id(run_id)
        if record is None:
            continue
        run = record.dagster_run
        if run.is_finished:
            if record.end_time is None or record.end_time + ENDED_SECONDS > now:
                continue
            line = f"freed the pool slots of run {run_id}, which ended {run.status.value}"
        else:
            recorded = run.tags.get(PROCESS_TAG)
            if recorded is None or not process_gone(recorded):
                continue
            instance.report_run_failed(
                run,
                f"Marked failed by run {own_run_id}: the process this run executed in "
                f"({recorded}) is gone (killed, or out of memory), so it could never end by itself",
            )
            line = f"run {run_id} was dead (its process {recorded} is gone): marked it failed"
            line += " and freed its pool slots"
        storage.free_concurrency_slots_for_run(run_id)
        done.append(line)
    return done


def assign_stranded_steps(instance: dg.DagsterInstance) -> list[str]:
    """Give each pool's free slots to steps waiting for one that nobody gave it; say which."""
    storage = instance.event_log_storage
    # SQLite and PostgreSQL: the storages that keep the pending steps (and the race)
    sql = isinstance(storage, SqlEventLogStorage)
    if not sql or not storage.supports_global_concurrency_limits:
        return []
    done = []
    for pool in storage.get_concurrency_keys():
        info = storage.get_concurrency_info(pool)
        waiting = [step for step in info.pending_steps if step.assigned_timestamp is None]
        assigned = len(info.pending_steps) - len(waiting)  # each holds or is about to claim one
        for step in waiting[: max(0, (info.slot_count or 0) - assigned)]:
            storage.assign_pending_steps([pool])  # the first waiting, by priority then age
            done.append(f"gave a free {pool} slot to a step left waiting ({step.step_key} first)")
    return done


class _FreeingExecutor(dg.Executor):
    """The in-process executor, with a thread freeing dead runs' slots while the run executes."""

    def __init__(self, inner: dg.Executor) -> None:
        self._inner = inner

    @property
    def retries(self) -> Any:
        return self._inner.retries

    @property
    def step_dependency_config(self) -> Any:
        return self._inner.step_dependency_config

    def execute(self, plan_context: Any, execution_plan: Any) -> Iterator[Any]:
        instance, run_id = plan_context.instance, plan_context.run_id
        instance.add_run_tags(run_id, {PROCESS_TAG: this_process()})
        stop = threading.Event()

        def watch() -> None:
            while True:
                for line in [*free_dead_runs(instance, run_id), *assign_stranded_steps(instance)]:
                    plan_context.log.warning(line)
                if stop.wait(CHECK_EVERY_SECONDS):
                    return

        watcher = threading.Thread(target=watch, name="free-dead-runs", daemon=True)
        watcher.start()
        try:
            yield from self._inner.execute(plan_context, execution_plan)
        finally:
            stop.set()
            watcher.join()


def _create(init_context: dg.InitExecutorContext) -> dg.Executor:
    create = dg.in_process_executor.executor_creation_fn
    assert create is not None
    return _FreeingExecutor(create(init_context))


executor = dg.ExecutorDefinition(
    name=dg.in_process_executor.name,
    config_schema=dg.in_process_executor.config_schema.as_field(),
    executor_creation_fn=_create,
    description="Dagster's in-process executor; a run also frees the pool slots of dead runs.",
)
