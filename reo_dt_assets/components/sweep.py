"""The sweep: the partitions past the last pull age whose ledger still holds events to send (a
run failed for good, or was killed, after the schedule stopped pulling the day) are delivered
from the payloads the ledger stored, with no DT request and nothing rebuilt.

A job of one op and its daily schedule (14:30 UTC, after the day's runs and rollup; stopped by
default like the others). The op takes the delivery's pool, so it never sends beside a
delivery; each partition it sweeps gets its row in ``reo_delivery_runs`` (mode ``sweep``).
"""

import datetime as dt
from collections.abc import Callable
from typing import Any

import dagster as dg

from reo_dt_assets.components.executor import executor
from reo_dt_assets.components.resources import ReoResource, WarehouseResource
from reo_dt_assets.components.wiring import REO_DELIVERY, Wiring
from reo_dt_assets.reo.delivery import recover, redeliver
from reo_dt_assets.reo.ledger import RunKey


def build_sweep(
    w: Wiring, d: Wiring, pull_ages: Callable[[], tuple[int, ...]]
) -> tuple[Any, dg.ScheduleDefinition]:
    """The sweep job of the delivery ``d`` over the source ``w``'s ledger, and its schedule."""
    duckdb_key, reo_key = w.name("duckdb"), d.name("reo")

    @dg.op(
        name=d.name("reo_delivery_sweep"),
        pool=d.pool(REO_DELIVERY),
        required_resource_keys={duckdb_key, reo_key},
    )
    def sweep(context: dg.OpExecutionContext) -> None:
        """Deliver every undelivered event of the catalog's days older than the last pull age,
        from the ledger's stored payloads; fail (retryable) if any is still not delivered."""
        duckdb: WarehouseResource = getattr(context.resources, duckdb_key)
        reo: ReoResource = getattr(context.resources, reo_key)
        today = dt.datetime.now(dt.UTC).date()
        before = today - dt.timedelta(days=max(pull_ages()))
        apps = set(w.catalog.app_ids)
        ledger = duckdb.ledger()
        recover(ledger, context.log)  # what killed runs confirmed is not swept again
        found = ledger.undelivered_partitions(before)
        due = [p for p in found if p.app_id in apps]
        if not due:
            context.log.info(f"Nothing to sweep: every event of the days before {before} is done")
            return
        left: list[str] = []
        with reo.client(context.log) as client:
            for partition in due:
                run = RunKey(context.run.run_id, partition.date, partition.app_id, "sweep")
                outcome = redeliver(
                    duckdb.ledger(run),
                    client,
                    date=partition.date,
                    app_id=partition.app_id,
                    log=context.log,
                    expected=partition.events,
                )
                context.log.info(
                    f"Swept {partition.app_id} on {partition.date}: {outcome.sent_now} of "
                    f"{partition.events} delivered, {outcome.undelivered} still not"
                )
                if outcome.stopped:
                    raise dg.Failure(outcome.stopped, allow_retries=outcome.stop_retryable)
                if outcome.undelivered:
                    left.append(f"{partition.app_id}|{partition.date} ({outcome.undelivered})")
        if left:
            raise dg.Failure(
                f"events still not delivered after the sweep: {', '.join(left)} (see "
                "reo_event_deliveries.last_error); the next sweep tries them again."
            )

    @dg.job(
        name=d.name("reo_delivery_sweep_job"),
        executor_def=executor,
        description="Delivers the undelivered events of days past the last pull age from the "
        "ledger's stored payloads: no DT request, nothing rebuilt.",
    )
    def sweep_job() -> None:
        sweep()

    schedule = dg.ScheduleDefinition(
        name=d.name("reo_delivery_sweep_schedule"),
        job=sweep_job,
        cron_schedule="30 14 * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="14:30 UTC: the undelivered events of days no longer pulled, sent again.",
    )
    return sweep_job, schedule
