"""The daily schedule: which partitions it requests, evaluated like the daemon would."""

import datetime as dt

import dagster as dg
import pytest

from reo_dt_assets.catalog import parse_catalog
from reo_dt_assets.defs.schedules import (
    daily_revenue_events_schedule,
    daily_rollup_schedule,
    partitions_due,
)
from reo_dt_assets.settings import lookback_days


def test_yesterday_and_lookback_for_every_app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REO_DT_LOOKBACK_DAYS", "2")
    context = dg.build_schedule_context(
        scheduled_execution_time=dt.datetime(2026, 11, 22, 12, 30, tzinfo=dt.UTC)
    )
    requests = list(daily_revenue_events_schedule(context))  # type: ignore[arg-type]
    keys = sorted(str(r.partition_key) for r in requests if isinstance(r, dg.RunRequest))
    assert keys == sorted(
        f"{app}|2026-11-{day}" for app in ("148721", "203945") for day in (19, 20, 21)
    )
    assert len({r.run_key for r in requests if isinstance(r, dg.RunRequest)}) == 6


def test_no_partition_before_the_catalog_or_an_app_starts() -> None:
    catalog = parse_catalog(
        {
            "start_date": "2026-10-01",
            "apps": [
                {"app_id": "early", "product_id": "p", "activity_type": "A"},
                {
                    "app_id": "late",
                    "product_id": "p",
                    "activity_type": "A",
                    "start_date": "2026-10-03",
                },
            ],
        }
    )
    due = sorted(partitions_due(catalog, dt.date(2026, 10, 5), lookback=4))
    assert due == [
        *(("early", dt.date(2026, 10, day)) for day in (1, 2, 3, 4)),
        *(("late", dt.date(2026, 10, day)) for day in (3, 4)),
    ]


def test_schedule_is_off_by_default_and_after_dt_publishes() -> None:
    assert daily_revenue_events_schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert daily_revenue_events_schedule.cron_schedule == "30 12 * * *"
    assert daily_revenue_events_schedule.execution_timezone == "UTC"


def test_bad_lookback_setting_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REO_DT_LOOKBACK_DAYS", "two")
    with pytest.raises(ValueError, match="REO_DT_LOOKBACK_DAYS='two'"):
        lookback_days()


def test_rollup_follows_an_hour_later_for_the_same_days(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REO_DT_LOOKBACK_DAYS", "2")
    context = dg.build_schedule_context(
        scheduled_execution_time=dt.datetime(2026, 11, 22, 13, 30, tzinfo=dt.UTC)
    )
    requests = list(daily_rollup_schedule(context))  # type: ignore[arg-type]
    keys = [r.partition_key for r in requests if isinstance(r, dg.RunRequest)]
    assert keys == ["2026-11-21", "2026-11-20", "2026-11-19"]
    assert daily_rollup_schedule.cron_schedule == "30 13 * * *"
