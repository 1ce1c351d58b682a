"""Resources, wired in one place: secrets come only from environment variables (EnvVar)."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from dagster_duckdb import DuckDBResource
from pydantic import Field

from reo_dt_assets import settings
from reo_dt_assets.digital_turbine.client import DigitalTurbineClient
from reo_dt_assets.http_retry import RetryPolicy
from reo_dt_assets.reo.client import ReoClient


class DigitalTurbineResource(dg.ConfigurableResource):
    """DT User Level Reporting API: auth, retries, timeouts and polling live in the client."""

    client_id: str = Field(description="DT Console > User Profile > Reporting API Keys.")
    client_secret: str = Field(repr=False, description="Secret of the reporting API key.")
    base_url: str = Field(default=settings.DEFAULT_DT_REPORTING_BASE_URL)
    timeout_seconds: float = Field(default=30.0, description="Per-request timeout.")
    retry_attempts: int = Field(default=5, description="Tries per request on 5xx and timeouts.")
    retry_base_seconds: float = Field(default=1.0, description="First retry wait; doubles.")
    poll_initial_seconds: float = Field(default=2.0, description="First wait between polls.")
    poll_max_seconds: float = Field(default=60.0, description="Longest wait between polls.")
    poll_deadline_seconds: float = Field(default=3600.0, description="Give up polling after.")
    retention_days: int = Field(
        default=10,
        description="DT serves about the last 10 days; older partitions fail early "
        "(0 turns the check off).",
    )

    def __repr__(self) -> str:
        return f"DigitalTurbineResource(base_url={self.base_url!r})"

    @contextmanager
    def client(self, log: logging.Logger) -> Iterator[DigitalTurbineClient]:
        with DigitalTurbineClient(
            self.client_id,
            self.client_secret,
            self.base_url,
            timeout_seconds=self.timeout_seconds,
            retry=RetryPolicy(attempts=self.retry_attempts, base_delay=self.retry_base_seconds),
            poll_initial_seconds=self.poll_initial_seconds,
            poll_max_seconds=self.poll_max_seconds,
            poll_deadline_seconds=self.poll_deadline_seconds,
            retention_days=self.retention_days,
            log=log,
        ) as client:
            yield client


class ReoResource(dg.ConfigurableResource):
    """Reo.Dev Product Usage API: retries, timeouts and concurrency live in the client."""

    api_key: str = Field(repr=False, description="Reo.Dev Product Usage API key.")
    base_url: str = Field(default=settings.DEFAULT_REO_INGEST_BASE_URL)
    concurrency: int = Field(default=16, description="Requests in flight at once.")
    timeout_seconds: float = Field(default=10.0, description="Per-request timeout.")
    retry_attempts: int = Field(default=6, description="Tries per event on 429/5xx/timeouts.")
    retry_base_seconds: float = Field(default=0.5, description="First retry wait; doubles.")

    def __repr__(self) -> str:
        return f"ReoResource(base_url={self.base_url!r}, concurrency={self.concurrency})"

    @contextmanager
    def client(self, log: logging.Logger) -> Iterator[ReoClient]:
        with ReoClient(
            self.api_key,
            self.base_url,
            concurrency=self.concurrency,
            timeout_seconds=self.timeout_seconds,
            retry=RetryPolicy(attempts=self.retry_attempts, base_delay=self.retry_base_seconds),
            log=log,
        ) as client:
            yield client


class UserDirectoryResource(dg.ConfigurableResource):
    """The publisher's optional user directory (``REO_DT_USER_DIRECTORY``)."""

    source: str = Field(
        default="", description="CSV path, 'duckdb:<table>' in the DuckDB file, or empty."
    )


class StorageResource(dg.ConfigurableResource):
    """Where raw files land (``REO_DT_DATA_DIR``)."""

    data_dir: str = "data"


def build_resources() -> dict[str, object]:
    return {
        "digital_turbine": DigitalTurbineResource(
            client_id=dg.EnvVar(settings.DT_CLIENT_ID),
            client_secret=dg.EnvVar(settings.DT_CLIENT_SECRET),
            base_url=settings.dt_reporting_base_url(),
        ),
        "storage": StorageResource(data_dir=str(settings.data_dir())),
        "duckdb": DuckDBResource(database=str(settings.duckdb_path())),
        "reo": ReoResource(
            api_key=dg.EnvVar(settings.REO_API_KEY), base_url=settings.reo_ingest_base_url()
        ),
        "user_directory": UserDirectoryResource(source=settings.user_directory()),
    }
