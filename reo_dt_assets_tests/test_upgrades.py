"""Upgrades from every earlier store: the current code runs the days an earlier release delivered
and a new one, on the DuckDB file as that release left it. Every check passes, Reo.Dev receives
no event twice, and the rows delivered before are left exactly as they were."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from reo_dt_assets import migrations
from reo_dt_assets.components.resources import WarehouseResource
from reo_dt_assets.digital_turbine.budget import Budget, ReportBudget
from reo_dt_assets.migrations import SCHEMA_VERSION, VERSIONS_TABLE, SchemaTooNewError
from reo_dt_assets.reo.events import upgraded_event_id
from reo_dt_assets.revenue.queries import history_agreement
from reo_dt_assets.sandbox.dt_server import DTSandbox
from reo_dt_assets.sandbox.reo_server import ReoSandbox
from reo_dt_assets.schema import TABLES
from reo_dt_assets_tests.chain import CHAIN
from reo_dt_assets_tests.helpers import REPO, all_resources
from reo_dt_assets_tests.stores import older_file_store, run_at_once, use_legacy_event_ids

APP = "148721"
DELIVERED_DAYS = (dt.date(2026, 11, 18), dt.date(2026, 11, 19))  # by the earlier release
NEW_DAY = dt.date(2026, 11, 20)
LEDGER = "reo_event_deliveries"
LEDGER_ROW = "event_id, report_date, status, attempts, payload_hash, delivered_at"


def _run(dt_sandbox: DTSandbox, reo: ReoSandbox, data: Path, day: dt.date) -> None:
    """The chain and every check of one partition; all green."""
    result = dg.materialize(
        CHAIN,
        partition_key=f"{APP}|{day}",
        resources=all_resources(dt_sandbox.url, data, reo.url),
        raise_on_error=False,
    )
    failures = [str(e.event_specific_data) for e in result.all_events if e.is_step_failure]
    assert result.success, failures
    checks = result.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks), [c.check_name for c in checks if not c.passed]


def _delivered(database: Path) -> set[tuple]:
    with duckdb.connect(str(database), read_only=True) as conn:
        if not conn.execute(
            "SELECT 1 FROM duckdb_tables() WHERE table_name = ?", [LEDGER]
        ).fetchall():
            return set()  # the releases before the ledger
        return set(
            conn.execute(f"SELECT {LEDGER_ROW} FROM {LEDGER} WHERE status = 'delivered'").fetchall()
        )


def _versions(database: Path) -> list[int]:
    with duckdb.connect(str(database), read_only=True) as conn:
        rows = conn.execute(f"SELECT version FROM {VERSIONS_TABLE} ORDER BY 1").fetchall()
        return [v for (v,) in rows]


@dataclass(frozen=True)
class Delivered:
    """A data folder the current code filled with the delivered days, and what Reo.Dev got."""

    data: Path
    dt_sandbox: DTSandbox
    events_per_day: dict[dt.date, set[str]]


@pytest.fixture(scope="module")
def delivered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Delivered]:
    data = tmp_path_factory.mktemp("delivered")
    with DTSandbox(rows=400) as dt_sandbox, ReoSandbox() as reo:
        events: dict[dt.date, set[str]] = {}
        for day in (*DELIVERED_DAYS, NEW_DAY):
            before = set(reo.counts())
            _run(dt_sandbox, reo, data, day)
            events[day] = set(reo.counts()) - before
        # The store the earlier release left has only the delivered days.
        with duckdb.connect(str(data / "reo_dt.duckdb")) as conn:
            for table in (
                "user_revenue",
                "user_revenue_history",
                "user_revenue_partitions",
                "reo_event_deliveries",
            ):
                conn.execute(f"DELETE FROM {table} WHERE report_date = ?", [NEW_DAY])
        shutil.rmtree(next((data / "raw").rglob(f"date={NEW_DAY}")))
        yield Delivered(data, dt_sandbox, events)


#: (schema version, versioned, ledger keyed by 32-hex ids): every earlier version, and the shapes
#: the releases before versions left: the first (no ledger yet), the first ledger (hex ids), and
#: the release before this one (no revenue_restatements, no kind).
EARLIER = [(v, True, False) for v in range(1, SCHEMA_VERSION)] + [
    (1, False, False),
    (2, False, True),
    (3, False, False),
]


@pytest.mark.parametrize(("version", "versioned", "hex_ids"), EARLIER)
def test_upgrade_runs_the_delivered_days_and_a_new_one(
    delivered: Delivered, tmp_path: Path, version: int, versioned: bool, hex_ids: bool
) -> None:
    data = tmp_path / "data"
    shutil.copytree(delivered.data / "raw", data / "raw")
    database = data / "reo_dt.duckdb"
    older_file_store(delivered.data / "reo_dt.duckdb", database, version, versioned=versioned)
    if hex_ids:
        assert use_legacy_event_ids(database) > 0
    before = _delivered(database)
    if hex_ids:  # the migration keys them by today's ids; nothing else of them moves
        before = {(upgraded_event_id(row[0]), *row[1:]) for row in before}
    if version >= 2:  # the ledger exists: the delivered days were delivered
        assert {row[0] for row in before} == set().union(
            *(delivered.events_per_day[d] for d in DELIVERED_DAYS)
        )

    upgraded_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with ReoSandbox() as reo:
        for day in (*DELIVERED_DAYS, NEW_DAY):
            _run(delivered.dt_sandbox, reo, data, day)
        counts = reo.counts()

    assert set(counts.values()) == {1}  # no event twice
    sent_again = DELIVERED_DAYS if version < 2 else ()  # no ledger: nothing was known sent
    expected = set().union(*(delivered.events_per_day[d] for d in (*sent_again, NEW_DAY)))
    assert set(counts) == expected
    assert before <= _delivered(database)  # the rows delivered before, exactly as they were
    assert _versions(database) == list(range(1, SCHEMA_VERSION + 1))
    with duckdb.connect(str(database), read_only=True) as conn:  # every run after it, logged
        logged = conn.execute(
            "SELECT report_date, delivered_now FROM reo_delivery_runs WHERE started_at >= ? "
            "ORDER BY report_date",
            [upgraded_at],
        ).fetchall()
    assert logged == [
        (day, len(delivered.events_per_day[day]) if day in (*sent_again, NEW_DAY) else 0)
        for day in (*DELIVERED_DAYS, NEW_DAY)
    ]
    _assert_history_holds(database, (*DELIVERED_DAYS, NEW_DAY))


def _assert_history_holds(database: Path, days: tuple[dt.date, ...]) -> None:
    """Every user of each day has their history row, equal to their days summed again."""
    with duckdb.connect(str(database), read_only=True) as conn:
        for day in days:
            agreement = history_agreement(conn, day, APP)
            assert agreement.wrong == 0 and agreement.rows == agreement.users > 0, day


def test_the_upgrade_fills_the_history_of_the_days_loaded_before(
    delivered: Delivered, tmp_path: Path
) -> None:
    """The release before this one left user_revenue without its history: the migration
    computes it for every day the store holds, before any day is run again."""
    database = tmp_path / "reo_dt.duckdb"
    older_file_store(delivered.data / "reo_dt.duckdb", database, SCHEMA_VERSION - 1)
    migrations.migrate_file_at(database)
    _assert_history_holds(database, DELIVERED_DAYS)


def _schema(conn: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[str, str, bool]]]:
    rows = conn.execute(
        "SELECT table_name, column_name, data_type, is_nullable = 'YES' "
        "FROM information_schema.columns WHERE table_schema = 'main' "
        "ORDER BY table_name, ordinal_position"
    ).fetchall()
    tables: dict[str, list[tuple[str, str, bool]]] = {}
    for table, *column in rows:
        tables.setdefault(table, []).append(tuple(column))  # type: ignore[arg-type]
    return tables


def test_migrations_of_an_empty_store_make_the_current_tables(tmp_path: Path) -> None:
    """``schema``'s tables and migrations 1..N on an empty file are the same tables."""
    migrations.migrate_file_at(tmp_path / "new.duckdb")
    with duckdb.connect(str(tmp_path / "new.duckdb"), read_only=True) as conn:
        found = _schema(conn)
    assert found.pop(VERSIONS_TABLE)
    assert found == {t.name: [(c.name, c.type, c.nullable) for c in t.columns] for t in TABLES}


def _migrate_command(data: Path) -> subprocess.CompletedProcess[str]:
    """``python -m reo_dt_assets migrate`` on the stores of the data folder ``data``."""
    return subprocess.run(
        [sys.executable, "-m", "reo_dt_assets", "migrate"],
        env={"PATH": "/usr/bin:/bin", "REO_DT_DATA_DIR": str(data)},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_store_newer_than_the_code_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    data = tmp_path / "data"
    database = data / "reo_dt.duckdb"
    migrations.migrate_file_at(database)
    with duckdb.connect(str(database)) as conn:
        conn.execute(f"INSERT INTO {VERSIONS_TABLE} VALUES (?, 'from the future', now())", [99])
    digest = hashlib.sha256(database.read_bytes()).hexdigest()

    resource = WarehouseResource(database=str(database))
    with pytest.raises(SchemaTooNewError) as refused, resource.get_connection():  # every step
        pass
    message = str(refused.value)
    assert "schema version 99" in message and f"up to {SCHEMA_VERSION}" in message
    assert str(database) in message and "Nothing was written" in message
    cli = _migrate_command(data)
    assert cli.returncode != 0 and "schema version 99" in cli.stderr
    assert hashlib.sha256(database.read_bytes()).hexdigest() == digest

    budget = data / "dt_report_budget.sqlite"
    migrations.migrate_budget_at(budget)
    with closing(sqlite3.connect(budget)) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(SchemaTooNewError, match="report budget"):
        ReportBudget(budget, Budget(per_day=10)).spent_on(NEW_DAY)


def test_the_migrate_command_says_what_it_changed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    database = data / "reo_dt.duckdb"
    migrations.migrate_file_at(database, target=3)

    def migrate() -> str:
        done = _migrate_command(data)
        assert done.returncode == 0, done.stderr
        return done.stdout

    first = migrate()
    assert f"schema version 3 -> {SCHEMA_VERSION}" in first
    assert "4. revenue_restatements" in first and "5. reo_event_deliveries.kind" in first
    assert "1. user_revenue" not in first
    assert f"at schema version {SCHEMA_VERSION}, nothing to do" in migrate()


def test_four_runs_at_once_right_after_an_upgrade(delivered: Delivered, tmp_path: Path) -> None:
    """The release before this one left the store; four runs start at once, each in its own
    process: they migrate it once between them, and all succeed."""
    data = tmp_path / "data"
    shutil.copytree(delivered.data / "raw", data / "raw")
    database = data / "reo_dt.duckdb"
    older_file_store(delivered.data / "reo_dt.duckdb", database, 3, versioned=False)
    keys = [f"{app}|{day}" for app in (APP, "203945") for day in (DELIVERED_DAYS[-1], NEW_DAY)]
    with ReoSandbox() as reo:
        run_at_once(keys, delivered.dt_sandbox.url, reo.url, data)
        counts = reo.counts()
    assert _versions(database) == list(range(1, SCHEMA_VERSION + 1))  # each migration once
    assert set(counts.values()) == {1}
    assert not set(counts) & delivered.events_per_day[DELIVERED_DAYS[-1]]


def test_a_budget_file_of_an_earlier_release_keeps_its_requests(tmp_path: Path) -> None:
    """The report budget as the releases before versions created it, with today's requests:
    the upgrade counts them still and records the version."""
    path = tmp_path / "dt_report_budget.sqlite"
    now = dt.datetime.now(dt.UTC)
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE report_requests (requested_at REAL NOT NULL, what TEXT)")
        conn.executemany(
            "INSERT INTO report_requests VALUES (?, ?)",
            [(now.timestamp(), "148721|2026-11-20"), (now.timestamp(), "203945|2026-11-20")],
        )
        conn.commit()
    assert ReportBudget(path, Budget(per_day=10)).spent_on(now.date()) == 2
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
