"""The raw file is written whole or not at all (``write_atomically``), on local files only."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from reo_dt_assets.digital_turbine.raw import Written, write_atomically


def test_writes_hashes_and_reports_progress(tmp_path: Path) -> None:
    target = tmp_path / "date=2026-11-20" / "app_id=1.csv"
    progress: list[int] = []
    written = write_atomically(target, [b"a,b\n", b"", b"1,2\n"], progress.append)
    assert written == Written(8, hashlib.sha256(b"a,b\n1,2\n").hexdigest())
    assert target.read_bytes() == b"a,b\n1,2\n"
    assert progress == [4, 4, 8]
    assert list(target.parent.iterdir()) == [target]


def test_no_bytes_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "missing-folder" / "r.csv"
    assert write_atomically(target, [b"", b""]) is None
    assert not target.parent.exists()


def test_a_failure_mid_stream_leaves_the_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "r.csv"
    target.write_bytes(b"previous")

    def chunks() -> Iterator[bytes]:
        yield b"new,partial"
        raise ConnectionResetError("cut")

    with pytest.raises(ConnectionResetError):
        write_atomically(target, chunks())
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["r.csv"]
