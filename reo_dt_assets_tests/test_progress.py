"""The progress helper on an injected clock: which updates log, and what the line says."""

from __future__ import annotations

import logging

import pytest

from reo_dt_assets.progress import MIB, Progress

LOG = logging.getLogger("progress-test")


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger=LOG.name)
    return caplog


def test_download_logs_every_64_mib_with_rate_and_eta(log: pytest.LogCaptureFixture) -> None:
    clock = _Clock()
    total = 200 * MIB
    progress = Progress(
        LOG, "DT report r1 download", total, unit="MiB", scale=MIB, every=64 * MIB, clock=clock
    )
    for done_mib in range(1, 201):
        clock.now += 0.1  # 10 MiB/s
        progress.update(done_mib * MIB)
    assert log.messages == [
        "DT report r1 download: 64 of 200 MiB (10.0 MiB/s, ETA 14s)",
        "DT report r1 download: 128 of 200 MiB (10.0 MiB/s, ETA 7s)",
        "DT report r1 download: 192 of 200 MiB (10.0 MiB/s, ETA 1s)",
        "DT report r1 download: 200 of 200 MiB (10.0 MiB/s)",  # its completion
    ]


def test_a_big_chunk_passing_several_marks_logs_once(log: pytest.LogCaptureFixture) -> None:
    clock = _Clock()
    progress = Progress(LOG, "d", None, unit="MiB", scale=MIB, every=64 * MIB, clock=clock)
    clock.now += 2.0
    progress.update(150 * MIB)
    progress.update(160 * MIB)  # the next mark is 192 MiB
    assert log.messages == ["d: 150 of ? MiB (75.0 MiB/s)"]  # no total: no ETA


def test_small_download_logs_nothing(log: pytest.LogCaptureFixture) -> None:
    clock = _Clock()
    progress = Progress(LOG, "d", 3000, unit="MiB", scale=MIB, every=64 * MIB, clock=clock)
    for done in (1000, 2000, 3000):
        clock.now += 1.0
        progress.update(done)
    assert log.messages == []


def test_delivery_logs_every_10_seconds_with_rate_and_eta(log: pytest.LogCaptureFixture) -> None:
    clock = _Clock()
    progress = Progress(LOG, "Reo.Dev delivery", 1000, unit="events", every_seconds=10, clock=clock)
    for done in range(50, 1001, 50):
        clock.now += 1.0  # 50 events/s
        progress.update(done)
    assert log.messages == [
        "Reo.Dev delivery: 500 of 1000 events (50.0 events/s, ETA 10s)",
        "Reo.Dev delivery: 1000 of 1000 events (50.0 events/s)",  # 10 s later, and the end
    ]


def test_completion_is_logged_once_after_earlier_lines(log: pytest.LogCaptureFixture) -> None:
    clock = _Clock()
    progress = Progress(LOG, "Reo.Dev delivery", 100, unit="events", every_seconds=10, clock=clock)
    clock.now += 12.0
    progress.update(40)
    clock.now += 1.0
    progress.update(100)
    progress.update(100)
    assert log.messages == [
        "Reo.Dev delivery: 40 of 100 events (3.3 events/s, ETA 18s)",
        "Reo.Dev delivery: 100 of 100 events (7.7 events/s)",
    ]
