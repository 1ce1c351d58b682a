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

from reo_dt_assets.sandbox.dt_server import DTFaults, DTSandbox

PROJECT = Path(__file__).resolve().parent.parent


def prepare_home() -> Path:
    """``DAGSTER_HOME`` (default ``.dagster_home/``), with the project's ``dagster.yaml``."""
    home = Path(os.environ.get("DAGSTER_HOME") or PROJECT / ".dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copy(PROJECT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


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
    parser.add_argument("--no-sandbox", action="store_true", help="use the real APIs")
    args = parser.parse_args(argv)
    home = prepare_home()
    with ExitStack() as stack:
        if not args.no_sandbox:
            dt = stack.enter_context(
                DTSandbox(port=args.dt_port, faults=DTFaults(not_ready_polls=1))
            )
            os.environ.update(
                DT_CLIENT_ID=dt.client_id,
                DT_CLIENT_SECRET=dt.client_secret,
                DT_REPORTING_BASE_URL=dt.url,
            )
            print(f"DT sandbox on {dt.url}", flush=True)
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
