"""Blocking check that the raw report carries the columns of the one column contract."""

from pathlib import Path

import dagster as dg

from reo_dt_assets.defs.digital_turbine.assets import dt_user_level_report
from reo_dt_assets.defs.partitions import report_of, report_partitions
from reo_dt_assets.defs.resources import StorageResource
from reo_dt_assets.defs.verdicts import check_result
from reo_dt_assets.digital_turbine.raw import raw_report_path
from reo_dt_assets.digital_turbine.verdicts import report_columns_verdict


@dg.asset_check(asset=dt_user_level_report, blocking=True, partitions_def=report_partitions)
def dt_user_level_report_columns(
    context: dg.AssetCheckExecutionContext, storage: StorageResource
) -> dg.AssetCheckResult:
    """The header has both metrics and an identifier column; drift from the document warns
    (WARN severity, which blocks nothing, and a WARNING line in the run's log)."""
    date, app_id = report_of(context.partition_key)
    path = raw_report_path(Path(storage.data_dir), date, app_id)
    return check_result(report_columns_verdict(path), context.partition_key, context.log)
