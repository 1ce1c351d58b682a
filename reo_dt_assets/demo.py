"""One-command demo: the sandboxes on loopback, the whole chain through a real Dagster instance.

Starts the DT and Reo.Dev sandboxes, points the settings at them, and runs the daily job (raw
report -> user_revenue -> Reo.Dev events, with every check) for the last 7 days x every app of
the catalog, recording the runs in the project's Dagster instance (``.dagster_home/``) so that
``make ui`` shows them. Prints a line per day and where everything landed, and writes a
one-page HTML report of the days (``reo_dt_assets.report``) for a person to look at.
"""

from __future__ import annotations

import argparse
import datetime as dt
from contextlib import ExitStack
from dataclasses import dataclass

import dagster as dg

from reo_dt_assets import settings
from reo_dt_assets.dev import prepare_home, start_sandboxes
from reo_dt_assets.report import read_partitions, write_report

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class DaySummary:
    events_sent: int = 0
    already_delivered: int = 0
    checks_passed: int = 0
    checks: int = 0
    failed: int = 0


def _number(result: dg.ExecuteInProcessResult, node: str, key: str) -> float:
    for materialization in result.asset_materializations_for_node(node):
        value = materialization.metadata.get(key)
        if value is not None and isinstance(value.value, int | float):
            return float(value.value)
    return 0.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=7, help="days back from yesterday")
    args = parser.parse_args(argv)
    home = prepare_home()
    data_dir, duckdb_path = settings.data_dir().resolve(), settings.duckdb_path().resolve()
    with ExitStack() as stack:
        start_sandboxes(stack)
        # Imported only now: the definitions read the settings above when they load.
        from reo_dt_assets.definitions import defs
        from reo_dt_assets.defs.catalog import CATALOG
        from reo_dt_assets.defs.partitions import report_key

        definitions = defs()
        job = definitions.resolve_job_def("daily_revenue_events_job")
        rollup = definitions.resolve_job_def("daily_rollup_job")
        yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
        days = [yesterday - dt.timedelta(days=n) for n in range(args.days)][::-1]
        print(f"Dagster instance: {home}\n")
        print(
            f"{'day':10}  {'apps':>4}  {'users':>6}  {'revenue USD':>12}  {'events sent':>11}"
            f"  {'sent before':>11}  checks"
        )
        summaries: dict[dt.date, DaySummary] = {}
        with dg.DagsterInstance.get() as instance:
            for day in days:
                summary = summaries.setdefault(day, DaySummary())
                runs = [(job, report_key(app_id, day)) for app_id in CATALOG.app_ids]
                for run_job, partition_key in [*runs, (rollup, day.isoformat())]:
                    result = run_job.execute_in_process(
                        partition_key=partition_key,
                        instance=instance,
                        run_config=QUIET,
                        raise_on_error=False,
                    )
                    checks = result.get_asset_check_evaluations()
                    summary.events_sent += int(_number(result, "reo_usage_events", "sent_now"))
                    summary.already_delivered += int(
                        _number(result, "reo_usage_events", "already_delivered")
                    )
                    summary.checks += len(checks)
                    summary.checks_passed += sum(c.passed for c in checks)
                    summary.failed += 0 if result.success else 1
                # Users and revenue as loaded, exact: the metadata rounds money to the cent.
                loaded = read_partitions(duckdb_path, day, day)
                print(
                    f"{day}  {len(CATALOG.app_ids):>4}  {sum(p.users for p in loaded):>6}  "
                    f"{sum(p.revenue_usd for p in loaded):>12.2f}  {summary.events_sent:>11}  "
                    f"{summary.already_delivered:>11}  "
                    f"{summary.checks_passed}/{summary.checks} passed"
                    + (f"  ({summary.failed} runs FAILED)" if summary.failed else ""),
                    flush=True,
                )
    report = write_report(duckdb_path, days[0], days[-1], data_dir / "report.html")
    print(f"\nRaw reports: {data_dir}/raw/digital_turbine/user_level/date=*/app_id=*.csv")
    print(f"DuckDB:      {duckdb_path} (user_revenue, reo_event_deliveries, daily_revenue)")
    print(f"Report:      {report} (revenue per app per day, events delivered)")
    print("UI on the same instance: make ui, then open http://127.0.0.1:3000")
    failed = sum(s.failed for s in summaries.values())
    if failed:
        raise SystemExit(f"{failed} partition runs failed: see them in the UI (make ui)")


if __name__ == "__main__":
    main()
