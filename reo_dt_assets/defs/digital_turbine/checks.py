"""Blocking check that the raw report carries the columns of the one column contract."""

import logging
from pathlib import Path

import dagster as dg

from reo_dt_assets.defs.digital_turbine.assets import dt_user_level_report
from reo_dt_assets.defs.digital_turbine.partitions import report_of
from reo_dt_assets.defs.resources import StorageResource
from reo_dt_assets.digital_turbine.columns import match_header, read_header
from reo_dt_assets.digital_turbine.raw import count_data_rows, raw_report_path


@dg.asset_check(asset=dt_user_level_report, blocking=True)
def dt_user_level_report_columns(
    context: dg.AssetCheckExecutionContext, storage: StorageResource
) -> dg.AssetCheckResult:
    """The header has both metrics and an identifier column; drift from the document warns."""
    date, app_id = report_of(context.partition_key)
    return report_columns_result(raw_report_path(Path(storage.data_dir), date, app_id), context.log)


def report_columns_result(path: Path, log: logging.Logger) -> dg.AssetCheckResult:
    """The column check's verdict on one raw report file."""
    if not path.exists():
        return dg.AssetCheckResult(
            passed=False, description=f"{path} does not exist: materialize the partition first."
        )
    header = read_header(path)
    if header is None:
        return dg.AssetCheckResult(
            passed=False,
            description=f"{path} is empty: DT sent no header. Re-materialize the partition.",
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
        return dg.AssetCheckResult(passed=False, description=match.problem(), metadata=metadata)
    description = "Every required column present."
    if drift := match.drift():
        description = f"Schema drift, loaded anyway: {drift}."
        log.warning(f"{path}: {description}")
    return dg.AssetCheckResult(passed=True, description=description, metadata=metadata)
