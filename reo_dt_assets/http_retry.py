"""Bounded retries with exponential backoff and full jitter, shared by both HTTP clients."""

from __future__ import annotations

import random
from dataclasses import dataclass

import httpx

#: Status codes that mean "the server had a bad moment": worth another try after a wait.
TRANSIENT_STATUS = frozenset({500, 502, 503, 504})

#: Transport failures worth another try: timeouts, refused or reset connections, cut bodies.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (httpx.TimeoutException, httpx.TransportError)


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries in all; waits grow from ``base_delay`` by doubling, capped."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0

    def delay(self, retry_number: int, rng: random.Random | None = None) -> float:
        """Wait before retry ``retry_number`` (1 = first): jittered in [ceiling/2, ceiling]."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (retry_number - 1))
        return (rng or random).uniform(ceiling / 2, ceiling)


def retry_after_seconds(response: httpx.Response, default: float) -> float:
    """Seconds a 429/503 asks us to wait (``Retry-After`` in seconds), else ``default``."""
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return default
