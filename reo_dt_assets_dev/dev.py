"""``make ui``: the sandboxes and ``dg dev`` together, on the project's Dagster instance.

With ``--no-sandbox`` it only starts ``dg dev`` with the environment as it is (the real
APIs). ``dg dev`` runs in its own process group (it ignores SIGTERM when started from a
non-interactive shell), which is stopped as a whole, within 10 s, on Ctrl-C, on SIGTERM (what a
process manager or ``docker stop`` sends; ``make`` passes it on) and on SIGHUP (the terminal
closed). On Linux nothing is left behind when a parent dies, even by SIGKILL: the kernel sends
this process SIGHUP when ``make`` dies, and ``dg dev`` SIGTERM when this process dies
(``PR_SET_PDEATHSIG``). A SIGHUP ignored at start (``nohup``) stays ignored, so then neither a
closed terminal nor a dying parent stops it.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import signal
import subprocess
import sys
from contextlib import ExitStack, suppress
from pathlib import Path
from types import FrameType

import dagster as dg

from reo_dt_assets.components import wiring as pools
from reo_dt_assets.sandbox.dt_server import DTFaults, DTSandbox
from reo_dt_assets.sandbox.reo_server import ReoSandbox
from reo_dt_assets.settings import DAGSTER_PG_URL, REO_DT_DUCKLAKE
from reo_dt_assets.upgrade import print_migrations

PROJECT = Path(__file__).resolve().parent.parent
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
STOP_GRACE_SECONDS = 6.0  # for dg dev to stop by itself; then SIGKILL, all within 10 s
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

# Run by a fresh interpreter that then execs `dg dev` (argv: parent pid, command): the
# parent-death signal survives exec, and SIGINT/SIGTERM are reset in case they were inherited
# ignored, which would make `dg dev` unstoppable but by SIGKILL.
_EXEC_WITH_PARENT_DEATH_SIGNAL = f"""
import ctypes, os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
signal.signal(signal.SIGTERM, signal.SIG_DFL)
ctypes.CDLL(None).prctl({PR_SET_PDEATHSIG}, signal.SIGTERM)
if os.getppid() != int(sys.argv[1]):
    sys.exit("the process that started dg dev is gone")
os.execv(sys.argv[2], sys.argv[2:])
"""


def prepare_home(home: Path | None = None) -> Path:
    """``DAGSTER_HOME`` (default ``.dagster_home/``) with the project's ``dagster.yaml`` and
    pool limits. A ``dagster.yaml`` already there is kept (it may be edited on purpose), with a
    warning if it is not the project's. With ``DAGSTER_PG_URL`` set, the instance is in that
    PostgreSQL database (``deploy/dagster-postgres.yaml``); with ``REO_DT_DUCKLAKE`` set, runs
    write the tables at once (``duckdb_writer`` gets a slot per concurrent run)."""
    home = (home or Path(os.environ.get("DAGSTER_HOME") or PROJECT / ".dagster_home")).resolve()
    home.mkdir(parents=True, exist_ok=True)
    instance_file = "dagster-postgres.yaml" if os.environ.get(DAGSTER_PG_URL) else "dagster.yaml"
    settings, template = home / "dagster.yaml", PROJECT / "deploy" / instance_file
    if not settings.exists():
        shutil.copy(template, settings)
    elif settings.read_bytes() != template.read_bytes():
        print(
            f"Warning: {settings} is not {template}: copy it over for the project's run "
            "monitoring, run retries and pools",
            file=sys.stderr,
            flush=True,
        )
    os.environ["DAGSTER_HOME"] = str(home)
    with dg.DagsterInstance.get() as instance:
        for pool, limit in pools.limits(bool(os.environ.get(REO_DT_DUCKLAKE))).items():
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
    """``dg dev`` on the project's workspace; on Linux it gets SIGTERM (its Ctrl-C) when the
    calling process dies."""
    command = [
        str(Path(sys.executable).with_name("dg")),
        "dev",
        "-w",
        str(PROJECT / "workspace.yaml"),
        "-h",
        host,
        "-p",
        str(port),
    ]
    if sys.platform != "linux":
        return command
    return [sys.executable, "-c", _EXEC_WITH_PARENT_DEATH_SIGNAL, str(os.getpid()), *command]


def dagster_dev_env() -> dict[str, str]:
    # `dg` checks that the active virtual environment is the project's: say it is this one.
    return {**os.environ, "VIRTUAL_ENV": sys.prefix}


class _StopSignal(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP: all run the clean-up of Ctrl-C."""


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    """The first stop signal starts the clean-up; later ones cannot cut it short."""
    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, signal.SIG_IGN)
    raise _StopSignal(signal.Signals(signum).name)


def _stop_on_signals() -> None:
    """Stop on SIGINT, SIGTERM and SIGHUP, and (Linux) on SIGHUP when the parent dies. A signal
    ignored at start (``nohup``, or SIGINT of a background job) stays ignored."""
    for stop_signal in STOP_SIGNALS:
        if signal.getsignal(stop_signal) is not signal.SIG_IGN:
            signal.signal(stop_signal, _interrupt)
    if sys.platform == "linux":
        parent = os.getppid()
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGHUP)
        if os.getppid() != parent:  # it died before the kernel was asked
            os.kill(os.getpid(), signal.SIGHUP)


def _stop(process: subprocess.Popen) -> None:
    """SIGINT to the process group of ``dg dev`` (its Ctrl-C: runs in flight record their
    failure), then SIGKILL to whatever of it is left (code server, runs) once ``dg dev``
    has stopped or ``STOP_GRACE_SECONDS`` have passed."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_GRACE_SECONDS)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--dt-port", type=int, default=8710)
    parser.add_argument("--reo-port", type=int, default=8720)
    parser.add_argument("--no-sandbox", action="store_true", help="use the real APIs")
    args = parser.parse_args(argv)
    _stop_on_signals()
    try:
        home = prepare_home()
        print_migrations()
        with ExitStack() as stack:
            if not args.no_sandbox:
                start_sandboxes(stack, args.dt_port, args.reo_port)
            print(
                f"Dagster UI on http://{args.host}:{args.port} (instance {home}); Ctrl-C stops all",
                flush=True,
            )
            process = subprocess.Popen(
                dagster_dev_command(args.host, args.port),
                env=dagster_dev_env(),
                start_new_session=True,
            )
            stack.callback(_stop, process)
            process.wait()
    except _StopSignal as stop:
        print(f"{stop}: stopped dagster dev and the sandboxes", flush=True)


if __name__ == "__main__":
    main()
