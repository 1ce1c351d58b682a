"""A full disk in our words: the folder that filled up, what to free, and that a re-run helps.

Each library says it its own way: Python raises an ``OSError`` with ``errno.ENOSPC``, DuckDB an
``IOException`` or a failed commit saying "No space left on device", and polars a
``ComputeError`` saying it too, except when the disk fills while it writes a Parquet footer: then
it says only "Invalid thrift: transport error". Left as they were, the parse read a full disk as
a report it cannot read (bad input, never retried) and the other steps failed with a bare errno
naming no folder. ``reported`` turns each into one ``DiskFullError``, which the assets fail
retryable: nothing is wrong with the input.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import polars as pl

NO_SPACE = os.strerror(errno.ENOSPC)  # "No space left on device", as polars and DuckDB say it
#: Less than this left on the volume of a folder that a polars Parquet write failed in: full.
NEARLY_FULL_BYTES = 1 << 20


class DiskFullError(RuntimeError):
    """A write found no space left on its device; the message says where and what to free."""


def is_disk_full(error: BaseException, folder: Path) -> bool:
    """Whether ``error``, raised while writing in ``folder``, is its volume running out."""
    if isinstance(error, OSError):
        return error.errno == errno.ENOSPC
    if not isinstance(error, duckdb.Error | pl.exceptions.PolarsError):
        return False
    if NO_SPACE.lower() in str(error).lower():
        return True
    # A Parquet footer polars could not write, its ENOSPC lost: the volume says whether it
    # filled up (a write that ran out of space leaves less than a block).
    return (
        isinstance(error, pl.exceptions.PolarsError)
        and "parquet" in str(error).lower()
        and _free_bytes(folder) < NEARLY_FULL_BYTES
    )


def _free_bytes(folder: Path) -> int:
    existing = next(path for path in (folder, *folder.parents) if path.exists())
    return shutil.disk_usage(existing).free


@contextmanager
def reported(folder: Path, doing: str, free: str) -> Iterator[None]:
    """A full disk inside the block raises ``DiskFullError``, naming ``folder``, what the block
    was ``doing`` (and left behind) and what to ``free``; any other error passes as it is."""
    try:
        yield
    except Exception as error:
        if not is_disk_full(error, folder):
            raise
        raise DiskFullError(
            f"No space left on device in {folder} while {doing}. {free}, then re-run the "
            "partition: nothing is wrong with its input, so Dagster's run retries run it again "
            "too."
        ) from error
