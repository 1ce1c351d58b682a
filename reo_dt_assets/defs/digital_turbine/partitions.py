"""One partition is one DT report: a UTC day times an app of the catalog."""

import datetime as dt

import dagster as dg

from reo_dt_assets.defs.catalog import CATALOG

daily = dg.DailyPartitionsDefinition(start_date=CATALOG.start_date.isoformat(), timezone="UTC")
apps = dg.StaticPartitionsDefinition(CATALOG.app_ids)

#: Keys read "<app>|<date>": Dagster orders the dimensions by name.
report_partitions = dg.MultiPartitionsDefinition({"date": daily, "app": apps})


def report_of(partition_key: str) -> tuple[dt.date, str]:
    """``"148721|2026-11-20"`` -> ``(date(2026, 11, 20), "148721")``."""
    app_id, day = partition_key.split("|")
    return dt.date.fromisoformat(day), app_id
