"""Benchmark: one partition's whole materialization, and where its time goes.

Not a test (the machine is noisy). Starts both sandboxes in their own process serving reports of
``--rows`` rows, has DT's sandbox make the report once (its generator is not what is measured),
then runs ``daily_revenue_events_job`` on one partition with a fresh data folder, one asset (with
its checks) per fresh process, as Dagster's default multiprocess executor runs steps: the raw
report download, ``user_revenue`` with its four checks, the Reo.Dev events with theirs. Prints
each step's wall time, each process's peak RSS (so the delivery's own), the load's parse/write
split, the reconciliation check against the load, and the delivery's events per event-second.

    .venv/bin/python bench/materialize.py [--rows 1000000 5000000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from reo_dt_assets.digital_turbine.client import DigitalTurbineClient
from reo_dt_assets.sandbox.dt_server import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET
from reo_dt_assets.sandbox.reo_server import SANDBOX_API_KEY

APP = "148721"
DAY = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
ASSETS = ("dt_user_level_report", "user_revenue", "reo_usage_events")
CHILD = """
import sys
import dagster as dg
from reo_dt_assets.definitions import defs

job = defs().resolve_job_def("daily_revenue_events_job")
with dg.DagsterInstance.ephemeral() as instance:
    result = job.execute_in_process(
        partition_key=sys.argv[1],
        instance=instance,
        raise_on_error=False,
        asset_selection=[dg.AssetKey(sys.argv[2])],
    )
    stamps = {}
    for record in instance.all_logs(result.run_id):
        event = record.dagster_event
        if event and event.event_type_value in ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE"):
            stamps.setdefault(event.step_key, []).append(record.timestamp)
        if "rows parsed in" in record.user_message:
            print("LOAD", record.user_message)
        if event and event.event_type_value == "ASSET_MATERIALIZATION":
            metadata = event.event_specific_data.materialization.metadata
            if "events_per_second" in metadata:
                print(
                    "RATE",
                    metadata["events_per_second"].value,
                    metadata["sent_now"].value,
                    metadata["peak_rss_mib"].value,
                )
    for step, times in stamps.items():
        print("STEP", step, f"{max(times) - min(times):.2f}")
print("OK" if result.success else "FAILED")
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_listening(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"the sandbox did not listen on {port}") from None
            time.sleep(0.1)


def measure(rows: int, out: Path) -> None:
    dt_port, reo_port = _free_port(), _free_port()
    sandbox = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reo_dt_assets.sandbox",
            "--rows",
            str(rows),
            "--not-ready-polls",
            "0",
            "--dt-port",
            str(dt_port),
            "--reo-port",
            str(reo_port),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        _wait_listening(dt_port)
        _wait_listening(reo_port)
        dt_url = f"http://127.0.0.1:{dt_port}"
        started = time.perf_counter()
        with (
            tempfile.TemporaryDirectory(dir=out) as warm,
            DigitalTurbineClient(
                SANDBOX_CLIENT_ID,
                SANDBOX_CLIENT_SECRET,
                dt_url,
                poll_deadline_seconds=900,
                timeout_seconds=900,  # the sandbox makes the report while it is downloaded
            ) as client,
        ):
            client.fetch_report(DAY, APP, Path(warm) / "report.csv")
        print(
            f"{rows:,} rows: the sandbox made the report in {time.perf_counter() - started:.1f} s"
        )
        data = out / f"materialize_{rows}"
        shutil.rmtree(data, ignore_errors=True)
        environment = os.environ | {
            "DT_CLIENT_ID": SANDBOX_CLIENT_ID,
            "DT_CLIENT_SECRET": SANDBOX_CLIENT_SECRET,
            "DT_REPORTING_BASE_URL": dt_url,
            "REO_API_KEY": SANDBOX_API_KEY,
            "REO_INGEST_BASE_URL": f"http://127.0.0.1:{reo_port}",
            "REO_DT_DATA_DIR": str(data),
            "REO_DT_DUCKDB_PATH": str(data / "reo_dt.duckdb"),
        }
        started = time.perf_counter()
        output, peaks = "", {}
        for asset in ASSETS:
            with (
                tempfile.TemporaryFile("w+") as stdout,
                (data.parent / f"materialize_{asset}.log").open("w") as stderr,
            ):
                child = subprocess.Popen(
                    [sys.executable, "-c", CHILD, f"{APP}|{DAY}", asset],
                    env=environment,
                    stdout=stdout,
                    stderr=stderr,
                    text=True,
                )
                _, _, usage = os.wait4(child.pid, 0)
                stdout.seek(0)
                step_output = stdout.read()
            peaks[asset] = usage.ru_maxrss / 1024
            output += step_output
            if not step_output.rstrip().endswith("OK"):
                output += "\nFAILED"
                break
        seconds = time.perf_counter() - started
    finally:
        sandbox.terminate()
        sandbox.wait()
    lines = output.splitlines()
    if not lines or lines[-1] != "OK":
        raise SystemExit(f"the run failed:\n{output}\n(its logs: {out}/materialize_*.log)")
    steps = {
        parts[1]: float(parts[2])
        for parts in (line.split() for line in lines)
        if parts[:1] == ["STEP"]
    }
    print(f"  whole run (three processes, start to exit): {seconds:.1f} s")
    for asset, peak in peaks.items():
        print(f"  peak RSS of the {asset} process (with its checks): {peak:,.0f} MiB")
    rate = next((line.split() for line in lines if line.startswith("RATE")), None)
    if rate:
        print(f"  reo_usage_events: {rate[2]} events sent at {rate[1]} events/s")
        print(f"  peak RSS of the delivery step alone (before its checks): {rate[3]} MiB")
    for step, step_seconds in steps.items():
        print(f"  {step:56} {step_seconds:7.2f} s")
    load = next((line for line in lines if line.startswith("LOAD")), "")
    if match := re.search(r"parsed in ([\d.]+)s .*written in ([\d.]+)s", load):
        print(f"  user_revenue: parse {match[1]} s, DuckDB write {match[2]} s")
    checks = steps.get("user_revenue_checks")
    if checks is not None and "user_revenue" in steps:
        print(f"  user_revenue checks / user_revenue = {checks / steps['user_revenue']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for rows in args.rows:
        measure(rows, args.out)


if __name__ == "__main__":
    main()
