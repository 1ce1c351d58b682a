"""The one retry policy: what an attempt meant, and how long to wait before the next.

Both HTTP clients and the DuckLake commits (``transactions.retry_conflicts``) retry through it.
Each client classifies one request into an ``Outcome`` (its own wire protocol); this module
decides whether to try again and after how long: the server's ``Retry-After`` on 429 and 503,
else exponential backoff with jitter, bounded by ``RetryPolicy.attempts``. ``call_with_retries``
is the sequential form (the DT client); the Reo.Dev sender applies the same
``RetryPolicy.next_wait`` from a delay queue, its concurrent form.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Generic, TypeVar

import httpx

T = TypeVar("T")

#: Status codes that mean "throttled" or "the server had a bad moment": worth another try.
TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})

#: Transport failures worth another try: timeouts, refused or reset connections, cut bodies.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (httpx.TimeoutException, httpx.TransportError)


class Verdict(Enum):
    DONE = "done"  # the request got its answer (for Reo.Dev: the event is delivered)
    RETRY = "retry"  # a transient failure: worth another attempt after a wait
    FAILED = "failed"  # this request will not go through
    STOP = "stop"  # nothing more may be sent (e.g. the credentials were refused)


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What one attempt meant; ``retry_after`` is the wait the server asked for, if any."""

    verdict: Verdict
    http_status: int | None = None
    error: str | None = None
    retry_after: float | None = None
    value: T | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries in all; waits grow from ``base_delay`` by doubling, capped."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0

    def delay(self, retry_number: int, rng: random.Random | None = None) -> float:
        """Wait before retry ``retry_number`` (1 = first): jittered in [ceiling/2, ceiling]."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** min(retry_number - 1, 60))
        return (rng or random).uniform(ceiling / 2, ceiling)

    def next_wait(
        self,
        outcome: Outcome[Any],
        attempts_made: int,
        rng: random.Random | None = None,
        retry_number: int | None = None,
    ) -> float | None:
        """Seconds to wait before the next attempt, or ``None``: ``outcome`` is the last one.
        The backoff is that of retry ``retry_number`` (default: ``attempts_made``)."""
        if outcome.verdict is not Verdict.RETRY or attempts_made >= self.attempts:
            return None
        if outcome.retry_after is not None:
            return outcome.retry_after
        return self.delay(retry_number or attempts_made, rng)


def call_with_retries(
    attempt: Callable[[], Outcome[T]],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    on_retry: Callable[[int, Outcome[T], float], None] | None = None,
) -> Outcome[T]:
    """Run ``attempt`` until its outcome is not RETRY or the tries run out; return the last.

    Before each retry ``on_retry(attempts made, outcome, wait)`` is called, then ``sleep(wait)``.
    """
    attempts_made = 0
    while True:
        outcome = attempt()
        attempts_made += 1
        wait = policy.next_wait(outcome, attempts_made, rng)
        if wait is None:
            return outcome
        if on_retry is not None:
            on_retry(attempts_made, outcome, wait)
        sleep(wait)


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Seconds ``Retry-After`` asks for (delay-seconds or an HTTP date), ``None`` if unreadable."""
    return parse_retry_after(response.headers.get("Retry-After", ""))


def parse_retry_after(value: str | None) -> float | None:
    """A ``Retry-After`` header's value in seconds, ``None`` if absent or unreadable."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = (when - dt.datetime.now(dt.UTC)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def retry_later(response: httpx.Response, error: str) -> Outcome[Any]:
    """A RETRY outcome for ``response``, carrying its ``Retry-After`` on 429 and 503."""
    status = response.status_code
    retry_after = retry_after_seconds(response) if status in (429, 503) else None
    return Outcome(Verdict.RETRY, status, error, retry_after)
