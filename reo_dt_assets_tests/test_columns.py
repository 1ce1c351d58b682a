"""The column contract, without any I/O beyond a temp file."""

from pathlib import Path

from reo_dt_assets.digital_turbine.columns import (
    REPORT_COLUMNS,
    match_header,
    normalize_header,
    read_header,
)
from reo_dt_assets.sandbox.generator import HEADER

DOC_HEADER = [c.display for c in REPORT_COLUMNS]


def test_document_header_matches_fully() -> None:
    match = match_header(DOC_HEADER)
    assert match.ok
    assert not match.unexpected and not match.missing_optional
    assert match.positions["revenue"] == DOC_HEADER.index("Revenue")


def test_sandbox_header_is_a_document_header() -> None:
    assert match_header(list(HEADER)).ok


def test_aliases_case_and_punctuation() -> None:
    header = [
        "date",
        "APP ID",
        "ad network name",
        "advertising id",
        "idfv",
        "User Id",
        "Placement Type",
        "impressions",
        "Revenue (USD)",
    ]
    match = match_header(header)
    assert match.ok, match.problem()
    assert match.positions["user_id"] == 5
    assert set(match.missing_optional) == {
        "Ad Unit ID",
        "Container Type ID",
        "Instance ID",
        "Placement ID",
    }
    assert normalize_header("\ufeffApp ID") == "appid"


def test_missing_required_and_unexpected_are_listed() -> None:
    header = [h for h in DOC_HEADER if h not in ("Revenue", "User ID")] + ["Country", "eCPM"]
    match = match_header(header)
    assert not match.ok
    assert match.missing_required == ("User ID", "Revenue")
    assert match.unexpected == ("Country", "eCPM")
    assert "missing required columns ['User ID', 'Revenue']" in match.problem()
    assert "columns.py" in match.problem()


def test_duplicate_column_fails() -> None:
    match = match_header([*DOC_HEADER, "Revenue (USD)"])
    assert not match.ok
    assert match.duplicated == ("Revenue",)


def test_read_header(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert read_header(empty) is None
    quoted = tmp_path / "quoted.csv"
    quoted.write_bytes(b'\xef\xbb\xbf"Date","App ID","Revenue (USD)"\r\n2026-01-01,1,0.5\r\n')
    assert read_header(quoted) == ["Date", "App ID", "Revenue (USD)"]
