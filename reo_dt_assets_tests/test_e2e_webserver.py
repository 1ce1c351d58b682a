"""End to end through the real webserver and daemon: a partition backfill launched over GraphQL.

Starts ``dagster dev`` (webserver + daemon) on a free loopback port with a temporary
``DAGSTER_HOME`` and both sandboxes, launches a backfill of 3 days x 2 apps with the documented
``launchPartitionBackfill`` mutation, waits for it, then checks DuckDB against the sandbox's
ground truth, every check result, and what the Reo sandbox received; then waits for the rollup
sensor to roll each of the 3 days up once, with no launch by anyone, and the report with them.
Every process it starts (the whole ``dagster dev`` process group) is stopped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from reo_dt_assets_tests.deployment import Deployment, rolled_up_by_the_sensor
from reo_dt_assets_tests.deployment import deployment as start_deployment
from reo_dt_assets_tests.helpers import assert_users_are_the_ground_truth

APPS = ("148721", "203945")
ASSETS = ("dt_user_level_report", "user_revenue", "reo_usage_events")


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    with start_deployment(tmp_path, monkeypatch) as running:
        yield running


@pytest.mark.slow
def test_backfill_through_the_webserver(deployment: Deployment) -> None:
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    days = [yesterday - dt.timedelta(days=n) for n in range(3)]
    keys = [f"{app}|{day}" for app in APPS for day in days]
    backfill_id = deployment.backfill(list(ASSETS), keys)

    status = deployment.backfill_ended(backfill_id)
    assert status in ("COMPLETED", "COMPLETED_SUCCESS"), status

    with dg.DagsterInstance.get() as instance:
        runs = instance.get_run_records(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
        assert runs and all(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        for name in ASSETS:
            materialized = instance.get_materialized_partitions(dg.AssetKey(name))
            assert set(keys) <= materialized, (name, materialized)
        evaluations = [
            event.dagster_event.event_specific_data
            for record in runs
            for event in instance.all_logs(
                record.dagster_run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
            )
            if event.dagster_event
        ]
    assert len(evaluations) == 12 * len(keys)  # 1 + 7 + 4 checks per partition
    assert all(getattr(e, "passed", False) for e in evaluations)

    with dg.DagsterInstance.get() as instance:
        rollups = rolled_up_by_the_sensor(instance, days)  # each day once
    deployment.wait_for_run_processes()  # the sensor's rollups hold the file while they run
    with duckdb.connect(str(deployment.data / "reo_dt.duckdb"), read_only=True) as conn:
        assert_users_are_the_ground_truth(conn, deployment.dt, APPS, days)
        expected_events = conn.execute(
            "SELECT count(*) FROM user_revenue WHERE user_key_type = 'user_id'"
        ).fetchone()
    counts = deployment.reo.counts()
    assert expected_events and len(counts) == expected_events[0]
    assert set(counts.values()) == {1}  # every event received exactly once

    with dg.DagsterInstance.get() as instance:
        daily = instance.get_materialized_partitions(dg.AssetKey("daily_revenue"))
        assert {str(day) for day in days} <= daily
        report = instance.get_latest_materialization_event(dg.AssetKey("revenue_report"))
        assert report is not None and report.run_id in {run.run_id for run in rollups}
    with duckdb.connect(str(deployment.data / "reo_dt.duckdb"), read_only=True) as conn:
        assert conn.execute(
            "SELECT count(*), bool_and(loaded) FROM daily_revenue WHERE report_date >= ?",
            [min(days)],
        ).fetchone() == (len(days) * len(APPS), True)
