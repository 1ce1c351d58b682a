"""Parsing and aggregating raw reports: against the generator's ground truth, and bad input.

Every test runs with the report in one bucket and in several (the bounded-memory path), which
must give the same users and totals.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from reo_dt_assets.revenue.parse import (
    USERS_SCHEMA,
    BadReportError,
    LoadPlan,
    ReportTotals,
    load_plan,
    parse_report,
)
from reo_dt_assets.revenue.queries import raw_totals
from reo_dt_assets.sandbox.generator import MASKED, ZERO_AD_ID, ReportShape, generate

DAY = dt.date(2026, 11, 20)
APP = "148721"
HEADER = (
    "Date,App ID,Ad Network Name,Ad Unit ID,Container Type ID,Advertising ID,IDFV,User ID,"
    "Instance ID,Placement ID,Placement Type,Impressions,Revenue"
)


@pytest.fixture(params=[1, 7], ids=["one-bucket", "seven-buckets"])
def buckets(request: pytest.FixtureRequest) -> int:
    return request.param


def _parse(path: Path, buckets: int) -> tuple[pl.DataFrame, ReportTotals]:
    """The report's users (read back from the parse's files) and its totals."""
    folder = path.parent / f"parsed-{buckets}"
    folder.mkdir()
    parsed = parse_report(path, DAY, APP, folder, buckets=buckets)
    users = (
        pl.read_parquet(parsed.user_files)
        if parsed.user_files
        else pl.DataFrame(schema=USERS_SCHEMA)
    )
    return users, parsed.totals


def _write(tmp_path: Path, *lines: str, header: str = HEADER, end: str = "\r\n") -> Path:
    path = tmp_path / "report.csv"
    path.write_text(end.join([header, *lines]) + end, encoding="utf-8", newline="")
    return path


def _row(
    user_id: str = "bob",
    ad_id: str = "",
    idfv: str = "",
    impressions: str = "3",
    revenue: str = "0.012",
    date: str = "2026-11-20",
    network: str = "AdMob",
) -> str:
    return f"{date},{APP},{network},1,1,{ad_id},{idfv},{user_id},i,1,banner,{impressions},{revenue}"


SHAPES = {
    "documented": ReportShape(),
    "with-date-app": ReportShape(date_app_columns=True),
    "non-fairbid": ReportShape(fairbid_columns=False),
    "bom-lf-aliased": ReportShape(
        bom=True, line_ending="\n", renamed=(("Revenue", "Revenue (USD)"), ("IDFV", "Vendor ID"))
    ),
}


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_matches_ground_truth_exactly(tmp_path: Path, buckets: int, shape: ReportShape) -> None:
    path = tmp_path / "big.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        truth = generate(handle, DAY, APP, rows=20_000, shape=shape)
    users_frame, parsed = _parse(path, buckets)
    users = {row["user_key"]: row for row in users_frame.iter_rows(named=True)}
    assert len(users) == len(truth.users)
    for (kind, key), totals in truth.users.items():
        row = users[key]
        assert row["user_key_type"] == kind
        assert row["impressions"] == totals.impressions
        assert row["revenue_usd"] == pytest.approx(totals.revenue_usd, abs=1e-9)
    assert parsed.raw_rows == truth.rows
    assert parsed.raw_impressions == truth.total.impressions
    assert parsed.raw_revenue_usd == pytest.approx(truth.total.revenue_usd, abs=1e-6)
    assert parsed.unattributed_impressions == truth.unattributed.impressions
    assert parsed.unattributed_revenue_usd == pytest.approx(
        truth.unattributed.revenue_usd, abs=1e-9
    )
    assert parsed.masked_rows == 1
    kinds = set(users_frame["user_key_type"])
    assert kinds == (
        {"user_id", "advertising_id", "idfv"} if shape.fairbid_columns else {"advertising_id"}
    )


def test_without_date_and_app_columns_the_file_is_the_partitions(
    tmp_path: Path, buckets: int
) -> None:
    header = HEADER.removeprefix("Date,App ID,")
    path = _write(tmp_path, _row().split(",", 2)[2], header=header)
    [row] = _parse(path, buckets)[0].iter_rows(named=True)
    assert (row["report_date"], row["app_id"], row["user_key"]) == (DAY, APP, "bob")


def test_app_id_column_must_agree_with_the_partition(tmp_path: Path, buckets: int) -> None:
    path = _write(tmp_path, _row(), _row().replace(f",{APP},", ",999,"))
    with pytest.raises(
        BadReportError, match=r"line 3, column 'App ID': '999' is not the partition"
    ):
        _parse(path, buckets)


def test_only_some_documented_columns_loads(tmp_path: Path, buckets: int) -> None:
    """Drift: only an identifier and the metrics; networks and placements come out empty."""
    path = _write(tmp_path, "GAID-1,2,0.25", header="Advertising ID,Impressions,Revenue")
    [row] = _parse(path, buckets)[0].iter_rows(named=True)
    assert (row["user_key"], row["user_key_type"], row["revenue_usd"]) == (
        "GAID-1",
        "advertising_id",
        0.25,
    )
    assert (row["ad_networks"], row["placement_types"]) == ([], [])


def test_normalisation_and_identity(tmp_path: Path, buckets: int) -> None:
    path = _write(
        tmp_path,
        _row(user_id="  alice@example.com  ", ad_id="AAAA-1", revenue="0.5"),
        _row(user_id="alice@example.com", ad_id="AAAA-2", revenue="0.25", network="Vungle"),
        _row(user_id="", ad_id=ZERO_AD_ID, idfv="IDFV-1", impressions="2", revenue="1e-05"),
        _row(user_id="", ad_id="GAID-9", idfv="IDFV-2", revenue="0"),
        _row(user_id="", ad_id=ZERO_AD_ID, idfv="", impressions="5", revenue="0.1"),
        _row(user_id="", ad_id=MASKED.upper(), impressions="100", revenue="2.5"),
    )
    users, parsed = _parse(path, buckets)
    rows = {row["user_key"]: row for row in users.iter_rows(named=True)}
    assert set(rows) == {"alice@example.com", "IDFV-1", "GAID-9"}
    alice = rows["alice@example.com"]
    assert (alice["user_key_type"], alice["impressions"], alice["revenue_usd"]) == (
        "user_id",
        6,
        0.75,
    )
    assert alice["advertising_id"] == "AAAA-1"
    assert alice["ad_networks"] == ["AdMob", "Vungle"]
    assert alice["placement_types"] == ["banner"]
    assert rows["IDFV-1"]["user_key_type"] == "idfv"
    assert rows["IDFV-1"]["advertising_id"] is None  # the all-zero LAT ID is not an ID
    assert rows["GAID-9"]["user_key_type"] == "advertising_id"
    assert (parsed.unattributed_rows, parsed.masked_rows) == (2, 1)
    assert parsed.unattributed_impressions == 105
    assert parsed.unattributed_revenue_usd == pytest.approx(2.6)


def test_aliases_and_column_order(tmp_path: Path, buckets: int) -> None:
    header = (
        "revenue (usd),User Id,IMPRESSIONS,Placement Type,IDFV,Advertising ID,Date,App ID,"
        "Ad Network Name"
    )
    path = _write(tmp_path, f"0.5,carol,4,Rewarded,,,2026-11-20,{APP},DT Exchange", header=header)
    [row] = _parse(path, buckets)[0].iter_rows(named=True)
    assert (row["user_key"], row["impressions"], row["revenue_usd"]) == ("carol", 4, 0.5)
    assert row["placement_types"] == ["rewarded"]


def test_header_only_gives_no_users(tmp_path: Path, buckets: int) -> None:
    users, parsed = _parse(_write(tmp_path), buckets)
    assert users.height == parsed.users == parsed.raw_rows == 0


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ([_row(), _row(revenue="abc")], r"line 3, column 'Revenue': 'abc' is not a number"),
        ([_row(impressions="-2")], r"line 2, column 'Impressions': '-2' is not a whole number"),
        ([_row(), _row(), _row(date="2026-11-19")], r"line 4, column 'Date': '2026-11-19'"),
        ([_row(revenue="")], r"line 2, column 'Revenue': an empty value is not a number"),
    ],
)
def test_bad_values_name_line_and_column(
    tmp_path: Path, buckets: int, lines: list[str], expected: str
) -> None:
    with pytest.raises(BadReportError, match=expected):
        _parse(_write(tmp_path, *lines), buckets)


def test_missing_required_column(tmp_path: Path, buckets: int) -> None:
    path = _write(tmp_path, "x", header=HEADER.replace(",Impressions", ""))
    with pytest.raises(BadReportError, match=r"missing required columns \['Impressions'\]"):
        _parse(path, buckets)


def test_invalid_utf8(tmp_path: Path, buckets: int) -> None:
    path = _write(tmp_path, _row(), _row(user_id="caf\u00e9"))
    path.write_bytes(path.read_bytes().replace("\u00e9".encode(), b"\xe9"))
    with pytest.raises(BadReportError, match=r"line 3: invalid UTF-8 \(byte 0xe9"):
        _parse(path, buckets)


def test_truncated_last_line(tmp_path: Path, buckets: int) -> None:
    path = _write(tmp_path, _row(), _row())
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(BadReportError, match=r"line 3: the last line is truncated"):
        _parse(path, buckets)


def test_last_line_without_newline_but_complete_is_fine(tmp_path: Path, buckets: int) -> None:
    path = _write(tmp_path, _row(), end="\n")
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    assert _parse(path, buckets)[0].height == 1


def test_lines_without_any_value_are_not_rows(tmp_path: Path, buckets: int) -> None:
    """Blank lines and comma-only lines carry nothing: neither we nor DuckDB count them."""
    path = _write(tmp_path, _row(), "", "," * 12, _row(user_id="carol"), "")
    users, parsed = _parse(path, buckets)
    assert (parsed.raw_rows, users.height, parsed.users) == (2, 2, 2)
    totals = raw_totals(path)
    assert (totals.rows, totals.impressions) == (2, 6)
    assert totals.revenue_usd == pytest.approx(0.024)


def test_bigger_reports_and_smaller_budgets_take_more_buckets() -> None:
    def buckets(size: int, memory_mb: float) -> int:
        return load_plan(size, memory_mb).buckets

    assert buckets(10_000_000, 1024) == 1  # ~80k rows: one pass, as before buckets
    five_million = 605_000_000
    assert 1 < buckets(five_million, 1024) < buckets(five_million, 700)
    assert buckets(4 * five_million, 1024) > 3 * buckets(five_million, 1024)


def test_the_plan_gives_duckdb_half_the_budget_and_takes_buckets_when_asked() -> None:
    assert load_plan(10_000_000, 1024) == LoadPlan(buckets=1, duckdb_memory_mb=512)
    assert load_plan(10_000_000, 1024, buckets=3) == LoadPlan(buckets=3, duckdb_memory_mb=512)


def test_the_same_report_gives_the_same_totals_to_the_last_digit(tmp_path: Path) -> None:
    """However it is cut (buckets) and whatever order its rows come in: a reload of an unchanged
    file must never look like a restatement."""
    path = tmp_path / "big.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        generate(handle, DAY, APP, rows=20_000)
    header, *lines = path.read_text(encoding="utf-8").splitlines()
    shuffled = tmp_path / "shuffled" / "big.csv"
    shuffled.parent.mkdir()
    shuffled.write_text("\n".join([header, *reversed(lines)]) + "\n", encoding="utf-8")
    runs = [_parse(path, 1), _parse(path, 7), _parse(shuffled, 3)]
    for _, totals in runs:
        assert totals.raw_revenue_usd == runs[0][1].raw_revenue_usd  # exactly
        assert totals.users_revenue_usd == runs[0][1].users_revenue_usd
        assert totals.unattributed_revenue_usd == runs[0][1].unattributed_revenue_usd
    by_user = [dict(users.select("user_key", "revenue_usd").iter_rows()) for users, _ in runs]
    assert by_user[0] == by_user[1] == by_user[2]
