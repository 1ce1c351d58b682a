"""The ``user_revenue`` DuckDB table, built from the raw DT report of the same partition, and its
checks: schema, key, signs, reconciliation with the raw CSV, and a warning when a reload moved a
day whose events were already delivered.

One step runs the seven checks (one DuckDB connection); the first six block the events built from
the table, the restatement warning never does. The users' history (``user_revenue_history``) is
written with the table, in the same transaction, and checked with it.
"""

import datetime as dt
import hashlib
import math
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg

from reo_dt_assets import disk, settings
from reo_dt_assets.components.resources import StorageResource, WarehouseResource
from reo_dt_assets.components.results import check_result, column_schema, mark_not_retryable
from reo_dt_assets.components.wiring import DUCKDB_WRITER, Wiring, layer
from reo_dt_assets.digital_turbine.raw import raw_report_path
from reo_dt_assets.revenue.parse import BadReportError, load_plan, parse_report
from reo_dt_assets.revenue.queries import (
    delivered_events,
    duplicate_keys,
    history_agreement,
    last_load_restatement,
    loaded_totals,
    negative_rows,
    raw_totals,
    schema_problems,
    split_agreement,
)
from reo_dt_assets.revenue.scratch import SCRATCH, scratch_folder
from reo_dt_assets.revenue.store import Reload, write_partition
from reo_dt_assets.revenue.verdicts import (
    REVENUE_TOLERANCE_USD,
    history_verdicts,
    restatement_verdict,
    table_verdicts,
)
from reo_dt_assets.schema import USER_REVENUE, USER_REVENUE_HISTORY


def build_user_revenue(w: Wiring) -> tuple[dg.AssetsDefinition, dg.AssetChecksDefinition]:
    """``user_revenue`` and its checks, for the instance ``w``."""
    duckdb_key, storage_key = w.name("duckdb"), w.name("storage")

    @dg.asset(
        key=w.key("user_revenue"),
        group_name=w.group,
        owners=list(w.owners),
        tags=layer("table"),
        partitions_def=w.report_partitions,
        deps=[w.key("dt_user_level_report")],
        kinds={"duckdb", "polars"},
        pool=w.pool(DUCKDB_WRITER),
        required_resource_keys={duckdb_key, storage_key},
        code_version="1",
        hooks={mark_not_retryable},
        metadata={"dagster/column_schema": column_schema(USER_REVENUE)},
        # DT publishes a day by 12:00 UTC, the schedule runs at 12:30: late if not loaded by 14:00.
        freshness_policy=dg.FreshnessPolicy.cron(
            deadline_cron="0 14 * * *", lower_bound_delta=dt.timedelta(hours=2)
        ),
    )
    def user_revenue(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        """Ad revenue and impressions per user and day, from DT's user-level report.

        Grain: one row per (report_date, app_id, user_key); the user is the publisher's User ID,
        else the advertising ID (the all-zero limit-ad-tracking ID does not count), else the IDFV.
        FairBid's masked aggregate row and rows with no identifier are not users: their totals are
        kept per partition in ``user_revenue_partitions`` so users + unattributed = the raw report.
        A partition is replaced in one transaction; bad input fails the run and changes nothing, a
        full disk too, retryable.
        Memory stays within ``REO_DT_LOAD_MEMORY_MB`` whatever the report's size: a big report is
        aggregated in buckets of users, one at a time, through a scratch folder.
        Each user's revenue is also split by ad network and by placement type (lists aligned
        with ``ad_networks`` and ``placement_types``), and the same transaction recomputes
        ``user_revenue_history`` (7-day, 30-day and lifetime revenue, first and last revenue
        day, active days, one row per user and day) for the day and, for the users it touched,
        every later day: a reload or a restatement moves their later figures too.
        """
        duckdb: WarehouseResource = getattr(context.resources, duckdb_key)
        storage: StorageResource = getattr(context.resources, storage_key)
        date, app_id = w.report_of(context.partition_key)
        data_dir = Path(storage.data_dir)
        path = raw_report_path(data_dir, date, app_id)
        if not path.exists():
            raise dg.Failure(f"{path} does not exist: materialize dt_user_level_report first.")
        size = path.stat().st_size
        plan = load_plan(size, storage.load_memory_mb, buckets=storage.parse_buckets)
        database = Path(duckdb.database)
        parse_disk = disk.reported(
            data_dir / SCRATCH,
            f"parsing {path} (its scratch files are removed; user_revenue is unchanged)",
            f"The parse needs up to about the raw report's size there ({math.ceil(size / 2**20):,} "
            "MiB): free that much on its volume",
        )
        write_disk = disk.reported(
            database.parent,
            f"writing partition {context.partition_key} to {database.name} (rolled back: the "
            "tables hold what they held before)",
            f"Free space on that volume for the partition's rows, which DuckDB writes to "
            f"{database.name}.wal (and spills to {database.name}.tmp) first, or move "
            f"{settings.REO_DT_DUCKDB_PATH} to a bigger one",
        )
        started = time.monotonic()
        # The parse's files live in a scratch folder that goes when the load ends, failed or not
        # (or, if the process is killed, at the next load).
        try:
            with scratch_folder(data_dir) as folder:
                with parse_disk:
                    parsed = parse_report(path, date, app_id, folder, buckets=plan.buckets)
                parsed_at = time.monotonic()
                with write_disk, duckdb.app_writer(app_id), duckdb.get_connection() as conn:
                    reload = write_partition(
                        conn,
                        parsed,
                        date,
                        app_id,
                        dt.datetime.now(dt.UTC).replace(tzinfo=None),
                        memory_mb=plan.duckdb_memory_mb,
                        log=context.log,
                    )
        except BadReportError as error:
            raise dg.Failure(description=str(error), allow_retries=False) from None
        except disk.DiskFullError as error:
            raise dg.Failure(description=str(error), allow_retries=True) from None
        totals = parsed.totals
        context.log.info(
            f"{totals.users} users, {totals.raw_rows} rows parsed in {parsed_at - started:.2f}s "
            f"({plan.buckets} bucket{'s' if plan.buckets > 1 else ''}), "
            f"written in {time.monotonic() - parsed_at:.2f}s"
        )
        moved = reload.restatement
        if moved is not None:
            context.log.info(
                f"DT restated {app_id} on {date} at age {moved.pull_age_days} days: revenue "
                f"{moved.change_usd:+,.2f} USD since the load of {reload.previous_loaded_at}"
            )
        top = totals.top_users
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": totals.users,
                "dagster/table_name": duckdb.table_name(USER_REVENUE),
                "dagster/column_schema": column_schema(USER_REVENUE),
                "users": totals.users,
                # Money to the cent for display; the exact values stay in DuckDB.
                "revenue_usd_total": round(totals.users_revenue_usd, 2),
                "impressions_total": totals.users_impressions,
                "unattributed_revenue_usd": round(totals.unattributed_revenue_usd, 2),
                "unattributed_rows": totals.unattributed_rows,
                "raw_rows": totals.raw_rows,
                "parse_buckets": plan.buckets,
                **_change(reload),
                "top_users": dg.MetadataValue.md(_markdown(top.rows(), top.columns)),  # masked keys
            }
        )

    @dg.multi_asset_check(
        name=w.name("user_revenue_checks"),  # the op: one per instance
        specs=[
            dg.AssetCheckSpec(
                "schema_matches_contract",
                asset=user_revenue,
                blocking=True,
                partitions_def=w.report_partitions,
                description="Column names, types and nullability match the contract.",
            ),
            dg.AssetCheckSpec(
                "key_is_unique",
                asset=user_revenue,
                blocking=True,
                partitions_def=w.report_partitions,
                description="(report_date, app_id, user_key) is unique.",
            ),
            dg.AssetCheckSpec(
                "amounts_not_negative",
                asset=user_revenue,
                blocking=True,
                partitions_def=w.report_partitions,
                description="revenue_usd >= 0 and impressions >= 0.",
            ),
            dg.AssetCheckSpec(
                "reconciles_with_raw_report",
                asset=user_revenue,
                blocking=True,
                partitions_def=w.report_partitions,
                description="Users + unattributed = the raw CSV's rows, impressions "
                f"(exactly) and revenue (within {REVENUE_TOLERANCE_USD} USD).",
            ),
            dg.AssetCheckSpec(
                "history_matches_user_revenue",
                asset=user_revenue,
                blocking=True,
                partitions_def=w.report_partitions,
                description="Each user's row in user_revenue_history (7-day, 30-day and lifetime "
                "revenue, first and last revenue day, active days) equals their user_revenue "
                "rows up to the day, summed again.",
            ),
            dg.AssetCheckSpec(
                "splits_match_revenue",
                asset=user_revenue,
                blocking=True,
                partitions_def=w.report_partitions,
                description="Each user's revenue per ad network and per placement type has one "
                "figure per value of ad_networks / placement_types and adds up to no more than "
                "their revenue (the rest: cells naming no network or placement).",
            ),
            dg.AssetCheckSpec(
                "restatement_within_threshold",
                asset=user_revenue,
                blocking=False,
                partitions_def=w.report_partitions,
                description="A warning when this load moved the day's revenue by more than "
                "REO_DT_RESTATEMENT_WARN_PCT (10% unless set) after its events were delivered: "
                "Reo.Dev holds the old numbers.",
            ),
        ],
        required_resource_keys={duckdb_key, storage_key},
    )
    def user_revenue_checks(
        context: dg.AssetCheckExecutionContext,
    ) -> Iterator[dg.AssetCheckResult]:
        """Schema, key, signs, reconciliation with the raw CSV, the users' history and revenue
        splits (blocking), and the restatement warning (never blocking), in one step on one
        connection."""
        duckdb: WarehouseResource = getattr(context.resources, duckdb_key)
        storage: StorageResource = getattr(context.resources, storage_key)
        date, app_id = w.report_of(context.partition_key)
        raw = raw_totals(raw_report_path(Path(storage.data_dir), date, app_id))
        with duckdb.get_connection() as conn:
            problems = schema_problems(conn, USER_REVENUE)
            duplicates = duplicate_keys(conn, date, app_id) if not problems else []
            negatives = negative_rows(conn, date, app_id) if not problems else 0
            loaded = loaded_totals(conn, date, app_id) if not problems else None
            moved = last_load_restatement(conn, date, app_id)
            events = delivered_events(conn, date, app_id)
            history_problems = problems + schema_problems(conn, USER_REVENUE_HISTORY)
            history = None if history_problems else history_agreement(conn, date, app_id)
            splits = None if history_problems else split_agreement(conn, date, app_id)
        for verdict in [
            *table_verdicts(problems, duplicates, negatives, loaded, raw),
            *history_verdicts(history_problems, history, splits),
            restatement_verdict(moved, events, storage.restatement_warn_pct),
        ]:
            yield check_result(verdict, context.partition_key, context.log)

    return user_revenue, user_revenue_checks


def _change(reload: Reload) -> dict[str, str | float]:
    """The move of the whole revenue against the load before (none on a first load)."""
    if reload.previous_loaded_at is None:
        return {}
    moved = reload.restatement
    change: dict[str, str | float] = {
        "previous_load": reload.previous_loaded_at.isoformat(sep=" ", timespec="seconds"),
        "revenue_change_usd": round(moved.change_usd, 2) if moved else 0.0,
    }
    pct = moved.change_pct if moved else 0.0
    if pct is not None:  # none from a day that had no revenue
        change["revenue_change_pct"] = round(pct, 2)
    return change


def masked_key(user_key: str) -> str:
    """Enough of a user key to tell rows apart in the UI, not the person (emails, profiles):
    its first and last characters and 6 hex digits of its hash, so two keys that share their
    ends (``https://github.com/...dev``) still read differently."""
    digest = hashlib.sha256(user_key.encode()).hexdigest()[:6]
    ends = f"{user_key[0]}…{user_key[-1]}" if len(user_key) > 4 else "…"
    return f"{ends} #{digest}"


def _markdown(rows: list[tuple], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for key, *values in rows:
        cells = [masked_key(key), *(f"{v:.2f}" if isinstance(v, float) else str(v) for v in values)]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)
