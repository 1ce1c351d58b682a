"""The raw layer's files: the CSV exactly as DT served it, one file per (date, app).

Where each file lives, how it is written (whole or not at all: a temporary file beside it is
renamed into place once complete) and how its data rows are counted, while it is written, by the
parser's rule (``RowCounter``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, NamedTuple

from reo_dt_assets.catalog import validate_app_id


class Written(NamedTuple):
    bytes: int
    sha256: str
    rows: int  # data rows, by the parser's rule (``RowCounter``)
    header: bytes  # the first line, as written


#: A newline followed by a blank record: only commas (or nothing) up to the next line end.
_BEFORE_BLANK = re.compile(rb"\n(?=[,\r]*\n)")


class RowCounter:
    """Data rows of a CSV fed chunk by chunk, by the rule of the parser (``revenue.parse``): the
    first record is the header, a record without a single value (a blank line, or only commas)
    is not a row, a final record without a newline is one, and a newline inside a quoted value
    does not end its record. One pass over the bytes, with no copy of the file kept.
    """

    def __init__(self) -> None:
        self.rows = 0
        self.header = b""
        self._header_seen = False
        self._pending = b""  # the last line, not ended yet
        self._quoted = False  # inside a quoted value at the end of the lines counted so far

    def feed(self, chunk: bytes) -> None:
        data = self._pending + chunk
        end = data.rfind(b"\n") + 1
        self._pending = data[end:]
        if end:
            self._count(data[:end])

    def finish(self) -> int:
        """The rows, counting a last line without a final newline."""
        if self._pending:
            self._count(self._pending + b"\n")
            self._pending = b""
        return self.rows

    def _count(self, lines: bytes) -> None:
        """Count ``lines`` (whole lines, each ending in a newline)."""
        if not self._header_seen and not self._quoted:
            first = lines.find(b"\n") + 1
            self.header = lines[:first]
            self._quoted = self.header.count(b'"') % 2 == 1
            self._header_seen = not self._quoted
            lines = lines[first:]
        if self._quoted or b'"' in lines:
            self._count_quoted(lines)
            return
        # The fast path, no quotes: every line is a record; blank ones are rare and cheap to
        # rule out (each starts with ``,``, ``\r`` or ``\n`` after the previous newline).
        framed = b"\n" + lines
        self.rows += lines.count(b"\n")
        if framed.count(b"\n,") or framed.count(b"\n\r") or framed.count(b"\n\n"):
            self.rows -= len(_BEFORE_BLANK.findall(framed))

    def _count_quoted(self, lines: bytes) -> None:
        for line in lines.split(b"\n")[:-1]:
            opens_or_closes = line.count(b'"') % 2 == 1
            if self._quoted:
                self._quoted = not opens_or_closes  # the record goes on until its quote closes
                if not self._header_seen and not self._quoted:
                    self._header_seen = True
                continue
            self._quoted = opens_or_closes
            if line.strip(b",\r"):
                self.rows += 1


def raw_root(data_dir: Path) -> Path:
    """``<data dir>/raw/digital_turbine/user_level``: every day's folder of raw reports."""
    return data_dir / "raw" / "digital_turbine" / "user_level"


def raw_report_path(data_dir: Path, date: dt.date, app_id: str) -> Path:
    """``<data dir>/raw/digital_turbine/user_level/date=YYYY-MM-DD/app_id=<id>.csv``."""
    validate_app_id(app_id)
    return raw_root(data_dir) / f"date={date.isoformat()}" / f"app_id={app_id}.csv"


def write_atomically(
    destination: Path,
    chunks: Iterable[bytes],
    on_progress: Callable[[int], None] | None = None,
) -> Written | None:
    """Stream ``chunks`` to ``destination``, hashing and counting rows on the way;
    ``on_progress(bytes so far)``.

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
    counter = RowCounter()
    size = 0
    with _temporary_beside(destination) as (handle, temporary):
        for chunk in itertools.chain([first], remaining):
            handle.write(chunk)
            digest.update(chunk)
            counter.feed(chunk)
            size += len(chunk)
            if on_progress is not None:
                on_progress(size)
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()
        os.replace(temporary, destination)
    rows = counter.finish()
    return Written(size, digest.hexdigest(), rows, counter.header)


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
    """The data rows of the file at ``path``, by the parser's rule (``RowCounter``)."""
    counter = RowCounter()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 22):
            counter.feed(chunk)
    return counter.finish()
