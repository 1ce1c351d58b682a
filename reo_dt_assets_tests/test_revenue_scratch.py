"""Scratch folders of loads: removed when the load ends, and after a killed one by the next."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from reo_dt_assets.revenue.scratch import SCRATCH, scratch_folder

HOLDER = """
import sys
from pathlib import Path
from reo_dt_assets.revenue.scratch import scratch_folder
with scratch_folder(Path(sys.argv[1])) as folder:
    (folder / "rows.parquet").write_bytes(b"x")
    print(folder, flush=True)
    sys.stdin.read()  # until the test closes stdin, or kills this process
"""


def _holder(parent: Path) -> tuple[subprocess.Popen, Path]:
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(parent)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    return child, Path(child.stdout.readline().strip())


def test_the_next_load_removes_a_killed_loads_folder_not_a_live_ones(tmp_path: Path) -> None:
    killed, dead_folder = _holder(tmp_path)
    live, live_folder = _holder(tmp_path)
    try:
        killed.kill()
        killed.wait()
        half_made = tmp_path / SCRATCH / "load-halfmade"  # died before locking its folder
        half_made.mkdir()
        assert dead_folder.exists()
        with scratch_folder(tmp_path) as mine:
            assert mine.exists()
            assert not dead_folder.exists() and not half_made.exists()
            assert (live_folder / "rows.parquet").exists()
        assert not mine.exists()
    finally:
        live.communicate("")  # the live load ends normally
    assert not live_folder.exists()


def test_a_failed_load_removes_its_folder(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), scratch_folder(tmp_path) as folder:
        (folder / "users-0.parquet").write_bytes(b"x")
        raise RuntimeError("the load failed")
    assert list((tmp_path / SCRATCH).glob("load-*")) == []
