"""Raw DT report -> one row per user: typed, validated and aggregated in one streaming pass.

Columns are found through the one column contract (``digital_turbine.columns``) by header
position, read as text and typed explicitly, so a bad value is reported with its line and
column instead of being guessed at. A documented column the file does not carry reads as
empty (a non-FairBid report has no User ID or IDFV); ``Date`` and ``App ID`` are checked
against the partition only when present. Normalisation: strings trimmed, empty strings null, the
all-zero advertising ID of limit-ad-tracking devices null. The user is the publisher's User ID,
else the advertising ID, else the IDFV; FairBid's masked aggregate row and rows with no
identifier are "unattributed" and kept as partition totals.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from reo_dt_assets.digital_turbine.columns import (
    COLUMNS_BY_NAME,
    MASKED_AGGREGATE_MARKER,
    match_header,
    read_header,
)

ZERO_ADVERTISING_ID = "00000000-0000-0000-0000-000000000000"
KEY_TYPES = ("user_id", "advertising_id", "idfv")  # in order of preference
MASKED_PATTERN = f"(?i)^{MASKED_AGGREGATE_MARKER}$"  # matched on trimmed values
USED_COLUMNS = (
    "date",
    "app_id",
    "ad_network",
    "advertising_id",
    "idfv",
    "user_id",
    "placement_type",
    "impressions",
    "revenue",
)


class BadReportError(ValueError):
    """The raw report cannot be loaded; the message names the line, the column and the fix."""


@dataclass(frozen=True)
class ParsedReport:
    users: pl.DataFrame  # user_revenue's columns but loaded_at
    raw_rows: int
    raw_impressions: int
    raw_revenue_usd: float
    unattributed_rows: int
    masked_rows: int
    unattributed_impressions: int
    unattributed_revenue_usd: float


def _text(name: str) -> pl.Expr:
    value = pl.col(name).str.strip_chars()
    return pl.when(value == "").then(None).otherwise(value)


def _bit(name: str, categories: pl.Categories) -> pl.Expr:
    """A one-bit mask per distinct value of a low-cardinality column (ad network, placement)."""
    code = pl.col(name).cast(pl.Categorical(categories)).to_physical().cast(pl.UInt64)
    return pl.lit(2, dtype=pl.UInt64).pow(code).fill_null(0)  # an empty cell sets no bit


#: What is wrong with a value of each checked column, as the error message says it.
ROW_PROBLEMS = {
    "date": "is not the partition's date",
    "app_id": "is not the partition's app",
    "impressions": "is not a whole number >= 0",
    "revenue": "is not a number >= 0",
}


def _row_checks(date: dt.date, app_id: str, present: Collection[str]) -> dict[str, pl.Expr]:
    """``bad_<column>`` flags, one per column of ``ROW_PROBLEMS``; absent columns pass."""
    revenue = pl.col("revenue_usd")
    impressions = pl.col("impressions_n")
    return {
        "bad_date": ~pl.col("date").str.starts_with(date.isoformat()).fill_null(False)
        if "date" in present
        else pl.lit(False),
        "bad_app_id": (_text("app_id") != app_id).fill_null(True)
        if "app_id" in present
        else pl.lit(False),
        "bad_impressions": impressions.is_null() | (impressions < 0),
        "bad_revenue": revenue.is_null() | ~revenue.is_finite() | (revenue < 0),
    }


def _typed_rows(
    frame: pl.LazyFrame, date: dt.date, app_id: str, present: Collection[str]
) -> pl.LazyFrame:
    checks = _row_checks(date, app_id, present)
    return (
        frame.with_columns(
            revenue_usd=_text("revenue").cast(pl.Float64, strict=False),
            impressions_n=_text("impressions").cast(pl.Int64, strict=False),
        )
        .with_columns(**checks)
        .with_columns(bad=pl.any_horizontal(*checks))
    )


def _scan(path: Path, positions: dict[str, int], width: int) -> pl.LazyFrame:
    """Every column as text, named by the contract, with the file line of each row.

    A line without a single value (a blank line, or only commas) is not a row.
    """
    names = [f"c{i}" for i in range(width)]
    frame = pl.scan_csv(
        path,
        has_header=False,
        skip_rows=1,
        new_columns=names,
        schema=dict.fromkeys(names, pl.String),
        encoding="utf8",
    )
    rows = frame.with_row_index("line", offset=2).filter(
        pl.any_horizontal(pl.col(names).is_not_null())
    )
    return rows.select(
        "line",
        *(
            pl.col(f"c{positions[name]}").alias(name)
            if name in positions
            else pl.lit(None, dtype=pl.String).alias(name)
            for name in USED_COLUMNS
        ),
    )


def _decode_bits(
    masks: pl.Series, categories: pl.Categories, column: str, *, normalise: bool
) -> pl.DataFrame:
    """Each distinct bit mask -> the sorted list of (trimmed, non-empty) values it stands for."""
    names = categories.to_series().to_list()
    if len(names) > 64:
        raise BadReportError(
            f"more than 64 distinct values in '{column}': the report does not look like DT's"
        )
    values = [name.strip().lower() if normalise else name.strip() for name in names]
    distinct = masks.unique().to_list()
    decoded = [
        sorted({v for bit, v in enumerate(values) if v and (mask or 0) >> bit & 1})
        for mask in distinct
    ]
    return pl.DataFrame(
        {masks.name: distinct, column: decoded},
        schema={masks.name: pl.UInt64, column: pl.List(pl.String)},
    )


def parse_report(path: Path, date: dt.date, app_id: str) -> ParsedReport:
    """Aggregate the raw report at ``path`` (for ``date``, ``app_id``) to one row per user.

    One streaming pass groups rows by their raw identifiers (typing and checking every value
    on the way); normalising identifiers and choosing the user key then works on those far
    fewer groups, in memory.
    """
    header = read_header(path)
    if header is None:
        raise BadReportError(f"{path} is empty (not even a header): re-materialize the raw report")
    match = match_header(header)
    if not match.ok:
        raise BadReportError(f"{path}: {match.problem()}")
    _refuse_truncated_last_line(path, len(header))
    networks, placements = pl.Categories.random(), pl.Categories.random()
    typed = _typed_rows(_scan(path, match.positions, len(header)), date, app_id, match.positions)
    by_identifiers = typed.group_by(*KEY_TYPES).agg(
        impressions=pl.col("impressions_n").sum(),
        revenue_usd=pl.col("revenue_usd").sum(),
        source_rows=pl.len(),
        first_bad_line=pl.col("line").filter(pl.col("bad")).min(),
        network_bits=_bit("ad_network", networks).bitwise_or(),
        placement_bits=_bit("placement_type", placements).bitwise_or(),
    )
    try:
        groups = by_identifiers.collect(engine="streaming")
    except pl.exceptions.PolarsError as exc:
        raise _unreadable(path, exc) from None
    if groups["first_bad_line"].null_count() < groups.height:
        raise BadReportError(_describe_bad_rows(typed, path))

    ids = [_text(name) for name in KEY_TYPES]
    masked = pl.any_horizontal([i.str.contains(MASKED_PATTERN) for i in ids]).fill_null(False)
    identified = (
        groups.lazy()
        .with_columns(
            masked=masked,
            user_id=pl.when(masked).then(None).otherwise(ids[0]),
            advertising_id=pl.when(masked | (ids[1] == ZERO_ADVERTISING_ID))
            .then(None)
            .otherwise(ids[1]),
            idfv=pl.when(masked).then(None).otherwise(ids[2]),
        )
        .with_columns(
            user_key=pl.coalesce(*KEY_TYPES),
            key_rank=pl.when(pl.col("user_id").is_not_null())
            .then(0)
            .when(pl.col("advertising_id").is_not_null())
            .then(1)
            .when(pl.col("idfv").is_not_null())
            .then(2),
        )
    )
    per_user = (
        identified.group_by("user_key")
        .agg(
            key_rank=pl.col("key_rank").min(),
            user_id=pl.col("user_id").min(),
            advertising_id=pl.col("advertising_id").min(),
            idfv=pl.col("idfv").min(),
            impressions=pl.col("impressions").sum(),
            revenue_usd=pl.col("revenue_usd").sum(),
            network_bits=pl.col("network_bits").bitwise_or(),
            placement_bits=pl.col("placement_bits").bitwise_or(),
            source_rows=pl.col("source_rows").sum().cast(pl.Int64),
            masked_rows=pl.col("source_rows").filter(pl.col("masked")).sum().cast(pl.Int64),
        )
        .collect()
    )
    unattributed = per_user.filter(pl.col("user_key").is_null())
    users = per_user.filter(pl.col("user_key").is_not_null())
    users = (
        users.join(
            _decode_bits(users["network_bits"], networks, "ad_networks", normalise=False),
            on="network_bits",
            how="left",
        )
        .join(
            _decode_bits(users["placement_bits"], placements, "placement_types", normalise=True),
            on="placement_bits",
            how="left",
        )
        .with_columns(
            report_date=pl.lit(date, dtype=pl.Date),
            app_id=pl.lit(app_id),
            user_key_type=pl.col("key_rank").replace_strict(
                list(range(len(KEY_TYPES))), list(KEY_TYPES), return_dtype=pl.String
            ),
        )
        .select(
            "report_date",
            "app_id",
            "user_key",
            "user_key_type",
            "user_id",
            "advertising_id",
            "idfv",
            "impressions",
            "revenue_usd",
            "ad_networks",
            "placement_types",
            "source_rows",
        )
    )
    return ParsedReport(
        users=users,
        raw_rows=int(groups["source_rows"].sum()),
        raw_impressions=int(groups["impressions"].sum()),
        raw_revenue_usd=float(groups["revenue_usd"].sum()),
        unattributed_rows=int(unattributed["source_rows"].sum()),
        masked_rows=int(per_user["masked_rows"].sum()),
        unattributed_impressions=int(unattributed["impressions"].sum()),
        unattributed_revenue_usd=float(unattributed["revenue_usd"].sum()),
    )


def _describe_bad_rows(typed: pl.LazyFrame, path: Path, limit: int = 5) -> str:
    """Name the first bad rows: line, column (as DT spells it), the value, what is wrong."""
    bad = typed.filter(pl.col("bad")).sort("line").head(limit).collect()
    problems = [
        f"line {row['line']}, column '{COLUMNS_BY_NAME[column].display}': "
        f"{_shown(row[column])} {problem}"
        for row in bad.iter_rows(named=True)
        for column, problem in ROW_PROBLEMS.items()
        if row[f"bad_{column}"]
    ]
    return (
        f"{path} has bad values, nothing was loaded: "
        + "; ".join(problems)
        + ". Check the raw file; if DT sent it this way, contact DT with the report id."
    )


def _shown(value: str | None) -> str:
    return repr(value) if value else "an empty value"


def _refuse_truncated_last_line(path: Path, width: int) -> None:
    """A file cut mid-line has no final newline and a last line short of fields."""
    with path.open("rb") as handle:
        handle.seek(0, io.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - 65536))
        tail = handle.read()
    if not tail or tail.endswith(b"\n"):
        return
    last = tail.rsplit(b"\n", 1)[-1].decode("utf-8", "replace")
    fields = next(csv.reader([last]), [])
    if len(fields) < width:
        with path.open("rb") as handle:
            line = 1 + sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 22), b""))
        raise BadReportError(
            f"{path}, line {line}: the last line is truncated ({len(fields)} of {width} fields "
            "and no final newline): the download was cut short. Re-materialize the raw report."
        )


def _unreadable(path: Path, exc: Exception) -> BadReportError:
    """Turn a CSV reader error into a message naming the line; invalid UTF-8 is the usual one."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line, offset = 1, 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as error:
                bad_at = error.start
                byte = chunk[bad_at : bad_at + 1].hex()
                line += chunk[:bad_at].count(b"\n")
                return BadReportError(
                    f"{path}, line {line}: invalid UTF-8 (byte 0x{byte} at file "
                    f"offset {offset + bad_at}). DT reports are UTF-8: re-materialize the raw "
                    "report, and contact DT if it comes back the same."
                )
            line += chunk.count(b"\n")
            offset += len(chunk)
    return BadReportError(f"{path} cannot be read as CSV: {exc}")
