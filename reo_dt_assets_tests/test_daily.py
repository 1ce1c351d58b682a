"""The daily view across apps: the rollup from real partitions, coverage, the weekday band."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from reo_dt_assets.daily.verdicts import anomaly_verdict
from reo_dt_assets.sandbox.dt_server import DTSandbox
from reo_dt_assets.sandbox.reo_server import ReoSandbox
from reo_dt_assets_tests.chain import (
    daily_revenue,
    daily_revenue_checks,
    dt_user_level_report,
    reo_usage_events,
    user_revenue,
)
from reo_dt_assets_tests.helpers import all_resources

DAY = dt.date(2026, 11, 20)
APPS = ("148721", "203945")


def _load(dt_sandbox: DTSandbox, reo: ReoSandbox, data: Path, app: str, day: dt.date) -> None:
    result = dg.materialize(
        [dt_user_level_report, user_revenue, reo_usage_events],
        partition_key=f"{app}|{day}",
        resources=all_resources(dt_sandbox.url, data, reo.url),
    )
    assert result.success


def _roll_up(dt_sandbox: DTSandbox, data: Path, day: dt.date) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [daily_revenue, daily_revenue_checks],
        partition_key=day.isoformat(),
        resources=all_resources(dt_sandbox.url, data),
        selection=[daily_revenue],
    )


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_rollup_matches_the_ground_truth_and_names_a_missing_app(
    dt_sandbox: DTSandbox, reo_sandbox: ReoSandbox, tmp_path: Path
) -> None:
    _load(dt_sandbox, reo_sandbox, tmp_path, APPS[0], DAY - dt.timedelta(days=1))
    _load(dt_sandbox, reo_sandbox, tmp_path, APPS[0], DAY)
    _roll_up(dt_sandbox, tmp_path, DAY - dt.timedelta(days=1))
    missing = _roll_up(dt_sandbox, tmp_path, DAY)
    coverage = _checks(missing)["every_app_loaded_and_delivered"]
    assert not coverage.passed and coverage.partition == DAY.isoformat()
    assert "203945 (not loaded)" in (coverage.description or "")

    _load(dt_sandbox, reo_sandbox, tmp_path, APPS[1], DAY)
    complete = _roll_up(dt_sandbox, tmp_path, DAY)
    assert _checks(complete)["every_app_loaded_and_delivered"].passed
    with duckdb.connect(str(tmp_path / "reo_dt.duckdb"), read_only=True) as conn:
        rows = conn.execute(
            "SELECT app_id, loaded, users, users_with_user_id, revenue_usd, "
            "unattributed_revenue_usd, events_delivered, revenue_change_pct IS NOT NULL "
            "FROM daily_revenue WHERE report_date = ? ORDER BY app_id",
            [DAY],
        ).fetchall()
    for app, row in zip(APPS, rows, strict=True):
        truth = dt_sandbox.ground_truth(DAY, app)
        with_user_id = sum(1 for kind, _ in truth.users if kind == "user_id")
        attributed = (truth.total.revenue_nanos - truth.unattributed.revenue_nanos) / 1e9
        assert row[:4] == (app, True, len(truth.users), with_user_id)
        assert row[4] == pytest.approx(attributed, abs=1e-6)
        assert row[5] == pytest.approx(truth.unattributed.revenue_usd, abs=1e-9)
        assert row[6] == with_user_id  # every event delivered
    assert [row[7] for row in rows] == [True, False]  # only 148721 has the day before
    [materialization] = complete.asset_materializations_for_node("daily_revenue")
    meta = materialization.metadata
    assert meta["apps_loaded"].value == "2 of 2"
    assert {f"revenue_usd_{app}" for app in APPS} <= meta.keys()


def _frame(**columns: list) -> pl.DataFrame:
    return pl.DataFrame(columns)


def test_a_day_outside_its_weekday_band_only_warns() -> None:
    today = _frame(app_id=["1", "2"], loaded=[True, True], revenue_usd=[30.0, 9.0], users=[10, 90])
    history = _frame(
        app_id=["1", "1", "2", "2"], revenue_usd=[10.0, 11.0, 10.0, 9.0], users=[10, 11, 100, 95]
    )
    verdict = anomaly_verdict(today, history)
    assert not verdict.passed and verdict.warn_only
    assert "1 revenue_usd 30.00 vs a median of 10.50" in (verdict.description or "")
    assert "2 " not in (verdict.description or "")
    quiet = anomaly_verdict(today, history.filter(pl.col("app_id") == "2"))
    assert quiet.passed  # app 1 has no history: nothing to compare with
