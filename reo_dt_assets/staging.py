"""One DuckDB transaction over a staged frame: the way every table here is written.

The frame is visible to the transaction's SQL under ``name``; the writes commit together or not
at all, so a failed write leaves the tables as they were.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
import polars as pl


@contextmanager
def staged_transaction(
    conn: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame
) -> Iterator[None]:
    conn.register(name, frame.to_arrow())
    try:
        conn.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    finally:
        conn.unregister(name)
