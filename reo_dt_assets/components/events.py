"""The ``reo_usage_events`` asset (a partition's events, delivered through ``reo.delivery``) and
its checks, read back from the delivery ledger."""

from collections.abc import Iterator
from functools import partial
from itertools import chain
from typing import Any

import dagster as dg
from pydantic import Field

from reo_dt_assets.components.resources import (
    ReoResource,
    UserDirectoryResource,
    WarehouseResource,
)
from reo_dt_assets.components.results import check_result, column_schema, mark_not_retryable
from reo_dt_assets.components.wiring import REO_DELIVERY, Wiring, layer
from reo_dt_assets.progress import peak_rss_mib
from reo_dt_assets.reo.corrections import correction_chunks
from reo_dt_assets.reo.delivery import deliver
from reo_dt_assets.reo.events import build_events, read_directory
from reo_dt_assets.reo.ledger import RunKey
from reo_dt_assets.reo.verdicts import events_verdicts
from reo_dt_assets.revenue.store import (
    event_user_chunks,
    partition_loaded,
    user_id_totals,
    users_with_user_id,
)
from reo_dt_assets.schema import DELIVERIES, DELIVERY_RUNS

#: Users read from user_revenue, built and registered at a time: the delivery's memory.
CHUNK_USERS = 10_000


def build_usage_events(
    w: Wiring, d: Wiring, upstream: dg.AssetKey, sends: bool = True
) -> tuple[dg.AssetsDefinition, dg.AssetChecksDefinition]:
    """``reo_usage_events`` (named by the delivery ``d``) over the table ``upstream`` of the
    source ``w``, and its checks. Without ``sends``, the run config's ``dry_run`` defaults to
    true."""
    duckdb_key = w.name("duckdb")
    reo_key, directory_key = d.name("reo"), d.name("user_directory")

    class ReoDeliveryConfig(dg.Config):
        dry_run: bool = Field(
            default=not sends,
            description="Build, validate and record the events, send nothing, and preview them "
            "in the metadata.",
        )

    @dg.asset(
        key=d.key("reo_usage_events"),
        group_name=d.group,
        owners=list(d.owners),
        tags=layer("delivery"),
        partitions_def=w.report_partitions,
        deps=[upstream],
        kinds={"python", "duckdb"},
        pool=d.pool(REO_DELIVERY),
        code_version="1",
        hooks={mark_not_retryable},
        required_resource_keys={duckdb_key, reo_key, directory_key},
    )
    def reo_usage_events(
        context: dg.AssetExecutionContext, config: ReoDeliveryConfig
    ) -> dg.MaterializeResult:
        """Reo.Dev product-usage events: one per (date, app, user with a publisher User ID).

        Source: ``user_revenue`` (+ the optional publisher user directory), payloads per Reo.Dev's
        Product Usage API. Each event has a deterministic ``event_id``; the ledger
        ``reo_event_deliveries`` records it and marks it delivered only after Reo.Dev confirms, so a
        re-run sends only what is not yet delivered. Users known only by a device ID are counted,
        not sent. Events are read, built, registered and sent a chunk at a time, at the pace
        Reo.Dev's answers allow. An app with a ``correction_activity_type`` also gets one
        correction event per delivered user whose revenue a later pull moved (``reo.corrections``).
        The asset fails if any event is left undelivered.
        """
        duckdb: WarehouseResource = getattr(context.resources, duckdb_key)
        reo: ReoResource = getattr(context.resources, reo_key)
        user_directory: UserDirectoryResource = getattr(context.resources, directory_key)
        date, app_id = w.report_of(context.partition_key)
        app = d.catalog.app(app_id)
        mode = "dry_run" if config.dry_run else "delivery"
        run = RunKey(context.run.run_id, date, app_id, mode)
        ledger = duckdb.ledger(run)
        with duckdb.get_connection() as conn:
            if not partition_loaded(conn, date, app_id):
                raise dg.Failure(
                    f"user_revenue has no partition {context.partition_key}: materialize "
                    "user_revenue (and dt_user_level_report) for it first. Nothing was sent."
                )
            expected = users_with_user_id(conn, date, app_id)
            try:
                directory = read_directory(user_directory.source, conn)
            except FileNotFoundError as error:
                raise dg.Failure(str(error), allow_retries=False) from None
        expected -= ledger.status_counts(date, app_id).get("delivered", 0)
        chunks = (
            build_events(
                users.iter_rows(named=True),
                date=date,
                app_id=app_id,
                product_id=app.product_id,
                activity_type=app.activity_type,
                environment=app.environment,
                directory=directory,
                event_id_type=reo.event_id_type,
            )
            for users in event_user_chunks(duckdb.get_connection, date, app_id, CHUNK_USERS)
        )
        if app.correction_activity_type:
            chunks = chain(
                chunks,
                correction_chunks(
                    ledger,
                    duckdb.get_connection,
                    date=date,
                    app_id=app_id,
                    activity_type=app.correction_activity_type,
                    thresholds=reo.correction_thresholds,
                    event_id_type=reo.event_id_type,
                    chunk=CHUNK_USERS,
                ),
            )
        deliver_partition = partial(
            deliver, chunks, ledger, date=date, app_id=app_id, log=context.log, expected=expected
        )
        if config.dry_run:
            outcome = deliver_partition(None)
        else:
            with reo.client(context.log) as client:
                outcome = deliver_partition(client)
        metadata: dict[str, Any] = {
            "built": outcome.built,
            "corrections_built": outcome.corrections,
            "already_delivered": outcome.already_delivered,
            "rejected": outcome.rejected,
            "device_only_skipped": outcome.device_only_users,
            "device_only_revenue_usd": round(outcome.device_only_revenue_usd, 2),
            "enriched_from_directory": outcome.enriched,
            "dry_run": config.dry_run,
            "sent_now": outcome.sent_now,
            # The delivery ledger, described as the table it is.
            "dagster/table_name": duckdb.table_name(DELIVERIES),
            "dagster/column_schema": column_schema(DELIVERIES),
            "ledger_rows": sum(ledger.status_counts(date, app_id).values()),
            # This run's row of the run log: what it sent, how, and how it ended.
            "delivery_run": dg.MetadataValue.md(
                f"`{duckdb.table_name(DELIVERY_RUNS)}` WHERE run_id = '{context.run.run_id}' AND "
                f"report_date = '{date}' AND app_id = '{app_id}'"
            ),
        }
        if config.dry_run:
            metadata.update(
                would_send=outcome.to_send,
                preview=dg.MetadataValue.json({"payloads": outcome.preview}),
            )
            return dg.MaterializeResult(metadata=metadata)
        metadata.update(
            failed=outcome.failed,
            pending=outcome.pending,
            delivered_total=outcome.delivered_total,
        )
        if outcome.sent_now:
            metadata["events_per_second"] = round(outcome.sent_now / outcome.seconds, 1)
        metadata["peak_rss_mib"] = peak_rss_mib()  # of the process so far: the delivery's
        if outcome.pace is not None and outcome.pace.requests:
            metadata.update(
                requests=outcome.pace.requests,
                concurrency_median=outcome.pace.concurrency_median,
                throttled_share=round(outcome.pace.throttled_share, 4),
            )
        if outcome.stopped:
            raise dg.Failure(
                f"{outcome.stopped} (app {app_id}, activity_type {app.activity_type!r}, {date})",
                metadata=metadata,
                allow_retries=outcome.stop_retryable,
            )
        if outcome.undelivered:
            raise dg.Failure(
                f"{outcome.undelivered} events of {app_id} on {date} are not delivered (see "
                "reo_event_deliveries.last_error); re-materialize the partition to retry them.",
                metadata=metadata,
            )
        return dg.MaterializeResult(metadata=metadata)

    @dg.multi_asset_check(
        name=d.name("reo_usage_events_checks"),  # the op: one per instance
        specs=[
            dg.AssetCheckSpec(
                "payloads_match_contract",
                asset=reo_usage_events,
                blocking=True,
                partitions_def=w.report_partitions,
                description="Every recorded payload not rejected meets the contract.",
            ),
            dg.AssetCheckSpec(
                "every_event_accounted_for",
                asset=reo_usage_events,
                blocking=True,
                partitions_def=w.report_partitions,
                description="Every event is delivered or carries a recorded reason.",
            ),
            dg.AssetCheckSpec(
                "revenue_matches_user_revenue",
                asset=reo_usage_events,
                blocking=True,
                partitions_def=w.report_partitions,
                description="Events' revenue = the partition's revenue of users "
                "with a User ID in user_revenue.",
            ),
            dg.AssetCheckSpec(
                "failures_within_threshold",
                asset=reo_usage_events,
                # Red, and told by the alerts, without failing the run a second time: the
                # events are all accounted for, and nothing downstream is wrong for it.
                blocking=False,
                partitions_def=w.report_partitions,
                description="Failed + rejected events at most REO_DT_DELIVERY_FAILURE_PCT (1% "
                "unless set) of the partition's; the top reasons when not.",
            ),
        ],
        required_resource_keys={duckdb_key, reo_key},
    )
    def reo_usage_events_checks(
        context: dg.AssetCheckExecutionContext,
    ) -> Iterator[dg.AssetCheckResult]:
        """The partition's events, read back from the delivery ledger, against the contract and
        the table they were built from."""
        duckdb: WarehouseResource = getattr(context.resources, duckdb_key)
        date, app_id = w.report_of(context.partition_key)
        events = duckdb.ledger().partition_events(date, app_id)
        with duckdb.get_connection() as conn:
            users, revenue = user_id_totals(conn, date, app_id)
        reo: ReoResource = getattr(context.resources, reo_key)
        for verdict in events_verdicts(
            events, users, revenue, failure_pct=reo.failure_threshold_pct
        ):
            yield check_result(verdict, context.partition_key)

    return reo_usage_events, reo_usage_events_checks
