"""Send results written ahead of the ledger, so that a crash re-sends almost nothing.

Writing a batch of results into the DuckDB file's ledger opens the file and checkpoints it when
the connection closes: ~30 ms, and a kill during a checkpoint is the one moment DuckDB is
exposed. Appending the batch to a file and syncing it takes about a millisecond. So each batch
the sender hands back (every ``HAND_BACK_SECONDS``) is appended to its run's journal before it
counts as recorded, and the ledger takes the journal's results about once a second and at the
end (``DeliveryLedger.record``). A run killed in between leaves its journal behind; the next
delivery or sweep folds it into the ledger before it reads the ledger
(``DeliveryLedger.recover``), so Reo.Dev sees an event twice only if it was in flight or
confirmed in the last hand-back.

One file per run and partition, its first line the run's key. Its writer holds an exclusive
``flock`` on it while it lives (the kernel drops it when the process dies), so a journal that
can be locked is a dead run's. A line the crash cut short is left out.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reo_dt_assets import disk
from reo_dt_assets.reo.sender import SendResult

HAND_BACK_SECONDS = 0.05  # how often the sender hands results back to be journaled
FOLD_SECONDS = 1.0  # how often the journal's results go into the ledger, at most
FREE = "Free space there (or move REO_DT_DATA_DIR)"


@dataclass(frozen=True)
class Timed:
    """A send result and when it was journaled (UTC, naive, as the ledger keeps times)."""

    result: SendResult
    at: dt.datetime


@dataclass(frozen=True)
class Orphan:
    """A dead run's journal: its run's key (``None``: a ledger that keeps no run row) and the
    results it holds; ``delete`` once they are in the ledger."""

    run: dict[str, Any] | None
    results: list[Timed]
    path: Path

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)


class Journal:
    """One run's journal of one partition, in ``folder``; ``pending`` holds what is not yet
    folded into the ledger."""

    def __init__(self, folder: Path, run: dict[str, Any] | None) -> None:
        self.folder = folder
        with disk.reported(folder, "starting a journal of Reo.Dev's confirmations", FREE):
            folder.mkdir(parents=True, exist_ok=True)
            self.path = folder / f"{uuid.uuid4().hex}.jsonl"
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        self._header = (json.dumps({"run": run}, default=str) + "\n").encode()
        self._write(self._header)
        self.pending: list[Timed] = []

    def append(self, results: list[SendResult]) -> None:
        """Write ``results`` and sync them: once this returns they survive a crash."""
        at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        lines = "".join(
            json.dumps(
                [r.event_id, r.delivered, r.attempts, r.http_status, r.error, at.isoformat()]
            )
            + "\n"
            for r in results
        )
        self._write(lines.encode())
        self.pending.extend(Timed(r, at) for r in results)

    def folded(self) -> None:
        """The pending results are in the ledger: the journal holds its key alone again."""
        os.ftruncate(self._fd, len(self._header))
        os.fdatasync(self._fd)
        self.pending = []

    def close(self) -> None:
        """Delete the journal (fold it first), then let go of its lock."""
        self.path.unlink(missing_ok=True)
        self.release()

    def release(self) -> None:
        """Let go of the journal, left for ``orphans`` to find."""
        os.close(self._fd)

    def _write(self, data: bytes) -> None:
        with disk.reported(self.folder, "journaling Reo.Dev's confirmations", FREE):
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
            os.fdatasync(self._fd)


def orphans(folder: Path) -> Iterator[Orphan]:
    """The journals in ``folder`` whose runs are dead, each locked while the caller has it (a
    journal it does not delete is let go, and found again later)."""
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*.jsonl")):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:  # its run finished meanwhile
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # deleted by its run between our open and our lock: nothing left in it
            if os.fstat(fd).st_ino != os.stat(path).st_ino:
                raise FileNotFoundError(path)
        except OSError:  # alive (locked), or gone
            os.close(fd)
            continue
        try:
            yield _read(path, fd)
        finally:
            os.close(fd)


def _read(path: Path, fd: int) -> Orphan:
    with open(fd, "rb", closefd=False) as file:
        lines = file.read().decode(errors="replace").splitlines()
    header = _parse(lines[0]) if lines else None
    results: list[Timed] = []
    for line in lines[1:]:
        entry = _parse(line)
        if not isinstance(entry, list) or len(entry) != 6:
            continue  # cut short by the crash
        event_id, delivered, attempts, http_status, error, at = entry
        results.append(
            Timed(
                SendResult(event_id, bool(delivered), attempts, http_status, error),
                dt.datetime.fromisoformat(at),
            )
        )
    run = header.get("run") if isinstance(header, dict) else None
    return Orphan(run, results, path)


def _parse(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None
