"""The one definition of the User Level report's columns.

Written from the reference document's "Metrics and Dimensions" tables. The raw-file check, the
parser and every later layer look columns up here, by their snake_case ``name``; header cells
are matched by display name, case- and punctuation-insensitively, with known aliases.
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
    required: bool
    aliases: tuple[str, ...] = ()

    def spellings(self) -> set[str]:
        return {normalize_header(self.display), *(normalize_header(a) for a in self.aliases)}


REPORT_COLUMNS: tuple[ReportColumn, ...] = (
    ReportColumn("date", "Date", "dimension", True, ("Day", "Report Date", "Event Date")),
    ReportColumn("app_id", "App ID", "dimension", True, ("Application ID",)),
    ReportColumn("ad_network", "Ad Network Name", "dimension", True, ("Ad Network", "Network")),
    ReportColumn("ad_unit_id", "Ad Unit ID", "dimension", False),
    ReportColumn("container_type_id", "Container Type ID", "dimension", False),
    ReportColumn(
        "advertising_id", "Advertising ID", "dimension", True, ("IDFA/GAID", "GAID/IDFA", "Ad ID")
    ),
    ReportColumn("idfv", "IDFV", "dimension", True, ("Vendor ID",)),
    ReportColumn("user_id", "User ID", "dimension", True, ("Publisher User ID",)),
    ReportColumn("instance_id", "Instance ID", "dimension", False),
    ReportColumn("placement_id", "Placement ID", "dimension", False),
    ReportColumn("placement_type", "Placement Type", "dimension", True),
    ReportColumn("impressions", "Impressions", "metric", True),
    ReportColumn("revenue", "Revenue", "metric", True, ("Revenue (USD)", "Revenue USD")),
)

COLUMNS_BY_NAME = {column.name: column for column in REPORT_COLUMNS}

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
        return (
            "; ".join(parts)
            + f" (unexpected columns: {list(self.unexpected)}). If DT renamed a column, add the"
            " new spelling as an alias in reo_dt_assets/digital_turbine/columns.py"
        )


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
    return HeaderMatch(
        header=tuple(header),
        positions=positions,
        missing_required=tuple(c.display for c in absent if c.required),
        missing_optional=tuple(c.display for c in absent if not c.required),
        unexpected=tuple(unexpected),
        duplicated=tuple(duplicated),
    )


def read_header(path: Path) -> list[str] | None:
    """The CSV header cells of ``path``, or ``None`` when the file is empty."""
    with path.open("rb") as handle:
        first = handle.readline(1 << 20)
    text = first.decode("utf-8-sig", errors="replace").strip("\r\n")
    if not text.strip():
        return None
    return next(csv.reader(io.StringIO(text)))
