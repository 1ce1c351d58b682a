"""The column contract, without any I/O beyond a temp file."""

from pathlib import Path

import pytest

from reo_dt_assets.digital_turbine.columns import (
    REPORT_COLUMNS,
    match_header,
    normalize_header,
    read_header,
)
from reo_dt_assets.sandbox.generator import ReportShape

DOC_HEADER = [c.display for c in REPORT_COLUMNS]


def test_document_header_matches_fully() -> None:
    match = match_header(DOC_HEADER)
    assert match.ok
    assert not match.unexpected and not match.missing_optional and not match.drift()
    assert match.positions["revenue"] == DOC_HEADER.index("Revenue")


@pytest.mark.parametrize(
    "shape",
    [
        ReportShape(),
        ReportShape(date_app_columns=True),
        ReportShape(fairbid_columns=False),
        ReportShape(date_app_columns=True, fairbid_columns=False),
        ReportShape(renamed=(("Revenue", "Revenue (USD)"), ("User ID", "Publisher User ID"))),
    ],
    ids=["documented", "with-date-app", "non-fairbid", "date-app-non-fairbid", "aliased"],
)
def test_every_reading_the_sandbox_serves_loads_without_drift(shape: ReportShape) -> None:
    match = match_header(shape.header.split(","))
    assert match.ok, match.problem()
    assert not match.drift()  # absent Date / App ID / FairBid columns are not drift


def test_documented_dimension_table_has_no_date_or_app_id() -> None:
    match = match_header(ReportShape().header.split(","))
    assert match.missing_optional == ("Date", "App ID")
    assert "date" not in match.positions and "app_id" not in match.positions


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
    assert set(match.missing_expected) == {
        "Ad Unit ID",
        "Container Type ID",
        "Instance ID",
        "Placement ID",
    }
    assert "documented columns absent" in match.drift()
    assert normalize_header("\ufeffApp ID") == "appid"


def test_missing_metric_with_an_unknown_column_suggests_an_alias() -> None:
    header = [h for h in DOC_HEADER if h != "Revenue"] + ["Country", "eCPM"]
    match = match_header(header)
    assert not match.ok
    assert match.missing_required == ("Revenue",)
    assert match.unexpected == ("Country", "eCPM")
    assert "missing required columns ['Revenue']" in match.problem()
    assert "alias" in match.problem() and "columns.py" in match.problem()


def test_missing_metric_without_unknown_columns_does_not_suggest_an_alias() -> None:
    match = match_header([h for h in DOC_HEADER if h != "Impressions"])
    assert match.missing_required == ("Impressions",)
    assert "alias" not in match.problem()
    assert "not a User Level report" in match.problem()


def test_no_identifier_column_at_all_fails() -> None:
    identifiers = ("User ID", "Advertising ID", "IDFV")
    match = match_header([h for h in DOC_HEADER if h not in identifiers])
    assert not match.ok
    assert match.missing_required == ("one of ['User ID', 'Advertising ID', 'IDFV']",)
    only_user_id = match_header([h for h in DOC_HEADER if h not in identifiers[1:]])
    assert only_user_id.ok  # any one identifier is enough
    assert only_user_id.missing_expected == ("Advertising ID",)


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
