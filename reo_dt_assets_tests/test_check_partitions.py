"""Every check result names its (app, day): on the evaluation, in its metadata, in the history.

The check history and the partitions grid of the UI read the partition of each stored check
execution; two partitions run into one instance must give history rows that tell them apart.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg

from reo_dt_assets.sandbox.dt_server import DTSandbox
from reo_dt_assets.sandbox.reo_server import ReoSandbox
from reo_dt_assets_tests.chain import (
    dt_user_level_report,
    dt_user_level_report_columns,
    reo_usage_events,
    reo_usage_events_checks,
    user_revenue,
    user_revenue_checks,
)
from reo_dt_assets_tests.helpers import all_resources

DAY = dt.date(2026, 11, 20)
PASSING, BROKEN = f"148721|{DAY}", f"203945|{DAY}"
CHECKS = [dt_user_level_report_columns, user_revenue_checks, reo_usage_events_checks]
CHAIN = [dt_user_level_report, user_revenue, reo_usage_events, *CHECKS]


def test_each_check_result_is_tied_to_its_partition(
    dt_sandbox: DTSandbox, reo_sandbox: ReoSandbox, tmp_path: Path
) -> None:
    # The second app's report has no Revenue column: its blocking column check fails.
    dt_sandbox.overrides[(DAY, "203945")] = b"User ID,Impressions,Revnue\r\nbob,3,0.01\r\n"
    resources = all_resources(dt_sandbox.url, tmp_path, reo_sandbox.url)
    with dg.DagsterInstance.ephemeral() as instance:
        for key in (PASSING, BROKEN):
            result = dg.materialize(
                CHAIN,
                partition_key=key,
                resources=resources,
                instance=instance,
                raise_on_error=False,
            )
            evaluations = result.get_asset_check_evaluations()
            assert len(evaluations) == (12 if key == PASSING else 1)
            for evaluation in evaluations:
                assert evaluation.partition == key, evaluation.check_name
                assert evaluation.metadata["partition"] == dg.TextMetadataValue(key)

        check_keys = [key for checks in CHECKS for key in checks.check_keys]
        storage = instance.event_log_storage
        history = {
            key.name: {
                (record.partition, record.status.value)
                for record in storage.get_asset_check_execution_history(key, limit=10)
            }
            for key in check_keys
        }
    assert history.pop("dt_user_level_report_columns") == {
        (PASSING, "SUCCEEDED"),
        (BROKEN, "FAILED"),
    }
    assert len(history) == 11
    # Blocked on BROKEN, the other checks keep its row as planned: the UI, seeing the run
    # failed, shows "execution failed" for that partition.
    assert all(rows == {(PASSING, "SUCCEEDED"), (BROKEN, "PLANNED")} for rows in history.values())
