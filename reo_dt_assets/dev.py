"""``make ui``: the sandboxes and ``dagster dev`` together, on the project's Dagster instance.

With ``--no-sandbox`` it only starts ``dagster dev`` with the environment as it is (the real
APIs). ``dagster dev`` runs in its own process group, which is signalled as a whole on exit
(it ignores SIGTERM when started from a non-interactive shell).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import dagster as dg

from reo_dt_assets.defs import pools
from reo_dt_assets.sandbox.dt_server import DTFaults, DTSandbox
from reo_dt_assets.sandbox.reo_server import ReoSandbox

PROJECT = Path(__file__).resolve().parent.parent


def prepare_home(home: Path | None = None) -> Path:
    """``DAGSTER_HOME`` (default ``.dagster_home/``) with the project's ``dagster.yaml`` and
    pool limits."""
    home = (home or Path(os.environ.get("DAGSTER_HOME") or PROJECT / ".dagster_home")).resolve()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copy(PROJECT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    with dg.DagsterInstance.get() as instance:
        for pool, limit in pools.LIMITS.items():
            instance.event_log_storage.set_concurrency_slots(pool, limit)
    return home


def start_sandboxes(stack: ExitStack, dt_port: int = 0, reo_port: int = 0) -> None:
    """Both sandboxes, stopped with ``stack``; the settings point at them."""
    dt = stack.enter_context(DTSandbox(port=dt_port, faults=DTFaults(not_ready_polls=1)))
    reo = stack.enter_context(ReoSandbox(port=reo_port))
    os.environ.update(
        DT_CLIENT_ID=dt.client_id,
        DT_CLIENT_SECRET=dt.client_secret,
        DT_REPORTING_BASE_URL=dt.url,
        REO_API_KEY=reo.api_key,
        REO_INGEST_BASE_URL=reo.url,
    )
    print(f"DT sandbox on {dt.url}, Reo.Dev sandbox on {reo.url}", flush=True)


def dagster_dev_command(host: str, port: int) -> list[str]:
    return [
        str(Path(sys.executable).with_name("dagster")),
        "dev",
        "-w",
        str(PROJECT / "workspace.yaml"),
        "-h",
        host,
        "-p",
        str(port),
    ]


def dagster_dev_env() -> dict[str, str]:
    # `dagster dev` is marked superseded by `dg dev` in 1.13; it still is the documented way
    # to run a workspace.yaml, so its one SupersessionWarning is filtered.
    return {**os.environ, "PYTHONWARNINGS": "ignore:Function `dev_command` is superseded"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--dt-port", type=int, default=8710)
    parser.add_argument("--reo-port", type=int, default=8720)
    parser.add_argument("--no-sandbox", action="store_true", help="use the real APIs")
    args = parser.parse_args(argv)
    home = prepare_home()
    with ExitStack() as stack:
        if not args.no_sandbox:
            start_sandboxes(stack, args.dt_port, args.reo_port)
        print(f"Dagster UI on http://{args.host}:{args.port} (instance {home}); Ctrl-C stops all")
        process = subprocess.Popen(
            dagster_dev_command(args.host, args.port),
            env=dagster_dev_env(),
            start_new_session=True,
        )
        try:
            process.wait()
        except KeyboardInterrupt:
            pass
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGINT)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)


if __name__ == "__main__":
    main()
