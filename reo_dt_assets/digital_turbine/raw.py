"""The raw layer's file layout: the CSV exactly as DT served it, one file per (date, app)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from reo_dt_assets.catalog import validate_app_id


def raw_report_path(data_dir: Path, date: dt.date, app_id: str) -> Path:
    """``<data dir>/raw/digital_turbine/user_level/date=YYYY-MM-DD/app_id=<id>.csv``."""
    validate_app_id(app_id)
    return (
        data_dir
        / "raw"
        / "digital_turbine"
        / "user_level"
        / f"date={date.isoformat()}"
        / f"app_id={app_id}.csv"
    )


def count_data_rows(path: Path) -> int:
    """Lines after the header (a final line without a newline counts; blank lines do not)."""
    rows = -1
    last = b"\n"
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 22):
            rows += chunk.count(b"\n")
            last = chunk[-1:]
    if last != b"\n":
        rows += 1
    return max(rows, 0)
