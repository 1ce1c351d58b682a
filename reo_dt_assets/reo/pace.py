"""How fast to send to Reo.Dev: requests in flight and a request rate, from what it answers.

Reo.Dev takes one event per request, so a delivery is as fast as its requests in flight allow
(Little's law: in flight / round trip), until something pushes back: the client's own CPU (the
GIL) or the network queueing, which shows as a longer round trip; Reo.Dev's rate limit, which
shows as 429s; trouble on its side, which shows as 5xx and timeouts. ``Pace`` follows all three,
one window of answers at a time (a window is about one round trip of answers):

- **Requests in flight** start at one, so the first round trips measure the server alone, and
  double per clean window (slow start: a window is then one round trip, ``limit`` answers)
  until the first sign of pressure, then grow by a tenth per clean window (of at least
  ``MIN_WINDOW`` answers, for steady shares). A window is clean when its
  median round trip is within ``GROWTH_RTT`` of the fastest seen lately and the limit was
  actually used. A round trip beyond ``CUT_RTT`` of that cuts the limit in proportion (a
  latency gradient, as in Netflix's concurrency-limits); a share of 5xx and timeouts above what
  this server gives anyway cuts it by 30%. Between 1 and ``ceiling``.
- **The request rate** is free until Reo.Dev throttles: a share of 429s above what this server
  gives anyway caps it at 90% of what Reo.Dev accepted over the last second (so a 429 slows
  the whole delivery, not only its event), and the cap grows 2% per window without throttling
  (AIMD, as RudderStack and Segment pace a destination). ``max_rate`` is a hard cap on top
  (a token bucket).

"Above what this server gives anyway" is a slow average of each share: a server that answers a
fixed share of requests 5xx or 429 whatever the pace is not slowed down by it, one whose share
jumps when the pace rises is. Plain bookkeeping: the sender passes the time in, tests drive it.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass, field
from enum import Enum


class Answer(Enum):
    DONE = "done"  # delivered
    REJECTED = "rejected"  # a 4xx about the event: says nothing about the pace
    THROTTLED = "throttled"  # 429
    UNAVAILABLE = "unavailable"  # 5xx, a timeout, a dropped connection, a failure body


@dataclass
class _Window:
    started: float | None = None
    answers: Counter[Answer] = field(default_factory=Counter)
    rtts: list[float] = field(default_factory=list)
    used: int = 0  # most requests in flight seen

    @property
    def size(self) -> int:
        return self.answers.total()


class Pace:
    MIN_WINDOW = 16
    GROWTH_RTT = 1.2  # a window's median round trip within this of the fastest: room to grow
    CUT_RTT = 1.5  # beyond this: queueing, cut the limit in proportion
    REBASE_WINDOWS = 50  # the fastest round trip is re-measured this often (latency changes)
    BASELINE_WEIGHT = 0.1  # of a window in the slow average of each share

    def __init__(self, ceiling: int, max_rate: float | None = None) -> None:
        self.ceiling = max(1, ceiling)
        self.max_rate = max_rate if max_rate else None
        self.rate_cap: float | None = None
        self._limit = 1.0
        self._slow_start = True
        self._base_rtt = math.inf
        self._windows = 0
        self._window = _Window()
        self._throttled_baseline = 0.0
        self._unavailable_baseline = 0.0
        self._tokens = 1.0
        self._tokens_at = 0.0
        self._accepted: deque[float] = deque()  # when answers other than 429 came, last second
        self._first_answer: float | None = None
        self.requests = 0
        self.throttled = 0
        self.in_flight_seen: Counter[int] = Counter()  # in flight at each start, for the median

    @property
    def limit(self) -> int:
        """Requests that may be in flight now."""
        return max(1, min(self.ceiling, int(self._limit)))

    @property
    def rate(self) -> float | None:
        """Requests per second allowed now, ``None`` for no cap."""
        caps = [cap for cap in (self.max_rate, self.rate_cap) if cap]
        return min(caps) if caps else None

    def start(self, now: float, in_flight: int) -> float:
        """A request wants to start with ``in_flight`` others: 0 if it may (it is counted),
        else the seconds until the rate allows it."""
        rate = self.rate
        if rate is not None:
            burst = max(1.0, rate * 0.05)
            self._tokens = min(burst, self._tokens + (now - self._tokens_at) * rate)
            self._tokens_at = now
            if self._tokens < 1.0:
                return (1.0 - self._tokens) / rate
            self._tokens -= 1.0
        self.requests += 1
        if self._window.started is None:
            self._window.started = now
        self.in_flight_seen[in_flight + 1] += 1
        self._window.used = max(self._window.used, in_flight + 1)
        return 0.0

    def observe(self, answer: Answer, rtt: float | None, now: float) -> bool:
        """Account for one answer (``rtt`` None when none came back); True if the limit or the
        rate changed."""
        window = self._window
        if window.started is None:
            window.started = now
        window.answers[answer] += 1
        if self._first_answer is None:
            self._first_answer = now
        if answer is Answer.THROTTLED:
            self.throttled += 1
        else:
            self._accepted.append(now)
        while self._accepted and self._accepted[0] < now - 1.0:
            self._accepted.popleft()
        if rtt is not None:
            window.rtts.append(rtt)
            self._base_rtt = min(self._base_rtt, rtt)
        growing = self._slow_start and self.limit < self.ceiling
        if window.size < (self.limit if growing else max(self.MIN_WINDOW, self.limit)):
            return False
        before = (self.limit, self.rate_cap)
        self._decide(window, now)
        self._window = _Window(now)
        return (self.limit, self.rate_cap) != before

    def _decide(self, window: _Window, now: float) -> None:
        size = window.size
        throttled = window.answers[Answer.THROTTLED] / size
        unavailable = window.answers[Answer.UNAVAILABLE] / size
        elapsed = max(now - (now if window.started is None else window.started), 1e-6)
        steady = size >= self.MIN_WINDOW  # a share of a few answers says little
        throttling = steady and throttled > 2 * self._throttled_baseline + 0.02
        failing = steady and unavailable > 2 * self._unavailable_baseline + 0.05
        if steady:
            w = self.BASELINE_WEIGHT
            self._throttled_baseline += w * (throttled - self._throttled_baseline)
            self._unavailable_baseline += w * (unavailable - self._unavailable_baseline)
        if throttling:
            first = now if self._first_answer is None else self._first_answer
            span = min(1.0, max(now - first, 0.05))
            cap = 0.9 * len(self._accepted) / span
            self.rate_cap = max(1.0, min(cap, self.rate_cap or cap))
        elif self.rate_cap is not None:
            self.rate_cap *= 1.02
            if self.rate_cap > 3 * size / elapsed:  # far above the pace: nothing to hold back
                self.rate_cap = None
        median = sorted(window.rtts)[len(window.rtts) // 2] if window.rtts else None
        gradient = self._base_rtt / median if median else 1.0
        if failing:
            self._cut(0.7)
        elif gradient < 1 / self.CUT_RTT:
            self._cut(max(0.5, gradient))
        elif gradient >= 1 / self.GROWTH_RTT and window.used >= 0.8 * self.limit:
            grown = self._limit * 2 if self._slow_start else self._limit + max(1, self._limit / 10)
            self._limit = min(float(self.ceiling), grown)
        self._windows += 1
        if self._windows % self.REBASE_WINDOWS == 0 and window.rtts:
            self._base_rtt = min(window.rtts)

    def _cut(self, factor: float) -> None:
        self._slow_start = False
        self._limit = max(1.0, self._limit * factor)

    def concurrency_median(self) -> int:
        """The median of requests in flight, over every request started."""
        seen = sorted(self.in_flight_seen.items())
        half, running = self.requests / 2, 0
        for in_flight, count in seen:
            running += count
            if running >= half:
                return in_flight
        return 0
