"""DuckDB writes of the revenue tables, and the reads the later layers make of them.

A partition is replaced in one transaction (delete its rows, insert the new ones, and the same
for its summary row), so re-running a partition or a backfill never duplicates or loses rows,
and a failure leaves the previous rows in place. A reload whose totals differ from the load
before it (DT restates its estimates for days after the first pull) appends a row to
``revenue_restatements`` in that same transaction, and the users' history moves with it
(``revenue.history``). The queries of the asset checks are in
``revenue.queries``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import astuple, dataclass, fields

import duckdb
import polars as pl

from reo_dt_assets.revenue.history import refresh_history
from reo_dt_assets.revenue.parse import PICO_USD, ParsedReport, ReportTotals
from reo_dt_assets.schema import (
    MONEY,
    REVENUE_PARTITIONS,
    REVENUE_RESTATEMENTS,
    USER_REVENUE,
    USER_REVENUE_HISTORY,
)
from reo_dt_assets.transactions import retry_conflicts, transaction


@dataclass(frozen=True)
class Restatement:
    """A row of ``revenue_restatements``: its fields are the table's columns."""

    report_date: dt.date
    app_id: str
    restated_at: dt.datetime
    pull_age_days: int
    users_before: int
    users_after: int
    impressions_before: int
    impressions_after: int
    revenue_usd_before: float
    revenue_usd_after: float
    unattributed_revenue_usd_before: float
    unattributed_revenue_usd_after: float
    change_usd: float
    change_pct: float | None


@dataclass(frozen=True)
class Reload:
    """What a write replaced: when the load before it was written (None: the first load), and
    how the day moved since (None: it did not)."""

    previous_loaded_at: dt.datetime | None
    restatement: Restatement | None


#: The summary columns a restatement compares; the whole revenue is raw_revenue_usd.
_COMPARED = "users, raw_impressions, raw_revenue_usd, unattributed_revenue_usd, loaded_at"


def _restatement(
    before: tuple, totals: ReportTotals, date: dt.date, app_id: str, loaded_at: dt.datetime
) -> Restatement | None:
    """The move from the summary row ``before`` to ``totals``, None if there is none. Revenue
    compares in whole pico-dollars, the precision it is summed at (rows written before sums
    were exact may differ from an exact sum in their last binary digit only)."""
    users, impressions, raw, unattributed, _ = before
    if (users, impressions, round(raw * PICO_USD), round(unattributed * PICO_USD)) == (
        totals.users,
        totals.raw_impressions,
        totals.raw_revenue_pusd,
        totals.unattributed_revenue_pusd,
    ):
        return None
    change = totals.raw_revenue_usd - raw
    return Restatement(
        date,
        app_id,
        loaded_at,
        (loaded_at.date() - date).days,
        users,
        totals.users,
        impressions,
        totals.raw_impressions,
        raw - unattributed,
        totals.raw_revenue_usd - totals.unattributed_revenue_usd,
        unattributed,
        totals.unattributed_revenue_usd,
        change,
        change / raw * 100 if raw else None,
    )


def write_partition(
    conn: duckdb.DuckDBPyConnection,
    parsed: ParsedReport,
    date: dt.date,
    app_id: str,
    loaded_at: dt.datetime,
    *,
    memory_mb: float | None = None,
    log: logging.Logger | None = None,
) -> Reload:
    """Replace the partition's rows in ``user_revenue`` with the parsed users (DuckDB reads their
    Parquet files itself, within ``memory_mb`` if given) and its row in the summary table, and
    record a restatement if the totals moved; on a DuckLake catalog, again if a concurrent
    writer's commit conflicts with it (logged to ``log``). Say what was replaced.
    """
    columns = ", ".join(USER_REVENUE.column_names)
    selected = ", ".join(
        "$loaded_at::TIMESTAMP" if name == "loaded_at" else name
        for name in USER_REVENUE.column_names
    )
    # Row order means nothing in these tables; keeping it makes the insert several times slower.
    settings = {"preserve_insertion_order": "false"}
    if memory_mb is not None:
        settings["memory_limit"] = f"'{int(memory_mb)}MiB'"
    for name, value in settings.items():
        conn.execute(f"SET {name} = {value}")

    def replace() -> Reload:
        with transaction(conn):
            before = conn.execute(
                f"SELECT {_COMPARED} FROM {REVENUE_PARTITIONS.name} "
                "WHERE report_date = ? AND app_id = ?",
                [date, app_id],
            ).fetchone()
            for table in (USER_REVENUE, REVENUE_PARTITIONS):
                conn.execute(
                    f"DELETE FROM {table.name} WHERE report_date = ? AND app_id = ?",
                    [date, app_id],
                )
            if parsed.user_files:
                conn.execute(
                    f"INSERT INTO {USER_REVENUE.name} ({columns}) "
                    f"SELECT {selected} FROM read_parquet($files)",
                    {"loaded_at": loaded_at, "files": [str(f) for f in parsed.user_files]},
                )
            _insert_summary(conn, parsed.totals, date, app_id, loaded_at)
            refresh_history(conn, date, app_id)
            if before is None:
                return Reload(None, None)
            moved = _restatement(before, parsed.totals, date, app_id, loaded_at)
            if moved is not None:
                names = [field.name for field in fields(moved)]
                conn.execute(
                    f"INSERT INTO {REVENUE_RESTATEMENTS.name} ({', '.join(names)}) "
                    f"VALUES ({', '.join('?' for _ in names)})",
                    list(astuple(moved)),
                )
            return Reload(before[-1], moved)

    try:
        return retry_conflicts(replace, log)
    finally:
        for name in settings:
            conn.execute(f"RESET {name}")


def _insert_summary(
    conn: duckdb.DuckDBPyConnection,
    totals: ReportTotals,
    date: dt.date,
    app_id: str,
    loaded_at: dt.datetime,
) -> None:
    values = {"report_date": date, "app_id": app_id, "loaded_at": loaded_at}
    names = REVENUE_PARTITIONS.column_names
    conn.execute(
        f"INSERT INTO {REVENUE_PARTITIONS.name} ({', '.join(names)}) "
        f"VALUES ({', '.join('?' for _ in names)})",
        [values[name] if name in values else getattr(totals, name) for name in names],
    )


def partition_loaded(conn: duckdb.DuckDBPyConnection, date: dt.date, app_id: str) -> bool:
    """Whether the partition was ever written (its summary row exists, even with no users)."""
    [(count,)] = conn.execute(
        f"SELECT count(*) FROM {REVENUE_PARTITIONS.name} WHERE report_date = ? AND app_id = ?",
        [date, app_id],
    ).fetchall()
    return count > 0


#: What an event carries of a user: the day's row, and their history as of the day (its money
#: already to the cent, halves away from zero, as ``meta`` says it).
_EVENT_USERS = f"""
SELECT u.user_key, u.user_key_type, u.user_id, u.impressions, u.revenue_usd,
       u.ad_networks, u.ad_network_revenue_usd, u.placement_types, u.placement_type_revenue_usd,
       {
    ", ".join(
        f"CAST(round(h.{c.name}, 2) AS VARCHAR) AS {c.name}" if c.type == MONEY else f"h.{c.name}"
        for c in USER_REVENUE_HISTORY.columns[3:]
    )
}
FROM {USER_REVENUE.name} u
LEFT JOIN {USER_REVENUE_HISTORY.name} h
  ON h.report_date = u.report_date AND h.app_id = u.app_id AND h.user_key = u.user_key
WHERE u.report_date = ? AND u.app_id = ?"""


def event_users(
    conn: duckdb.DuckDBPyConnection,
    date: dt.date,
    app_id: str,
    *,
    after: str | None = None,
    limit: int | None = None,
) -> pl.DataFrame:
    """The partition's users, with what their Reo.Dev events carry (their history as of the day
    included), in ``user_key`` order:
    all of them, or the ``limit`` first after the user key ``after``.

    A page is two queries: its keys (a sort of one column), then its rows between the first and
    the last key; one query sorting every column of the partition to keep a page took seconds
    per page at a million users."""
    where = f"FROM {USER_REVENUE.name} WHERE report_date = ? AND app_id = ?"
    if limit is None:
        return conn.sql(f"{_EVENT_USERS} ORDER BY u.user_key", params=[date, app_id]).pl()
    keys = conn.execute(
        f"SELECT min(user_key), max(user_key) FROM (SELECT user_key {where} "
        f"{'' if after is None else 'AND user_key > ?'} ORDER BY user_key LIMIT {int(limit)})",
        [date, app_id, *([] if after is None else [after])],
    ).fetchone()
    first, last = keys if keys else (None, None)
    return conn.sql(
        f"{_EVENT_USERS} AND u.user_key BETWEEN ? AND ? ORDER BY u.user_key",
        params=[date, app_id, first, last],
    ).pl()


def event_user_chunks(
    connect: Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]],
    date: dt.date,
    app_id: str,
    size: int,
) -> Iterator[pl.DataFrame]:
    """``event_users`` ``size`` users at a time, each chunk on a connection of its own: a long
    delivery holds neither the file nor all of its users."""
    after: str | None = None
    while True:
        with connect() as conn:
            chunk = event_users(conn, date, app_id, after=after, limit=size)
        if chunk.height:
            yield chunk
        if chunk.height < size:
            return
        after = chunk["user_key"][-1]


def users_with_user_id(conn: duckdb.DuckDBPyConnection, date: dt.date, app_id: str) -> int:
    """The partition's users that have a publisher User ID: its events, at most."""
    [(count,)] = conn.execute(
        f"SELECT count(*) FROM {USER_REVENUE.name} WHERE report_date = ? AND app_id = ? "
        "AND user_key_type = 'user_id' AND coalesce(user_id, '') <> ''",
        [date, app_id],
    ).fetchall()
    return int(count)


def user_id_totals(
    conn: duckdb.DuckDBPyConnection, date: dt.date, app_id: str
) -> tuple[int, float]:
    """(users, revenue) of the partition's users keyed by a publisher User ID."""
    [(users, revenue)] = conn.execute(
        f"SELECT count(*), coalesce(sum(revenue_usd), 0) FROM {USER_REVENUE.name} "
        "WHERE report_date = ? AND app_id = ? AND user_key_type = 'user_id'",
        [date, app_id],
    ).fetchall()
    return int(users), float(revenue)
