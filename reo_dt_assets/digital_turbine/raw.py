"""The raw layer's files: the CSV exactly as DT served it, one file per (date, app).

Where each file lives, how it is written (whole or not at all: a temporary file beside it is
renamed into place once complete) and how its data rows are counted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, NamedTuple

from reo_dt_assets.catalog import validate_app_id


class Written(NamedTuple):
    bytes: int
    sha256: str


def raw_report_path(data_dir: Path, date: dt.date, app_id: str) -> Path:
    """``<data dir>/raw/digital_turbine/user_level/date=YYYY-MM-DD/app_id=<id>.csv``."""
    validate_app_id(app_id)
    return (
        data_dir
        / "raw"
        / "digital_turbine"
        / "user_level"
        / f"date={date.isoformat()}"
        / f"app_id={app_id}.csv"
    )


def write_atomically(
    destination: Path,
    chunks: Iterable[bytes],
    on_progress: Callable[[int], None] | None = None,
) -> Written | None:
    """Stream ``chunks`` to ``destination``, hashing on the way; ``on_progress(bytes so far)``.

    The file appears whole or not at all: bytes go to a temporary file in the same folder,
    which replaces ``destination`` only once complete and synced. If the chunks hold no bytes,
    nothing is written and ``None`` is returned; if they raise, ``destination`` is untouched.
    """
    remaining = iter(chunks)
    first = next((chunk for chunk in remaining if chunk), None)
    if first is None:
        return None
    destination.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    with _temporary_beside(destination) as (handle, temporary):
        for chunk in itertools.chain([first], remaining):
            handle.write(chunk)
            digest.update(chunk)
            size += len(chunk)
            if on_progress is not None:
                on_progress(size)
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()
        os.replace(temporary, destination)
    return Written(size, digest.hexdigest())


@contextmanager
def _temporary_beside(destination: Path) -> Iterator[tuple[BinaryIO, Path]]:
    """A temporary file in ``destination``'s folder, removed unless renamed away."""
    fd, name = tempfile.mkstemp(
        dir=destination.parent, prefix=f".{destination.name}.", suffix=".part"
    )
    temporary = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle, temporary
    finally:
        temporary.unlink(missing_ok=True)


def count_data_rows(path: Path) -> int:
    """Lines after the header (a final line without a newline counts; blank lines do not)."""
    rows = -1
    last = b"\n"
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 22):
            rows += chunk.count(b"\n")
            last = chunk[-1:]
    if last != b"\n":
        rows += 1
    return max(rows, 0)
