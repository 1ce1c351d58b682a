"""Opt-in corrections: a delivered user whose revenue DT restated is told again, once.

The tests' catalog gives app 203945 a ``correction_activity_type`` and app 148721 none; the DT
sandbox restates the day between pulls (``ReportShape.revenue_percent``) and the Reo.Dev sandbox
keeps every payload it received.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from reo_dt_assets.sandbox.dt_server import DTSandbox
from reo_dt_assets.sandbox.generator import GroundTruth, ReportShape
from reo_dt_assets.sandbox.reo_server import ReoSandbox
from reo_dt_assets_tests.chain import (
    dt_user_level_report,
    reo_usage_events,
    reo_usage_events_checks,
    user_revenue,
)
from reo_dt_assets_tests.helpers import all_resources

DAY = dt.date(2026, 11, 20)
PLAIN, CORRECTED = "148721", "203945"
CORRECTION = "AD_REVENUE_CORRECTION"


def _deliver(
    dt_sandbox: DTSandbox, reo: ReoSandbox, data: Path, app: str, min_usd: float = 0.01
) -> dg.ExecuteInProcessResult:
    result = dg.materialize(
        [dt_user_level_report, user_revenue, reo_usage_events, reo_usage_events_checks],
        partition_key=f"{app}|{DAY}",
        resources=all_resources(dt_sandbox.url, data, reo.url, correction_min_usd=min_usd),
    )
    assert result.success
    return result


def _corrections(reo: ReoSandbox) -> list[dict[str, Any]]:
    return [p for p in reo.received if p["activity_type"] == CORRECTION]


def _moved(before: GroundTruth, after: GroundTruth, min_usd: float) -> dict[str, float]:
    """User IDs whose revenue moved by more than ``min_usd`` (all move 15% or more), and how
    much they have now."""
    return {
        key: after.users[(kind, key)].revenue_usd
        for (kind, key), was in before.users.items()
        if kind == "user_id"
        and abs(after.users[(kind, key)].revenue_usd - was.revenue_usd) > min_usd
    }


def _check(result: dg.ExecuteInProcessResult, name: str) -> dg.AssetCheckEvaluation:
    [check] = [e for e in result.get_asset_check_evaluations() if e.check_name == name]
    return check


def test_a_moved_user_is_corrected_once_and_only_where_the_catalog_asks(
    dt_sandbox: DTSandbox, reo_sandbox: ReoSandbox, tmp_path: Path
) -> None:
    for app in (PLAIN, CORRECTED):
        _deliver(dt_sandbox, reo_sandbox, tmp_path, app)
    first = dt_sandbox.ground_truth(DAY, CORRECTED)
    assert _corrections(reo_sandbox) == []  # nothing moved yet

    dt_sandbox.shape = ReportShape(revenue_percent=115)  # DT restates the day: +15%
    restated = dt_sandbox.ground_truth(DAY, CORRECTED)
    for app in (PLAIN, CORRECTED):
        result = _deliver(dt_sandbox, reo_sandbox, tmp_path, app)
    moved = _moved(first, restated, 0.01)  # the default thresholds: > 1 cent and > 10%
    assert 0 < len(moved) < sum(kind == "user_id" for kind, _ in first.users)
    corrections = _corrections(reo_sandbox)
    assert {p["meta"]["dt_app_id"] for p in corrections} == {CORRECTED}
    assert sorted(p["user_id"] for p in corrections) == sorted(moved)
    for payload in corrections:
        now, was = moved[payload["user_id"]], first.users[("user_id", payload["user_id"])]
        assert float(payload["meta"]["revenue_usd"]) == pytest.approx(now, abs=1e-9)
        assert float(payload["meta"]["revenue_usd_before"]) == pytest.approx(
            was.revenue_usd, abs=1e-9
        )
    [materialization] = result.asset_materializations_for_node("reo_usage_events")
    assert materialization.metadata["corrections_built"].value == len(moved)
    # Users moved by a cent or less are not corrected: Reo.Dev's total is still off, a warning.
    assert not _check(result, "revenue_matches_user_revenue").passed

    sent = reo_sandbox.stats()["received"]
    _deliver(dt_sandbox, reo_sandbox, tmp_path, CORRECTED)  # the same report again
    assert reo_sandbox.stats()["received"] == sent

    dt_sandbox.shape = ReportShape(revenue_percent=130)  # and again, corrected down to no cent
    again = dt_sandbox.ground_truth(DAY, CORRECTED)
    result = _deliver(dt_sandbox, reo_sandbox, tmp_path, CORRECTED, min_usd=0)
    latest = _corrections(reo_sandbox)[len(corrections) :]
    assert sorted(p["user_id"] for p in latest) == sorted(_moved(first, again, 0))
    for payload in latest:  # the change since what Reo.Dev was told: the first or 115%
        told = moved if payload["user_id"] in moved else {}
        was = told.get(payload["user_id"], first.users[("user_id", payload["user_id"])].revenue_usd)
        assert float(payload["meta"]["revenue_usd_before"]) == pytest.approx(was, abs=1e-9)
    assert _check(result, "revenue_matches_user_revenue").passed  # Reo.Dev's total is right
    assert max(reo_sandbox.counts().values()) == 1  # every event id once
    with duckdb.connect(str(tmp_path / "reo_dt.duckdb"), read_only=True) as conn:
        statuses = conn.execute(
            "SELECT kind, status, count(*) FROM reo_event_deliveries WHERE app_id = ? "
            "GROUP BY ALL ORDER BY ALL",
            [CORRECTED],
        ).fetchall()
    users = sum(kind == "user_id" for kind, _ in first.users)
    assert statuses == [
        ("correction", "delivered", len(moved) + len(latest)),
        ("usage", "delivered", users),
    ]
