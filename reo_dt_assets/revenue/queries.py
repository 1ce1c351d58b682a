"""The queries the revenue table's checks ask: of the table as loaded (schema, keys, signs,
totals, the restatement of its last load and the delivered events it concerns, the users'
history and revenue splits) and of the raw file, read by DuckDB's own CSV reader as a second
opinion."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb

from reo_dt_assets.digital_turbine.columns import match_header, read_header
from reo_dt_assets.revenue.history import WINDOWS
from reo_dt_assets.revenue.store import Restatement
from reo_dt_assets.schema import (
    DELIVERIES,
    REVENUE_PARTITIONS,
    REVENUE_RESTATEMENTS,
    SPLITS,
    USER_REVENUE,
    USER_REVENUE_HISTORY,
    Table,
)

#: A user's revenue per network (or placement) is float64 sums of the same pico-dollar amounts.
SPLIT_TOLERANCE_USD = 1e-9


def schema_problems(conn: duckdb.DuckDBPyConnection, table: Table) -> list[str]:
    """How the table in the database differs from the contract (empty when it matches)."""
    found = conn.execute(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_name = ? ORDER BY ordinal_position",
        [table.name],
    ).fetchall()
    if not found:
        return [f"table {table.name} does not exist"]
    actual = {name: (kind, nullable == "YES") for name, kind, nullable in found}
    problems = []
    for column in table.columns:
        if column.name not in actual:
            problems.append(f"column {column.name} {column.type} is missing")
            continue
        kind, nullable = actual[column.name]
        if kind != column.type:
            problems.append(f"column {column.name} is {kind}, expected {column.type}")
        if nullable != column.nullable:
            problems.append(
                f"column {column.name} is {'nullable' if nullable else 'NOT NULL'}, expected "
                f"{'nullable' if column.nullable else 'NOT NULL'}"
            )
    extra = [name for name in actual if name not in table.column_names]
    if extra:
        problems.append(f"unexpected columns {extra}")
    return problems


def duplicate_keys(conn: duckdb.DuckDBPyConnection, date: dt.date, app_id: str) -> list[str]:
    """Up to 10 user keys that occur more than once in the partition."""
    rows = conn.execute(
        f"SELECT user_key FROM {USER_REVENUE.name} WHERE report_date = ? AND app_id = ? "
        "GROUP BY user_key HAVING count(*) > 1 ORDER BY user_key LIMIT 10",
        [date, app_id],
    ).fetchall()
    return [row[0] for row in rows]


def negative_rows(conn: duckdb.DuckDBPyConnection, date: dt.date, app_id: str) -> int:
    row = conn.execute(
        f"SELECT count(*) FROM {USER_REVENUE.name} WHERE report_date = ? AND app_id = ? "
        "AND (revenue_usd < 0 OR impressions < 0 OR isnan(revenue_usd))",
        [date, app_id],
    ).fetchall()
    return int(row[0][0])


@dataclass(frozen=True)
class Totals:
    rows: int
    impressions: int
    revenue_usd: float


def loaded_totals(conn: duckdb.DuckDBPyConnection, date: dt.date, app_id: str) -> Totals | None:
    """Users plus unattributed, as loaded; ``None`` if the partition was never loaded."""
    row = conn.execute(
        f"""
        SELECT p.unattributed_rows + coalesce(u.source_rows, 0),
               p.unattributed_impressions + coalesce(u.impressions, 0),
               p.unattributed_revenue_usd + coalesce(u.revenue_usd, 0)
        FROM {REVENUE_PARTITIONS.name} p
        LEFT JOIN (
            SELECT sum(source_rows) AS source_rows, sum(impressions) AS impressions,
                   sum(revenue_usd) AS revenue_usd
            FROM {USER_REVENUE.name} WHERE report_date = $date AND app_id = $app
        ) u ON true
        WHERE p.report_date = $date AND p.app_id = $app
        """,
        {"date": date, "app": app_id},
    ).fetchall()
    return Totals(int(row[0][0]), int(row[0][1]), float(row[0][2])) if row else None


def raw_totals(path: Path) -> Totals:
    """The raw report's totals by DuckDB's own CSV reader: a second opinion, not our parser.

    Like the parser, it counts a line without a single value (blank, or only commas) as no row.
    """
    header = read_header(path) or []
    positions = match_header(header).positions
    names = [f"c{i}" for i in range(len(header))]
    impressions, revenue = names[positions["impressions"]], names[positions["revenue"]]
    with duckdb.connect() as conn:
        row = conn.execute(
            f"""
            SELECT count(*), sum(CAST(trim({impressions}) AS BIGINT)),
                   sum(CAST(trim({revenue}) AS DECIMAL(38, 12)))
            FROM read_csv(?, header = true, all_varchar = true, names = ?)
            WHERE coalesce({", ".join(names)}) IS NOT NULL  -- a line without any value is no row
            """,
            [str(path), names],
        ).fetchall()[0]
    return Totals(int(row[0]), int(row[1] or 0), float(row[2] or 0))


def last_load_restatement(
    conn: duckdb.DuckDBPyConnection, date: dt.date, app_id: str
) -> Restatement | None:
    """The restatement the partition's current load recorded, if it moved the day."""
    names = ", ".join(f"r.{name}" for name in REVENUE_RESTATEMENTS.column_names)
    row = conn.execute(
        f"SELECT {names} FROM {REVENUE_RESTATEMENTS.name} r JOIN {REVENUE_PARTITIONS.name} p "
        "ON p.report_date = r.report_date AND p.app_id = r.app_id AND p.loaded_at = r.restated_at "
        "WHERE r.report_date = ? AND r.app_id = ?",
        [date, app_id],
    ).fetchone()
    return Restatement(*row) if row else None


@dataclass(frozen=True)
class DeliveredEvents:
    delivered: int  # events of the partition Reo.Dev confirmed
    stale: int  # of those, whose user's revenue is no longer what the event carried


def delivered_events(
    conn: duckdb.DuckDBPyConnection, date: dt.date, app_id: str
) -> DeliveredEvents:
    """The partition's delivered usage events, and those a reload made stale: what Reo.Dev was
    told of the user (the event's revenue plus any delivered corrections) is a cent or more
    away from the user's revenue now (nothing, if the user is gone)."""
    [(delivered, stale)] = conn.execute(
        f"""
        WITH told AS (
            SELECT user_key, sum(revenue_usd) AS revenue_usd
            FROM {DELIVERIES.name}
            WHERE report_date = $date AND app_id = $app AND status = 'delivered'
            GROUP BY user_key
            HAVING count(*) FILTER (WHERE coalesce(kind, 'usage') = 'usage') > 0
        )
        SELECT count(*),
               count(*) FILTER (WHERE abs(coalesce(u.revenue_usd, 0) - t.revenue_usd) >= 0.005)
        FROM told t
        LEFT JOIN {USER_REVENUE.name} u
          ON u.report_date = $date AND u.app_id = $app AND u.user_key = t.user_key
        """,
        {"date": date, "app": app_id},
    ).fetchall()
    return DeliveredEvents(int(delivered), int(stale))


@dataclass(frozen=True)
class HistoryAgreement:
    users: int  # users of the partition in user_revenue
    rows: int  # the partition's rows in user_revenue_history
    wrong: int  # users whose history row is missing or differs from their user_revenue rows


def history_agreement(
    conn: duckdb.DuckDBPyConnection, date: dt.date, app_id: str
) -> HistoryAgreement:
    """The partition's history rows against each user's ``user_revenue`` rows up to the day,
    summed here again, without the windows ``revenue.history`` writes them with."""
    figures = USER_REVENUE_HISTORY.column_names[3:]
    rolling = ", ".join(
        f"sum(u.revenue_usd::DECIMAL(38,12)) FILTER (WHERE u.report_date > $date - {days}) "
        f"AS {name}"
        for name, days in WINDOWS.items()
    )
    [(users, rows, wrong)] = conn.execute(
        f"""
        WITH direct AS (
            SELECT d.user_key, {rolling},
                   sum(u.revenue_usd::DECIMAL(38,12)) AS lifetime_revenue_usd,
                   min(u.report_date) FILTER (WHERE u.revenue_usd > 0) AS first_revenue_day,
                   max(u.report_date) FILTER (WHERE u.revenue_usd > 0) AS last_revenue_day,
                   count(*) AS active_days
            FROM {USER_REVENUE.name} d
            JOIN {USER_REVENUE.name} u
              ON u.app_id = d.app_id AND u.user_key = d.user_key AND u.report_date <= d.report_date
            WHERE d.report_date = $date AND d.app_id = $app
            GROUP BY d.user_key
        ),
        stored AS (
            SELECT user_key, {", ".join(figures)} FROM {USER_REVENUE_HISTORY.name}
            WHERE report_date = $date AND app_id = $app
        )
        SELECT count(d.user_key), count(s.user_key),
               count(*) FILTER (WHERE d.user_key IS NULL OR s.user_key IS NULL
                   OR ({" OR ".join(f"d.{n} IS DISTINCT FROM s.{n}" for n in figures)}))
        FROM direct d FULL JOIN stored s ON d.user_key = s.user_key
        """,
        {"date": date, "app": app_id},
    ).fetchall()
    return HistoryAgreement(int(users), int(rows), int(wrong))


@dataclass(frozen=True)
class SplitAgreement:
    split_users: int  # users whose revenue is split (rows loaded before the split have none)
    misaligned: int  # users whose split is not one figure per value of its list
    over: int  # users whose split adds up to more than their revenue
    unsplit_usd: float  # revenue of cells with no ad network (or no placement type) named


def split_agreement(conn: duckdb.DuckDBPyConnection, date: dt.date, app_id: str) -> SplitAgreement:
    """The partition's revenue per ad network and per placement type against its revenue."""
    misaligned = " OR ".join(f"len({v}) <> len({s})" for _, v, s in SPLITS)
    over = " OR ".join(f"list_sum({s}) > revenue_usd + {SPLIT_TOLERANCE_USD}" for *_, s in SPLITS)
    unsplit = " + ".join(f"revenue_usd - coalesce(list_sum({s}), 0)" for *_, s in SPLITS)
    [(users, bad_lengths, bad_sums, rest)] = conn.execute(
        f"""
        SELECT count(*), count(*) FILTER (WHERE {misaligned}), count(*) FILTER (WHERE {over}),
               coalesce(sum({unsplit}), 0)
        FROM {USER_REVENUE.name}
        WHERE report_date = ? AND app_id = ? AND ad_network_revenue_usd IS NOT NULL
        """,
        [date, app_id],
    ).fetchall()
    return SplitAgreement(int(users), int(bad_lengths), int(bad_sums), max(float(rest), 0.0))
