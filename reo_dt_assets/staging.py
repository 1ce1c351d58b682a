"""One DuckDB transaction, optionally over a staged frame: the way every table here is written.

The writes commit together or not at all, so a failed write leaves the tables as they were. On a
DuckLake catalog, writers of other partitions may commit first and make the commit fail on a
conflict (DuckLake commits optimistically); ``retry_conflicts`` runs the whole transaction again.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TypeVar

import duckdb
import polars as pl

T = TypeVar("T")
CONFLICT = "conflict"  # in DuckLake's "Transaction conflict - ..." and "Failed to commit ..."
CONFLICT_ATTEMPTS = 8
_log = logging.getLogger(__name__)


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    conn.execute("BEGIN TRANSACTION")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        with suppress(duckdb.Error):  # a failed COMMIT may have ended the transaction already
            conn.execute("ROLLBACK")
        raise


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


def retry_conflicts(write: Callable[[], T], log: logging.Logger | None = None) -> T:
    """``write()``, one whole transaction, run again after a jittered wait (0.1 s doubling, at
    most ``CONFLICT_ATTEMPTS`` tries) when its commit lost a conflict to a concurrent writer;
    any other error is raised at once."""
    attempt = 1
    while True:
        try:
            return write()
        except duckdb.TransactionException as error:
            if CONFLICT not in str(error).lower() or attempt == CONFLICT_ATTEMPTS:
                raise
            wait = random.uniform(0.5, 1.0) * 0.1 * 2 ** (attempt - 1)
            (log or _log).warning(
                f"commit conflict with a concurrent writer (try {attempt} of "
                f"{CONFLICT_ATTEMPTS}), writing again in {wait:.2f}s: {str(error)[:200]}"
            )
            time.sleep(wait)
            attempt += 1
