"""What one instance of the components is called in Dagster, and its partitions.

An instance is named by its asset key prefix: with none (this project's own), the keys, resource
keys, jobs, schedules and pools are the plain names (``user_revenue``, ``duckdb``,
``daily_revenue_events_job``, ``dt_reporting``); with ``["acct2"]`` they read
``acct2/user_revenue``, ``acct2_duckdb``, ``acct2_daily_revenue_events_job``,
``acct2_dt_reporting``, so two DT accounts or two Reo.Dev workspaces live in one project without
clashing.

One DT report is a UTC day times an app of the instance's catalog (``report_partitions``); the
daily rollup uses the day alone (``daily``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cached_property

import dagster as dg

from reo_dt_assets.catalog import Catalog

GROUP = "ad_revenue"  # one group that opens on the whole flow
OWNERS = ("team:data-platform",)

# The pools' base names; an instance's are prefixed like its resource keys.
DT_REPORTING = "dt_reporting"  # report requests and downloads to DT
DUCKDB_WRITER = "duckdb_writer"  # the one writer of the DuckDB file (DuckLake: many)
REO_DELIVERY = "reo_delivery"  # sends to Reo.Dev (each step is already concurrent inside)

MAX_CONCURRENT_RUNS = 4  # deploy/dagster.yaml and deploy/dagster-postgres.yaml


def limits(ducklake: bool) -> dict[str, int]:
    """The plain pools' limits: the DuckDB file takes one writer, a DuckLake catalog one per run
    (an instance's prefixed pools take the instance's ``default_limit`` unless set)."""
    return {DT_REPORTING: 3, DUCKDB_WRITER: MAX_CONCURRENT_RUNS if ducklake else 1, REO_DELIVERY: 1}


GRAIN_TAG = "reo_dt/grain"  # the assets of one (app, day): what its daily job selects


def layer(name: str) -> dict[str, str]:
    """The tags of an asset: which layer it is (raw, table, delivery, rollup, report), and, for
    the assets of one (app, day), their grain (what the daily job selects)."""
    tags = {"layer": name}
    if name in ("raw", "table", "delivery"):
        tags[GRAIN_TAG] = "app_day"
    return tags


class ComponentAttributeError(ValueError):
    """A component's ``defs.yaml`` asks for something it cannot do; the message says what to
    change."""


def report_key(app_id: str, date: dt.date) -> str:
    """``("148721", date(2026, 11, 20))`` -> ``"148721|2026-11-20"``."""
    return f"{app_id}|{date.isoformat()}"


def _day(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class Wiring:
    """One instance: its catalog, its names and its partitions."""

    catalog: Catalog
    catalog_source: str  # where the catalog came from, for messages ("app catalog apps.toml")
    catalog_setting: str  # what to edit to change it ("REO_DT_APPS_FILE")
    key_prefix: tuple[str, ...] = ()
    group: str = GROUP
    owners: tuple[str, ...] = OWNERS
    pools: dict[str, str] = field(default_factory=dict)  # base name -> this instance's

    def key(self, name: str) -> dg.AssetKey:
        return dg.AssetKey([*self.key_prefix, name])

    def name(self, base: str) -> str:
        """A resource key, job, schedule or sensor name of this instance."""
        return "_".join([*self.key_prefix, base])

    def pool(self, base: str) -> str:
        return self.pools.get(base) or self.name(base)

    @cached_property
    def daily(self) -> dg.DailyPartitionsDefinition:
        return dg.DailyPartitionsDefinition(
            start_date=self.catalog.start_date.isoformat(), timezone="UTC"
        )

    @cached_property
    def report_partitions(self) -> dg.MultiPartitionsDefinition:
        """Keys read "<app>|<date>": Dagster orders the dimensions by name."""
        apps = dg.StaticPartitionsDefinition(self.catalog.app_ids)
        return dg.MultiPartitionsDefinition({"date": self.daily, "app": apps})

    def report_of(self, partition_key: str) -> tuple[dt.date, str]:
        """``"148721|2026-11-20"`` -> ``(date(2026, 11, 20), "148721")``, for a catalog app.

        A key in the other order, a malformed key or an app that is no longer in the catalog
        (it was edited after the run was queued) fails with a message that says what to do.
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
                f"partition key {partition_key!r} is not valid: {form}{hint}.",
                allow_retries=False,
            )
        if app_id not in self.catalog.app_ids:
            raise dg.Failure(
                f"app {app_id!r} of partition {partition_key!r} is not in the "
                f"{self.catalog_source} (apps: {', '.join(self.catalog.app_ids)}): the catalog "
                "was edited after the run was queued, or the key is mistyped. Add the app back "
                "to the catalog and reload the code location, or cancel the run.",
                allow_retries=False,
            )
        return date, app_id

    def report_day(self, partition_key: str | None) -> dt.date | None:
        """The day of an ``"<app>|<YYYY-MM-DD>"`` key of a catalog app; None for any other."""
        app_id, _, day = (partition_key or "").partition("|")
        if not app_id or app_id not in self.catalog.app_ids:
            return None
        return _day(day)
