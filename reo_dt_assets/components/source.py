"""The Digital Turbine user-level source as a dg Component: what a ``defs.yaml`` of type
``reo_dt_assets.components.DigitalTurbineSource`` builds."""

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import dagster as dg

from reo_dt_assets import settings
from reo_dt_assets.catalog import Catalog, load_catalog, parse_catalog
from reo_dt_assets.components.raw import build_raw_report
from reo_dt_assets.components.resources import (
    DigitalTurbineResource,
    StorageResource,
    WarehouseResource,
)
from reo_dt_assets.components.revenue import build_user_revenue
from reo_dt_assets.components.scaffolds import SourceScaffolder
from reo_dt_assets.components.schedule import build_events_job
from reo_dt_assets.components.wiring import (
    DT_REPORTING,
    DUCKDB_WRITER,
    GROUP,
    ComponentAttributeError,
    Wiring,
)


def _text(context: dg.ResolutionContext, value: object) -> str | None:
    """A YAML scalar as text: an unquoted ``148721`` or ``2026-10-01`` is not a string."""
    return None if value is None else str(value)


#: An app ID or a day, quoted in the YAML or not.
Text = Annotated[str, dg.Resolver(_text, model_field_type=str | int | dt.date)]
OptionalText = Annotated[
    str | None, dg.Resolver(_text, model_field_type=str | int | dt.date | None)
]


@dataclass
class CatalogApp(dg.Resolvable):
    """One DT app: what is pulled, and what its Reo.Dev events carry."""

    app_id: Text
    product_id: str
    activity_type: str
    environment: str | None = None
    start_date: OptionalText = None
    correction_activity_type: str | None = None


@dataclass
class InlineCatalog(dg.Resolvable):
    """The app catalog written in the ``defs.yaml`` (the keys of ``apps.toml``)."""

    apps: list[CatalogApp]
    start_date: OptionalText = None
    start_days_ago: int | None = None


class DTCredentials(dg.Resolvable, dg.Model):
    """The *names* of the environment variables holding DT's credentials and base URL: values
    never go in YAML (a second DT account reads, e.g., ``DT2_CLIENT_ID``)."""

    client_id_env: str = settings.DT_CLIENT_ID
    client_secret_env: str = settings.DT_CLIENT_SECRET
    base_url_env: str = settings.DT_REPORTING_BASE_URL


class SourcePools(dg.Resolvable, dg.Model):
    """The concurrency pools of the source's steps (default: the asset key prefix's, such as
    ``acct2_dt_reporting``; two instances on one DuckDB file must share ``duckdb_writer``)."""

    dt_reporting: str | None = None
    duckdb_writer: str | None = None


def _without_none(value: Any) -> Any:
    """The inline catalog as ``apps.toml`` would hold it: keys left out rather than null."""
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


def _relative_to_yaml(context: dg.ResolutionContext, value: str | None) -> str | None:
    return str(context.resolve_source_relative_path(value)) if value else None


@dg.scaffold_with(SourceScaffolder)
@dataclass
class DigitalTurbineSource(dg.Component, dg.Resolvable):
    """Digital Turbine's user-level ad revenue, per app and UTC day, into DuckDB.

    Builds ``dt_user_level_report`` (the CSV as DT serves it, kept byte for byte) and
    ``user_revenue`` (revenue and impressions per user and day) over app x day partitions, their
    blocking checks, the daily job of one (app, day) and its 12:30 UTC schedule (the days at the
    pull ages, within the report budget). Credentials come from the environment variables named
    in ``credentials``. Deliver the table with a ``ReoDevDelivery`` whose ``source`` is this
    component's folder.
    """

    catalog_file: Annotated[
        str | None,
        dg.Resolver(
            _relative_to_yaml,
            model_field_type=str,
            description="The app catalog (TOML, as apps.toml), relative to this defs.yaml. "
            "Default: REO_DT_APPS_FILE, else apps.toml in the working folder.",
        ),
    ] = None
    catalog: InlineCatalog | None = None
    asset_key_prefix: list[str] = field(default_factory=list)
    group_name: str = GROUP
    credentials: DTCredentials = field(default_factory=DTCredentials)
    data_dir: str | None = None
    duckdb_path: str | None = None
    pull_ages: list[int] | None = None
    reports_per_day: int | None = None
    reports_per_minute: int | None = None
    pools: SourcePools = field(default_factory=SourcePools)

    def wiring(self) -> Wiring:
        """The instance's catalog and names (the delivery reading this source uses them too)."""
        catalog, where, setting = self._catalog()
        return Wiring(
            catalog=catalog,
            catalog_source=where,
            catalog_setting=setting,
            key_prefix=tuple(self.asset_key_prefix),
            group=self.group_name,
            pools={
                name: pool
                for name, pool in [
                    (DT_REPORTING, self.pools.dt_reporting),
                    (DUCKDB_WRITER, self.pools.duckdb_writer),
                ]
                if pool
            },
        )

    def _catalog(self) -> tuple[Catalog, str, str]:
        """The catalog, where it is from and what sets it."""
        if self.catalog is not None and self.catalog_file is not None:
            raise ComponentAttributeError(
                "DigitalTurbineSource: give `catalog` (inline) or `catalog_file`, not both"
            )
        if self.catalog is not None:
            document = _without_none(dataclasses.asdict(self.catalog))
            where = "app catalog in defs.yaml"
            return parse_catalog(document, source=where), where, "`catalog` in defs.yaml"
        if self.catalog_file:
            path = Path(self.catalog_file)
            return load_catalog(path), f"app catalog {path}", f"catalog_file {path}"
        path = settings.apps_file()
        return load_catalog(path), f"app catalog {path}", settings.REO_DT_APPS_FILE

    def ages(self) -> tuple[int, ...]:
        """The pull ages: the component's, else ``REO_DT_PULL_AGES``."""
        if self.pull_ages is None:
            return settings.pull_ages()
        bad = [age for age in self.pull_ages if not 1 <= age <= settings.DT_WINDOW_DAYS]
        if bad or not self.pull_ages:
            raise ComponentAttributeError(
                f"DigitalTurbineSource: pull_ages {self.pull_ages} must be days 1 to "
                f"{settings.DT_WINDOW_DAYS} (DT serves about {settings.DT_WINDOW_DAYS} days)"
            )
        return tuple(sorted(set(self.pull_ages)))

    def resources(self, w: Wiring) -> dict[str, Any]:
        """The source's resources, under the instance's keys (the delivery reads ``duckdb``)."""
        limits = {
            field: value
            for field, value in [
                ("reports_per_day", self.reports_per_day),
                ("reports_per_minute", self.reports_per_minute),
            ]
            if value is not None
        }
        data_dir = Path(self.data_dir) if self.data_dir else settings.data_dir()
        # A folder of the component's own holds its DuckDB file too, unless one is named.
        database = self.duckdb_path or (
            data_dir / settings.DUCKDB_FILE if self.data_dir else settings.duckdb_path()
        )
        return {
            w.name("digital_turbine"): DigitalTurbineResource(
                client_id_env=self.credentials.client_id_env,
                client_secret_env=self.credentials.client_secret_env,
                base_url_env=self.credentials.base_url_env,
                **limits,
            ),
            w.name("storage"): StorageResource(data_dir=str(data_dir)),
            w.name("duckdb"): WarehouseResource(database=str(database)),
        }

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        settings.validate(
            urls={self.credentials.base_url_env: settings.DEFAULT_DT_REPORTING_BASE_URL}
        )
        w = self.wiring()
        raw, raw_check = build_raw_report(w)
        revenue, revenue_checks = build_user_revenue(w)
        job, schedule = build_events_job(w, raw, self.ages)
        return dg.Definitions(
            assets=[raw, revenue],
            asset_checks=[raw_check, revenue_checks],
            jobs=[job],
            schedules=[schedule],
            resources=self.resources(w),
        )
