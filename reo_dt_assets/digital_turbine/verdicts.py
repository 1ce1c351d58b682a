"""The raw report's column check: does the file's header meet the column contract?"""

from __future__ import annotations

from pathlib import Path

from reo_dt_assets.digital_turbine.columns import match_header, read_header
from reo_dt_assets.digital_turbine.raw import count_data_rows
from reo_dt_assets.verdict import CheckVerdict

CHECK = "dt_user_level_report_columns"


def report_columns_verdict(path: Path) -> CheckVerdict:
    """Both metrics and an identifier column present, else an error; drift from the document
    (documented columns absent, unknown ones present) is a warning: the file still loads."""
    if not path.exists():
        return CheckVerdict(CHECK, False, f"{path} does not exist: materialize the partition.")
    header = read_header(path)
    if header is None:
        return CheckVerdict(
            CHECK, False, f"{path} is empty: DT sent no header. Re-materialize the partition."
        )
    match = match_header(header)
    metadata = {
        "header": ", ".join(header),
        "missing_required": ", ".join(match.missing_required) or "none",
        "missing_documented": ", ".join(match.missing_expected) or "none",
        "absent_optional": ", ".join(match.missing_optional) or "none",
        "unexpected": ", ".join(match.unexpected) or "none",
        "data_rows": count_data_rows(path),
    }
    if not match.ok:
        return CheckVerdict(CHECK, False, match.problem(), metadata)
    drift = match.drift()
    if drift:
        return CheckVerdict(
            CHECK, False, f"Schema drift, loaded anyway: {drift}.", metadata, warn_only=True
        )
    return CheckVerdict(CHECK, True, "Every required column present.", metadata)
