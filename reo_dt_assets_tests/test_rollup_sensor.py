"""The rollup sensor on a real instance: the per-app partitions of a day run through the pipeline
against the sandboxes, the sensor evaluated on each run's success as the daemon would. A day is
rolled up once when its last app lands, not while a run of one of its apps is in flight, again
when it is re-pulled; and rolling it up twice writes the same rows."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from reo_dt_assets.sandbox.dt_server import DTSandbox
from reo_dt_assets.sandbox.reo_server import ReoSandbox
from reo_dt_assets_tests.chain import (
    daily_revenue,
    daily_rollup_sensor,
    dt_user_level_report,
    reo_usage_events,
    report_day,
    revenue_report,
    user_revenue,
)
from reo_dt_assets_tests.helpers import all_resources

DAY = dt.date(2026, 11, 20)
APPS = ("148721", "203945")


def test_report_day_reads_only_app_day_keys() -> None:
    assert report_day("148721|2026-11-20") == DAY
    assert report_day("2026-11-20") is None  # a rollup run's own key
    assert report_day("999|2026-11-20") is None and report_day(None) is None
    assert report_day("148721|nope") is None


@pytest.mark.slow
def test_a_day_is_rolled_up_once_when_its_last_app_lands(
    dt_sandbox: DTSandbox, reo_sandbox: ReoSandbox, tmp_path: Path
) -> None:
    resources = all_resources(dt_sandbox.url, tmp_path / "data", reo_sandbox.url)
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:

        def land(app: str) -> dg.RunRequest | dg.SkipReason:
            """The (app, DAY) partition through the pipeline, then the sensor on its success."""
            result = dg.materialize(
                [dt_user_level_report, user_revenue, reo_usage_events],
                partition_key=f"{app}|{DAY}",
                resources=resources,
                instance=instance,
            )
            assert result.success
            return evaluate(result.dagster_run, result.get_run_success_event())

        def evaluate(run: dg.DagsterRun, event: dg.DagsterEvent) -> dg.RunRequest | dg.SkipReason:
            context = dg.build_run_status_sensor_context(
                sensor_name=daily_rollup_sensor.name,
                dagster_event=event,
                dagster_instance=instance,
                dagster_run=run,
            )
            answer = daily_rollup_sensor(context)
            assert isinstance(answer, dg.RunRequest | dg.SkipReason)
            return answer

        first = land(APPS[0])
        assert isinstance(first, dg.SkipReason)
        assert first.skip_message == f"{DAY}: waiting for {APPS[1]} to land"

        # A second run of the first app is still running (a re-pull launched meanwhile): not yet.
        running = instance.add_run(
            dg.DagsterRun(
                job_name="daily_revenue_events_job",
                run_id=str(uuid.uuid4()),
                status=dg.DagsterRunStatus.STARTED,
                tags={"dagster/partition": f"{APPS[0]}|{DAY}"},
            )
        )
        last = dg.materialize(
            [dt_user_level_report, user_revenue, reo_usage_events],
            partition_key=f"{APPS[1]}|{DAY}",
            resources=resources,
            instance=instance,
        )
        waiting = evaluate(last.dagster_run, last.get_run_success_event())
        assert isinstance(waiting, dg.SkipReason)
        assert waiting.skip_message == f"{DAY}: {APPS[0]} still queued or running"

        instance.report_run_failed(running)
        request = evaluate(last.dagster_run, last.get_run_success_event())
        assert isinstance(request, dg.RunRequest)
        assert request.partition_key == DAY.isoformat()
        # Evaluated again on the same landing (another app's success in the same tick): the
        # same run key, which the daemon launches once.
        again = evaluate(last.dagster_run, last.get_run_success_event())
        assert isinstance(again, dg.RunRequest) and again.run_key == request.run_key

        # A re-pull of one app changes the day: rolled up again, under a new key.
        repulled = land(APPS[0])
        assert isinstance(repulled, dg.RunRequest) and repulled.run_key != request.run_key

        # Rolling up twice gives the same rows (the day is replaced, not appended).
        rows = []
        for _ in range(2):
            assert dg.materialize(
                [daily_revenue, revenue_report],
                partition_key=DAY.isoformat(),
                resources=resources,
                instance=instance,
            ).success
            with duckdb.connect(str(tmp_path / "data" / "reo_dt.duckdb"), read_only=True) as conn:
                rows.append(
                    conn.execute(
                        "SELECT * EXCLUDE (rolled_up_at) FROM daily_revenue ORDER BY ALL"
                    ).fetchall()
                )
        assert rows[0] == rows[1] and len(rows[0]) == len(APPS)
