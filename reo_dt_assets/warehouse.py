"""Where the tables live when they outgrow one machine: a DuckLake catalog in PostgreSQL.

By default every table is in one local DuckDB file, which one process at a time may write. When
``REO_DT_DUCKLAKE`` names a PostgreSQL database, ``user_revenue``, its partition summary and
``daily_revenue`` are DuckLake tables in it (their data Parquet files under a path every worker
reaches), so runs on several machines write their partitions at once. The delivery ledger is then a
plain PostgreSQL table in that database: DuckLake commits optimistically, and concurrent per-event
updates of one table conflicted in about a quarter of the batches, where PostgreSQL's row locks let
writers of different events through.

The extensions load from the pinned ``duckdb-extension-*`` wheels, never from the network. Loading
them costs about 0.3 s each, so a process opens one DuckDB database with the catalog and the ledger
attached, and each connection is a cursor of it.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import psycopg2

from reo_dt_assets.migrations import LEDGER_TABLES, SCHEMA_VERSION, Migrated, migrate_lake
from reo_dt_assets.schema import Table

LAKE = "lake"  # the DuckLake catalog, as SQL names it
LEDGER = "ledger"  # the PostgreSQL database of the delivery ledger, as SQL names it
STORE = "the DuckLake catalog (REO_DT_DUCKLAKE) and its ledger"
OPENING_LOCK = 7212  # PostgreSQL advisory lock held while a process migrates the tables
APP_WRITE_LOCK = 7213  # and, with the app's hash, while a partition of one app is written
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DuckLake:
    catalog: str  # libpq conninfo of the PostgreSQL database; may hold a password: never shown
    data_path: str  # where the Parquet files go: a folder (or URL) every worker reaches

    def __repr__(self) -> str:
        return f"DuckLake(data_path={self.data_path!r})"


def extension_path(module: str, name: str) -> str:
    """The extension file that the wheel ``module`` ships for this DuckDB release."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"{module} is not installed: run `make setup` (requirements.lock)")
    folder = Path(spec.origin).parent / "extensions" / f"v{duckdb.__version__}"
    path = folder / f"{name}.duckdb_extension"
    if not path.exists():
        raise RuntimeError(f"{module} has no build for DuckDB {duckdb.__version__} ({path})")
    return str(path)


_databases: dict[DuckLake, duckdb.DuckDBPyConnection] = {}
_opening = threading.Lock()


def _database(lake: DuckLake) -> duckdb.DuckDBPyConnection:
    """This process's DuckDB database with ``lake`` attached, its tables created."""
    with _opening:
        if lake not in _databases:
            _databases[lake] = _open(lake)
        return _databases[lake]


def _open(lake: DuckLake) -> duckdb.DuckDBPyConnection:
    conn, migrated = _attach(lake)
    if migrated.applied:
        _log.info(str(migrated))
    return conn


def migrate(lake: DuckLake, *, target: int = SCHEMA_VERSION) -> Migrated:
    """Bring the catalog and its ledger to ``target`` (the explicit command; tests build older
    stores with a lower one)."""
    conn, migrated = _attach(lake, target)
    conn.close()
    return migrated


def _attach(
    lake: DuckLake, target: int = SCHEMA_VERSION
) -> tuple[duckdb.DuckDBPyConnection, Migrated]:
    """A DuckDB database with the catalog and the ledger attached, migrated to ``target``."""
    conn = duckdb.connect(
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    )
    try:
        for module, name in (
            ("duckdb_extension_postgres_scanner", "postgres_scanner"),
            ("duckdb_extension_ducklake", "ducklake"),
        ):
            conn.execute(f"LOAD '{extension_path(module, name)}'")
        if "://" not in lake.data_path:
            Path(lake.data_path).mkdir(parents=True, exist_ok=True)
        # The first processes to open a new catalog would race to create DuckLake's metadata
        # tables, and after an upgrade to migrate ours: one at a time, under a PostgreSQL
        # advisory lock, before anything reads them.
        with closing(psycopg2.connect(lake.catalog)) as lock, lock.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [OPENING_LOCK])
            catalog = lake.catalog.replace("'", "''")
            data_path = lake.data_path.replace("'", "''")
            conn.execute(
                f"ATTACH 'ducklake:postgres:{catalog}' AS {LAKE} (DATA_PATH '{data_path}')"
            )
            conn.execute(f"ATTACH '{catalog}' AS {LEDGER} (TYPE postgres)")
            conn.execute(f"USE {LAKE}")
            migrated = migrate_lake(conn, cursor, STORE, target=target)
            lock.commit()
    except BaseException:
        conn.close()
        raise
    return conn, migrated


@contextmanager
def app_write_lock(lake: DuckLake, app_id: str) -> Iterator[None]:
    """One writer at a time of an app's partitions on a DuckLake catalog (writers of other apps
    go at once). A partition's write recomputes the users' history from the app's other days;
    DuckLake's snapshots would let two days of one app written at once each miss the other's
    rows (nothing conflicts: both only insert). A PostgreSQL advisory lock, released when the
    block ends or the process dies."""
    with closing(psycopg2.connect(lake.catalog)) as lock, lock.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", [APP_WRITE_LOCK, app_id])
        yield


@contextmanager
def lake_connection(lake: DuckLake, *, ledger: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection whose tables are the DuckLake catalog's (and that reads the ledger), or with
    ``ledger`` one whose tables are the ledger's database; closed when the block ends."""
    cursor = _database(lake).cursor()
    try:
        if ledger:
            cursor.execute(f"USE {LEDGER}.public")
        else:
            cursor.execute(f"USE {LAKE}")
            cursor.execute(f"SET search_path = '{LAKE}.main,{LEDGER}.public'")
        yield cursor
    finally:
        cursor.close()


def qualified(table: Table) -> str:
    """The table's name on a connection of a DuckLake catalog (it holds no credential)."""
    if table.name in LEDGER_TABLES:
        return f"{LEDGER}.public.{table.name}"
    return f"{LAKE}.main.{table.name}"
