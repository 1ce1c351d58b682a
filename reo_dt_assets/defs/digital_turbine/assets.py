"""The raw Digital Turbine report asset: the CSV kept byte for byte, one file per partition."""

from pathlib import Path

import dagster as dg

from reo_dt_assets import disk
from reo_dt_assets.defs import pools
from reo_dt_assets.defs.catalog import CATALOG
from reo_dt_assets.defs.groups import GROUP, OWNERS, layer
from reo_dt_assets.defs.partitions import report_of, report_partitions
from reo_dt_assets.defs.resources import DigitalTurbineResource, StorageResource
from reo_dt_assets.defs.retries import mark_not_retryable
from reo_dt_assets.digital_turbine.budget import BudgetSpentError
from reo_dt_assets.digital_turbine.client import (
    DTCredentialsError,
    DTQueryError,
    DTReportTimeoutError,
)
from reo_dt_assets.digital_turbine.raw import raw_report_path, raw_root


@dg.asset(
    partitions_def=report_partitions,
    group_name=GROUP,
    owners=OWNERS,
    tags=layer("raw"),
    kinds={"python", "csv"},
    pool=pools.DT_REPORTING,
    code_version="1",
    hooks={mark_not_retryable},
)
def dt_user_level_report(
    context: dg.AssetExecutionContext,
    digital_turbine: DigitalTurbineResource,
    storage: StorageResource,
) -> dg.MaterializeResult:
    """Digital Turbine's User Level report for one UTC day and one app, exactly as served.

    Grain: one CSV row per (user, ad network, placement, instance) DT reports for the day.
    Source: DT User Level Reporting API (token, report request, polling the pre-signed URL).
    Stored at ``<data dir>/raw/digital_turbine/user_level/date=YYYY-MM-DD/app_id=<id>.csv``;
    a failed fetch leaves the previous file (if any) untouched, and a full disk fails it
    retryable, naming the folder. A report not ready within ``poll_deadline_seconds`` is
    retried later by Dagster, without holding a slot meanwhile.
    """
    date, app_id = report_of(context.partition_key)
    app = CATALOG.app(app_id)
    if app not in CATALOG.apps_on(date):
        raise dg.Failure(
            f"App {app_id} starts on {CATALOG.first_day(app)} in the app catalog; {date} is "
            "before it. Change start_date in the catalog (REO_DT_APPS_FILE) to pull earlier days.",
            allow_retries=False,
        )
    data_dir = Path(storage.data_dir)
    destination = raw_report_path(data_dir, date, app_id)
    full_disk = disk.reported(
        destination.parent,
        f"storing DT's report for app {app_id} on {date} (no partial file was kept, and the "
        "files already there are untouched)",
        f"Free space on that volume, e.g. the raw reports of old days under {raw_root(data_dir)}",
    )
    try:
        with full_disk, digital_turbine.client(context.log, data_dir) as client:
            report = client.fetch_report(date, app_id, destination)
    except DTReportTimeoutError as error:
        # Waiting is Dagster's job: the step gives its dt_reporting slot back meanwhile.
        context.log.warning(f"{error} Retrying in {digital_turbine.not_ready_wait_seconds:.0f}s.")
        raise dg.RetryRequested(
            max_retries=digital_turbine.not_ready_retries,
            seconds_to_wait=digital_turbine.not_ready_wait_seconds,
        ) from error
    except (DTCredentialsError, DTQueryError, BudgetSpentError) as error:
        raise dg.Failure(description=str(error), allow_retries=False) from None
    except disk.DiskFullError as error:
        raise dg.Failure(description=str(error), allow_retries=True) from None
    context.log.info(f"Stored {report.rows} rows for app {app_id} on {date} at {destination}")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(destination.resolve())),
            "bytes": report.bytes,
            "sha256": report.sha256,
            "dagster/row_count": report.rows,
            "dt_report_id": report.report_id or "none",
            "header": ", ".join(report.header) or "none",
            "seconds": round(report.seconds, 3),
            "polls": report.polls,
        }
    )
