"""One DuckDB transaction, optionally over a staged frame: the way every table here is written.

The writes commit together or not at all, so a failed write leaves the tables as they were. On a
DuckLake catalog, writers of other partitions may commit first and make the commit fail on a
conflict (DuckLake commits optimistically); ``retry_conflicts`` runs the whole transaction again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TypeVar, cast

import duckdb
import polars as pl

from reo_dt_assets.retry import Outcome, RetryPolicy, Verdict, call_with_retries

T = TypeVar("T")
CONFLICT = "conflict"  # in DuckLake's "Transaction conflict - ..." and "Failed to commit ..."
CONFLICT_RETRY = RetryPolicy(attempts=8, base_delay=0.1, max_delay=10.0)
_log = logging.getLogger(__name__)


def configure_file_connection(conn: duckdb.DuckDBPyConnection, memory_mb: int) -> None:
    """Settings of every connection to the DuckDB file: ``memory_limit``, and no vacuum.

    DuckDB's vacuum merges a table's small row groups when a connection that wrote closes. The
    ledger gains a row group per registered chunk, and merging them rewrote up to 122,880
    events' payloads at once: a jump of ~350 MiB that ``memory_limit`` does not bound, and that
    took the delivery of a 1M-event partition over 700 MiB. Nothing here needs vacuum: the
    ledger never deletes, and a replaced partition's rows go as whole row groups without it.
    """
    conn.execute(f"SET memory_limit = '{int(memory_mb)}MiB'")
    conn.execute("SET max_vacuum_tasks = 0")


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
    """``write()``, one whole transaction, run again (``CONFLICT_RETRY``: the project's one
    backoff) when its commit lost a conflict to a concurrent writer; any other error is raised
    at once."""

    def attempt() -> Outcome[T]:
        try:
            return Outcome(Verdict.DONE, value=write())
        except duckdb.TransactionException as error:
            if CONFLICT not in str(error).lower():
                raise
            return Outcome(Verdict.RETRY, error=str(error)[:200])

    def log_retry(attempts_made: int, outcome: Outcome[T], wait: float) -> None:
        (log or _log).warning(
            f"commit conflict with a concurrent writer (try {attempts_made} of "
            f"{CONFLICT_RETRY.attempts}), writing again in {wait:.2f}s: {outcome.error}"
        )

    outcome = call_with_retries(attempt, CONFLICT_RETRY, on_retry=log_retry)
    if outcome.verdict is not Verdict.DONE:
        raise duckdb.TransactionException(
            f"{outcome.error} (still conflicting after {CONFLICT_RETRY.attempts} tries)"
        )
    return cast(T, outcome.value)  # DONE carries what write() returned
