"""A run queued for an app that the catalog no longer lists fails with our message.

The run is created under one catalog and executed, as the run worker would, by a process that
loads the code location with the edited catalog.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from reo_dt_assets_tests.helpers import REPO, TESTS

CREATE = """
import dagster as dg
from reo_dt_assets.definitions import defs
job = defs().resolve_job_def("daily_revenue_events_job")
with dg.DagsterInstance.get() as instance:
    run = instance.create_run_for_job(job_def=job, tags={"dagster/partition": "203945|2026-11-20"})
    print(run.run_id)
"""
EXECUTE = """
import sys
import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._core.execution.api import execute_run
repository = ReconstructableRepository.for_module("reo_dt_assets.definitions", "defs", sys.argv[2])
with dg.DagsterInstance.get() as instance:
    run = instance.get_run_by_id(sys.argv[1])
    execute_run(repository.get_reconstructable_job("daily_revenue_events_job"), run, instance)
    for record in instance.all_logs(run.run_id):
        if record.dagster_event and record.dagster_event.is_step_failure:
            print(record.dagster_event.step_failure_data.error.message)
    print(instance.get_run_by_id(run.run_id).status)
"""


def _python(code: str, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.slow
def test_run_of_an_app_removed_from_the_catalog_says_what_to_do(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    edited = tmp_path / "apps.toml"
    edited.write_text(
        'start_date = "2026-10-01"\n[[apps]]\napp_id = "148721"\n'
        'product_id = "puzzle-quest"\nactivity_type = "AD_REVENUE"\n'
    )
    env = {**os.environ, "DAGSTER_HOME": str(home), "REO_DT_DATA_DIR": str(tmp_path / "data")}
    run_id = _python(CREATE, {**env, "REO_DT_APPS_FILE": str(TESTS / "apps.toml")}).split()[-1]
    output = _python(EXECUTE, {**env, "REO_DT_APPS_FILE": str(edited)}, run_id, str(REPO))
    assert "app '203945' of partition '203945|2026-11-20' is not in the app catalog" in output
    assert "Add the app back to the catalog" in output
    assert output.split()[-1] == "DagsterRunStatus.FAILURE"
    assert not (tmp_path / "data").exists()  # nothing was fetched or written
