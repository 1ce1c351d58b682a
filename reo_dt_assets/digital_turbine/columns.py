"""The one definition of the User Level report's columns, and which of them a load needs.

Written from DT's *User Level Reporting API* document, "User Level Metrics and Dimensions"
(nine dimensions, two metrics) and "Step 2: Reporting API Request" (``Date`` and ``App ID`` are
what a request queries; "the date is included in the report" is the only hint that a ``Date``
column may appear). Every reasonable reading of it loads:

- required: ``Impressions`` and ``Revenue`` (the amounts), and at least one identifier column
  (``User ID``, ``Advertising ID`` or ``IDFV``), without which no revenue can be tied to a user;
- expected: the other documented dimensions, which "always appear in the report"; one that is
  absent is schema drift (a warning), not an error;
- optional: ``User ID`` and ``IDFV`` ("relevant to FairBid customers only") and the queried
  ``Date`` and ``App ID``: absent, the file is the partition's; present, every row must agree.

The raw-file check, the parser and every later layer look columns up here by their snake_case
``name``; header cells are matched by display name, case- and punctuation-insensitively, with
known aliases.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ReportColumn:
    name: str
    display: str
    kind: str  # "dimension" or "metric"
    presence: str  # "required", "expected" or "optional" (see the module docstring)
    aliases: tuple[str, ...] = ()

    def spellings(self) -> set[str]:
        return {normalize_header(self.display), *(normalize_header(a) for a in self.aliases)}


REPORT_COLUMNS: tuple[ReportColumn, ...] = (
    ReportColumn("date", "Date", "dimension", "optional", ("Day", "Report Date", "Event Date")),
    ReportColumn("app_id", "App ID", "dimension", "optional", ("Application ID", "AppID")),
    ReportColumn(
        "ad_network", "Ad Network Name", "dimension", "expected", ("Ad Network", "Network")
    ),
    ReportColumn("ad_unit_id", "Ad Unit ID", "dimension", "expected"),
    ReportColumn("container_type_id", "Container Type ID", "dimension", "expected"),
    ReportColumn(
        "advertising_id",
        "Advertising ID",
        "dimension",
        "expected",
        ("IDFA/GAID", "GAID/IDFA", "Ad ID"),
    ),
    ReportColumn("idfv", "IDFV", "dimension", "optional", ("Vendor ID",)),
    ReportColumn("user_id", "User ID", "dimension", "optional", ("Publisher User ID",)),
    ReportColumn("instance_id", "Instance ID", "dimension", "expected"),
    ReportColumn("placement_id", "Placement ID", "dimension", "expected"),
    ReportColumn("placement_type", "Placement Type", "dimension", "expected"),
    ReportColumn("impressions", "Impressions", "metric", "required"),
    ReportColumn("revenue", "Revenue", "metric", "required", ("Revenue (USD)", "Revenue USD")),
)

COLUMNS_BY_NAME = {column.name: column for column in REPORT_COLUMNS}

#: At least one of these must be present: they are what ties revenue to a user.
IDENTIFIER_COLUMNS = ("user_id", "advertising_id", "idfv")

#: Identifier value DT's FairBid puts on the one row that carries masked, non-attributable revenue.
MASKED_AGGREGATE_MARKER = "aggregated masked user level revenue"


def normalize_header(cell: str) -> str:
    """``"Revenue (USD)"`` -> ``"revenueusd"``; ``"\\ufeffUser Id"`` -> ``"userid"``."""
    return re.sub(r"[^a-z0-9]", "", cell.lower())


_SPELLINGS = {spelling: column for column in REPORT_COLUMNS for spelling in column.spellings()}


@dataclass(frozen=True)
class HeaderMatch:
    """How a report header lines up with the contract."""

    header: tuple[str, ...]
    positions: dict[str, int] = field(default_factory=dict)  # column name -> header index
    missing_required: tuple[str, ...] = ()
    missing_expected: tuple[str, ...] = ()  # documented as always there: schema drift
    missing_optional: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    duplicated: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.missing_required and not self.duplicated

    def problem(self) -> str:
        """A sentence naming what is wrong and what to do; empty when the header is usable."""
        parts = []
        if self.missing_required:
            parts.append(f"missing required columns {list(self.missing_required)}")
        if self.duplicated:
            parts.append(f"columns given twice {list(self.duplicated)}")
        if not parts:
            return ""
        if self.unexpected:
            advice = (
                f" The header also has columns the contract does not know {list(self.unexpected)}:"
                " if DT renamed a column, add the new spelling as an alias in"
                " reo_dt_assets/digital_turbine/columns.py."
            )
        else:
            advice = (
                " The file is not a User Level report as DT documents it: check the raw file and"
                " the app's reporting set-up with DT (quote the report id)."
            )
        return "; ".join(parts) + "." + advice

    def drift(self) -> str:
        """What differs from the documented report but does not stop a load; empty if nothing."""
        notes = []
        if self.missing_expected:
            notes.append(f"documented columns absent {list(self.missing_expected)}")
        if self.unexpected:
            notes.append(f"unknown columns {list(self.unexpected)}")
        return "; ".join(notes)


def match_header(header: Sequence[str]) -> HeaderMatch:
    positions: dict[str, int] = {}
    unexpected: list[str] = []
    duplicated: list[str] = []
    for index, cell in enumerate(header):
        column = _SPELLINGS.get(normalize_header(cell))
        if column is None:
            unexpected.append(cell)
        elif column.name in positions:
            duplicated.append(column.display)
        else:
            positions[column.name] = index
    absent = [column for column in REPORT_COLUMNS if column.name not in positions]
    missing_required = [c.display for c in absent if c.presence == "required"]
    if not any(name in positions for name in IDENTIFIER_COLUMNS):
        identifiers = [COLUMNS_BY_NAME[name].display for name in IDENTIFIER_COLUMNS]
        missing_required.append(f"one of {identifiers}")
    return HeaderMatch(
        header=tuple(header),
        positions=positions,
        missing_required=tuple(missing_required),
        missing_expected=tuple(c.display for c in absent if c.presence == "expected"),
        missing_optional=tuple(c.display for c in absent if c.presence == "optional"),
        unexpected=tuple(unexpected),
        duplicated=tuple(duplicated),
    )


def read_header(path: Path) -> list[str] | None:
    """The CSV header cells of ``path``, or ``None`` when the file is empty."""
    with path.open("rb") as handle:
        return header_cells(handle.readline(1 << 20))


def header_cells(first_line: bytes) -> list[str] | None:
    """The CSV header cells of a file's first line, or ``None`` when it is blank."""
    text = first_line.decode("utf-8-sig", errors="replace").strip("\r\n")
    if not text.strip():
        return None
    return next(csv.reader(io.StringIO(text)))
