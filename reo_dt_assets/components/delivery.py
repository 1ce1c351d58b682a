"""The Reo.Dev delivery as a dg Component (``reo_dt_assets.components.ReoDevDelivery``), and the
alerts sensor as one (``reo_dt_assets.components.ReoDtAlerts``)."""

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

import dagster as dg

from reo_dt_assets import settings
from reo_dt_assets.catalog import Catalog
from reo_dt_assets.components.alerts import build_alerts_sensor
from reo_dt_assets.components.events import build_usage_events
from reo_dt_assets.components.resources import ReoResource, UserDirectoryResource
from reo_dt_assets.components.rollup import build_rollup_assets, build_rollup_automation
from reo_dt_assets.components.scaffolds import AlertsScaffolder, DeliveryScaffolder
from reo_dt_assets.components.source import DigitalTurbineSource
from reo_dt_assets.components.sweep import build_sweep
from reo_dt_assets.components.wiring import REO_DELIVERY, ComponentAttributeError, Wiring


class ReoCredentials(dg.Resolvable, dg.Model):
    """The *names* of the environment variables holding the Reo.Dev API key and base URL."""

    api_key_env: str = settings.REO_API_KEY
    base_url_env: str = settings.REO_INGEST_BASE_URL


class AppEvents(dg.Resolvable, dg.Model):
    """What one app's events carry in Reo.Dev, over what the source's catalog says."""

    product_id: str | None = None
    activity_type: str | None = None
    environment: str | None = None
    correction_activity_type: str | None = None


class Pace(dg.Resolvable, dg.Model):
    """Caps on the pace (Reo.Dev's answers set it below them). Default: the environment's."""

    max_concurrency: int | None = None
    max_requests_per_second: float | None = None


class Corrections(dg.Resolvable, dg.Model):
    """When an app with a ``correction_activity_type`` corrects a delivered user whose revenue a
    later pull moved: by more than ``min_usd`` and ``min_pct``. Default: the environment's."""

    min_usd: float | None = None
    min_pct: float | None = None


@dg.scaffold_with(DeliveryScaffolder)
@dataclass
class ReoDevDelivery(dg.Component, dg.Resolvable):
    """One Reo.Dev product-usage event per user and day, sent exactly once per event id.

    Reads the ``user_revenue`` table of the ``DigitalTurbineSource`` in the folder ``source``
    (relative to the defs folder) over its partitions, and builds ``reo_usage_events`` with its
    blocking checks; the delivery ledger in the same warehouse records every event, so a re-run
    sends only what Reo.Dev has not confirmed, and ``reo_delivery_runs`` every run. A sweep job
    (and its 14:30 UTC schedule) delivers what is left of days no longer pulled. With
    ``rollup`` (on by default) also ``daily_revenue`` (one day across apps), ``revenue_report``
    (an HTML page), their job, its 13:30 UTC schedule and the sensor that rolls a day up when its
    last app lands.
    """

    source: str = "digital_turbine"
    asset_key_prefix: list[str] | None = None
    group_name: str | None = None
    credentials: ReoCredentials = field(default_factory=ReoCredentials)
    apps: dict[str, AppEvents] = field(default_factory=dict)
    pace: Pace = field(default_factory=Pace)
    event_id_type: Literal["integer", "string"] | None = None
    dry_run: bool = False
    corrections: Corrections = field(default_factory=Corrections)
    user_directory: str | None = None
    failure_threshold_pct: float | None = None
    pool: str | None = None
    rollup: bool = True

    def _catalog(self, catalog: Catalog) -> Catalog:
        unknown = sorted(set(self.apps) - set(catalog.app_ids))
        if unknown:
            raise ComponentAttributeError(
                f"ReoDevDelivery: apps {unknown} are not in the source's catalog "
                f"({', '.join(catalog.app_ids)})"
            )
        apps = tuple(
            dataclasses.replace(app, **self.apps[app.app_id].model_dump(exclude_none=True))
            if app.app_id in self.apps
            else app
            for app in catalog.apps
        )
        return dataclasses.replace(catalog, apps=apps)

    def resources(self, d: Wiring) -> dict[str, object]:
        tuned = {
            name: value
            for name, value in [
                ("max_concurrency", self.pace.max_concurrency),
                ("max_requests_per_second", self.pace.max_requests_per_second),
                ("event_id_type", self.event_id_type),
                ("correction_min_usd", self.corrections.min_usd),
                ("correction_min_pct", self.corrections.min_pct),
                ("failure_threshold_pct", self.failure_threshold_pct),
            ]
            if value is not None
        }
        directory = (
            settings.user_directory() if self.user_directory is None else (self.user_directory)
        )
        return {
            d.name("reo"): ReoResource(
                api_key_env=self.credentials.api_key_env,
                base_url_env=self.credentials.base_url_env,
                **tuned,
            ),
            d.name("user_directory"): UserDirectoryResource(source=directory),
        }

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        settings.validate(
            urls={self.credentials.base_url_env: settings.DEFAULT_REO_INGEST_BASE_URL}
        )
        try:
            source = context.load_component(self.source, DigitalTurbineSource)
        except Exception as error:  # the tree's own: no component there, or another type
            raise ComponentAttributeError(
                f"ReoDevDelivery: source {self.source!r} is not the folder of a "
                "DigitalTurbineSource: set `source:` to that folder, relative to defs/ "
                f"({error})"
            ) from error
        w = source.wiring()
        d = dataclasses.replace(
            w,
            catalog=self._catalog(w.catalog),
            key_prefix=w.key_prefix
            if self.asset_key_prefix is None
            else tuple(self.asset_key_prefix),
            group=self.group_name or w.group,
            pools={**w.pools, **({REO_DELIVERY: self.pool} if self.pool else {})},
        )
        upstream = w.key("user_revenue")
        events, events_checks = build_usage_events(w, d, upstream, sends=not self.dry_run)
        sweep_job, sweep_schedule = build_sweep(w, d, source.ages)
        defs = dg.Definitions(
            assets=[events],
            asset_checks=[events_checks],
            jobs=[sweep_job],
            schedules=[sweep_schedule],
            resources=self.resources(d),
        )
        if not self.rollup:
            return defs
        daily, daily_checks, cohorts, cohorts_check, report = build_rollup_assets(
            w, d, upstream, events.key
        )
        job, schedule, sensor = build_rollup_automation(
            w, d, [daily, cohorts, report], events.key, source.ages
        )
        return dg.Definitions.merge(
            defs,
            dg.Definitions(
                assets=[daily, cohorts, report],
                asset_checks=[daily_checks, cohorts_check],
                jobs=[job],
                schedules=[schedule],
                sensors=[sensor],
            ),
        )


@dg.scaffold_with(AlertsScaffolder)
@dataclass
class ReoDtAlerts(dg.Component, dg.Resolvable):
    """Tells ``REO_DT_ALERT_URLS`` (Slack, e-mail, a webhook, ... via apprise) once per incident:
    a run of the code location failed after its last retry, an ERROR check failed (per
    partition), and once more when it passes again. One per code location: it watches every
    job's runs and checks, those of every source and delivery."""

    sensor_name: str = "alerts"

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        return dg.Definitions(sensors=[build_alerts_sensor(self.sensor_name)])
