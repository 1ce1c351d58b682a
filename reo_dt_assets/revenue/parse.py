"""Raw DT report -> one row per user: typed, validated and aggregated in one streaming pass, or,
for a report too big for the memory budget, bucket by bucket of users (``load_plan``).

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
import math
from collections.abc import Collection
from dataclasses import dataclass, field, fields
from pathlib import Path

import polars as pl

from reo_dt_assets.digital_turbine.columns import (
    COLUMNS_BY_NAME,
    MASKED_AGGREGATE_MARKER,
    match_header,
    read_header,
)
from reo_dt_assets.disk import is_disk_full

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


#: ``user_revenue``'s columns but ``loaded_at``, as the user files hold them.
USERS_SCHEMA = {
    "report_date": pl.Date,
    "app_id": pl.String,
    "user_key": pl.String,
    "user_key_type": pl.String,
    "user_id": pl.String,
    "advertising_id": pl.String,
    "idfv": pl.String,
    "impressions": pl.Int64,
    "revenue_usd": pl.Float64,
    "ad_networks": pl.List(pl.String),
    "placement_types": pl.List(pl.String),
    "source_rows": pl.Int64,
    "ad_network_revenue_usd": pl.List(pl.Float64),
    "placement_type_revenue_usd": pl.List(pl.Float64),
}
#: The revenue splits (a list of each user's revenue per value, aligned with the sorted list of
#: values: ``ad_networks``, ``placement_types``): the column numbering the values, and whether
#: the values are lower-cased as in the list.
SPLITS = {
    "ad_network_revenue_usd": ("network_code", False),
    "placement_type_revenue_usd": ("placement_code", True),
}
TOP_USERS = 10
#: Revenue is summed in whole pico-dollars (each row's value rounded to 1e-12 USD, then exact
#: integer sums): a float sum's last digit depends on the order of its terms, which varies
#: between loads, and the same report must give the same totals every time it is loaded.
PICO_USD = 10**12
TOP_USER_COLUMNS = ("user_key", "user_key_type", "impressions", "revenue_usd")
#: Rows each bucket's writer holds before writing them out, in the bucketing pass.
ROWS_PER_BUFFER = 10_000
#: Measured on this stack (``bench/user_revenue.py``): a pass over a report takes about
#: ``BASE_MB`` whatever its size, and aggregating a bucket about ``STATE_PER_CSV_BYTE`` times
#: the bucket's share of the CSV (the group-by state of its users, by ad network and placement
#: since the revenue is split by them: 3.3 at 1.5M rows in one bucket), with some margin.
BASE_MB = 300
STATE_PER_CSV_BYTE = 5.0


@dataclass(frozen=True, eq=False)
class ReportTotals:
    """What a report, or a bucket of it, holds in all: its users, and the rows tied to no user.

    Totals of buckets add up (``+``) to the report's; users + unattributed = the raw report.
    """

    users: int = 0
    users_impressions: int = 0
    users_revenue_pusd: int = 0  # pico-dollars (PICO_USD), exact
    raw_rows: int = 0
    raw_impressions: int = 0
    raw_revenue_pusd: int = 0
    unattributed_rows: int = 0
    masked_rows: int = 0
    unattributed_impressions: int = 0
    unattributed_revenue_pusd: int = 0
    top_users: pl.DataFrame = field(  # TOP_USER_COLUMNS of the biggest users by revenue
        default_factory=lambda: pl.DataFrame(
            schema={name: USERS_SCHEMA[name] for name in TOP_USER_COLUMNS}
        )
    )

    @property
    def users_revenue_usd(self) -> float:
        return self.users_revenue_pusd / PICO_USD

    @property
    def raw_revenue_usd(self) -> float:
        return self.raw_revenue_pusd / PICO_USD

    @property
    def unattributed_revenue_usd(self) -> float:
        return self.unattributed_revenue_pusd / PICO_USD

    def __add__(self, other: ReportTotals) -> ReportTotals:
        sums = {
            f.name: getattr(self, f.name) + getattr(other, f.name)
            for f in fields(self)
            if f.name != "top_users"
        }
        top = pl.concat([self.top_users, other.top_users]).top_k(TOP_USERS, by="revenue_usd")
        return ReportTotals(**sums, top_users=top)


@dataclass(frozen=True, eq=False)
class ParsedReport:
    """A report aggregated to one row per user: Parquet files (``USERS_SCHEMA``), one per
    bucket with users, and the report's totals."""

    user_files: list[Path]
    totals: ReportTotals


def _text(name: str) -> pl.Expr:
    value = pl.col(name).str.strip_chars()
    return pl.when(value == "").then(None).otherwise(value)


def _code(name: str, categories: pl.Categories) -> pl.Expr:
    """The number of a value of a low-cardinality column (ad network, placement); null if empty."""
    return pl.col(name).cast(pl.Categorical(categories)).to_physical().cast(pl.UInt64)


def _bit(name: str, categories: pl.Categories) -> pl.Expr:
    """A one-bit mask per distinct value of a low-cardinality column (ad network, placement)."""
    return pl.lit(2, dtype=pl.UInt64).pow(_code(name, categories)).fill_null(0)  # empty: no bit


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
    values = _values(categories, normalise=normalise)
    if len(values) > 64:
        raise BadReportError(
            f"more than 64 distinct values in '{column}': the report does not look like DT's"
        )
    distinct = masks.unique().to_list()
    decoded = [
        sorted({v for bit, v in enumerate(values) if v and (mask or 0) >> bit & 1})
        for mask in distinct
    ]
    return pl.DataFrame(
        {masks.name: distinct, column: decoded},
        schema={masks.name: pl.UInt64, column: pl.List(pl.String)},
    )


def parse_report(
    path: Path, date: dt.date, app_id: str, folder: Path, *, buckets: int = 1
) -> ParsedReport:
    """Aggregate the raw report at ``path`` (for ``date``, ``app_id``) to one row per user,
    written to Parquet files in ``folder`` (which the caller removes).

    One bucket: a single streaming pass groups rows by their raw identifiers (typing and checking
    every value on the way), then normalising identifiers and choosing the user key works on
    those far fewer groups. More buckets bound memory: a first streaming pass writes each row to
    the bucket of its user key (a hash of it), and each bucket is then aggregated the same way,
    one at a time, so memory holds one bucket's users, never the report's.
    """
    header = read_header(path)
    if header is None:
        raise BadReportError(f"{path} is empty (not even a header): re-materialize the raw report")
    match = match_header(header)
    if not match.ok:
        raise BadReportError(f"{path}: {match.problem()}")
    _refuse_truncated_last_line(path, len(header))
    typed = _typed_rows(_scan(path, match.positions, len(header)), date, app_id, match.positions)
    categories = _Categories(networks=pl.Categories.random(), placements=pl.Categories.random())
    rows = _rows(typed, categories)
    try:
        sources = _buckets(rows, buckets, folder / "rows") if buckets > 1 else [rows]
        totals, user_files = ReportTotals(), []
        for number, source in enumerate(sources):
            groups = _by_identifiers(source)
            if groups["first_bad_line"].null_count() < groups.height:
                raise BadReportError(_describe_bad_rows(typed, path))
            per_user = _per_user(groups, categories, normalised=buckets > 1)
            users = _finish(
                per_user.filter(pl.col("user_key").is_not_null()), date, app_id, categories
            )
            totals += _totals(groups, per_user, users)
            if users.height:
                user_files.append(folder / f"users-{number}.parquet")
                users.write_parquet(user_files[-1], compression="uncompressed", statistics=False)
    except pl.exceptions.PolarsError as exc:
        if is_disk_full(exc, folder):  # the scratch folder filled up: not the report's fault
            raise
        raise _unreadable(path, exc) from None
    return ParsedReport(user_files=user_files, totals=totals)


@dataclass(frozen=True)
class LoadPlan:
    """How one load of a report stays within its memory budget."""

    buckets: int  # the parse's buckets of users (1: one streaming pass)
    duckdb_memory_mb: float  # DuckDB's memory_limit for the write


def load_plan(size_bytes: int, memory_mb: float, *, buckets: int = 0) -> LoadPlan:
    """The plan of a load of a ``size_bytes`` report within ``memory_mb``: as many buckets as
    keep the parse within it (or ``buckets``, when given, so a small file can be loaded in
    several), and half of it for DuckDB, which writes after the parse is done."""
    room = max(memory_mb - BASE_MB, 64) * 2**20
    needed = max(1, math.ceil(size_bytes * STATE_PER_CSV_BYTE / room))
    return LoadPlan(buckets=buckets or needed, duckdb_memory_mb=memory_mb / 2)


def _buckets(rows: pl.LazyFrame, buckets: int, folder: Path) -> list[pl.LazyFrame]:
    """Write every row to the bucket of its user key (all rows of a user to the same one)."""
    _bucketed(rows, buckets).sink_parquet(
        pl.PartitionBy(folder, key="bucket", include_key=False),
        compression="uncompressed",
        statistics=False,
        row_group_size=ROWS_PER_BUFFER,  # what each bucket's writer holds in memory
        mkdir=True,
        engine="streaming",
    )
    return [pl.scan_parquet(bucket / "*.parquet") for bucket in sorted(folder.glob("bucket=*"))]


@dataclass(frozen=True)
class _Categories:
    """The distinct ad networks and placement types, numbered the same in every bucket."""

    networks: pl.Categories
    placements: pl.Categories


def _rows(typed: pl.LazyFrame, categories: _Categories) -> pl.LazyFrame:
    """One row per report row with what the aggregation needs (networks and placements as bits)."""
    return typed.select(
        *KEY_TYPES,
        impressions="impressions_n",
        revenue_pusd=pl.when(pl.col("revenue_usd").is_finite())
        .then((pl.col("revenue_usd") * PICO_USD).round())
        .cast(pl.Int128),
        bad_line=pl.when("bad").then("line"),
        network_bits=_bit("ad_network", categories.networks),
        placement_bits=_bit("placement_type", categories.placements),
        network_code=_code("ad_network", categories.networks),
        placement_code=_code("placement_type", categories.placements),
    )


def _bucketed(rows: pl.LazyFrame, buckets: int) -> pl.LazyFrame:
    """``rows`` with identifiers normalised, and the bucket of the user key they give: every row
    of a user lands in the same bucket.

    The masked aggregate row is recognised later, per group: its rows land in some bucket and
    are unattributed there like everywhere else.
    """
    return _normalised(rows).with_columns(
        bucket=(pl.coalesce(*KEY_TYPES).hash(seed=0) % buckets).cast(pl.UInt32)
    )


def _by_identifiers(rows: pl.LazyFrame) -> pl.DataFrame:
    """Rows grouped by their three identifiers as they are, ad network and placement: fewer
    groups than rows, and enough to split each user's revenue by network and by placement."""
    return (
        rows.group_by(*KEY_TYPES, "network_code", "placement_code")
        .agg(
            pl.col("impressions", "revenue_pusd").sum(),
            source_rows=pl.len(),
            first_bad_line=pl.col("bad_line").min(),
            network_bits=pl.col("network_bits").bitwise_or(),
            placement_bits=pl.col("placement_bits").bitwise_or(),
        )
        .collect(engine="streaming")
    )


def _split_values(categories: _Categories) -> dict[str, list[pl.Expr]]:
    """Per split column, one column per distinct (trimmed, non-empty) value, in sorted order:
    a group's revenue where its rows name that value, null where they do not."""
    columns = {}
    for column, (code, normalise) in SPLITS.items():
        found = categories.networks if code == "network_code" else categories.placements
        values = _values(found, normalise=normalise)
        columns[column] = [
            pl.when(pl.col(code).is_in([c for c, value in enumerate(values) if value == name]))
            .then(pl.col("revenue_pusd"))
            .alias(f"{column}_{n}")
            for n, name in enumerate(sorted({value for value in values if value}))
        ]
    return columns


def _per_user(groups: pl.DataFrame, categories: _Categories, *, normalised: bool) -> pl.DataFrame:
    """One row per user key, with its revenue split by network and placement (one figure per
    value its rows name, in the order of the sorted list ``_decode_bits`` gives); the null key
    gathers the unattributed groups. ``normalised``: the identifiers already are (the
    bucketing pass did it, row by row)."""
    splits = _split_values(categories)
    names = [e.meta.output_name() for exprs in splits.values() for e in exprs]
    lists = {
        column: pl.concat_list(
            pl.when(pl.col(f"{e.meta.output_name()}_rows") > 0).then(
                pl.col(e.meta.output_name()).cast(pl.Float64) / PICO_USD
            )
            for e in exprs
        ).list.drop_nulls()
        if exprs
        else pl.lit([], dtype=pl.List(pl.Float64))
        for column, exprs in splits.items()
    }
    by_identifiers = (  # the groups of each network and placement summed per identifiers first:
        # choosing the user key works on far fewer rows
        groups.lazy()
        .with_columns(*(e for exprs in splits.values() for e in exprs))
        .group_by(*KEY_TYPES)
        .agg(
            *(pl.col(name).sum() for name in names),
            *(pl.col(name).count().alias(f"{name}_rows") for name in names),
            pl.col("impressions", "revenue_pusd", "source_rows").sum(),
            network_bits=pl.col("network_bits").bitwise_or(),
            placement_bits=pl.col("placement_bits").bitwise_or(),
        )
    )
    keyed = _identified(by_identifiers if normalised else _normalised(by_identifiers))
    return (
        keyed.group_by("user_key")
        .agg(
            *(pl.col(name, f"{name}_rows").sum() for name in names),
            key_rank=pl.col("key_rank").min(),
            user_id=pl.col("user_id").min(),
            advertising_id=pl.col("advertising_id").min(),
            idfv=pl.col("idfv").min(),
            impressions=pl.col("impressions").sum(),
            revenue_pusd=pl.col("revenue_pusd").sum(),
            network_bits=pl.col("network_bits").bitwise_or(),
            placement_bits=pl.col("placement_bits").bitwise_or(),
            source_rows=pl.col("source_rows").sum().cast(pl.Int64),
            masked_rows=pl.col("source_rows").filter(pl.col("masked")).sum().cast(pl.Int64),
        )
        .with_columns(**lists)
        .drop(*names, *(f"{name}_rows" for name in names))
        .collect()
    )


def _totals(groups: pl.DataFrame, per_user: pl.DataFrame, users: pl.DataFrame) -> ReportTotals:
    unattributed = per_user.filter(pl.col("user_key").is_null())
    return ReportTotals(
        users=users.height,
        users_impressions=int(users["impressions"].sum()),
        users_revenue_pusd=int(
            per_user.filter(pl.col("user_key").is_not_null())["revenue_pusd"].sum()
        ),
        raw_rows=int(groups["source_rows"].sum()),
        raw_impressions=int(groups["impressions"].sum()),
        raw_revenue_pusd=int(groups["revenue_pusd"].sum()),
        unattributed_rows=int(unattributed["source_rows"].sum()),
        masked_rows=int(per_user["masked_rows"].sum()),
        unattributed_impressions=int(unattributed["impressions"].sum()),
        unattributed_revenue_pusd=int(unattributed["revenue_pusd"].sum()),
        top_users=users.top_k(TOP_USERS, by="revenue_usd").select(TOP_USER_COLUMNS),
    )


def _normalised(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Identifiers trimmed, empty ones null, and the all-zero advertising ID null."""
    ids = {name: _text(name) for name in KEY_TYPES}
    ad_id = ids["advertising_id"]
    ids["advertising_id"] = pl.when(ad_id != ZERO_ADVERTISING_ID).then(ad_id)
    return frame.with_columns(**ids)


def _identified(groups: pl.LazyFrame) -> pl.LazyFrame:
    """The masked aggregate row recognised (its identifiers nulled), the user key chosen."""
    masked = pl.any_horizontal(
        pl.col(name).str.contains(MASKED_PATTERN) for name in KEY_TYPES
    ).fill_null(False)
    return (
        groups.with_columns(masked=masked)
        .with_columns(pl.when(~pl.col("masked")).then(pl.col(*KEY_TYPES)).name.keep())
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


def _values(categories: pl.Categories, *, normalise: bool) -> list[str]:
    """The values a column's numbers stand for, trimmed (and lower-cased: ``normalise``)."""
    names = categories.to_series().to_list()
    return [name.strip().lower() if normalise else name.strip() for name in names]


def _finish(
    users: pl.DataFrame, date: dt.date, app_id: str, categories: _Categories
) -> pl.DataFrame:
    """A bucket's users with ``user_revenue``'s columns but ``loaded_at``."""
    networks = _decode_bits(
        users["network_bits"], categories.networks, "ad_networks", normalise=False
    )
    placements = _decode_bits(
        users["placement_bits"], categories.placements, "placement_types", normalise=True
    )
    return (
        users.join(networks, on="network_bits", how="left")
        .join(placements, on="placement_bits", how="left")
        .with_columns(
            report_date=pl.lit(date, dtype=pl.Date),
            app_id=pl.lit(app_id),
            revenue_usd=pl.col("revenue_pusd").cast(pl.Float64) / PICO_USD,
            user_key_type=pl.col("key_rank").replace_strict(
                list(range(len(KEY_TYPES))), list(KEY_TYPES), return_dtype=pl.String
            ),
        )
        .select(*USERS_SCHEMA)
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
