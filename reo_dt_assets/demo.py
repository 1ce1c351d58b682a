"""One-command demo: the sandboxes on loopback, the chain run through a real Dagster instance.

Starts the DT sandbox, points the settings at it, and materializes every asset of the code
location for the last few days x every app of the catalog, recording the runs in the project's
Dagster instance (``DAGSTER_HOME``, ``.dagster_home/`` by default) so ``make ui`` shows them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
from pathlib import Path

import dagster as dg

from reo_dt_assets.dev import prepare_home
from reo_dt_assets.sandbox.dt_server import DTFaults, DTSandbox

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=7, help="days back from yesterday")
    parser.add_argument("--rows", type=int, default=5000, help="rows per sandbox report")
    args = parser.parse_args(argv)

    home = prepare_home()
    with DTSandbox(rows=args.rows, faults=DTFaults(not_ready_polls=1)) as dt_sandbox:
        os.environ.update(
            DT_CLIENT_ID=dt_sandbox.client_id,
            DT_CLIENT_SECRET=dt_sandbox.client_secret,
            DT_REPORTING_BASE_URL=dt_sandbox.url,
        )
        # Imported only now: the definitions read the settings above when they load.
        from reo_dt_assets.definitions import defs
        from reo_dt_assets.defs.catalog import CATALOG

        job = defs.resolve_implicit_global_asset_job_def()
        yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
        days = [yesterday - dt.timedelta(days=n) for n in range(args.days)][::-1]
        print(f"DT sandbox on {dt_sandbox.url}; Dagster instance in {home}")
        failed = []
        with dg.DagsterInstance.get() as instance:
            for day in days:
                for app_id in CATALOG.app_ids:
                    started = time.monotonic()
                    result = job.execute_in_process(
                        partition_key=f"{app_id}|{day}",
                        instance=instance,
                        run_config=QUIET,
                        raise_on_error=False,
                    )
                    checks = result.get_asset_check_evaluations()
                    rows = _row_count(result)
                    status = "ok" if result.success else "FAILED"
                    if not result.success:
                        failed.append(f"{app_id}|{day}")
                    print(
                        f"{day}  app {app_id:>8}  {status:6}  rows {rows:>7}  "
                        f"checks {sum(c.passed for c in checks)}/{len(checks)} passed  "
                        f"{time.monotonic() - started:5.1f}s"
                    )
    data_dir = Path(os.environ.get("REO_DT_DATA_DIR") or "data").resolve()
    print(f"\nRaw reports: {data_dir}/raw/digital_turbine/user_level/date=*/app_id=*.csv")
    print("Open the UI on the same instance: make ui  (then http://127.0.0.1:3000)")
    if failed:
        raise SystemExit(f"{len(failed)} partitions failed: {', '.join(failed)}")


def _row_count(result: dg.ExecuteInProcessResult) -> int:
    for materialization in result.asset_materializations_for_node("dt_user_level_report"):
        value = materialization.metadata.get("dagster/row_count")
        return int(value.value) if isinstance(value, dg.IntMetadataValue) else 0  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    main()
