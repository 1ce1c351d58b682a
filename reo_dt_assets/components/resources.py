"""The resources the components wire (``source.py``, ``delivery.py``: the one place each is
built).

Credentials and base URLs are not config values: a resource holds the *names* of the
environment variables that hold them (``DT_CLIENT_ID`` unless a component says otherwise, so a
second DT account reads its own), and each client reads them when a run uses it (secrets through
``dagster.EnvVar``). So run config in the launchpad tunes polling, retries or concurrency without
repeating a credential and cannot send one to another host, no secret is ever in a ``defs.yaml``
or the UI, and a missing credential fails the run with one message naming every missing variable
instead of refusing the launch. Tunables default to their environment variable when it is set.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource
from pydantic import Field

from reo_dt_assets import settings
from reo_dt_assets.digital_turbine.budget import FILE_NAME as BUDGET_FILE
from reo_dt_assets.digital_turbine.budget import Budget, ReportBudget
from reo_dt_assets.digital_turbine.client import DEFAULT_RETRY as DT_DEFAULT_RETRY
from reo_dt_assets.digital_turbine.client import DigitalTurbineClient
from reo_dt_assets.migrations import file_store, migrate_duckdb_file
from reo_dt_assets.reo.client import ReoClient
from reo_dt_assets.reo.corrections import Thresholds
from reo_dt_assets.reo.ledger import DeliveryLedger, RunKey
from reo_dt_assets.retry import RetryPolicy
from reo_dt_assets.schema import Table
from reo_dt_assets.transactions import configure_file_connection
from reo_dt_assets.warehouse import DuckLake, app_write_lock, lake_connection, qualified


def _secrets(*names: str) -> list[str]:
    """The values of the secret variables ``names``; fail naming every one unset or empty."""
    values = [(dg.EnvVar(name).get_value() or "").strip() for name in names]
    missing = [name for name, value in zip(names, values, strict=True) if not value]
    if missing:
        raise dg.Failure(
            description=f"Missing credentials: set {', '.join(missing)} in the environment of "
            "the code location (see .env.example; `dagster dev` also reads a .env file in the "
            "project folder), then re-run. Nothing was requested.",
            allow_retries=False,
        )
    return values


class DigitalTurbineResource(dg.ConfigurableResource):
    """DT User Level Reporting API: auth, retries, timeouts and polling live in the client.

    ``DT_CLIENT_ID`` / ``DT_CLIENT_SECRET`` authenticate; ``DT_REPORTING_BASE_URL`` says where
    (or the variables these fields name).
    """

    client_id_env: str = Field(
        default=settings.DT_CLIENT_ID, description="The variable holding DT's client ID."
    )
    client_secret_env: str = Field(
        default=settings.DT_CLIENT_SECRET, description="The variable holding DT's client secret."
    )
    base_url_env: str = Field(
        default=settings.DT_REPORTING_BASE_URL,
        description="The variable holding the API's base URL "
        f"({settings.DEFAULT_DT_REPORTING_BASE_URL} when unset).",
    )

    timeout_seconds: float = Field(
        default=settings.DT_TIMEOUT_SECONDS.value(), description="Per-request timeout."
    )
    retry_attempts: int = Field(
        default=int(settings.DT_RETRY_ATTEMPTS.value()),
        description="Tries per request on 5xx and timeouts.",
    )
    retry_base_seconds: float = Field(
        default=DT_DEFAULT_RETRY.base_delay, description="First retry wait; doubles."
    )
    poll_initial_seconds: float = Field(
        default=settings.DT_POLL_INITIAL_SECONDS.value(),
        description="First wait between polls of the report URL.",
    )
    poll_max_seconds: float = Field(
        default=settings.DT_POLL_MAX_SECONDS.value(),
        description="Longest wait between polls.",
    )
    poll_deadline_seconds: float = Field(
        default=settings.DT_POLL_DEADLINE_SECONDS.value(),
        description="Polling per attempt, holding a dt_reporting slot; a report still not "
        "ready then is retried later by Dagster, without a slot.",
    )
    not_ready_retries: int = Field(
        default=int(settings.DT_NOT_READY_RETRIES.value()),
        description="Later attempts for a report that was not ready.",
    )
    not_ready_wait_seconds: float = Field(
        default=settings.DT_NOT_READY_WAIT_SECONDS.value(),
        description="Wait before each later attempt (no slot is held meanwhile).",
    )
    reports_per_day: int = Field(
        default=settings.report_limit(settings.DT_REPORTS_PER_DAY) or 0,
        description="DT report requests allowed per UTC day across every run (0: no limit); "
        "the schedule plans within it and a request beyond it fails, saying so.",
        ge=0,
    )
    reports_per_minute: int = Field(
        default=settings.report_limit(settings.DT_REPORTS_PER_MINUTE) or 0,
        description="DT report requests allowed per minute across every run (0: no limit); "
        "a request waits for the minute's next one.",
        ge=0,
    )
    retention_days: int = Field(
        default=settings.DT_WINDOW_DAYS,
        description="DT serves about the last 10 days; older partitions fail early "
        "(0 turns the check off).",
    )

    def budget(self, data_dir: Path) -> ReportBudget | None:
        """The report budget shared by every run on ``data_dir``, if DT's requests are limited."""
        budget = Budget(self.reports_per_day or None, self.reports_per_minute or None)
        return ReportBudget(data_dir / BUDGET_FILE, budget) if budget.limited else None

    @contextmanager
    def client(
        self, log: logging.Logger, data_dir: Path | None = None
    ) -> Iterator[DigitalTurbineClient]:
        """A client; given the ``data_dir``, its report requests count against the budget."""
        client_id, client_secret = _secrets(self.client_id_env, self.client_secret_env)
        with DigitalTurbineClient(
            client_id,
            client_secret,
            settings.http_url(self.base_url_env, settings.DEFAULT_DT_REPORTING_BASE_URL),
            timeout_seconds=self.timeout_seconds,
            retry=RetryPolicy(attempts=self.retry_attempts, base_delay=self.retry_base_seconds),
            poll_initial_seconds=self.poll_initial_seconds,
            poll_max_seconds=self.poll_max_seconds,
            poll_deadline_seconds=self.poll_deadline_seconds,
            retention_days=self.retention_days,
            budget=None if data_dir is None else self.budget(data_dir),
            log=log,
        ) as client:
            yield client


class ReoResource(dg.ConfigurableResource):
    """Reo.Dev Product Usage API: retries, timeouts and concurrency live in the client.

    ``REO_API_KEY`` authenticates; ``REO_INGEST_BASE_URL`` says where (or the variables these
    fields name).
    """

    api_key_env: str = Field(
        default=settings.REO_API_KEY, description="The variable holding the Reo.Dev API key."
    )
    base_url_env: str = Field(
        default=settings.REO_INGEST_BASE_URL,
        description="The variable holding the API's base URL "
        f"({settings.DEFAULT_REO_INGEST_BASE_URL} when unset).",
    )

    max_concurrency: int = Field(
        default=settings.reo_max_concurrency(),
        description="Requests in flight at most; how many below it follows Reo.Dev's answers "
        "(they grow while answers are clean and the round trip holds, shrink on pressure).",
        ge=1,
    )
    max_requests_per_second: float = Field(
        default=settings.REO_MAX_REQUESTS_PER_SECOND.value(),
        description="A hard cap on requests per second, for a contract with a known limit "
        "(0: none; 429s pace the delivery anyway).",
        ge=0,
    )
    timeout_seconds: float = Field(
        default=settings.REO_TIMEOUT_SECONDS.value(), description="Per-request timeout."
    )
    retry_attempts: int = Field(
        default=int(settings.REO_RETRY_ATTEMPTS.value()),
        description="Tries per event on 429/5xx/timeouts (a waiting event holds up no other).",
    )
    retry_base_seconds: float = Field(
        default=settings.REO_RETRY_BASE_SECONDS.value(), description="First retry wait; doubles."
    )
    retry_max_seconds: float = Field(
        default=settings.REO_RETRY_MAX_SECONDS.value(), description="Longest wait between tries."
    )
    outage_limit_seconds: float = Field(
        default=settings.REO_OUTAGE_LIMIT_SECONDS.value(),
        description="How long Reo.Dev may answer only 5xx or time out (probed at growing "
        "intervals meanwhile) before the delivery fails, retryable, losing nothing.",
    )
    event_id_type: settings.EventIdType = Field(
        default=settings.event_id_type(),
        description="event_id on the wire: a JSON integer (Reo.Dev's examples and client) or "
        "the same number as a decimal string (the document's table).",
    )
    correction_min_usd: float = Field(
        default=settings.REO_CORRECTION_MIN_USD.value(),
        description="An app with a correction_activity_type corrects a delivered user whose "
        "revenue moved by more than this many USD (and correction_min_pct).",
        ge=0,
    )
    correction_min_pct: float = Field(
        default=settings.REO_CORRECTION_MIN_PCT.value(),
        description="... and by more than this % of what Reo.Dev was told (from zero: any).",
        ge=0,
    )

    failure_threshold_pct: float = Field(
        default=settings.REO_DT_DELIVERY_FAILURE_PCT.value(),
        description="failures_within_threshold fails when a partition's failed + rejected "
        "events pass this % of its events.",
        ge=0,
    )

    @property
    def correction_thresholds(self) -> Thresholds:
        return Thresholds(self.correction_min_usd, self.correction_min_pct)

    @contextmanager
    def client(self, log: logging.Logger) -> Iterator[ReoClient]:
        [api_key] = _secrets(self.api_key_env)
        with ReoClient(
            api_key,
            settings.http_url(self.base_url_env, settings.DEFAULT_REO_INGEST_BASE_URL),
            max_concurrency=self.max_concurrency,
            max_requests_per_second=self.max_requests_per_second or None,
            timeout_seconds=self.timeout_seconds,
            retry=RetryPolicy(
                attempts=self.retry_attempts,
                base_delay=self.retry_base_seconds,
                max_delay=self.retry_max_seconds,
            ),
            outage_limit_seconds=self.outage_limit_seconds,
            event_id_type=self.event_id_type,
            log=log,
        ) as client:
            yield client


class WarehouseResource(DuckDBResource):
    """Connections to the tables: the DuckDB file ``database``, or, when ``REO_DT_DUCKLAKE``
    names a PostgreSQL database, the DuckLake catalog in it (``reo_dt_assets.warehouse``).

    Either store is brought to the current schema version before the first read
    (``reo_dt_assets.migrations``). The conninfo is read when a run connects, like a credential,
    since it may hold a password.
    On the file, a connection is closed when the work inside fails too: ``DuckDBResource``'s
    closes only on success, and after a failed write the traceback kept it, and with it the
    file's one write lock, alive until garbage collection, so other runs waited on a lock nobody
    used.
    """

    memory_mb: int = Field(
        default=int(settings.REO_DT_DUCKDB_MEMORY_MB.value()),
        description="MiB DuckDB may use on a connection to the file (a user_revenue load sets "
        "its own, from load_memory_mb); beyond it DuckDB spills to disk.",
        ge=64,
    )

    def _lake(self) -> DuckLake | None:
        catalog = (dg.EnvVar(settings.REO_DT_DUCKLAKE).get_value() or "").strip()
        return DuckLake(catalog, settings.ducklake_data_path()) if catalog else None

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        lake = self._lake()
        if lake is not None:
            with lake_connection(lake) as conn:
                yield conn
            return
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        with super().get_connection() as conn:
            try:
                migrate_duckdb_file(conn, file_store(self.database))
                configure_file_connection(conn, self.memory_mb)
                yield conn
            except BaseException:
                conn.close()
                raise

    @contextmanager
    def app_writer(self, app_id: str) -> Iterator[None]:
        """Held while a partition of ``app_id`` is written: on a DuckLake catalog, one writer of
        the app at a time (``warehouse.app_write_lock``); the DuckDB file has one writer anyway."""
        lake = self._lake()
        if lake is None:
            yield
            return
        with app_write_lock(lake, app_id):
            yield

    @contextmanager
    def get_ledger_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Where the delivery ledger is: the file, or PostgreSQL beside a DuckLake catalog."""
        lake = self._lake()
        if lake is None:
            with self.get_connection() as conn:
                yield conn
            return
        with lake_connection(lake, ledger=True) as conn:
            yield conn

    def ledger(self, run: RunKey | None = None) -> DeliveryLedger:
        """The delivery ledger, its runs' journals in ``<database file stem>.journal`` beside
        the DuckDB file (on a DuckLake catalog too: they are this machine's)."""
        database = Path(self.database)
        journal = database.with_name(f"{database.stem}.journal")
        return DeliveryLedger(self.get_ledger_connection, run, journal)

    def table_name(self, table: Table) -> str:
        """``dagster/table_name``: ``<database file stem>.main.<table>``, or its name beside the
        DuckLake catalog (never the conninfo)."""
        if self._lake() is not None:
            return qualified(table)
        return f"{Path(self.database).stem}.main.{table.name}"


class UserDirectoryResource(dg.ConfigurableResource):
    """The publisher's optional user directory (``REO_DT_USER_DIRECTORY``)."""

    source: str = Field(
        default="", description="CSV path, 'duckdb:<table>' in the DuckDB file, or empty."
    )


class StorageResource(dg.ConfigurableResource):
    """Where raw files land (``REO_DT_DATA_DIR``), and the memory a table load may use."""

    data_dir: str = "data"
    load_memory_mb: int = Field(
        default=int(settings.REO_DT_LOAD_MEMORY_MB.value()),
        description="MiB one user_revenue load aims to stay within: the report is aggregated "
        "in as many buckets as that takes, and DuckDB's memory_limit is half of it.",
        ge=512,
    )
    restatement_warn_pct: float = Field(
        default=settings.REO_DT_RESTATEMENT_WARN_PCT.value(),
        description="A reload moving a day whose events were delivered by more than this % of "
        "its revenue turns user_revenue's restatement check yellow.",
        ge=0,
    )
    parse_buckets: int = Field(
        default=0,
        description="0: as many buckets as load_memory_mb takes; N: parse in N buckets "
        "whatever the report's size (tests, measurements).",
        ge=0,
    )
