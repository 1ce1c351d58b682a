"""The alert sensor under the daemon: ``dg dev``, both sandboxes and a loopback JSON webhook.

One app's day is refused by the DT sandbox (500 for its report requests): its run fails and is
retried by the daemon (once: the run's ``dagster/max_retries`` tag); the webhook gets exactly one
message for it, after the last retry, naming the app, the day and the cause. The day's rollup
turns the coverage check red: one message. ``dg dev`` is restarted (a daemon restart): nothing
is told again. DT serves the day again, it is re-run and rolled up again: one "recovered"
message. Meanwhile a backfill whose four partitions all fail is one summary. Four messages in
all, and the webhook's URL (its token) is in no log, metadata or file of the instance or the
data.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import dagster as dg
import pytest

from reo_dt_assets.sandbox.dt_server import DTFaults
from reo_dt_assets_tests.chain import daily_revenue_events_job, daily_rollup_job
from reo_dt_assets_tests.deployment import Deployment, deployment
from reo_dt_assets_tests.helpers import wait_for
from reo_dt_assets_tests.webhook import WebhookReceiver

APP, OTHER = "148721", "203945"
ASSETS = ("dt_user_level_report", "user_revenue", "reo_usage_events")
TOKEN = "T0KEN-e2e-s3cr3t"
SENSOR_TICKS = """
query Ticks($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { ticks(limit: 1) { timestamp status error { message } } } }
  }
}"""
DONE = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE)


def last_tick(running: Deployment) -> float:
    """When the alert sensor last ticked (0 before its first tick)."""
    answer = running.graphql(
        SENSOR_TICKS,
        {
            "selector": {
                "repositoryLocationName": "reo_dt_assets",
                "repositoryName": "__repository__",
                "sensorName": "alerts",
            }
        },
    )["sensorOrError"]
    assert answer["__typename"] == "Sensor", answer
    ticks = answer["sensorState"]["ticks"]
    assert not ticks or ticks[0]["status"] != "FAILURE", ticks
    return float(ticks[0]["timestamp"]) if ticks else 0.0


def a_tick_after(running: Deployment, moment: float) -> None:
    wait_for("an alert sensor tick", lambda: last_tick(running) > moment, 60, every=0.5)


def run_ended(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRun | None:
    run = instance.get_run_by_id(run_id)
    return run if run is not None and run.status in DONE else None


@pytest.mark.slow
def test_one_message_per_incident_under_the_daemon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    day = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    refused, loaded = f"{APP}|{day}", f"{OTHER}|{day}"
    # A backfill of two earlier days of both apps, every partition refused: one summary.
    earlier = [day - dt.timedelta(days=n) for n in (2, 3)]
    backfilled = [f"{app}|{other_day}" for app in (APP, OTHER) for other_day in earlier]
    with WebhookReceiver() as hook:
        environment = {
            "REO_DT_ALERT_URLS": hook.apprise_url(f"hooks/{TOKEN}"),
            "REO_DT_ALERT_INTERVAL_SECONDS": "1",
            "REO_DT_ALERT_SETTLE_SECONDS": "1",
            "REO_DT_UI_URL": "http://dagster.example",
            "DT_RETRY_ATTEMPTS": "1",  # DT's 500 fails the step at once: the run retries
        }
        faults = DTFaults(not_ready_polls=1, failing_reports=",".join([refused, *backfilled]))
        with (
            deployment(tmp_path, monkeypatch, dt_faults=faults, environment=environment) as running,
            dg.DagsterInstance.get() as instance,
        ):
            a_tick_after(running, 0)  # the sensor's cursor starts before the runs
            # One automatic retry for this run (the instance allows two): the test is shorter.
            first = running.launch(
                daily_revenue_events_job.name, refused, {"dagster/max_retries": "1"}
            )
            other = running.launch(daily_revenue_events_job.name, loaded)
            backfill = running.backfill(list(ASSETS), backfilled, {"dagster/max_retries": "0"})

            # The backfill's four failures: one summary once it ended.
            wait_for("two messages", lambda: len(hook.messages()) >= 2, 240, every=0.5)
            [summary] = [m for m in hook.messages() if "(one backfill)" in m["title"]]
            assert summary["title"] == "[reo-dt-assets] 4 failed (one backfill)"
            lines = summary["message"].splitlines()
            assert lines[0] == f"4 failed: apps {APP}, {OTHER}; days {earlier[1]} to {earlier[0]}."
            assert len([line for line in lines if line.startswith("- failed: run of ")]) == 4
            assert lines[-1] == f"http://dagster.example/runs/b/{backfill}"

            # The refused day: tried twice (one automatic retry), told once, after the second.
            [told] = [m for m in hook.messages() if m is not summary]
            group = instance.get_run_group(first)
            assert group is not None
            runs = sorted(group[1], key=lambda run: int(run.tags.get("dagster/retry_number", 0)))
            assert [run.status for run in runs] == [dg.DagsterRunStatus.FAILURE] * 2
            assert runs[-1].tags.get("dagster/will_retry") == "false"
            assert told["type"] == "failure"
            assert told["title"] == (
                f"[reo-dt-assets] FAILED: run of {daily_revenue_events_job.name}, "
                f"app {APP}, day {day}"
            )
            body = told["message"]
            assert f"failed for app {APP}, day {day}:" in body
            assert "step dt_user_level_report:" in body and "500" in body, body
            assert "(after 2 tries)" in body
            assert f"http://dagster.example/runs/{runs[-1].run_id}" in body

            # The rollup of the day: the coverage check is red, told once.
            assert wait_for("the other app loaded", lambda: run_ended(instance, other), 180)
            rollup = running.launch(daily_rollup_job.name, day.isoformat())
            wait_for("the coverage told", lambda: len(hook.messages()) == 3, 180, every=0.5)
            coverage = hook.messages()[2]
            assert coverage["title"] == (
                "[reo-dt-assets] FAILED: check daily_revenue / every_app_loaded_and_delivered, "
                f"day {day}"
            )
            assert APP in coverage["message"] and OTHER not in coverage["message"]
            assert "http://dagster.example/assets/daily_revenue?view=checks" in coverage["message"]
            finished = run_ended(instance, rollup)
            assert finished is not None and finished.status == dg.DagsterRunStatus.SUCCESS

            # A daemon restart tells nothing again.
            running.wait_for_run_processes()
            restarted = time.time()
            running.restart()
            a_tick_after(running, restarted)
            a_tick_after(running, last_tick(running))
            assert len(hook.messages()) == 3

            # DT serves the day again: re-run, rolled up again: one "recovered".
            running.dt.faults.failing_reports = ""
            fixed = running.launch(daily_revenue_events_job.name, refused)
            done = wait_for("the day loaded", lambda: run_ended(instance, fixed), 180)
            assert done.status == dg.DagsterRunStatus.SUCCESS
            running.launch(daily_rollup_job.name, day.isoformat())
            wait_for("the recovery told", lambda: len(hook.messages()) == 4, 180, every=0.5)
            recovered = hook.messages()[3]
            assert recovered["type"] == "success"
            assert recovered["title"] == (
                "[reo-dt-assets] RECOVERED: check daily_revenue / "
                f"every_app_loaded_and_delivered, day {day}"
            )
            a_tick_after(running, last_tick(running))
            assert len(hook.messages()) == 4
            running.wait_for_run_processes()
        assert set(hook.paths) == {f"/hooks/{TOKEN}"}

    # The URL's token is nowhere: not in dg dev's log, the instance (runs, event log, the
    # sensor's cursor and ticks), the compute logs or the data.
    leaks = [
        path
        for path in tmp_path.rglob("*")
        if path.is_file() and TOKEN.encode() in path.read_bytes()
    ]
    assert not leaks, leaks
