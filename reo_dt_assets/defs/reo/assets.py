"""The ``reo_usage_events`` asset: build, validate, record and deliver a partition's events."""

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from reo_dt_assets.defs import pools
from reo_dt_assets.defs.catalog import CATALOG
from reo_dt_assets.defs.digital_turbine.partitions import report_of, report_partitions
from reo_dt_assets.defs.resources import ReoResource, UserDirectoryResource
from reo_dt_assets.defs.revenue.assets import user_revenue
from reo_dt_assets.reo.client import ReoAuthError, progress_logger
from reo_dt_assets.reo.events import (
    DirectoryEntry,
    build_events,
    load_directory,
    read_directory_csv,
)
from reo_dt_assets.reo.ledger import DeliveryLedger
from reo_dt_assets.reo.payload import payload_problems
from reo_dt_assets.reo.sender import SendResult
from reo_dt_assets.revenue.store import ensure_tables
from reo_dt_assets.schema import REVENUE_PARTITIONS, USER_REVENUE


class ReoDeliveryConfig(dg.Config):
    dry_run: bool = False
    """Build, validate and record the events, send nothing, and preview them in the metadata."""


def _directory(source: str, conn: duckdb.DuckDBPyConnection) -> dict[str, DirectoryEntry] | None:
    """The publisher's user directory from ``REO_DT_USER_DIRECTORY``, if one is configured."""
    if not source:
        return None
    if source.startswith("duckdb:"):
        return load_directory(conn.sql(f'SELECT * FROM "{source.removeprefix("duckdb:")}"').pl())
    path = Path(source)
    if not path.exists():
        raise dg.Failure(
            f"user directory {path} not found: fix REO_DT_USER_DIRECTORY (a CSV path or "
            "duckdb:<table>) or unset it",
            allow_retries=False,
        )
    return read_directory_csv(path)


@dg.asset(
    partitions_def=report_partitions,
    deps=[user_revenue],
    group_name="reo",
    kinds={"python", "duckdb"},
    pool=pools.REO_DELIVERY,
    code_version="1",
)
def reo_usage_events(
    context: dg.AssetExecutionContext,
    config: ReoDeliveryConfig,
    duckdb: DuckDBResource,
    reo: ReoResource,
    user_directory: UserDirectoryResource,
) -> dg.MaterializeResult:
    """Reo.Dev product-usage events: one per (date, app, user with a publisher User ID).

    Source: ``user_revenue`` (+ the optional publisher user directory), payloads per Reo.Dev's
    Product Usage API. Each event has a deterministic ``event_id``; the ledger
    ``reo_event_deliveries`` records it and marks it delivered only after Reo.Dev confirms, so a
    re-run sends only what is not yet delivered. Users known only by a device ID are counted,
    not sent. The asset fails if any event is left undelivered.
    """
    date, app_id = report_of(context.partition_key)
    app = CATALOG.app(app_id)
    with duckdb.get_connection() as conn:
        ensure_tables(conn)
        [(loaded,)] = conn.execute(
            f"SELECT count(*) FROM {REVENUE_PARTITIONS.name} WHERE report_date = ? AND app_id = ?",
            [date, app_id],
        ).fetchall()
        if not loaded:
            raise dg.Failure(
                f"user_revenue has no partition {app_id}|{date}: materialize user_revenue "
                "(and dt_user_level_report) for it first. Nothing was sent."
            )
        rows = conn.sql(
            f"SELECT user_key, user_key_type, user_id, impressions, revenue_usd, ad_networks "
            f"FROM {USER_REVENUE.name} WHERE report_date = ? AND app_id = ? ORDER BY user_key",
            params=[date, app_id],
        ).pl()
        directory = _directory(user_directory.source, conn)
    built = build_events(
        rows.iter_rows(named=True),
        date=date,
        app_id=app_id,
        product_id=app.product_id,
        activity_type=app.activity_type,
        environment=app.environment,
        directory=directory,
    )
    rejected = {
        e.event_id: "; ".join(problems)
        for e in built.events
        if (problems := payload_problems(e.payload))
    }
    ledger = DeliveryLedger(duckdb.get_connection)
    registered = ledger.register(
        date,
        app_id,
        built.events,
        rejected,
        pending_note="dry run: not sent yet" if config.dry_run else None,
    )
    metadata: dict[str, Any] = {
        "built": len(built.events),
        "already_delivered": registered.already_delivered,
        "rejected": len(rejected),
        "device_only_skipped": built.device_only_users,
        "device_only_revenue_usd": built.device_only_revenue_usd,
        "enriched_from_directory": built.enriched,
        "dry_run": config.dry_run,
    }
    if config.dry_run:
        preview = [payload for _, payload in registered.to_send[:5]]
        return dg.MaterializeResult(
            metadata={
                **metadata,
                "sent_now": 0,
                "would_send": len(registered.to_send),
                "preview": dg.MetadataValue.json({"payloads": preview}),
            }
        )
    tick = progress_logger(context.log, len(registered.to_send))
    tally: Counter[bool] = Counter()
    started = time.monotonic()

    def on_results(results: list[SendResult]) -> None:
        ledger.record(results)
        tally.update(result.delivered for result in results)
        tick(tally.total())

    try:
        with reo.client(context.log) as client:
            client.send_all(registered.to_send, on_results)
    except ReoAuthError as error:
        raise dg.Failure(
            description=str(error), metadata={"sent_now": tally[True]}, allow_retries=False
        ) from None
    seconds = time.monotonic() - started
    counts = ledger.status_counts(date, app_id)
    metadata.update(
        sent_now=tally[True],
        failed=counts.get("failed", 0),
        pending=counts.get("pending", 0),
        delivered_total=counts.get("delivered", 0),
        events_per_second=round(tally[True] / seconds, 1) if seconds > 0 else 0.0,
    )
    undelivered = counts.get("failed", 0) + counts.get("pending", 0)
    if undelivered:
        raise dg.Failure(
            description=(
                f"{undelivered} events of {app_id} on {date} are not delivered (see "
                "reo_event_deliveries.last_error); re-materialize the partition to retry them."
            ),
            metadata={k: json.dumps(v) if isinstance(v, dict) else v for k, v in metadata.items()},
        )
    return dg.MaterializeResult(metadata=metadata)
