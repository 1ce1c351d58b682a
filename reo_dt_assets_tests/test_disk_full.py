"""A disk that fills up during the download, the parse or the DuckDB write: a real one, a tmpfs
small enough to fill. Each step fails saying so (the folder, what to free), retryable, leaving
no partial file and the other days as they were."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from reo_dt_assets.components.resources import StorageResource, WarehouseResource
from reo_dt_assets.components.results import NOT_RETRYABLE
from reo_dt_assets.digital_turbine.raw import raw_report_path
from reo_dt_assets.revenue.scratch import SCRATCH
from reo_dt_assets.sandbox.dt_server import DTSandbox
from reo_dt_assets_tests.chain import dt_user_level_report, user_revenue
from reo_dt_assets_tests.helpers import all_resources, dt_resources, step_failure

APP = "148721"
BEFORE, DAY = dt.date(2026, 11, 19), dt.date(2026, 11, 20)
FILLER = "filler"


@contextmanager
def small_disk(folder: Path, size_kib: int) -> Iterator[Path]:
    """``folder`` as a tmpfs of ``size_kib`` KiB, unmounted at the end."""
    folder.mkdir(parents=True)
    if os.geteuid() != 0:
        pytest.skip("filling a disk takes a tmpfs of its own, which only root may mount")
    mount = ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(folder)]
    mounted = subprocess.run(mount, capture_output=True, text=True, timeout=30)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True, timeout=30)


def leave_free(folder: Path, room: int) -> None:
    """Fill ``folder``'s disk but ``room`` bytes."""
    stats = os.statvfs(folder)
    (folder / FILLER).write_bytes(b"\0" * (stats.f_bavail * stats.f_frsize - room))


def files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (the filler aside) and what it holds."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != FILLER
    }


def materialize(
    assets: list, day: dt.date, resources: dict[str, object], instance: dg.DagsterInstance
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        assets,
        partition_key=f"{APP}|{day}",
        resources=resources,
        instance=instance,
        raise_on_error=False,
    )


def assert_failed_retryable(
    result: dg.ExecuteInProcessResult, instance: dg.DagsterInstance, step: str, folder: Path
) -> str:
    """The step failed on a full disk naming ``folder``, and the run is left to run retries."""
    assert not result.success
    failed, message = step_failure(result)
    assert failed == step
    assert f"No space left on device in {folder} while " in message, message
    run = instance.get_run_by_id(result.run_id)
    assert run is not None and not run.tags.items() & NOT_RETRYABLE.items()
    return message


def user_rows(database: Path) -> list[tuple]:
    with duckdb.connect(str(database), read_only=True) as conn:
        return conn.execute(
            "SELECT report_date, app_id, user_key, impressions, revenue_usd FROM user_revenue "
            "ORDER BY ALL"
        ).fetchall()


def test_a_full_disk_while_downloading(dt_sandbox: DTSandbox, tmp_path: Path) -> None:
    with small_disk(tmp_path / "data", 1024) as data, dg.instance_for_test() as instance:
        resources = dt_resources(dt_sandbox.url, data)
        assert materialize([dt_user_level_report], BEFORE, resources, instance).success
        before = files(data)
        leave_free(data, 16 * 1024)  # the report is ~48 KiB
        result = materialize([dt_user_level_report], DAY, resources, instance)
        folder = raw_report_path(data, DAY, APP).parent
        message = assert_failed_retryable(result, instance, "dt_user_level_report", folder)
        assert "no partial file was kept" in message
        assert "Free space on that volume" in message
        assert files(data) == before  # no partial file, the other day's as it was


@pytest.mark.parametrize("buckets", [1, 3])
def test_a_full_disk_while_parsing(dt_sandbox: DTSandbox, tmp_path: Path, buckets: int) -> None:
    """The raw files and the scratch folder on the small disk; the DuckDB file elsewhere."""
    database = tmp_path / "db" / "reo_dt.duckdb"
    with small_disk(tmp_path / "data", 1024) as data, dg.instance_for_test() as instance:
        resources = {
            **all_resources(dt_sandbox.url, data),
            "storage": StorageResource(data_dir=str(data), parse_buckets=buckets),
            "duckdb": WarehouseResource(database=str(database)),
        }
        assets = [dt_user_level_report, user_revenue]
        assert materialize(assets, BEFORE, resources, instance).success
        assert materialize([dt_user_level_report], DAY, resources, instance).success
        rows, raw = user_rows(database), files(data)
        leave_free(data, 4 * 1024)  # the parse writes ~25 KiB (one bucket) to ~55 KiB (three)
        result = materialize([user_revenue], DAY, resources, instance)
        message = assert_failed_retryable(result, instance, "user_revenue", data / SCRATCH)
        assert "The parse needs up to about the raw report's size there" in message
        assert "cannot be read as CSV" not in message
        assert list((data / SCRATCH).glob("load-*")) == []  # its scratch files went
        assert files(data) == raw  # both days' raw reports as they were
    assert user_rows(database) == rows  # the day before still loaded, this day not


def test_a_full_disk_while_writing_to_duckdb(dt_sandbox: DTSandbox, tmp_path: Path) -> None:
    """The DuckDB file on the small disk; the raw files and the scratch folder elsewhere."""
    data = tmp_path / "data"
    with small_disk(tmp_path / "db", 4096) as folder, dg.instance_for_test() as instance:
        database = folder / "reo_dt.duckdb"
        resources = {
            **all_resources(dt_sandbox.url, data),
            "duckdb": WarehouseResource(database=str(database)),
        }
        assets = [dt_user_level_report, user_revenue]
        assert materialize(assets, BEFORE, resources, instance).success
        rows = user_rows(database)
        leave_free(folder, 8 * 1024)  # the day's users are ~25 KiB
        result = materialize(assets, DAY, resources, instance)
        message = assert_failed_retryable(result, instance, "user_revenue", folder)
        assert "rolled back: the tables hold what they held before" in message
        assert "REO_DT_DUCKDB_PATH" in message
        assert list((data / SCRATCH).glob("load-*")) == []
        wal = f"{database.name}.wal"  # DuckDB's log, emptied by the rollback
        left = {path.name: path.stat().st_size for path in folder.iterdir()}
        assert left.keys() <= {database.name, wal, FILLER} and not left.get(wal), left
        (folder / FILLER).unlink()
        assert user_rows(database) == rows  # the day before still loaded, this day not
        duckdb.connect(str(database)).close()  # as the next run opens it: the empty log goes
        assert [path.name for path in folder.iterdir()] == [database.name]
