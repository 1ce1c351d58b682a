"""Every reading of DT's document loads end to end: raw file -> user_revenue -> Reo.Dev events.

The DT sandbox serves each shape (its ``shape`` knob); the ground truth comes from its generator,
the events from what the Reo.Dev sandbox received.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from reo_dt_assets.sandbox.dt_server import DTSandbox
from reo_dt_assets.sandbox.generator import ReportShape
from reo_dt_assets.sandbox.reo_server import ReoSandbox
from reo_dt_assets_tests.chain import CHAIN
from reo_dt_assets_tests.helpers import all_resources

DAY = dt.date(2026, 11, 20)
APP = "203945"
SHAPES = {
    "documented": ReportShape(),
    "with-date-app": ReportShape(date_app_columns=True),
    "non-fairbid": ReportShape(fairbid_columns=False),
    "date-app-non-fairbid-bom-lf": ReportShape(
        date_app_columns=True, fairbid_columns=False, bom=True, line_ending="\n"
    ),
}


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_each_shape_loads_and_sends_what_the_report_holds(
    dt_sandbox: DTSandbox, reo_sandbox: ReoSandbox, tmp_path: Path, shape: ReportShape
) -> None:
    dt_sandbox.shape = shape
    result = dg.materialize(
        CHAIN,
        partition_key=f"{APP}|{DAY}",
        resources=all_resources(dt_sandbox.url, tmp_path, reo_sandbox.url),
    )
    assert result.success
    failed = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
    assert failed == []
    truth = dt_sandbox.ground_truth(DAY, APP)
    with duckdb.connect(str(tmp_path / "reo_dt.duckdb"), read_only=True) as conn:
        rows = conn.execute(
            "SELECT user_key_type, user_key, impressions, revenue_usd FROM user_revenue"
        ).fetchall()
    loaded = {(kind, key): (imps, round(rev, 9)) for kind, key, imps, rev in rows}
    assert loaded == {key: (t.impressions, t.revenue_usd) for key, t in truth.users.items()}
    with_user_id = {key for kind, key in truth.users if kind == "user_id"}
    assert bool(with_user_id) == shape.fairbid_columns  # no User ID column, no developers
    received = [payload["meta"]["dt_app_id"] for payload in reo_sandbox.received]
    assert len(received) == len(with_user_id) and set(received) <= {APP}
    [events] = result.asset_materializations_for_node("reo_usage_events")
    skipped = events.metadata["device_only_skipped"].value
    assert skipped == len(truth.users) - len(with_user_id)
