"""The daily schedule: which partitions it requests, evaluated like the daemon would."""

import datetime as dt
from pathlib import Path

import dagster as dg
import pytest

from reo_dt_assets.catalog import parse_catalog
from reo_dt_assets.components.resources import DigitalTurbineResource, StorageResource
from reo_dt_assets.components.schedule import pulls_due
from reo_dt_assets.settings import pull_ages
from reo_dt_assets_tests.chain import DEFS, daily_revenue_events_schedule, daily_rollup_schedule


def _tick(when: dt.datetime, tmp_path: Path) -> list[dg.RunRequest]:
    with dg.build_schedule_context(
        repository_def=DEFS.get_repository_def(),
        scheduled_execution_time=when,
        resources={
            "digital_turbine": DigitalTurbineResource(),
            "storage": StorageResource(data_dir=str(tmp_path)),
        },
    ) as context:
        requests = daily_revenue_events_schedule.evaluate_tick(context).run_requests or []
    return [r for r in requests if isinstance(r, dg.RunRequest)]


def test_each_day_at_ages_1_2_3_and_8_for_every_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REO_DT_LOOKBACK_DAYS", raising=False)
    monkeypatch.delenv("REO_DT_PULL_AGES", raising=False)
    requests = _tick(dt.datetime(2026, 11, 22, 12, 30, tzinfo=dt.UTC), tmp_path)
    assert [str(r.partition_key) for r in requests] == [
        f"{app}|2026-11-{day}" for day in (21, 20, 19, 14) for app in ("148721", "203945")
    ]
    assert len({r.run_key for r in requests}) == 8
    assert not list(tmp_path.iterdir())  # no budget set: nothing counted


def test_the_lookback_keeps_its_meaning_and_ages_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REO_DT_PULL_AGES", raising=False)
    monkeypatch.setenv("REO_DT_LOOKBACK_DAYS", "2")
    assert pull_ages() == (1, 2, 3)  # yesterday and the 2 days before it, as it always meant
    monkeypatch.setenv("REO_DT_PULL_AGES", "8, 1,3")
    assert pull_ages() == (1, 3, 8)


@pytest.mark.parametrize("ages", ["1,two", "0,1", "1,11"])
def test_bad_ages_are_named_and_never_past_dts_window(
    monkeypatch: pytest.MonkeyPatch, ages: str
) -> None:
    monkeypatch.setenv("REO_DT_PULL_AGES", ages)
    with pytest.raises(ValueError, match=f"REO_DT_PULL_AGES='{ages}': expected whole numbers"):
        pull_ages()


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
    pulls = pulls_due(catalog, dt.date(2026, 10, 5), (1, 2, 3, 4, 5))
    due = sorted((pull.app_id, pull.day) for pull in pulls)
    assert due == [
        *(("early", dt.date(2026, 10, day)) for day in (1, 2, 3, 4)),
        *(("late", dt.date(2026, 10, day)) for day in (3, 4)),
    ]


def test_schedule_is_off_by_default_and_after_dt_publishes() -> None:
    assert daily_revenue_events_schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert daily_revenue_events_schedule.cron_schedule == "30 12 * * *"
    assert daily_revenue_events_schedule.execution_timezone == "UTC"


def test_bad_lookback_setting_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REO_DT_PULL_AGES", raising=False)
    monkeypatch.setenv("REO_DT_LOOKBACK_DAYS", "two")
    with pytest.raises(ValueError, match="REO_DT_LOOKBACK_DAYS='two'"):
        pull_ages()


def test_rollup_follows_an_hour_later_for_the_same_days(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REO_DT_PULL_AGES", raising=False)
    monkeypatch.setenv("REO_DT_LOOKBACK_DAYS", "2")
    context = dg.build_schedule_context(
        repository_def=DEFS.get_repository_def(),
        scheduled_execution_time=dt.datetime(2026, 11, 22, 13, 30, tzinfo=dt.UTC),
    )
    requests = daily_rollup_schedule.evaluate_tick(context).run_requests or []
    keys = [r.partition_key for r in requests if isinstance(r, dg.RunRequest)]
    assert keys == ["2026-11-21", "2026-11-20", "2026-11-19"]
    assert daily_rollup_schedule.cron_schedule == "30 13 * * *"
