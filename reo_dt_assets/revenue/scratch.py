"""Scratch folders for a load's temporary files, removed even when the process dies.

Each load works in its own folder under ``<parent>/.user_revenue_scratch/`` and holds an
exclusive ``flock`` on a lock file inside it while it runs. The folder is removed when the load
ends, failed or not. A process killed outright (OOM, SIGKILL) leaves it behind, and the next
load removes every folder whose lock it can take: the kernel releases a dead process's locks.
Folders are made and swept under one lock on the scratch root, so a sweep never sees a folder
between its creation and its lock, and needs no grace period.
"""

from __future__ import annotations

import fcntl
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCRATCH = ".user_revenue_scratch"
LOCK = ".lock"


@contextmanager
def scratch_folder(parent: Path) -> Iterator[Path]:
    root = parent / SCRATCH
    root.mkdir(parents=True, exist_ok=True)
    with (root / LOCK).open("a") as root_lock:
        fcntl.flock(root_lock, fcntl.LOCK_EX)  # held for the sweep and the creation only
        _remove_abandoned(root)
        folder = Path(tempfile.mkdtemp(prefix="load-", dir=root))
        lock = (folder / LOCK).open("w")
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        lock.close()


def _remove_abandoned(root: Path) -> None:
    """Remove the folders of loads that are no longer running (the caller holds the root lock)."""
    for folder in root.glob("load-*"):
        lock_path = folder / LOCK
        if not lock_path.exists():  # its creator died between making it and locking it
            shutil.rmtree(folder, ignore_errors=True)
            continue
        with lock_path.open("a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live load holds it
            shutil.rmtree(folder, ignore_errors=True)
