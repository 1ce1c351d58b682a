"""The queries the revenue table's checks ask: of the table as loaded (schema, keys, signs,
totals, the restatement of its last load and the delivered events it concerns) and of the raw
file, read by DuckDB's own CSV reader as a second opinion."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb

from reo_dt_assets.digital_turbine.columns import match_header, read_header
from reo_dt_assets.revenue.store import Restatement
from reo_dt_assets.schema import (
    DELIVERIES,
    REVENUE_PARTITIONS,
    REVENUE_RESTATEMENTS,
    USER_REVENUE,
    Table,
)


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
