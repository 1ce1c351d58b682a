"""The raw report asset and its blocking column check, materialized on a partition."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import dagster as dg
import pytest

from reo_dt_assets.defs.digital_turbine.assets import dt_user_level_report
from reo_dt_assets.defs.digital_turbine.checks import (
    dt_user_level_report_columns,
    report_columns_result,
)
from reo_dt_assets.digital_turbine.raw import raw_report_path
from reo_dt_assets.sandbox.dt_server import DTSandbox
from reo_dt_assets_tests.conftest import dt_resources

DAY = dt.date(2026, 11, 20)
APP = "148721"
KEY = f"{APP}|{DAY}"
DOC_HEADER = (
    "Date,App ID,Ad Network Name,Ad Unit ID,Container Type ID,Advertising ID,IDFV,User ID,"
    "Instance ID,Placement ID,Placement Type,Impressions,Revenue"
)


def _materialize(
    sandbox: DTSandbox, data_dir: Path, **overrides: object
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [dt_user_level_report, dt_user_level_report_columns],
        partition_key=KEY,
        resources=dt_resources(sandbox.url, data_dir, **overrides),
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
    assert str(meta["header"]).startswith("Date, App ID, Ad Network Name")
    assert {"sha256", "dt_report_id", "seconds"} <= meta.keys()
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
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_drifted_header_passes_with_warning(dt_sandbox: DTSandbox, tmp_path: Path) -> None:
    header = DOC_HEADER.replace("Revenue", "Revenue (USD)") + ",Country"
    dt_sandbox.overrides[(DAY, APP)] = (
        f"{header}\r\n2026-11-20,148721,AdMob,1,1,,,bob,i,1,banner,3,0.01,DE\r\n".encode()
    )
    evaluation = _check(_materialize(dt_sandbox, tmp_path))
    assert evaluation.passed
    assert "Schema drift" in (evaluation.description or "")
    assert evaluation.metadata["unexpected"].value == "Country"


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
    result = report_columns_result(empty, logging.getLogger(__name__))
    assert not result.passed
    assert "is empty" in (result.description or "")
    assert not report_columns_result(tmp_path / "absent.csv", logging.getLogger(__name__)).passed


def test_missing_credentials_fail_the_run_naming_the_variable(
    dt_sandbox: DTSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DT_CLIENT_SECRET", raising=False)
    with pytest.raises(dg.DagsterInvalidConfigError, match="DT_CLIENT_SECRET"):
        _materialize(dt_sandbox, tmp_path, client_secret=dg.EnvVar("DT_CLIENT_SECRET"))


def test_partition_before_app_start_date_fails(dt_sandbox: DTSandbox, tmp_path: Path) -> None:
    result = dg.materialize(
        [dt_user_level_report],
        partition_key=f"{APP}|2026-10-01",
        resources=dt_resources(dt_sandbox.url, tmp_path),
        raise_on_error=False,
    )
    assert result.success  # 2026-10-01 is the app's start_date: allowed
