"""The daily jobs and their schedules: each day at the ages DT's numbers move, then the rollup.

12:30 UTC pulls, loads and delivers each (app, day) due: a day is pulled 1, 2, 3 and 8 days after
it (``REO_DT_PULL_AGES``), as DT restates its estimates after the first pull, never past the
~10 days DT serves. Under a report budget (``DT_REPORTS_PER_DAY``) the tick plans within what is
left of the UTC day, first pulls first, then by age, and says what it skipped. 13:30 UTC rolls
the same days up across apps, once the per-app runs are done (they take minutes; an app still
failing then shows as a hole in the rollup, and its retry's success is rolled up at the next age).
"""

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from reo_dt_assets.catalog import Catalog
from reo_dt_assets.components.executor import executor
from reo_dt_assets.components.resources import DigitalTurbineResource, StorageResource
from reo_dt_assets.components.wiring import GRAIN_TAG, Wiring, report_key


def days_due(catalog: Catalog, today: dt.date, ages: tuple[int, ...]) -> list[dt.date]:
    """The days ``ages`` days before ``today``, youngest first, within the catalog."""
    days = [today - dt.timedelta(days=age) for age in sorted(ages)]
    return [day for day in days if day >= catalog.start_date]


@dataclass(frozen=True)
class Pull:
    app_id: str
    day: dt.date
    age: int  # days from the day to the pull: 1 is the first pull


def pulls_due(catalog: Catalog, today: dt.date, ages: tuple[int, ...]) -> list[Pull]:
    """Each app active on each day due, first pulls first, then by age."""
    return [
        Pull(app.app_id, day, (today - day).days)
        for day in days_due(catalog, today, ages)
        for app in catalog.apps_on(day)
    ]


def within(pulls: list[Pull], left: int | None) -> tuple[list[Pull], list[Pull]]:
    """(planned, skipped): the first ``left`` pulls, all of them when there is no budget."""
    if left is None:
        return pulls, []
    return pulls[:left], pulls[left:]


def skipped_note(skipped: list[Pull], left: int) -> str:
    """What a tick left out for the budget, by age, for the tick's log."""
    ages = Counter(pull.age for pull in skipped)
    by_age = ", ".join(
        f"{count} at age {age} ({min(p.day for p in skipped if p.age == age)})"
        for age, count in sorted(ages.items())
    )
    return (
        f"DT report budget (DT_REPORTS_PER_DAY): {left} report(s) left today (UTC); "
        f"skipped {len(skipped)} pull(s), oldest ages first: {by_age}"
    )


def build_events_job(
    w: Wiring, raw: dg.AssetsDefinition, pull_ages: Callable[[], tuple[int, ...]]
) -> tuple[Any, dg.ScheduleDefinition]:
    """The job of one (app, day): the raw report and everything of that grain downstream of it
    (``user_revenue``, and the events of whichever delivery reads it), and its 12:30 UTC
    schedule."""
    job = dg.define_asset_job(
        name=w.name("daily_revenue_events_job"),
        selection=dg.AssetSelection.assets(raw).downstream()
        & dg.AssetSelection.tag(GRAIN_TAG, "app_day"),
        description="Raw DT report -> user_revenue -> Reo.Dev events, with every check, for one "
        "(app, day) partition.",
        executor_def=executor,
    )
    dt_key, storage_key = w.name("digital_turbine"), w.name("storage")

    @dg.schedule(
        name=w.name("daily_revenue_events_schedule"),
        job=job,
        cron_schedule="30 12 * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="12:30 UTC, after DT publishes the previous day: every app's days at the "
        f"ages {','.join(map(str, pull_ages()))}, within the DT report budget if set (delivered "
        "events are not re-sent).",
        required_resource_keys={dt_key, storage_key},
    )
    def daily_revenue_events_schedule(
        context: dg.ScheduleEvaluationContext,
    ) -> Iterator[dg.RunRequest | dg.SkipReason]:
        digital_turbine: DigitalTurbineResource = getattr(context.resources, dt_key)
        storage: StorageResource = getattr(context.resources, storage_key)
        today = context.scheduled_execution_time.date()
        pulls = pulls_due(w.catalog, today, pull_ages())
        budget = digital_turbine.budget(Path(storage.data_dir))
        left = budget.left_on(today) if budget is not None else None
        planned, skipped = within(pulls, left)
        if skipped:
            note = skipped_note(skipped, len(planned))
            context.log.warning(note)
            if not planned:
                yield dg.SkipReason(note)
        for pull in planned:
            yield dg.RunRequest(
                run_key=f"{report_key(pull.app_id, pull.day)}@{today}",
                partition_key=report_key(pull.app_id, pull.day),
                tags={
                    "reo_dt/scheduled_for": today.isoformat(),
                    "reo_dt/pull_age": str(pull.age),
                },
            )

    return job, daily_revenue_events_schedule
