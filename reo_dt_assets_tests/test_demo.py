"""``make demo`` (one day) on a fresh instance: its runs are launched ones, as the UI's are.

The UI's timeline, job status bars and asset health list runs of a code location; a run executed
in process has none and shows only in the run list. So each run of the demo must belong to
``workspace.yaml``'s code location, have gone through the run queue and have been launched by
the instance's run launcher; the day's rollup and the report follow.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from reo_dt_assets_dev.demo import LOCATION
from reo_dt_assets_dev.dev import PROJECT

#: Submitted to the queue, then launched from it (RUN_STARTING: the launcher's event).
QUEUED_AND_LAUNCHED = {
    dg.DagsterEventType.RUN_ENQUEUED,
    dg.DagsterEventType.RUN_STARTING,
    dg.DagsterEventType.RUN_START,
    dg.DagsterEventType.RUN_SUCCESS,
}


@pytest.mark.slow
def test_the_demo_launches_its_runs_through_the_queue(tmp_path: Path) -> None:
    home, data = tmp_path / "home", tmp_path / "data"
    env = {**os.environ, "DAGSTER_HOME": str(home), "REO_DT_DATA_DIR": str(data)}
    demo = subprocess.run(
        [sys.executable, "-m", "reo_dt_assets_dev.demo", "--days", "1"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    [line] = [line for line in demo.stdout.splitlines() if line.startswith(str(yesterday))]
    assert line.endswith("27/27 passed"), demo.stdout  # 2 apps x 12 checks + the rollup's 3
    assert "Traceback" not in demo.stderr, demo.stderr

    os.environ["DAGSTER_HOME"] = str(home)  # restored after the test
    with dg.DagsterInstance.get() as instance:
        runs = [record.dagster_run for record in instance.get_run_records()]
        assert sorted(run.job_name for run in runs) == [
            "daily_revenue_events_job",
            "daily_revenue_events_job",
            "daily_rollup_job",
        ]
        for run in runs:
            assert run.status == dg.DagsterRunStatus.SUCCESS
            assert run.remote_job_origin is not None
            assert run.remote_job_origin.location_name == LOCATION
            events = {
                record.dagster_event.event_type
                for record in instance.all_logs(run.run_id)
                if record.dagster_event
            }
            assert events >= QUEUED_AND_LAUNCHED, (run.job_name, events)
        for asset in ("daily_revenue", "revenue_cohorts", "revenue_report"):
            assert instance.get_latest_materialization_event(dg.AssetKey(asset)) is not None
    page = (data / "report.html").read_text(encoding="utf-8")
    assert str(yesterday) in page and str(data) not in page
