"""The ``user_revenue`` DuckDB table, built from the raw DT report of the same partition."""

import datetime as dt
import hashlib
import math
import time
from pathlib import Path

import dagster as dg

from reo_dt_assets import disk, settings
from reo_dt_assets.defs import pools
from reo_dt_assets.defs.digital_turbine.assets import dt_user_level_report
from reo_dt_assets.defs.groups import GROUP, OWNERS, layer
from reo_dt_assets.defs.partitions import report_of, report_partitions
from reo_dt_assets.defs.resources import StorageResource, WarehouseResource
from reo_dt_assets.defs.retries import mark_not_retryable
from reo_dt_assets.defs.tables import column_schema
from reo_dt_assets.digital_turbine.raw import raw_report_path
from reo_dt_assets.revenue.parse import BadReportError, load_plan, parse_report
from reo_dt_assets.revenue.scratch import SCRATCH, scratch_folder
from reo_dt_assets.revenue.store import Reload, write_partition
from reo_dt_assets.schema import USER_REVENUE


@dg.asset(
    partitions_def=report_partitions,
    deps=[dt_user_level_report],
    group_name=GROUP,
    owners=OWNERS,
    tags=layer("table"),
    kinds={"duckdb", "polars"},
    pool=pools.DUCKDB_WRITER,
    code_version="1",
    hooks={mark_not_retryable},
    metadata={"dagster/column_schema": column_schema(USER_REVENUE)},
    # DT publishes a day by 12:00 UTC, the schedule runs at 12:30: late if not loaded by 14:00.
    freshness_policy=dg.FreshnessPolicy.cron(
        deadline_cron="0 14 * * *", lower_bound_delta=dt.timedelta(hours=2)
    ),
)
def user_revenue(
    context: dg.AssetExecutionContext, duckdb: WarehouseResource, storage: StorageResource
) -> dg.MaterializeResult:
    """Ad revenue and impressions per user and day, from DT's user-level report.

    Grain: one row per (report_date, app_id, user_key); the user is the publisher's User ID,
    else the advertising ID (the all-zero limit-ad-tracking ID does not count), else the IDFV.
    FairBid's masked aggregate row and rows with no identifier are not users: their totals are
    kept per partition in ``user_revenue_partitions`` so users + unattributed = the raw report.
    A partition is replaced in one transaction; bad input fails the run and changes nothing, a
    full disk too, retryable.
    Memory stays within ``REO_DT_LOAD_MEMORY_MB`` whatever the report's size: a big report is
    aggregated in buckets of users, one at a time, through a scratch folder.
    """
    date, app_id = report_of(context.partition_key)
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
        f"writing partition {context.partition_key} to {database.name} (rolled back: the tables "
        "hold what they held before)",
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
            with write_disk, duckdb.get_connection() as conn:
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
