"""One DuckDB transaction, optionally over a staged frame: the way every table here is written.

The writes commit together or not at all, so a failed write leaves the tables as they were.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
import polars as pl


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    conn.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextmanager
def staged_transaction(
    conn: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame
) -> Iterator[None]:
    """A transaction whose SQL sees ``frame`` under ``name``."""
    conn.register(name, frame.to_arrow())
    try:
        with transaction(conn):
            yield
    finally:
        conn.unregister(name)
