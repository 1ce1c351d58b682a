"""DT's report budget: report requests per UTC day and per minute, counted across processes.

DT's user-level API publishes no quota, but its other reporting APIs do (Offer Wall: 50 reports a
day; Growth: 100 a day and 5 a minute), so a publisher whose contract sets one says so with
``DT_REPORTS_PER_DAY`` / ``DT_REPORTS_PER_MINUTE``. Every report request, from any run in any
process, is a row in a small SQLite file beside the data (SQLite locks the file across
processes, so two runs cannot both take the last slot): the client takes a slot before each POST,
waiting for the minute's next slot, and refusing once the day's are spent; the schedule reads the
day's count to plan within what is left.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from reo_dt_assets.migrations import budget_store, migrate_budget

FILE_NAME = "dt_report_budget.sqlite"
KEPT_DAYS = 2  # rows older than this are dropped: the budget looks at today and the last minute


class BudgetSpentError(RuntimeError):
    """The UTC day's report requests are spent; the message says how many and when it resets."""


@dataclass(frozen=True)
class Budget:
    per_day: int | None = None
    per_minute: int | None = None

    @property
    def limited(self) -> bool:
        return bool(self.per_day or self.per_minute)


def _midnight(now: dt.datetime) -> float:
    return dt.datetime.combine(now.date(), dt.time(), dt.UTC).timestamp()


class ReportBudget:
    """The report requests of every process, in ``path``; ``clock`` and ``sleep`` for tests."""

    def __init__(
        self,
        path: Path,
        budget: Budget,
        *,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.path = path
        self.budget = budget
        self._clock = clock
        self._sleep = sleep

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        try:
            migrate_budget(conn, budget_store(self.path))
        except BaseException:
            conn.close()
            raise
        return conn

    def spent_on(self, day: dt.date) -> int:
        """Report requests made on the UTC ``day``."""
        start = dt.datetime.combine(day, dt.time(), dt.UTC).timestamp()
        with closing(self._connect()) as conn:
            [(count,)] = conn.execute(
                "SELECT count(*) FROM report_requests WHERE requested_at >= ? AND requested_at < ?",
                [start, start + 86_400],
            ).fetchall()
        return int(count)

    def left_on(self, day: dt.date) -> int | None:
        """Report requests the UTC ``day`` has left (None: no daily budget)."""
        per_day = self.budget.per_day
        return None if per_day is None else max(per_day - self.spent_on(day), 0)

    def take(self, what: str) -> None:
        """Count one report request now, once the budget allows it: wait for the minute's next
        slot; ``BudgetSpentError`` once the day's are spent."""
        per_day, per_minute = self.budget.per_day, self.budget.per_minute
        while True:
            with closing(self._connect()) as conn:
                conn.execute("BEGIN IMMEDIATE")  # one process at a time from count to insert
                try:
                    now = self._clock()
                    stamp = now.timestamp()
                    [(today,)] = conn.execute(
                        "SELECT count(*) FROM report_requests WHERE requested_at >= ?",
                        [_midnight(now)],
                    ).fetchall()
                    if per_day and today >= per_day:
                        raise BudgetSpentError(
                            f"DT's report budget is spent: {today} of DT_REPORTS_PER_DAY="
                            f"{per_day} report requests made today (UTC), so {what} is not "
                            "requested. It resets at 00:00 UTC: run the partition again then, "
                            "or raise DT_REPORTS_PER_DAY if your DT contract allows more."
                        )
                    wait = 0.0
                    if per_minute:
                        last_minute = [
                            at
                            for (at,) in conn.execute(
                                "SELECT requested_at FROM report_requests WHERE requested_at > ? "
                                "ORDER BY requested_at",
                                [stamp - 60],
                            ).fetchall()
                        ]
                        if len(last_minute) >= per_minute:
                            wait = last_minute[-per_minute] + 60 - stamp
                    if not wait:
                        conn.execute("INSERT INTO report_requests VALUES (?, ?)", [stamp, what])
                        conn.execute(
                            "DELETE FROM report_requests WHERE requested_at < ?",
                            [stamp - KEPT_DAYS * 86_400],
                        )
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            if not wait:
                return
            self._sleep(max(wait, 0.01))
