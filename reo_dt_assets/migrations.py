"""One schema version for everything the project stores, and the numbered steps that reach it.

The stores are the DuckDB file (every table), or a DuckLake catalog (the revenue tables) with the
delivery ledger as a plain PostgreSQL table beside it, and the DT report budget's SQLite file.
Each records the version it was brought to: the DuckDB file and the PostgreSQL database in a
``reo_dt_schema_versions`` table (one row per migration applied, with when), the budget file in
SQLite's ``user_version``. ``MIGRATIONS`` is the ordered list of small forward steps, each written
as it shipped, never edited once released: the current tables (``schema``) are what migrations
1..N make of an empty store, and a test holds the two together.

Every step is idempotent (a table created if absent, a column added if absent), so a store
written before versions existed (version 0), in whichever shape its release left it, takes every
step from the first. A store whose version is newer than this code knows (a rollback) is refused
before anything is written.

Who migrates: whatever opens a store does it before reading. On the DuckDB file, DuckDB's own
lock on the file admits one process at a time, and a per-file lock here keeps that process's
threads from migrating twice; PostgreSQL takes an advisory lock (``warehouse``); SQLite's write
lock guards the budget file.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import duckdb
import psycopg2.extensions

from reo_dt_assets.revenue.history import fill_sql

Dialect = Literal["duckdb", "postgres", "sqlite"]
VERSIONS_TABLE = "reo_dt_schema_versions"
#: The ledger and its run log: PostgreSQL beside a DuckLake.
LEDGER_TABLES = frozenset({"reo_event_deliveries", "reo_delivery_runs"})
BUDGET_TABLES = frozenset({"report_requests"})  # the report budget's SQLite file


@dataclass(frozen=True)
class CreateTable:
    table: str
    columns: tuple[str, ...]  # "name TYPE [NOT NULL]", DuckDB's spelling

    def sql(self, dialect: Dialect) -> str:
        return (
            f"CREATE TABLE IF NOT EXISTS {self.table} ({', '.join(_typed(self.columns, dialect))})"
        )


@dataclass(frozen=True)
class AddColumn:
    table: str
    column: str  # "name TYPE": nullable, since the rows already there have none

    @property
    def name(self) -> str:
        return self.column.split()[0]

    def sql(self, dialect: Dialect) -> str:
        [column] = _typed((self.column,), dialect)
        return f"ALTER TABLE {self.table} ADD COLUMN {column}"


@dataclass(frozen=True)
class CreateUniqueIndex:
    """A unique index where the store holds concurrent writers of one table (PostgreSQL); the
    DuckDB file has one writer at a time, and DuckLake has no indexes."""

    table: str
    name: str
    columns: tuple[str, ...]
    dialects: tuple[Dialect, ...] = ("postgres",)

    def sql(self, dialect: Dialect) -> str:
        return (
            f"CREATE UNIQUE INDEX IF NOT EXISTS {self.name} "
            f"ON {self.table} ({', '.join(self.columns)})"
        )


@dataclass(frozen=True)
class RewriteLegacyEventIds:
    """Ledger keys of the releases before integer event ids (32 hex digits of the event's
    digest) rewritten to the id ``reo.events.event_id`` gives the same event: its first 16 hex
    digits as a 63-bit integer, in decimal. An event delivered under its old id is then found
    delivered under its new one, and never sent again."""

    table: str = "reo_event_deliveries"

    def sql(self, dialect: Dialect) -> str:
        if dialect == "postgres":
            new = "((('x' || substr(event_id, 1, 16))::bit(64)::bigint) & 9223372036854775807)"
            legacy = "event_id ~ '^[0-9a-f]{32}$'"
        else:
            new = "(('0x' || substr(event_id, 1, 16))::UBIGINT & 9223372036854775807)"
            legacy = "regexp_full_match(event_id, '[0-9a-f]{32}')"
        return f"UPDATE {self.table} SET event_id = CAST({new} AS VARCHAR) WHERE {legacy}"


@dataclass(frozen=True)
class FillUserRevenueHistory:
    """``user_revenue_history`` computed from every row ``user_revenue`` holds (the days loaded
    before it existed), in one statement: DuckDB's window over the table, within its
    ``memory_limit``."""

    table: str = "user_revenue_history"

    def sql(self, dialect: Dialect) -> str:
        return fill_sql()


Step = CreateTable | AddColumn | CreateUniqueIndex | RewriteLegacyEventIds | FillUserRevenueHistory


def _typed(columns: tuple[str, ...], dialect: Dialect) -> list[str]:
    if dialect != "postgres":
        return list(columns)
    return [column.replace(" DOUBLE", " DOUBLE PRECISION") for column in columns]


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    steps: tuple[Step, ...]


_LEDGER_V1 = (
    "event_id VARCHAR NOT NULL",
    "report_date DATE NOT NULL",
    "app_id VARCHAR NOT NULL",
    "user_key VARCHAR NOT NULL",
    "status VARCHAR NOT NULL",
    "attempts INTEGER NOT NULL",
    "last_http_status INTEGER",
    "last_error VARCHAR",
    "payload_hash VARCHAR NOT NULL",
    "payload VARCHAR NOT NULL",
    "revenue_usd DOUBLE NOT NULL",
    "created_at TIMESTAMP NOT NULL",
    "updated_at TIMESTAMP NOT NULL",
    "delivered_at TIMESTAMP",
)

#: Released steps: append, never edit.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "user_revenue and its per-partition summary, user_revenue_partitions",
        (
            CreateTable(
                "user_revenue",
                (
                    "report_date DATE NOT NULL",
                    "app_id VARCHAR NOT NULL",
                    "user_key VARCHAR NOT NULL",
                    "user_key_type VARCHAR NOT NULL",
                    "user_id VARCHAR",
                    "advertising_id VARCHAR",
                    "idfv VARCHAR",
                    "impressions BIGINT NOT NULL",
                    "revenue_usd DOUBLE NOT NULL",
                    "ad_networks VARCHAR[] NOT NULL",
                    "placement_types VARCHAR[] NOT NULL",
                    "source_rows BIGINT NOT NULL",
                    "loaded_at TIMESTAMP NOT NULL",
                ),
            ),
            CreateTable(
                "user_revenue_partitions",
                (
                    "report_date DATE NOT NULL",
                    "app_id VARCHAR NOT NULL",
                    "raw_rows BIGINT NOT NULL",
                    "raw_impressions BIGINT NOT NULL",
                    "raw_revenue_usd DOUBLE NOT NULL",
                    "users BIGINT NOT NULL",
                    "unattributed_rows BIGINT NOT NULL",
                    "masked_rows BIGINT NOT NULL",
                    "unattributed_impressions BIGINT NOT NULL",
                    "unattributed_revenue_usd DOUBLE NOT NULL",
                    "loaded_at TIMESTAMP NOT NULL",
                ),
            ),
        ),
    ),
    Migration(
        2,
        "the Reo.Dev delivery ledger, reo_event_deliveries (unique event_id in PostgreSQL)",
        (
            CreateTable("reo_event_deliveries", _LEDGER_V1),
            CreateUniqueIndex("reo_event_deliveries", "reo_event_deliveries_key", ("event_id",)),
        ),
    ),
    Migration(
        3,
        "daily_revenue: one row per day and catalog app",
        (
            CreateTable(
                "daily_revenue",
                (
                    "report_date DATE NOT NULL",
                    "app_id VARCHAR NOT NULL",
                    "loaded BOOLEAN NOT NULL",
                    "users BIGINT NOT NULL",
                    "users_with_user_id BIGINT NOT NULL",
                    "impressions BIGINT NOT NULL",
                    "revenue_usd DOUBLE NOT NULL",
                    "unattributed_revenue_usd DOUBLE NOT NULL",
                    "events BIGINT NOT NULL",
                    "events_delivered BIGINT NOT NULL",
                    "revenue_change_pct DOUBLE",
                    "users_change_pct DOUBLE",
                    "rolled_up_at TIMESTAMP NOT NULL",
                ),
            ),
        ),
    ),
    Migration(
        4,
        "revenue_restatements, and daily_revenue's revenue_restated_usd/_pct",
        (
            CreateTable(
                "revenue_restatements",
                (
                    "report_date DATE NOT NULL",
                    "app_id VARCHAR NOT NULL",
                    "restated_at TIMESTAMP NOT NULL",
                    "pull_age_days INTEGER NOT NULL",
                    "users_before BIGINT NOT NULL",
                    "users_after BIGINT NOT NULL",
                    "impressions_before BIGINT NOT NULL",
                    "impressions_after BIGINT NOT NULL",
                    "revenue_usd_before DOUBLE NOT NULL",
                    "revenue_usd_after DOUBLE NOT NULL",
                    "unattributed_revenue_usd_before DOUBLE NOT NULL",
                    "unattributed_revenue_usd_after DOUBLE NOT NULL",
                    "change_usd DOUBLE NOT NULL",
                    "change_pct DOUBLE",
                ),
            ),
            AddColumn("daily_revenue", "revenue_restated_usd DOUBLE"),
            AddColumn("daily_revenue", "revenue_restated_pct DOUBLE"),
        ),
    ),
    Migration(
        5,
        "reo_event_deliveries.kind: usage, or a correction of a delivered usage",
        (AddColumn("reo_event_deliveries", "kind VARCHAR"),),
    ),
    Migration(
        6,
        "the DT report budget's report_requests",
        (CreateTable("report_requests", ("requested_at REAL NOT NULL", "what TEXT")),),
    ),
    Migration(
        7,
        "ledger event ids of 32 hex digits (releases before integer ids) rewritten to today's",
        (RewriteLegacyEventIds(),),
    ),
    Migration(
        8,
        "the delivery's run log, reo_delivery_runs, and daily_revenue's delivery health",
        (
            CreateTable(
                "reo_delivery_runs",
                (
                    "run_id VARCHAR NOT NULL",
                    "report_date DATE NOT NULL",
                    "app_id VARCHAR NOT NULL",
                    "mode VARCHAR NOT NULL",
                    "started_at TIMESTAMP NOT NULL",
                    "updated_at TIMESTAMP NOT NULL",
                    "finished_at TIMESTAMP",
                    "outcome VARCHAR NOT NULL",
                    "events BIGINT NOT NULL",
                    "delivered_now BIGINT NOT NULL",
                    "delivered_before BIGINT NOT NULL",
                    "failed BIGINT NOT NULL",
                    "rejected BIGINT NOT NULL",
                    "dry_run BIGINT NOT NULL",
                    "requests BIGINT NOT NULL",
                    "throttled BIGINT NOT NULL",
                    "other_retries BIGINT NOT NULL",
                    "rtt_p50_ms DOUBLE",
                    "rtt_p95_ms DOUBLE",
                    "in_flight_ceiling INTEGER",
                    "requests_per_second DOUBLE",
                    "seconds DOUBLE NOT NULL",
                    "first_error VARCHAR",
                ),
            ),
            CreateUniqueIndex(
                "reo_delivery_runs", "reo_delivery_runs_key", ("run_id", "report_date", "app_id")
            ),
            AddColumn("daily_revenue", "events_rejected BIGINT"),
            AddColumn("daily_revenue", "delivery_requests BIGINT"),
            AddColumn("daily_revenue", "delivery_throttled BIGINT"),
            AddColumn("daily_revenue", "delivery_seconds DOUBLE"),
        ),
    ),
    Migration(
        9,
        "user_revenue_history (filled from user_revenue), user_revenue's revenue per ad network "
        "and placement type, daily_revenue's ARPDAU, daily_revenue_splits, revenue_cohorts",
        (
            AddColumn("user_revenue", "ad_network_revenue_usd DOUBLE[]"),
            AddColumn("user_revenue", "placement_type_revenue_usd DOUBLE[]"),
            CreateTable(
                "user_revenue_history",
                (
                    "report_date DATE NOT NULL",
                    "app_id VARCHAR NOT NULL",
                    "user_key VARCHAR NOT NULL",
                    "revenue_7d_usd DECIMAL(38,12) NOT NULL",
                    "revenue_30d_usd DECIMAL(38,12) NOT NULL",
                    "lifetime_revenue_usd DECIMAL(38,12) NOT NULL",
                    "first_revenue_day DATE",
                    "last_revenue_day DATE",
                    "active_days BIGINT NOT NULL",
                ),
            ),
            FillUserRevenueHistory(),
            AddColumn("daily_revenue", "arpdau_usd DOUBLE"),
            CreateTable(
                "daily_revenue_splits",
                (
                    "report_date DATE NOT NULL",
                    "app_id VARCHAR NOT NULL",
                    "dimension VARCHAR NOT NULL",
                    "value VARCHAR NOT NULL",
                    "users BIGINT NOT NULL",
                    "revenue_usd DOUBLE NOT NULL",
                ),
            ),
            CreateTable(
                "revenue_cohorts",
                (
                    "app_id VARCHAR NOT NULL",
                    "first_revenue_day DATE NOT NULL",
                    "days_since INTEGER NOT NULL",
                    "cohort_users BIGINT NOT NULL",
                    "active_users BIGINT NOT NULL",
                    "revenue_usd DOUBLE NOT NULL",
                    "cumulative_revenue_usd DOUBLE NOT NULL",
                    "cumulative_revenue_per_user_usd DOUBLE NOT NULL",
                ),
            ),
        ),
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1].version
assert [m.version for m in MIGRATIONS] == list(range(1, SCHEMA_VERSION + 1))


class SchemaTooNewError(RuntimeError):
    """A store written by a newer release than this one (a rollback); nothing was written."""


@dataclass(frozen=True)
class Migrated:
    """What bringing one store to ``SCHEMA_VERSION`` did."""

    store: str  # which store, in words (never a conninfo)
    found: int  # its version before; 0: written before versions were recorded, or new
    applied: tuple[Migration, ...] = field(default=())  # those that changed this store
    new: bool = False  # the store held none of the project's tables

    def __str__(self) -> str:
        if self.found >= SCHEMA_VERSION:
            return f"{self.store}: at schema version {self.found}, nothing to do"
        if self.new:
            return f"{self.store}: new, created at schema version {SCHEMA_VERSION}"
        steps = "".join(f"\n  {m.version}. {m.description}" for m in self.applied)
        return f"{self.store}: schema version {self.found} -> {SCHEMA_VERSION}{steps}"


def _refuse_newer(store: str, found: int) -> None:
    if found > SCHEMA_VERSION:
        raise SchemaTooNewError(
            f"{store} is at schema version {found}, but this release of reo-dt-assets knows "
            f"versions up to {SCHEMA_VERSION}: a newer release wrote it, and this one would "
            "misread it. Run the newer release again (the one you rolled back from), or restore "
            "the copy of the store taken before the upgrade. Nothing was written."
        )


def _touching(
    migrations: Sequence[Migration], tables: frozenset[str], *, outside: bool = False
) -> tuple[Migration, ...]:
    """Those of ``migrations`` with a step on one of ``tables`` (``outside``: on another)."""
    return tuple(m for m in migrations if any((s.table in tables) != outside for s in m.steps))


VERSIONS_DDL = (
    f"CREATE TABLE IF NOT EXISTS {VERSIONS_TABLE} (version INTEGER NOT NULL, "
    "description VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class _Target(Protocol):
    dialect: Dialect

    def columns(self, table: str) -> list[str]: ...

    def execute(self, sql: str) -> None: ...


def _apply(step: Step, target: _Target) -> None:
    if isinstance(step, AddColumn):
        if step.name not in target.columns(step.table):
            target.execute(step.sql(target.dialect))
    elif not isinstance(step, CreateUniqueIndex) or target.dialect in step.dialects:
        target.execute(step.sql(target.dialect))


@dataclass
class DuckDBTarget:
    """The tables of a DuckDB connection's current database: the file, or a DuckLake catalog."""

    conn: duckdb.DuckDBPyConnection
    dialect: Dialect = "duckdb"

    def columns(self, table: str) -> list[str]:
        return [
            name
            for (name,) in self.conn.execute(
                "SELECT column_name FROM duckdb_columns() WHERE table_name = ? "
                "AND database_name = current_database() AND schema_name = current_schema()",
                [table],
            ).fetchall()
        ]

    def execute(self, sql: str) -> None:
        self.conn.execute(sql)

    def version(self) -> int:
        if not self.columns(VERSIONS_TABLE):
            return 0
        [(version,)] = self.conn.execute(f"SELECT max(version) FROM {VERSIONS_TABLE}").fetchall()
        return int(version or 0)

    def record(self, migration: Migration) -> None:
        self.conn.execute(VERSIONS_DDL)
        self.conn.execute(
            f"INSERT INTO {VERSIONS_TABLE} VALUES (?, ?, ?)",
            [migration.version, migration.description, _now()],
        )


@dataclass
class PostgresTarget:
    """The public schema of a PostgreSQL database, through a DB-API cursor (psycopg2)."""

    cursor: psycopg2.extensions.cursor
    dialect: Dialect = "postgres"

    def columns(self, table: str) -> list[str]:
        self.cursor.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position",
            [table],
        )
        return [name for (name,) in self.cursor.fetchall()]

    def execute(self, sql: str) -> None:
        self.cursor.execute(sql)

    def version(self) -> int:
        if not self.columns(VERSIONS_TABLE):
            return 0
        self.execute(f"SELECT max(version) FROM {VERSIONS_TABLE}")
        [(version,)] = self.cursor.fetchall()
        return int(version or 0)

    def record(self, migration: Migration) -> None:
        self.cursor.execute(VERSIONS_DDL)
        self.cursor.execute(
            f"INSERT INTO {VERSIONS_TABLE} VALUES (%s, %s, %s)",
            [migration.version, migration.description, _now()],
        )


_file_locks: dict[str, threading.Lock] = {}
_file_locks_guard = threading.Lock()


def _file_lock(name: str) -> threading.Lock:
    with _file_locks_guard:
        return _file_locks.setdefault(name, threading.Lock())


def file_store(path: str | Path) -> str:
    """How messages name the DuckDB file at ``path``."""
    return f"the DuckDB file {path}"


def budget_store(path: str | Path) -> str:
    """How messages name the report budget's file at ``path``."""
    return f"the DT report budget {path}"


def migrate_file_at(path: Path, *, target: int = SCHEMA_VERSION) -> Migrated:
    """Open the DuckDB file at ``path`` (created if absent) and bring it to ``target``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as conn:
        return migrate_duckdb_file(conn, file_store(path), target=target)


def migrate_duckdb_file(
    conn: duckdb.DuckDBPyConnection, store: str, *, target: int = SCHEMA_VERSION
) -> Migrated:
    """Bring the DuckDB file ``conn`` is open on to ``target`` (tests build older stores with a
    lower one), each migration in one transaction with its version row."""
    database = DuckDBTarget(conn)
    found = database.version()
    _refuse_newer(store, found)
    if found >= target:
        return Migrated(store, found)
    with _file_lock(store):
        found = database.version()  # another thread may have done it meanwhile
        _refuse_newer(store, found)
        new = found == 0 and not database.columns("user_revenue")
        applied = tuple(m for m in MIGRATIONS if found < m.version <= target)
        for migration in applied:
            conn.execute("BEGIN TRANSACTION")
            try:
                for step in migration.steps:
                    if step.table not in BUDGET_TABLES:
                        _apply(step, database)
                database.record(migration)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
    return Migrated(store, found, _touching(applied, BUDGET_TABLES, outside=True), new)


def migrate_lake(
    lake: duckdb.DuckDBPyConnection,
    cursor: psycopg2.extensions.cursor,
    store: str,
    *,
    target: int = SCHEMA_VERSION,
) -> Migrated:
    """Bring a DuckLake catalog (``lake``: a connection whose current database is it) and the
    PostgreSQL ledger beside it (``cursor``, in that database, its transaction committed by the
    caller, who holds the advisory lock) to ``target``. The version rows are in PostgreSQL."""
    ledger = PostgresTarget(cursor)
    found = ledger.version()
    _refuse_newer(store, found)
    catalog = DuckDBTarget(lake)
    new = found == 0 and not catalog.columns("user_revenue")
    applied = tuple(m for m in MIGRATIONS if found < m.version <= target)
    for migration in applied:
        for step in migration.steps:
            if step.table in LEDGER_TABLES:
                _apply(step, ledger)
            elif step.table not in BUDGET_TABLES:
                _apply(step, catalog)
        ledger.record(migration)
    return Migrated(store, found, _touching(applied, BUDGET_TABLES, outside=True), new)


@dataclass
class SQLiteTarget:
    conn: sqlite3.Connection
    dialect: Dialect = "sqlite"

    def columns(self, table: str) -> list[str]:
        return [row[1] for row in self.conn.execute(f"PRAGMA table_info({table})").fetchall()]

    def execute(self, sql: str) -> None:
        self.conn.execute(sql)

    def version(self) -> int:
        [(version,)] = self.conn.execute("PRAGMA user_version").fetchall()
        return int(version)


def migrate_budget(
    conn: sqlite3.Connection, store: str, *, target: int = SCHEMA_VERSION
) -> Migrated:
    """Bring the report budget's SQLite file to ``target`` (``conn`` in autocommit mode), under
    SQLite's write lock: one process at a time."""
    budget = SQLiteTarget(conn)
    found = budget.version()
    _refuse_newer(store, found)
    if found >= target:
        return Migrated(store, found)
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = budget.version()
        _refuse_newer(store, found)
        new = found == 0 and not budget.columns("report_requests")
        applied = tuple(m for m in MIGRATIONS if found < m.version <= target)
        for migration in applied:
            for step in migration.steps:
                if step.table in BUDGET_TABLES:
                    _apply(step, budget)
        conn.execute(f"PRAGMA user_version = {max(found, target)}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return Migrated(store, found, _touching(applied, BUDGET_TABLES), new)


def migrate_budget_at(path: Path) -> Migrated:
    """Bring the report budget's SQLite file at ``path`` to the current version."""
    with closing(sqlite3.connect(path, timeout=60, isolation_level=None)) as conn:
        return migrate_budget(conn, budget_store(path))
