"""The raw report asset and its blocking column check, materialized on a partition."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from reo_dt_assets.components.results import NOT_RETRYABLE
from reo_dt_assets.digital_turbine.raw import raw_report_path
from reo_dt_assets.digital_turbine.verdicts import report_columns_verdict
from reo_dt_assets.sandbox.dt_server import DTSandbox
from reo_dt_assets_tests.chain import dt_user_level_report, dt_user_level_report_columns
from reo_dt_assets_tests.helpers import dt_resources, step_failure

DAY = dt.date(2026, 11, 20)
APP = "148721"
KEY = f"{APP}|{DAY}"
DOC_HEADER = (
    "Date,App ID,Ad Network Name,Ad Unit ID,Container Type ID,Advertising ID,IDFV,User ID,"
    "Instance ID,Placement ID,Placement Type,Impressions,Revenue"
)


def _materialize(
    sandbox: DTSandbox,
    data_dir: Path,
    instance: dg.DagsterInstance | None = None,
    **overrides: object,
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [dt_user_level_report, dt_user_level_report_columns],
        partition_key=KEY,
        resources=dt_resources(sandbox.url, data_dir, **overrides),
        instance=instance,
        raise_on_error=False,
    )


def _check(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    [evaluation] = result.get_asset_check_evaluations()
    return evaluation


def test_materializes_partition_with_metadata(dt_sandbox: DTSandbox, tmp_path: Path) -> None:
    result = _materialize(dt_sandbox, tmp_path)
    assert result.success
    path = tmp_path / "raw/digital_turbine/user_level/date=2026-11-20/app_id=148721.csv"
    served = dt_sandbox.report(DAY, APP)[0]
    truth = dt_sandbox.ground_truth(DAY, APP)
    assert path.read_bytes() == served
    [materialization] = result.asset_materializations_for_node("dt_user_level_report")
    meta = {key: value.value for key, value in materialization.metadata.items()}
    assert meta["path"] == str(path.resolve())
    assert meta["bytes"] == len(served)
    assert meta["dagster/row_count"] == truth.rows == 400
    assert str(meta["header"]).startswith("Ad Network Name, Ad Unit ID")  # the documented table
    assert {"sha256", "dt_report_id", "seconds"} <= meta.keys()
    assert "" not in meta.values()  # no blank cells in the UI
    assert _check(result).passed


def test_rerun_replaces_the_file(dt_sandbox: DTSandbox, tmp_path: Path) -> None:
    path = raw_report_path(tmp_path, DAY, APP)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"stale")
    assert _materialize(dt_sandbox, tmp_path).success
    assert path.read_bytes() == dt_sandbox.report(DAY, APP)[0]


def test_failed_fetch_keeps_previous_file(dt_sandbox: DTSandbox, tmp_path: Path) -> None:
    assert _materialize(dt_sandbox, tmp_path).success
    path = raw_report_path(tmp_path, DAY, APP)
    before = path.read_bytes()
    dt_sandbox.faults.error_rate = 1.0
    result = _materialize(dt_sandbox, tmp_path, retry_attempts=2)
    assert not result.success
    step, message = step_failure(result)
    assert step == "dt_user_level_report"
    assert "failed 2 times, last with" in message and "DT may be down" in message
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_drifted_header_warns_in_the_check_and_the_log(
    dt_sandbox: DTSandbox, tmp_path: Path
) -> None:
    header = DOC_HEADER.replace("Revenue", "Revenue (USD)").replace("IDFV,", "") + ",Country"
    dt_sandbox.overrides[(DAY, APP)] = (
        f"{header}\r\n2026-11-20,148721,AdMob,1,1,,bob,i,1,banner,3,0.01,DE\r\n".encode()
    )
    with dg.DagsterInstance.ephemeral() as instance:
        result = _materialize(dt_sandbox, tmp_path, instance=instance)
        warnings = [
            entry.user_message
            for entry in instance.all_logs(result.run_id)
            if entry.level == logging.WARNING
        ]
    assert result.success
    evaluation = _check(result)
    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.WARN
    assert "Schema drift" in (evaluation.description or "")
    assert evaluation.metadata["unexpected"].value == "Country"
    [warning] = [line for line in warnings if "Schema drift" in line]
    assert "['Country']" in warning and KEY in warning
    # IDFV is FairBid-only, so its absence is no drift; a documented column's absence is.
    assert "documented columns absent" not in warning


def test_broken_header_fails_and_blocks(dt_sandbox: DTSandbox, tmp_path: Path) -> None:
    header = DOC_HEADER.replace(",Revenue", ",Revnue")
    dt_sandbox.overrides[(DAY, APP)] = f"{header}\r\n".encode()
    evaluation = _check(_materialize(dt_sandbox, tmp_path))
    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert "missing required columns ['Revenue']" in (evaluation.description or "")
    assert evaluation.metadata["unexpected"].value == "Revnue"
    assert all(spec.blocking for spec in dt_user_level_report_columns.check_specs)


def test_header_only_passes_with_zero_rows(dt_sandbox: DTSandbox, tmp_path: Path) -> None:
    dt_sandbox.overrides[(DAY, APP)] = f"{DOC_HEADER}\r\n".encode()
    result = _materialize(dt_sandbox, tmp_path)
    evaluation = _check(result)
    assert evaluation.passed
    assert evaluation.metadata["data_rows"].value == 0


def test_empty_file_fails_the_check(tmp_path: Path) -> None:
    # The client never stores an empty body (DT's "not ready"), so an empty file was put there
    # by hand: the check's verdict is tested on the file directly.
    empty = tmp_path / "app_id=1.csv"
    empty.write_bytes(b"")
    result = report_columns_verdict(empty)
    assert not result.passed
    assert "is empty" in (result.description or "")
    assert not report_columns_verdict(tmp_path / "absent.csv").passed


@pytest.mark.parametrize("empty", ["unset", "blank"])
def test_missing_credentials_fail_the_run_naming_every_variable(
    dt_sandbox: DTSandbox, tmp_path: Path, empty: str
) -> None:
    resources = dt_resources(dt_sandbox.url, tmp_path)
    for name in ("DT_CLIENT_ID", "DT_CLIENT_SECRET"):
        if empty == "unset":
            del os.environ[name]
        else:
            os.environ[name] = "  "
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [dt_user_level_report],
        partition_key=KEY,
        resources=resources,
        instance=instance,
        raise_on_error=False,
    )
    assert not result.success  # the run starts and fails: it is in the run history
    _, message = step_failure(result)
    assert "Missing credentials: set DT_CLIENT_ID, DT_CLIENT_SECRET" in message
    assert dt_sandbox.stats.token_requests == 0
    run = instance.get_run_by_id(result.run_id)
    assert run is not None and run.tags.items() >= NOT_RETRYABLE.items()  # run retries skip it


def test_run_config_tunes_polling_but_cannot_redirect_the_client(
    dt_sandbox: DTSandbox, tmp_path: Path
) -> None:
    """Run config replaces a resource's whole config: credentials and URL must not be in it."""
    resources = dt_resources(dt_sandbox.url, tmp_path)
    elsewhere = {"resources": {"digital_turbine": {"config": {"base_url": "http://127.0.0.1:9"}}}}
    with pytest.raises(dg.DagsterInvalidConfigError, match="base_url"):
        dg.materialize(
            [dt_user_level_report], partition_key=KEY, resources=resources, run_config=elsewhere
        )
    tuned = {
        "resources": {
            "digital_turbine": {"config": {"poll_initial_seconds": 0.02, "retention_days": 0}}
        }
    }
    result = dg.materialize(
        [dt_user_level_report], partition_key=KEY, resources=resources, run_config=tuned
    )
    assert result.success  # no credential repeated, and the request went to DT_REPORTING_BASE_URL
    assert dt_sandbox.stats.report_requests == 1


def test_report_not_ready_is_handed_back_to_dagster(dt_sandbox: DTSandbox, tmp_path: Path) -> None:
    """A report still not ready after the polling deadline frees its slot and retries later."""
    dt_sandbox.faults.unready_next_reports = 1
    result = _materialize(
        dt_sandbox,
        tmp_path,
        poll_deadline_seconds=0.3,
        not_ready_wait_seconds=0.01,
        not_ready_retries=2,
    )
    assert result.success
    kinds = [e.event_type_value for e in result.all_events if e.step_key == "dt_user_level_report"]
    assert kinds.count("STEP_UP_FOR_RETRY") == 1  # Dagster frees the step's pool slot here
    assert dt_sandbox.stats.report_requests == 2


def test_report_never_ready_fails_after_the_bounded_retries(
    dt_sandbox: DTSandbox, tmp_path: Path
) -> None:
    dt_sandbox.faults.unready_next_reports = 3
    result = _materialize(
        dt_sandbox,
        tmp_path,
        poll_deadline_seconds=0.1,
        not_ready_wait_seconds=0.01,
        not_ready_retries=2,
    )
    assert not result.success
    assert "was not ready after" in step_failure(result)[1]
    assert dt_sandbox.stats.report_requests == 3  # one attempt and two retries
    assert not raw_report_path(tmp_path, DAY, APP).exists()


START_DATE_CHILD = """
import json, sys
from pathlib import Path
import dagster as dg
from reo_dt_assets_tests.chain import dt_user_level_report
from reo_dt_assets_tests.helpers import dt_resources, step_failure
url, data_dir, *keys = sys.argv[1:]
with dg.DagsterInstance.ephemeral() as instance:
    for key in keys:
        result = dg.materialize([dt_user_level_report], partition_key=key, instance=instance,
                                resources=dt_resources(url, Path(data_dir)), raise_on_error=False)
        run = instance.get_run_by_id(result.run_id)
        print(json.dumps({"key": key, "success": result.success, "tags": dict(run.tags),
                          "failure": None if result.success else step_failure(result)[1]}))
"""


def test_partition_before_app_start_date_fails(dt_sandbox: DTSandbox, tmp_path: Path) -> None:
    """An app that starts after the catalog's first day has partitions before its start_date:
    materializing one fails with the catalog's start_date, asking DT for nothing. The catalog is
    read when the code location loads, so a process loads it from a catalog written here."""
    catalog = tmp_path / "apps.toml"
    catalog.write_text(
        'start_date = "2026-10-01"\n[[apps]]\napp_id = "148721"\nproduct_id = "puzzle-quest"\n'
        'activity_type = "AD_REVENUE"\nstart_date = "2026-11-01"\n'
    )
    data = tmp_path / "data"
    before, first = f"{APP}|2026-10-31", f"{APP}|2026-11-01"
    done = subprocess.run(
        [sys.executable, "-c", START_DATE_CHILD, dt_sandbox.url, str(data), before, first],
        env={**os.environ, "REO_DT_APPS_FILE": str(catalog)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    runs = {run["key"]: run for run in map(json.loads, done.stdout.splitlines())}
    refused = runs[before]
    assert not refused["success"]
    assert (
        "App 148721 starts on 2026-11-01 in the app catalog; 2026-10-31 is before it. "
        "Change start_date in the catalog (REO_DT_APPS_FILE) to pull earlier days."
    ) in refused["failure"]
    assert refused["tags"].items() >= NOT_RETRYABLE.items()  # no run retry either
    assert runs[first]["success"]  # the app's first day is pulled, from the same sandbox
    assert (dt_sandbox.stats.token_requests, dt_sandbox.stats.report_requests) == (1, 1)
    assert not raw_report_path(data, dt.date(2026, 10, 31), APP).parent.exists()
