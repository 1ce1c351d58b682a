"""Helpers the tests share: clients and resources aimed at the sandboxes, waits, run failures.

Fixtures live in ``conftest.py``; this is a plain module, so tests and the child processes some
of them start import it like any other.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import dagster as dg
import duckdb
import pytest

from reo_dt_assets import settings
from reo_dt_assets.digital_turbine.client import DigitalTurbineClient
from reo_dt_assets.migrations import file_store, migrate_duckdb_file
from reo_dt_assets.reo.ledger import DeliveryLedger, RunKey
from reo_dt_assets.retry import RetryPolicy
from reo_dt_assets.sandbox.dt_server import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, DTSandbox
from reo_dt_assets.sandbox.reo_server import SANDBOX_API_KEY

REPO = Path(__file__).resolve().parent.parent
TESTS = REPO / "reo_dt_assets_tests"  # and its apps.toml: the sandbox apps from a fixed day
FAST_RETRY = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05)
T = TypeVar("T")


def make_client(sandbox: DTSandbox, **overrides: object) -> DigitalTurbineClient:
    options: dict = {
        "retry": FAST_RETRY,
        "poll_initial_seconds": 0.01,
        "poll_max_seconds": 0.05,
        "poll_deadline_seconds": 10.0,
        "timeout_seconds": 5.0,
    }
    options.update(overrides)
    return DigitalTurbineClient(
        options.pop("client_id", sandbox.client_id),
        options.pop("client_secret", sandbox.client_secret),
        sandbox.url,
        **options,
    )


def point_at_sandboxes(
    dt_url: str, reo_url: str = "http://127.0.0.1:9", reo_key: str = SANDBOX_API_KEY
) -> None:
    """Set the variables production reads, as an operator would (restored after each test)."""
    os.environ.update(
        {
            settings.DT_CLIENT_ID: SANDBOX_CLIENT_ID,
            settings.DT_CLIENT_SECRET: SANDBOX_CLIENT_SECRET,
            settings.DT_REPORTING_BASE_URL: dt_url,
            settings.REO_API_KEY: reo_key,
            settings.REO_INGEST_BASE_URL: reo_url,
        }
    )


def dt_resources(dt_url: str, data_dir: Path, **overrides: object) -> dict[str, object]:
    """Resources as production wires them, aimed at a DT sandbox, with fast polling."""
    from reo_dt_assets.components.resources import DigitalTurbineResource, StorageResource

    point_at_sandboxes(dt_url)
    options: dict = {
        "retry_base_seconds": 0.01,
        "poll_initial_seconds": 0.01,
        "poll_max_seconds": 0.05,
        "retention_days": 0,  # the tests use fixed dates
    }
    options.update(overrides)
    return {
        "digital_turbine": DigitalTurbineResource(**options),
        "storage": StorageResource(data_dir=str(data_dir)),
    }


def all_resources(
    dt_url: str,
    data_dir: Path,
    reo_url: str = "http://127.0.0.1:9",
    *,
    reo_key: str = SANDBOX_API_KEY,
    directory: str = "",
    **reo_overrides: object,
) -> dict[str, object]:
    """Every resource, aimed at the sandboxes, the DuckDB file in ``data_dir``."""
    from reo_dt_assets.components.resources import (
        ReoResource,
        UserDirectoryResource,
        WarehouseResource,
    )

    resources = dt_resources(dt_url, data_dir)
    point_at_sandboxes(dt_url, reo_url, reo_key)
    reo_options: dict = {"max_concurrency": 8, "retry_base_seconds": 0.01}
    reo_options.update(reo_overrides)
    return {
        **resources,
        "duckdb": WarehouseResource(database=str(data_dir / "reo_dt.duckdb")),
        "reo": ReoResource(**reo_options),
        "user_directory": UserDirectoryResource(source=directory),
    }


def load_partition(dt_url: str, data_dir: Path, key: str) -> None:
    """The raw report and ``user_revenue`` of ``key``, from a DT sandbox."""
    from reo_dt_assets_tests.chain import dt_user_level_report, user_revenue

    result = dg.materialize(
        [dt_user_level_report, user_revenue],
        partition_key=key,
        resources=all_resources(dt_url, data_dir),
    )
    assert result.success


def deliver_partition(
    dt_url: str, reo_url: str, data_dir: Path, key: str, dry_run: bool = False, **options: object
) -> dg.ExecuteInProcessResult:
    """``reo_usage_events`` and its checks on ``key`` (a run that may fail)."""
    from reo_dt_assets_tests.chain import reo_usage_events, reo_usage_events_checks

    return dg.materialize(
        [reo_usage_events, reo_usage_events_checks],
        partition_key=key,
        resources=all_resources(dt_url, data_dir, reo_url, **options),  # type: ignore[arg-type]
        run_config={"ops": {"reo_usage_events": {"config": {"dry_run": dry_run}}}},
        raise_on_error=False,
    )


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, every: float = 0.1) -> T:
    """``probe()`` once it is truthy, polled every ``every`` s; fails after ``timeout`` s.

    ``probe`` may itself assert, to fail at once when what it waits for can no longer happen.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(every)


def step_failure(result: dg.ExecuteInProcessResult) -> tuple[str | None, str]:
    """The step key and the message of the run's one step failure."""
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    return failure.step_key, str(failure.event_specific_data)


def file_ledger(
    path: Path, run: RunKey | None = None, journal: Path | None = None
) -> DeliveryLedger:
    """The delivery ledger in the DuckDB file ``path``, a fresh connection per transaction,
    migrated first as production's connections are (``run``: its run row; ``journal``: its
    journals' folder)."""

    @contextmanager
    def connect() -> Iterator[duckdb.DuckDBPyConnection]:
        with duckdb.connect(str(path)) as conn:
            migrate_duckdb_file(conn, file_store(path))
            yield conn

    return DeliveryLedger(connect, run, journal)


def assert_users_are_the_ground_truth(
    conn: duckdb.DuckDBPyConnection,
    sandbox: DTSandbox,
    apps: Iterable[str],
    days: Iterable[dt.date],
) -> None:
    """``user_revenue`` holds exactly the DT sandbox's users of every (app, day), to 1e-9 USD."""
    for app in apps:
        for day in days:
            truth = sandbox.ground_truth(day, app)
            rows = dict(
                conn.execute(
                    "SELECT user_key, revenue_usd FROM user_revenue "
                    "WHERE report_date = ? AND app_id = ?",
                    [day, app],
                ).fetchall()
            )
            assert len(rows) == len(truth.users), (app, day)
            for (_, key), totals in truth.users.items():
                assert rows[key] == pytest.approx(totals.revenue_usd, abs=1e-9)
