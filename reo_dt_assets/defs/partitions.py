"""The partitions every source shares: one DT report is a UTC day times an app of the catalog
(``report_partitions``); the daily rollup uses the day alone (``daily``)."""

import datetime as dt

import dagster as dg

from reo_dt_assets.defs.catalog import CATALOG
from reo_dt_assets.settings import apps_file

daily = dg.DailyPartitionsDefinition(start_date=CATALOG.start_date.isoformat(), timezone="UTC")
apps = dg.StaticPartitionsDefinition(CATALOG.app_ids)

#: Keys read "<app>|<date>": Dagster orders the dimensions by name.
report_partitions = dg.MultiPartitionsDefinition({"date": daily, "app": apps})


def report_key(app_id: str, date: dt.date) -> str:
    """``("148721", date(2026, 11, 20))`` -> ``"148721|2026-11-20"``."""
    return f"{app_id}|{date.isoformat()}"


def _day(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def report_of(partition_key: str) -> tuple[dt.date, str]:
    """``"148721|2026-11-20"`` -> ``(date(2026, 11, 20), "148721")``, for a catalog app.

    A key in the other order, a malformed key or an app that is no longer in the catalog (it
    was edited after the run was queued) fails with a message that says what to do.
    """
    parts = partition_key.split("|")
    form = "partition keys read '<app>|<YYYY-MM-DD>' (Dagster orders the dimensions by name)"
    if len(parts) != 2:
        raise dg.Failure(
            f"partition key {partition_key!r} is not valid: {form}.", allow_retries=False
        )
    app_id, day = parts
    date = _day(day)
    if date is None:
        swapped = _day(app_id)
        hint = f": use {report_key(day, swapped)!r}" if swapped else ""
        raise dg.Failure(
            f"partition key {partition_key!r} is not valid: {form}{hint}.", allow_retries=False
        )
    if app_id not in CATALOG.app_ids:
        raise dg.Failure(
            f"app {app_id!r} of partition {partition_key!r} is not in the app catalog "
            f"{apps_file()} (apps: {', '.join(CATALOG.app_ids)}): the catalog was edited after "
            "the run was queued, or the key is mistyped. Add the app back to the catalog and "
            "reload the code location, or cancel the run.",
            allow_retries=False,
        )
    return date, app_id
