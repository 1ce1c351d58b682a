"""DT restates a day between pulls: the move is recorded once, shown, and warned about.

The DT sandbox serves the same (day, app) at another revenue (``ReportShape.revenue_percent``)
from one pull to the next, as DT's estimates move after the first pull.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import fields
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from reo_dt_assets.revenue.queries import DeliveredEvents
from reo_dt_assets.revenue.store import Restatement
from reo_dt_assets.revenue.verdicts import restatement_verdict
from reo_dt_assets.sandbox.dt_server import DTSandbox
from reo_dt_assets.sandbox.generator import ReportShape
from reo_dt_assets.sandbox.reo_server import ReoSandbox
from reo_dt_assets.schema import REVENUE_RESTATEMENTS
from reo_dt_assets_tests.chain import (
    daily_revenue,
    dt_user_level_report,
    reo_usage_events,
    user_revenue,
    user_revenue_checks,
)
from reo_dt_assets_tests.helpers import all_resources

DAY = dt.date(2026, 11, 20)
APP = "148721"


def _pull(
    dt_sandbox: DTSandbox, reo: ReoSandbox, data: Path, *, deliver: bool = False
) -> dg.ExecuteInProcessResult:
    assets = [dt_user_level_report, user_revenue, user_revenue_checks]
    result = dg.materialize(
        [*assets, reo_usage_events] if deliver else assets,
        partition_key=f"{APP}|{DAY}",
        resources=all_resources(dt_sandbox.url, data, reo.url),
    )
    assert result.success
    return result


def _restatement_check(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    [check] = [
        e
        for e in result.get_asset_check_evaluations()
        if e.check_name == "restatement_within_threshold"
    ]
    return check


def _meta(result: dg.ExecuteInProcessResult) -> dict[str, object]:
    [materialization] = result.asset_materializations_for_node("user_revenue")
    return {key: value.value for key, value in materialization.metadata.items()}


def _restatements(data: Path) -> list[tuple]:
    with duckdb.connect(str(data / "reo_dt.duckdb"), read_only=True) as conn:
        return conn.execute(
            "SELECT pull_age_days, users_before, users_after, revenue_usd_before, "
            "revenue_usd_after, unattributed_revenue_usd_before, unattributed_revenue_usd_after, "
            "change_usd, change_pct FROM revenue_restatements ORDER BY restated_at"
        ).fetchall()


def test_a_restated_day_is_recorded_once_shown_and_warned_about(
    dt_sandbox: DTSandbox, reo_sandbox: ReoSandbox, tmp_path: Path
) -> None:
    first = dt_sandbox.ground_truth(DAY, APP)
    delivered = _pull(dt_sandbox, reo_sandbox, tmp_path, deliver=True)
    assert _restatement_check(delivered).passed
    assert "revenue_change_usd" not in _meta(delivered)  # a first load has nothing to compare

    unchanged = _pull(dt_sandbox, reo_sandbox, tmp_path)  # the same report again
    assert _meta(unchanged)["revenue_change_usd"] == 0.0
    assert _restatement_check(unchanged).passed
    assert _restatements(tmp_path) == []

    dt_sandbox.shape = ReportShape(revenue_percent=115)  # DT restates the day: +15%
    now = dt_sandbox.ground_truth(DAY, APP)
    moved = _pull(dt_sandbox, reo_sandbox, tmp_path)
    [row] = _restatements(tmp_path)
    whole_before, whole_after = first.total.revenue_usd, now.total.revenue_usd
    users_before = whole_before - first.unattributed.revenue_usd
    assert row[0] == (dt.datetime.now(dt.UTC).date() - DAY).days
    assert row[1] == row[2] == len(first.users)
    assert row[3] == pytest.approx(users_before, abs=1e-6)
    assert row[4] == pytest.approx(whole_after - now.unattributed.revenue_usd, abs=1e-6)
    assert row[5:7] == pytest.approx(
        (first.unattributed.revenue_usd, now.unattributed.revenue_usd), abs=1e-9
    )
    assert row[7] == pytest.approx(whole_after - whole_before, abs=1e-6)
    assert row[8] == pytest.approx(15, abs=0.1)
    meta = _meta(moved)
    assert meta["revenue_change_usd"] == round(row[7], 2)
    assert meta["revenue_change_pct"] == round(row[8], 2)

    check = _restatement_check(moved)  # delivered before, moved past 10%: yellow, not red
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    events = sum(1 for kind, _ in first.users if kind == "user_id")
    description = check.description or ""
    assert f"app {APP} on {DAY}" in description and "+15.0%" in description
    assert f"after {events:,} of its events were delivered" in description
    assert check.metadata["events_delivered"].value == events
    stale = check.metadata["events_stale"].value
    assert isinstance(stale, int) and 0 < stale <= events

    _pull(dt_sandbox, reo_sandbox, tmp_path)  # the restated report again: no new row
    assert len(_restatements(tmp_path)) == 1

    rollup = dg.materialize(
        [daily_revenue],
        partition_key=DAY.isoformat(),
        resources=all_resources(dt_sandbox.url, tmp_path),
    )
    assert rollup.success
    with duckdb.connect(str(tmp_path / "reo_dt.duckdb"), read_only=True) as conn:
        restated = conn.execute(
            "SELECT revenue_restated_usd, revenue_restated_pct FROM daily_revenue "
            "WHERE report_date = ? AND app_id = ?",
            [DAY, APP],
        ).fetchone()
    assert restated == pytest.approx((whole_after - whole_before, 15), abs=0.1)


def test_a_restatement_row_is_the_tables_row() -> None:
    """The row type the reload writes and the check reads has the table's columns, in order."""
    assert [field.name for field in fields(Restatement)] == REVENUE_RESTATEMENTS.column_names


def test_a_move_within_the_threshold_or_before_delivery_is_no_warning() -> None:
    moved = Restatement(
        DAY, APP, dt.datetime(2026, 11, 23), 3, 10, 10, 100, 100, 9.0, 9.5, 1.0, 1.0, 0.5, 5.0
    )
    assert restatement_verdict(moved, DeliveredEvents(10, 10), 10).passed  # 5% <= 10%
    assert not restatement_verdict(moved, DeliveredEvents(10, 10), 4).passed
    assert restatement_verdict(moved, DeliveredEvents(0, 0), 4).passed  # nothing sent yet
    from_nothing = Restatement(
        DAY, APP, dt.datetime(2026, 11, 23), 3, 0, 1, 0, 5, 0.0, 0.2, 0.0, 0.0, 0.2, None
    )
    assert not restatement_verdict(from_nothing, DeliveredEvents(1, 1), 10).passed
