"""One-command demo: the sandboxes on loopback, the whole chain through a real Dagster instance.

Starts the DT and Reo.Dev sandboxes, points the settings at them, and launches the daily job
(raw report -> user_revenue -> Reo.Dev events, with every check) for the last 7 days x every app
of the catalog, then each day's rollup (``daily_revenue``, then the HTML page ``revenue_report``)
once its apps are done. The runs go through the project's Dagster instance (``.dagster_home/``)
as the UI's and the daemon's do: created for the code location of ``workspace.yaml``, submitted to
the run queue, dequeued within the instance's run limit and launched by its run launcher (a
process per run, from a code server). So ``make ui`` shows them everywhere a launched run shows:
the run list, Overview > Timeline, the jobs' status bars, the assets' health. Prints a line per
day and where everything landed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import logging
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import dagster as dg
from dagster._core.remote_representation.external import RemoteJob, RemoteRepository
from dagster._core.snap import ExecutionPlanSnapshot
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import (
    QueuedRunCoordinatorDaemon,
)

from reo_dt_assets import settings
from reo_dt_assets.components.wiring import Wiring, report_key
from reo_dt_assets.definitions import source_wiring
from reo_dt_assets.upgrade import print_migrations
from reo_dt_assets_dev.dev import PROJECT, prepare_home, start_sandboxes

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
LOCATION = "reo_dt_assets"  # workspace.yaml's code location: the one `make ui` shows
POLL_SECONDS = 0.5
ROLLUP_FIRST = {"dagster/priority": "1"}  # a day's rollup jumps the queue of per-app runs
#: What the table shows, from each asset's metadata: {asset: {metadata key: DaySummary field}}
FIGURES = {
    "reo_usage_events": {"sent_now": "events_sent", "already_delivered": "already_delivered"},
    "daily_revenue": {"users": "users", "revenue_usd": "revenue_usd"},  # to the cent
}


@dataclass
class DaySummary:
    events_sent: int = 0
    already_delivered: int = 0
    checks_passed: int = 0
    checks: int = 0
    failed: int = 0
    users: int = 0  # of the day's rollup
    revenue_usd: float = 0.0


class RunQueue:
    """Runs submitted to the instance's queue and launched from it, as the daemon does."""

    def __init__(self, context: WorkspaceProcessContext, wiring: Wiring) -> None:
        self._context = context
        self.wiring = wiring  # the source's partitions: a run's tags name its partition
        self.submitted: list[str] = []
        self._dequeuer = QueuedRunCoordinatorDaemon(interval_seconds=POLL_SECONDS)
        # "Launched N runs." at each pass would drown the table: warnings and errors only.
        logging.getLogger(f"dagster.daemon.{type(self._dequeuer).__name__}").setLevel(
            logging.WARNING
        )

    @property
    def instance(self) -> dg.DagsterInstance:
        return self._context.instance

    @functools.cache  # noqa: B019 (one queue per demo)
    def _job(self, job: str) -> tuple[RemoteRepository, RemoteJob, ExecutionPlanSnapshot]:
        """The job as the code server describes it, and its plan: the same for every partition."""
        location = self._context.create_request_context().get_code_location(LOCATION)
        [repository] = location.get_repositories().values()
        remote_job = repository.get_full_job(job)
        plan = location.get_execution_plan(
            remote_job, QUIET, step_keys_to_execute=None, known_state=None, instance=self.instance
        )
        return repository, remote_job, plan.execution_plan_snapshot

    def submit(self, job: str, partition_key: str, tags: dict[str, str]) -> str:
        """A run of ``job`` on ``partition_key``, in the queue; its id."""
        repository, remote_job, plan = self._job(job)
        partitions = self.wiring.report_partitions if "|" in partition_key else self.wiring.daily
        run = self.instance.create_run(
            job_name=job,
            run_id=None,
            run_config=QUIET,
            status=None,
            tags={
                **remote_job.tags,
                **partitions.get_tags_for_partition_key(partition_key),
                **tags,
            },
            root_run_id=None,
            parent_run_id=None,
            step_keys_to_execute=None,
            execution_plan_snapshot=plan,
            job_snapshot=remote_job.job_snapshot,
            parent_job_snapshot=remote_job.parent_job_snapshot,
            asset_selection=None,
            asset_check_selection=None,
            resolved_op_selection=None,
            op_selection=None,
            remote_job_origin=remote_job.get_remote_origin(),
            job_code_origin=remote_job.get_python_origin(),
            asset_graph=repository.asset_graph,
        )
        self.submitted.append(run.run_id)
        self.instance.submit_run(run.run_id, self._context.create_request_context())
        return run.run_id

    def dequeue(self) -> None:
        """Launch what the queue lets through now (``max_concurrent_runs``, pools)."""
        for _ in self._dequeuer.run_iteration(self._context):
            pass

    def stop(self) -> None:
        """Cancel the runs submitted here still queued and terminate those running: a demo that
        stops early (an error, Ctrl-C) leaves no run behind it."""
        for run_id in self.submitted:
            run = self.instance.get_run_by_id(run_id)
            if run is None or run.is_finished:
                continue
            if run.status in (dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED):
                self.instance.report_run_canceled(run, "the demo stopped before it was launched")
            else:
                self.instance.run_launcher.terminate(run_id)

    def finished(self, run_id: str) -> dg.DagsterRun | None:
        run = self.instance.get_run_by_id(run_id)
        return run if run is not None and run.is_finished else None


@contextmanager
def run_queue(instance: dg.DagsterInstance) -> Iterator[RunQueue]:
    """The queue, with the code location of ``workspace.yaml`` served by a code server (stopped
    on exit) that starts each run's process."""
    target = WorkspaceFileTarget(paths=[str(PROJECT / "workspace.yaml")])
    with WorkspaceProcessContext(instance, target, code_server_log_level="WARNING") as context:
        yield RunQueue(context, source_wiring())


def add_run(summary: DaySummary, instance: dg.DagsterInstance, run: dg.DagsterRun) -> None:
    """What a finished run materialized and checked, from its events in the instance."""
    for record in instance.all_logs(
        run.run_id,
        of_type={
            dg.DagsterEventType.ASSET_MATERIALIZATION,
            dg.DagsterEventType.ASSET_CHECK_EVALUATION,
        },
    ):
        event = record.dagster_event
        if event is None:
            continue
        if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            summary.checks += 1
            summary.checks_passed += bool(getattr(event.event_specific_data, "passed", False))
            continue
        materialization = record.asset_materialization
        if materialization is None:
            continue
        fields = FIGURES.get(materialization.asset_key.to_user_string(), {})
        for key, field in fields.items():
            value = materialization.metadata.get(key)
            if value is not None and isinstance(value.value, int | float):
                setattr(summary, field, getattr(summary, field) + value.value)
    summary.failed += 0 if run.status == dg.DagsterRunStatus.SUCCESS else 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=7, help="days back from yesterday")
    args = parser.parse_args(argv)
    home = prepare_home()
    data_dir, duckdb_path = settings.data_dir().resolve(), settings.duckdb_path().resolve()
    print_migrations()
    with ExitStack() as stack:
        start_sandboxes(stack)

        yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
        days = [yesterday - dt.timedelta(days=n) for n in range(args.days)][::-1]
        print(f"Dagster instance: {home}\n")
        instance = stack.enter_context(dg.DagsterInstance.get())
        queue = stack.enter_context(run_queue(instance))
        catalog = queue.wiring.catalog  # read now: the settings above name it
        stack.callback(queue.stop)  # nothing to do once every run has finished
        per_app = {
            day: [
                queue.submit("daily_revenue_events_job", report_key(app_id, day), {})
                for app_id in catalog.app_ids
            ]
            for day in days
        }
        print(
            f"{'day':10}  {'apps':>4}  {'users':>6}  {'revenue USD':>12}  {'events sent':>11}"
            f"  {'sent before':>11}  checks",
            flush=True,
        )
        summaries = {day: DaySummary() for day in days}
        rollups: dict[dt.date, str] = {}
        done: set[str] = set()
        while days:
            queue.dequeue()
            for day, run_ids in per_app.items():
                for run_id in [r for r in [*run_ids, rollups.get(day)] if r and r not in done]:
                    run = queue.finished(run_id)
                    if run is not None:
                        add_run(summaries[day], instance, run)
                        done.add(run_id)
                if day not in rollups and done.issuperset(run_ids):
                    rollups[day] = queue.submit("daily_rollup_job", day.isoformat(), ROLLUP_FIRST)
            while days and rollups.get(days[0]) in done:  # the days in order, as each is done
                day = days.pop(0)
                _print_day(day, len(catalog.app_ids), summaries[day])
            time.sleep(POLL_SECONDS)
    print(f"\nRaw reports: {data_dir}/raw/digital_turbine/user_level/date=*/app_id=*.csv")
    print(f"DuckDB:      {duckdb_path} (user_revenue, reo_event_deliveries, daily_revenue)")
    print(f"Report:      {data_dir / 'report.html'} (asset revenue_report: the week up to the last")
    print("             day rolled up, revenue per app per day, events delivered)")
    print("UI on the same instance: make ui, then open http://127.0.0.1:3000")
    failed = sum(s.failed for s in summaries.values())
    if failed:
        raise SystemExit(f"{failed} runs failed: see them in the UI (make ui)")


def _print_day(day: dt.date, apps: int, summary: DaySummary) -> None:
    print(
        f"{day}  {apps:>4}  {summary.users:>6}  {summary.revenue_usd:>12.2f}  "
        f"{summary.events_sent:>11}  {summary.already_delivered:>11}  "
        f"{summary.checks_passed}/{summary.checks} passed"
        + (f"  ({summary.failed} runs FAILED)" if summary.failed else ""),
        flush=True,
    )


if __name__ == "__main__":
    main()
