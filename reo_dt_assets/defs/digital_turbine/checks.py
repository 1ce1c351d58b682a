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
    """The header has every required dimension and metric; unknown extra columns only warn."""
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
        "missing_required": ", ".join(match.missing_required),
        "missing_optional": ", ".join(match.missing_optional),
        "unexpected": ", ".join(match.unexpected),
        "data_rows": count_data_rows(path),
    }
    if not match.ok:
        return dg.AssetCheckResult(passed=False, description=match.problem(), metadata=metadata)
    description = "All required columns present."
    if match.unexpected or match.missing_optional:
        description = (
            f"Schema drift: unexpected columns {list(match.unexpected)}, "
            f"optional columns absent {list(match.missing_optional)}. They are ignored."
        )
        log.warning(f"{path}: {description}")
    return dg.AssetCheckResult(passed=True, description=description, metadata=metadata)
