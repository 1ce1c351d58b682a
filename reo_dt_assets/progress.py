"""Progress of a long transfer in the log: done of total, rate and ETA, at regular marks.

One helper for both directions: the DT download reports MiB every 64 MiB, the Reo.Dev delivery
reports events every 10 seconds. Plain bookkeeping over an injectable clock, so tests drive it
without waiting.
"""

from __future__ import annotations

import logging
import resource
import sys
import time
from collections.abc import Callable

MIB = 1 << 20


class Progress:
    """``update(done)`` logs ``label: done of total unit (rate/s, ETA)`` at each mark.

    A mark is every ``every`` counted things and/or every ``every_seconds``; ``scale`` counted
    things make one displayed ``unit`` (bytes per MiB). Once something was logged, reaching
    ``total`` is logged too, so a long transfer's progress ends with its completion.
    """

    def __init__(
        self,
        log: logging.Logger,
        label: str,
        total: int | None,
        *,
        unit: str,
        scale: int = 1,
        every: int = 0,
        every_seconds: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self._label = label
        self._total = total
        self._unit = unit
        self._scale = scale
        self._every = every
        self._every_seconds = every_seconds
        self._clock = clock
        self._started = clock()
        self._next_amount = every
        self._next_time = self._started + every_seconds
        self._logged = False
        self._finished = False

    def update(self, done: int, detail: str = "") -> None:
        """``detail`` (say, how the transfer is paced) ends the line when one is logged."""
        now = self._clock()
        by_amount = self._every > 0 and done >= self._next_amount
        by_time = self._every_seconds > 0 and now >= self._next_time
        finished = self._total is not None and done >= self._total and not self._finished
        if not (by_amount or by_time or (finished and self._logged)):
            return
        if by_amount:
            self._next_amount = (done // self._every + 1) * self._every
        if by_time:
            self._next_time = now + self._every_seconds
        self._finished = finished or self._finished
        self._logged = True
        self._log.info(self._line(done, now - self._started) + (f"; {detail}" if detail else ""))

    def _line(self, done: int, elapsed: float) -> str:
        rate = done / max(elapsed, 1e-9)
        total = f"{self._total / self._scale:.0f}" if self._total is not None else "?"
        line = (
            f"{self._label}: {done / self._scale:.0f} of {total} {self._unit} "
            f"({rate / self._scale:.1f} {self._unit}/s"
        )
        if self._total is not None and self._total > done and rate > 0:
            line += f", ETA {(self._total - done) / rate:.0f}s"
        return line + ")"


def peak_rss_mib() -> int:
    """The most memory this process has held so far, MiB (``ru_maxrss``: KiB on Linux, bytes
    on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak / 2**20 if sys.platform == "darwin" else peak / 2**10)
