"""The raw Digital Turbine report asset and its column check: the CSV kept byte for byte, one
file per (app, day) partition."""

from pathlib import Path

import dagster as dg

from reo_dt_assets import disk
from reo_dt_assets.components.resources import DigitalTurbineResource, StorageResource
from reo_dt_assets.components.results import check_result, mark_not_retryable
from reo_dt_assets.components.wiring import DT_REPORTING, Wiring, layer
from reo_dt_assets.digital_turbine.budget import BudgetSpentError
from reo_dt_assets.digital_turbine.client import (
    DTCredentialsError,
    DTQueryError,
    DTReportTimeoutError,
)
from reo_dt_assets.digital_turbine.raw import raw_report_path, raw_root
from reo_dt_assets.digital_turbine.verdicts import report_columns_verdict


def build_raw_report(w: Wiring) -> tuple[dg.AssetsDefinition, dg.AssetChecksDefinition]:
    """``dt_user_level_report`` and its blocking column check, for the instance ``w``."""
    dt_key, storage_key = w.name("digital_turbine"), w.name("storage")

    @dg.asset(
        key=w.key("dt_user_level_report"),
        group_name=w.group,
        owners=list(w.owners),
        tags=layer("raw"),
        partitions_def=w.report_partitions,
        kinds={"python", "csv"},
        pool=w.pool(DT_REPORTING),
        code_version="1",
        hooks={mark_not_retryable},
        required_resource_keys={dt_key, storage_key},
    )
    def dt_user_level_report(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        """Digital Turbine's User Level report for one UTC day and one app, exactly as served.

        Grain: one CSV row per (user, ad network, placement, instance) DT reports for the day.
        Source: DT User Level Reporting API (token, report request, polling the pre-signed URL).
        Stored at ``<data dir>/raw/digital_turbine/user_level/date=YYYY-MM-DD/app_id=<id>.csv``;
        a failed fetch leaves the previous file (if any) untouched, and a full disk fails it
        retryable, naming the folder. A report not ready within ``poll_deadline_seconds`` is
        retried later by Dagster, without holding a slot meanwhile.
        """
        digital_turbine: DigitalTurbineResource = getattr(context.resources, dt_key)
        storage: StorageResource = getattr(context.resources, storage_key)
        date, app_id = w.report_of(context.partition_key)
        app = w.catalog.app(app_id)
        if app not in w.catalog.apps_on(date):
            raise dg.Failure(
                f"App {app_id} starts on {w.catalog.first_day(app)} in the app catalog; {date} "
                f"is before it. Change start_date in the catalog ({w.catalog_setting}) to pull "
                "earlier days.",
                allow_retries=False,
            )
        data_dir = Path(storage.data_dir)
        destination = raw_report_path(data_dir, date, app_id)
        full_disk = disk.reported(
            destination.parent,
            f"storing DT's report for app {app_id} on {date} (no partial file was kept, and the "
            "files already there are untouched)",
            "Free space on that volume, e.g. the raw reports of old days under "
            f"{raw_root(data_dir)}",
        )
        try:
            with full_disk, digital_turbine.client(context.log, data_dir) as client:
                report = client.fetch_report(date, app_id, destination)
        except DTReportTimeoutError as error:
            # Waiting is Dagster's job: the step gives its dt_reporting slot back meanwhile.
            context.log.warning(
                f"{error} Retrying in {digital_turbine.not_ready_wait_seconds:.0f}s."
            )
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

    @dg.asset_check(
        asset=dt_user_level_report,
        blocking=True,
        partitions_def=w.report_partitions,
        required_resource_keys={storage_key},
    )
    def dt_user_level_report_columns(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        """The header has both metrics and an identifier column; drift from the document warns
        (WARN severity, which blocks nothing, and a WARNING line in the run's log)."""
        storage: StorageResource = getattr(context.resources, storage_key)
        date, app_id = w.report_of(context.partition_key)
        path = raw_report_path(Path(storage.data_dir), date, app_id)
        return check_result(report_columns_verdict(path), context.partition_key, context.log)

    return dt_user_level_report, dt_user_level_report_columns
