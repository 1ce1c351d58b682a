"""``make ui`` leaves nothing running once it is told to stop, however it is told.

A process manager (or ``docker stop``) sends SIGTERM to ``make``, which passes it on to its
child; a terminal sends SIGINT (Ctrl-C) or SIGHUP (closed) to the whole foreground process group
(``make`` itself only waits for its child on those two). A parent can also die by SIGKILL. Each
test starts the real ``make ui`` on free ports, waits until the UI answers, sends the signal and
wants every process of the tree gone and the three ports free within 10 s.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

from reo_dt_assets_dev.dev import PROJECT
from reo_dt_assets_tests.deployment import alive, free_port, port_is_free, process_tree, wait_for_ui

pytestmark = pytest.mark.slow  # each test starts the whole of `make ui`

STOP_WITHIN = 10.0


@dataclass
class Ui:
    process: subprocess.Popen  # make, or python -m reo_dt_assets_dev.dev
    ports: list[int]
    log: Path
    tree: set[tuple[int, str]]  # every process once the UI answered

    def assert_all_stop(self) -> None:
        """Every process of the tree gone and every port free, within ``STOP_WITHIN`` s."""
        deadline = time.monotonic() + STOP_WITHIN
        while True:
            left, busy = alive(self.tree), [p for p in self.ports if not port_is_free(p)]
            if not left and not busy:
                return
            assert time.monotonic() < deadline, (
                f"after {STOP_WITHIN} s: processes {sorted(left)}, ports {busy} in use\n"
                + self.log.read_text()[-3000:]
            )
            time.sleep(0.1)


def _signals_as_a_shell_leaves_them() -> None:
    """In the child, before exec: no signal blocked or ignored, as a terminal starts ``make``.

    Both survive fork and exec, and earlier tests in this pytest process may leave them changed
    (in a full run, all four signal tests through ``make`` saw it ignore SIGTERM).
    """
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, signal.SIG_DFL)


@contextmanager
def running_ui(tmp_path: Path, *, through_make: bool = True) -> Iterator[Ui]:
    """``make ui`` (or its python command alone) on free ports in its own session, until the UI
    answers; on exit whatever of it is still there is killed."""
    ports = [free_port() for _ in range(3)]
    log = tmp_path / "ui.log"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path / "home"),
        "REO_DT_DATA_DIR": str(tmp_path / "data"),
    }
    options = ["--port", str(ports[0]), "--dt-port", str(ports[1]), "--reo-port", str(ports[2])]
    # make runs the virtualenv these tests run in (.venv, or another VENV); `-o` keeps it from
    # reinstalling it, were it out of date.
    command = (
        [
            "make",
            "--no-print-directory",
            "-o",
            f"{sys.prefix}/.installed",
            "ui",
            f"VENV={sys.prefix}",
            "UI_ARGS=" + " ".join(options),
        ]
        if through_make
        else [sys.executable, "-m", "reo_dt_assets_dev.dev", *options]
    )
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=PROJECT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_signals_as_a_shell_leaves_them,
        )
    tree: set[tuple[int, str]] = set()
    try:
        wait_for_ui(f"http://127.0.0.1:{ports[0]}", process, log)
        tree = process_tree(process.pid)
        yield Ui(process, ports, log, tree)
    finally:
        for pid, _ in alive(tree) | process_tree(process.pid):
            with suppress(ProcessLookupError):  # the whole group: dagster dev's holds its runs
                group = os.getpgid(pid)
                if group != os.getpgrp():
                    os.killpg(group, signal.SIGKILL)
        process.wait()


def test_sigterm_to_make_stops_everything(tmp_path: Path) -> None:
    with running_ui(tmp_path) as ui:
        assert len(ui.tree) >= 5, ui.tree  # make, python, dagster dev, webserver, daemon, ...
        os.kill(ui.process.pid, signal.SIGTERM)
        ui.assert_all_stop()
        assert "SIGTERM: stopped dagster dev and the sandboxes" in ui.log.read_text()


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGHUP], ids=["SIGINT", "SIGHUP"])
def test_terminal_signal_to_make_stops_everything(
    tmp_path: Path, stop_signal: signal.Signals
) -> None:
    with running_ui(tmp_path) as ui:
        os.killpg(ui.process.pid, stop_signal)  # the terminal's foreground group: make's
        ui.assert_all_stop()
        assert f"{stop_signal.name}: stopped dagster dev and the sandboxes" in ui.log.read_text()


def test_killed_make_stops_everything(tmp_path: Path) -> None:
    """The kernel sends the orphaned ``python -m reo_dt_assets_dev.dev`` SIGHUP."""
    with running_ui(tmp_path) as ui:
        os.kill(ui.process.pid, signal.SIGKILL)
        ui.assert_all_stop()
        assert "SIGHUP: stopped dagster dev and the sandboxes" in ui.log.read_text()


def test_killed_dev_script_stops_dagster_dev(tmp_path: Path) -> None:
    """The kernel sends the orphaned ``dagster dev`` SIGTERM; it stops its own processes."""
    with running_ui(tmp_path, through_make=False) as ui:
        os.kill(ui.process.pid, signal.SIGKILL)
        ui.assert_all_stop()
