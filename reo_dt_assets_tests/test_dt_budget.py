"""DT's report budget: per minute and per UTC day, across processes, planned by the schedule.

The budget file is a real SQLite file shared by real processes; the report requests go to the DT
sandbox over loopback, which counts them. Time is simulated (the budget takes a clock), so a
week of daily ticks runs in seconds.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from reo_dt_assets.catalog import parse_catalog
from reo_dt_assets.components.resources import DigitalTurbineResource, StorageResource
from reo_dt_assets.components.schedule import pulls_due, within
from reo_dt_assets.digital_turbine.budget import (
    FILE_NAME,
    Budget,
    BudgetSpentError,
    ReportBudget,
)
from reo_dt_assets.digital_turbine.client import DigitalTurbineClient
from reo_dt_assets.sandbox.dt_server import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, DTSandbox
from reo_dt_assets.settings import DEFAULT_PULL_AGES
from reo_dt_assets_tests.chain import DEFS, daily_revenue_events_schedule
from reo_dt_assets_tests.helpers import FAST_RETRY


class Clock:
    """Simulated UTC time; ``sleep`` moves it on."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> dt.datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += dt.timedelta(seconds=seconds)


def test_the_minute_waits_and_the_day_refuses(tmp_path: Path) -> None:
    clock = Clock(dt.datetime(2026, 11, 22, 23, 59, 0, tzinfo=dt.UTC))
    budget = ReportBudget(
        tmp_path / FILE_NAME, Budget(per_day=6, per_minute=3), clock=clock, sleep=clock.sleep
    )
    taken = []
    for n in range(6):
        budget.take(f"report {n}")
        taken.append(clock.now)
        clock.now += dt.timedelta(seconds=1)
    # Never more than 3 in any 60 s: the 4th waited until the 1st was a minute old.
    assert clock.slept and all(
        sum(1 for t in taken if start <= t < start + dt.timedelta(seconds=60)) <= 3
        for start in taken
    )
    day = taken[-1].date()
    assert budget.spent_on(day) == sum(1 for t in taken if t.date() == day)
    for _ in range(6 - budget.spent_on(day)):  # what is left of that day, then none
        budget.take("more")
    with pytest.raises(BudgetSpentError, match="DT_REPORTS_PER_DAY=6"):
        budget.take("one too many")


TAKER = """
import sys, time
from pathlib import Path
from reo_dt_assets.digital_turbine.budget import Budget, BudgetSpentError, ReportBudget
budget = ReportBudget(Path(sys.argv[1]), Budget(per_day=int(sys.argv[2])))
print("ready", flush=True)
while not Path(sys.argv[1] + ".go").exists():  # every taker starts at once
    time.sleep(0.001)
taken = refused = 0
for n in range(int(sys.argv[3])):
    try:
        budget.take(f"report {n}")
        taken += 1
    except BudgetSpentError:
        refused += 1
print(taken, refused)
"""


def test_concurrent_processes_never_take_more_than_the_day(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    takers = [
        subprocess.Popen(
            [sys.executable, "-c", TAKER, str(path), "150", "100"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for taker in takers:
        assert taker.stdout is not None and taker.stdout.readline() == "ready\n"
    Path(f"{path}.go").touch()
    counts = [tuple(map(int, taker.communicate(timeout=120)[0].split())) for taker in takers]
    assert sum(taken for taken, _ in counts) == 150
    assert sum(refused for _, refused in counts) == 150
    assert ReportBudget(path, Budget()).spent_on(dt.datetime.now(dt.UTC).date()) == 150


def _catalog(apps: int):
    return parse_catalog(
        {
            "start_date": "2026-09-01",
            "apps": [
                {"app_id": str(100_000 + n), "product_id": "p", "activity_type": "A"}
                for n in range(apps)
            ],
        }
    )


def test_a_week_of_ticks_with_40_apps_stays_within_50_reports_a_day(tmp_path: Path) -> None:
    """The schedule's plan, then each planned pull's report request (some throttled by DT and
    retried), then a few manual runs on top: DT never sees more than 50 in a UTC day."""
    catalog = _catalog(40)
    first_tick = dt.date(2026, 10, 10)
    clock = Clock(dt.datetime.combine(first_tick, dt.time(12, 30), dt.UTC))
    budget = ReportBudget(tmp_path / FILE_NAME, Budget(per_day=50), clock=clock, sleep=clock.sleep)
    seen: list[int] = []
    first_pulls_planned = 0
    with DTSandbox() as sandbox:
        client = DigitalTurbineClient(
            SANDBOX_CLIENT_ID,
            SANDBOX_CLIENT_SECRET,
            sandbox.url,
            retry=FAST_RETRY,
            budget=budget,
        )
        with client:
            for day_number in range(7):
                today = first_tick + dt.timedelta(days=day_number)
                clock.now = dt.datetime.combine(today, dt.time(12, 30), dt.UTC)
                before = sandbox.stats.report_arrivals
                pulls = pulls_due(catalog, today, DEFAULT_PULL_AGES)
                planned, skipped = within(pulls, budget.left_on(today))
                assert len(pulls) == 160 and len(planned) == 50 and len(skipped) == 110
                assert [p.age for p in planned] == sorted(p.age for p in planned)
                first_pulls_planned += sum(1 for p in planned if p.age == 1)
                sandbox.faults.throttle_next = 3  # DT answers 429: retried, and counted
                for pull in [*planned, *planned[:5]]:  # the plan, then 5 manual runs again
                    clock.now += dt.timedelta(seconds=7)
                    with contextlib.suppress(BudgetSpentError):  # the day's are spent
                        client.request_report(pull.day, pull.app_id)
                seen.append(sandbox.stats.report_arrivals - before)
    assert max(seen) <= 50 and min(seen) >= 45, seen
    assert first_pulls_planned == 7 * 40  # every first pull, every day


def test_the_tick_plans_within_what_is_left_and_says_what_it_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REO_DT_LOOKBACK_DAYS", raising=False)
    monkeypatch.delenv("REO_DT_PULL_AGES", raising=False)
    today = dt.datetime.now(dt.UTC).date()
    ReportBudget(tmp_path / FILE_NAME, Budget(per_day=5)).take("a manual run earlier today")
    with dg.build_schedule_context(
        repository_def=DEFS.get_repository_def(),
        scheduled_execution_time=dt.datetime.combine(today, dt.time(12, 30), dt.UTC),
        resources={
            "digital_turbine": DigitalTurbineResource(reports_per_day=5),
            "storage": StorageResource(data_dir=str(tmp_path)),
        },
    ) as context:
        requests = [
            r
            for r in daily_revenue_events_schedule.evaluate_tick(context).run_requests or []
            if isinstance(r, dg.RunRequest)
        ]
    yesterday, before = today - dt.timedelta(days=1), today - dt.timedelta(days=2)
    assert [r.partition_key for r in requests] == [
        f"148721|{yesterday}",
        f"203945|{yesterday}",
        f"148721|{before}",
        f"203945|{before}",
    ]
    assert [r.tags["reo_dt/pull_age"] for r in requests] == ["1", "1", "2", "2"]
