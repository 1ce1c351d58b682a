"""The raw file is written whole or not at all (``write_atomically``), on local files only."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from reo_dt_assets.digital_turbine.columns import header_cells
from reo_dt_assets.digital_turbine.raw import RowCounter, Written, count_data_rows, write_atomically
from reo_dt_assets.revenue.parse import parse_report


def test_writes_hashes_and_reports_progress(tmp_path: Path) -> None:
    target = tmp_path / "date=2026-11-20" / "app_id=1.csv"
    progress: list[int] = []
    written = write_atomically(target, [b"a,b\n", b"", b"1,2\n"], progress.append)
    assert written == Written(8, hashlib.sha256(b"a,b\n1,2\n").hexdigest(), 1, b"a,b\n")
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


HEADER = (
    "Date,App ID,Ad Network Name,Ad Unit ID,Container Type ID,Advertising ID,IDFV,User ID,"
    "Instance ID,Placement ID,Placement Type,Impressions,Revenue"
)
LINE = "2026-11-20,148721,AdMob,1,1,,,bob,i,1,banner,3,0.01"
SHAPES = {  # lines, data rows
    "plain": ([HEADER, LINE, LINE, ""], 2),
    "blank lines, LF": ([HEADER, LINE, "", LINE, "", "", LINE, ""], 3),
    "blank lines, CRLF": ([HEADER + "\r", LINE + "\r", "\r", LINE + "\r", ""], 2),
    "lines of commas": ([HEADER, ",,,,,,,,,,,,", LINE, ",,", LINE, ""], 2),
    "a newline inside quotes": ([HEADER, LINE.replace("AdMob", '"Ad\n\nMob"'), LINE, ""], 2),
    "no final newline": ([HEADER, LINE, LINE], 2),
    "blank lines at the end": ([HEADER, LINE, "", "", ""], 1),
    "header only": ([HEADER, ""], 0),
    # Quoted empty values are values: a row, which the parser refuses naming its line.
    "quoted empty values": ([HEADER, LINE, ",".join(['""'] * 13), ""], 2),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_rows_are_counted_as_the_parser_counts_them(tmp_path: Path, shape: str) -> None:
    lines, rows = SHAPES[shape]
    body = "\n".join(lines).encode()
    path = tmp_path / "report.csv"
    path.write_bytes(body)
    try:
        parsed = parse_report(path, dt.date(2026, 11, 20), "148721", tmp_path).totals.raw_rows
        assert parsed == rows
    except ValueError as error:
        assert f"nothing was loaded: line {rows + 1}," in str(error)
    assert count_data_rows(path) == rows
    for size in range(1, 9):  # however the download is cut into chunks
        counter = RowCounter()
        for start in range(0, len(body), size):
            counter.feed(body[start : start + size])
        assert counter.finish() == rows, size
        assert header_cells(counter.header) == HEADER.split(",")
