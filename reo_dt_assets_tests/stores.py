"""Stores as earlier releases left them, for the upgrade tests: the tables that migrations
1..N make, filled with the rows of a store the current code wrote (the columns they share)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb

from reo_dt_assets import warehouse
from reo_dt_assets.migrations import VERSIONS_TABLE, migrate_file_at
from reo_dt_assets.warehouse import DuckLake
from reo_dt_assets_tests.helpers import REPO


def older_file_store(source: Path, dest: Path, version: int, *, versioned: bool = True) -> None:
    """``dest``: the DuckDB file of schema ``version`` holding ``source``'s rows; without
    ``versioned``, as the releases before versions left it (no versions table)."""
    migrate_file_at(dest, target=version)
    with duckdb.connect(str(dest)) as conn:
        conn.execute(f"ATTACH '{source}' AS source (READ_ONLY)")
        tables = conn.execute(
            "SELECT table_name, list(column_name ORDER BY column_index) FROM duckdb_columns() "
            "WHERE database_name = current_database() GROUP BY table_name"
        ).fetchall()
        for table, columns in tables:
            if table != VERSIONS_TABLE:
                names = ", ".join(columns)
                conn.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM source.{table}")
        conn.execute("DETACH source")
        if not versioned:
            conn.execute(f"DROP TABLE {VERSIONS_TABLE}")


def legacy_event_id(app_id: str, day: str, user_key: str, activity_type: str) -> str:
    """The event id of the releases before integer ids: 32 hex digits of the event's digest."""
    return hashlib.sha256(f"{app_id}|{day}|{user_key}|{activity_type}".encode()).hexdigest()[:32]


def use_legacy_event_ids(path: Path) -> int:
    """Rewrite the ledger of the DuckDB file ``path`` to the 32-hex event ids (payloads too), as
    the releases before integer ids keyed it; how many rows."""
    with duckdb.connect(str(path)) as conn:
        rows = conn.execute(
            "SELECT event_id, app_id, CAST(report_date AS VARCHAR), user_key, payload "
            "FROM reo_event_deliveries"
        ).fetchall()
        for event_id, app_id, day, user_key, payload in rows:
            body = json.loads(payload)
            legacy = legacy_event_id(app_id, day, user_key, body["activity_type"])
            body["event_id"] = legacy
            text = json.dumps(body, sort_keys=True, separators=(",", ":"))
            conn.execute(
                "UPDATE reo_event_deliveries SET event_id = ?, payload = ?, payload_hash = ? "
                "WHERE event_id = ?",
                [legacy, text, hashlib.sha256(text.encode()).hexdigest(), event_id],
            )
    return len(rows)


def older_lake(source: DuckLake, dest: DuckLake, version: int, *, versioned: bool = True) -> None:
    """``dest``: a DuckLake catalog and ledger of schema ``version`` holding ``source``'s rows;
    without ``versioned``, as the releases before versions left them."""
    warehouse.migrate(dest, target=version)
    with duckdb.connect(config={"autoinstall_known_extensions": False}) as conn:
        for module, name in (
            ("duckdb_extension_postgres_scanner", "postgres_scanner"),
            ("duckdb_extension_ducklake", "ducklake"),
        ):
            conn.execute(f"LOAD '{warehouse.extension_path(module, name)}'")
        for alias, lake in (("source", source), ("dest", dest)):
            conn.execute(
                f"ATTACH 'ducklake:postgres:{lake.catalog}' AS {alias}_lake "
                f"(DATA_PATH '{lake.data_path}')"
            )
            conn.execute(f"ATTACH '{lake.catalog}' AS {alias}_pg (TYPE postgres)")
        tables = conn.execute(
            "SELECT database_name, table_name, list(column_name ORDER BY column_index) "
            "FROM duckdb_columns() WHERE database_name IN ('dest_lake', 'dest_pg') "
            "AND schema_name IN ('main', 'public') GROUP BY ALL"
        ).fetchall()
        for database, table, columns in tables:
            if table == VERSIONS_TABLE or table.startswith("ducklake_"):  # DuckLake's own
                continue
            schema = "main" if database == "dest_lake" else "public"
            source_db = database.replace("dest", "source")
            names = ", ".join(columns)
            conn.execute(
                f"INSERT INTO {database}.{schema}.{table} ({names}) "
                f"SELECT {names} FROM {source_db}.{schema}.{table}"
            )
        if not versioned:
            conn.execute(f"CALL postgres_execute('dest_pg', 'DROP TABLE {VERSIONS_TABLE}')")


RUN_PARTITION = """
import sys
from pathlib import Path
import dagster as dg
from reo_dt_assets_tests.helpers import all_resources
from reo_dt_assets_tests.chain import CHAIN

dt_url, reo_url, data, key = sys.argv[1:]
resources = all_resources(dt_url, Path(data), reo_url)
result = dg.materialize(CHAIN, partition_key=key, resources=resources)
checks = result.get_asset_check_evaluations()
print("OK" if result.success and checks and all(c.passed for c in checks) else "FAILED")
"""


def run_at_once(
    keys: list[str], dt_url: str, reo_url: str, data: Path, env: dict[str, str] | None = None
) -> None:
    """The whole chain with every check, one process per partition of ``keys``, all started at
    once (as right after an upgrade); fails naming what any of them said unless all are green."""
    arguments = [dt_url, reo_url, str(data)]
    children = [
        subprocess.Popen(
            [sys.executable, "-c", RUN_PARTITION, *arguments, key],
            cwd=REPO,
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for key in keys
    ]
    try:
        outputs = [child.communicate(timeout=300) for child in children]
    finally:
        for child in children:
            child.kill()
            child.wait()
    verdicts = [out.strip().splitlines()[-1:] for out, _ in outputs]
    assert verdicts == [["OK"]] * len(keys), [err[-3000:] for _, err in outputs]
