"""How fast to send to Reo.Dev: requests in flight and a request rate, from what it answers.

Reo.Dev takes one event per request, so a delivery is as fast as its requests in flight allow
(Little's law: in flight / round trip), until something pushes back: the client's own CPU (the
GIL) or queueing, which shows as a longer round trip, and Reo.Dev's rate limit, which shows as
429s. (5xx and timeouts are the outage guard's, ``sender.Health``.) ``Pace`` follows both, one
window of answers (about one round trip) at a time:

- **Requests in flight** start at one, so the first round trips measure the server alone, and
  double per clean window (slow start: a window is then ``limit`` answers) until a round trip
  grows or 429s turn out to be a rate limit, then grow by a tenth per clean window (of at
  least ``MIN_WINDOW`` answers). A window is clean when its median round trip is within
  ``GROWTH_RTT`` of the fastest seen lately and the limit was used; a round trip beyond
  ``CUT_RTT`` of it cuts the limit in proportion (a latency gradient, as in Netflix's
  concurrency-limits). Between 1 and ``ceiling``.
- **The request rate** is free until Reo.Dev throttles. The first 429s (two in a window of a
  few answers, one in a window of ``MIN_WINDOW``) start a probe at half the rate Reo.Dev
  accepted over the last second (a 429 slows the whole delivery, not only its event). If the
  429s stop, it is a rate limit: the cap stays where the probe found room and doubles per
  second while it holds the pace back, until 429s come again; they cut it to 90% of what was
  accepted (at most by half) and it grows 5% per second (AIMD, as RudderStack and Segment pace
  a destination). If most of the probe's requests are still refused, the limit may be far below
  (a token bucket's burst of a second's tokens made the pace look many times what it takes):
  the probe goes on in stages at 90% of what the last one accepted. If a moderate share holds,
  it is the server's own (a fixed share whatever the pace): a slow average of the windows that
  did not press follows it from then on, only 429s beyond it and its binomial spread (three
  standard deviations) press, and a probe then waits for enough answers that the share gives
  16 429s. 429s that persist far below where a limit was found are the server's own after all.
  ``max_rate`` is a hard cap on top (a token bucket).

Plain bookkeeping: the sender passes the time in, tests drive it.
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
class _Trial:
    """A probe at a lower pace after the first 429s: is it a limit, or the server's own?"""

    cap_before: float | None
    skip: int  # answers still to come to requests sent before the probe: they say nothing
    stage: int = 1
    before: tuple[int, int] | None = None  # the stage before's (429s, answers)
    throttled: int = 0
    answers: int = 0
    started: float | None = None  # the first answer counted

    def count(self, answer: Answer, now: float) -> None:
        if self.skip:
            self.skip -= 1
            return
        self.started = now if self.started is None else self.started
        self.answers += 1
        self.throttled += answer is Answer.THROTTLED

    @property
    def share(self) -> float:
        return self.throttled / self.answers if self.answers else 0.0


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
    TRIAL = 64  # answers that judge a slow-down
    CAP_GROWTH = 0.05  # of the rate cap per second while it holds the pace back
    GROWTH_RTT = 1.2  # a window's median round trip within this of the fastest: room to grow
    CUT_RTT = 1.5  # beyond this: queueing, cut the limit in proportion
    REBASE_WINDOWS = 50  # the fastest round trip is re-measured this often (latency changes)
    NOISE_DECAY = 0.1  # of a window, in the slow average of the server's own share of 429s
    MARGIN = 0.02  # a share of 429s above the server's own (and its spread) by this: pressure
    NEXT_STAGE = 0.2  # a probe's share of 429s above this may be a limit far below its pace
    STAGES = 4  # of a probe, each at 90% of what the one before accepted

    def __init__(self, ceiling: int, max_rate: float | None = None) -> None:
        self.ceiling = max(1, ceiling)
        self.max_rate = max_rate if max_rate else None
        self.rate_cap: float | None = None
        self._limit = 1.0
        self._slow_start = True
        self._base_rtt = math.inf
        self._windows = 0
        self._hold = 0  # windows still answering requests sent before the last cut
        self._window = _Window()
        self._noise = 0.0  # the share of 429s this server gives whatever the pace
        self._limited = False  # 429s were seen to fall with the pace: a rate limit
        self._trial: _Trial | None = None
        self._doubling = False  # a limit just found: the cap doubles per second until 429s
        self._answers = 0
        self._found_at = 0.0  # the probe's rate that found the limit (no 429s there)
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
        self._answers += 1
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
        trial = self._trial
        if trial is not None:
            trial.count(answer, now)
            if trial.answers >= self._trial_answers() or (  # most refused: next stage now
                trial.answers >= self.TRIAL // 2 and trial.share > 2 * self.NEXT_STAGE
            ):
                before = (self.limit, self.rate_cap)
                self._judge(trial, now)
                self._window = _Window(now)  # its answers came at the pace before: start anew
                return (self.limit, self.rate_cap) != before
        growing = self._slow_start and self._trial is None and self.limit < self.ceiling
        # about a round trip of answers: the limit's worth, or what was in flight when a rate
        # cap holds it lower
        size = self.limit if growing else max(self.MIN_WINDOW, min(self.limit, window.used))
        if window.size < size:
            return False
        before = (self.limit, self.rate_cap)
        self._decide(window, now)
        self._window = _Window(now)
        return (self.limit, self.rate_cap) != before

    def _decide(self, window: _Window, now: float) -> None:
        size = window.size
        throttled = window.answers[Answer.THROTTLED]
        share = throttled / size
        elapsed = max(now - (now if window.started is None else window.started), 1e-6)
        rate = size / elapsed
        steady = size >= self.MIN_WINDOW  # a share of a few answers says little
        probing = self._trial is not None  # this window decides nothing else, even if it ends it
        expected = self._noise * size  # 429s the server's own share gives, and its spread
        spread = 3 * math.sqrt(expected * (1 - self._noise))
        pressed = (
            not probing
            and throttled >= (1 if steady else 2)  # one 429 in a few answers may be chance
            and throttled > expected + spread + self.MARGIN * size
        )
        if steady and not pressed and not probing and not self._limited:
            self._noise += self.NOISE_DECAY * (share - self._noise)  # the server's own share
        if pressed:
            first = now if self._first_answer is None else self._first_answer
            accepted = len(self._accepted) / min(1.0, max(now - first, 0.05))
            cap = self.rate_cap or accepted
            cut = max(1.0, 0.5 * cap, min(0.9 * accepted, cap))
            if self._limited and cut < 0.5 * self._found_at:
                # 429s far below a pace that had none: they are the server's own after all
                self._limited, self._doubling, self.rate_cap = False, False, None
                self._noise = max(self._noise, share)
            elif self._limited:  # a known limit: AIMD, at most halved at once
                self._doubling, self.rate_cap = False, cut
            else:  # a probe at half the pace: does the share fall with it?
                self._trial = _Trial(self.rate_cap, skip=self._in_flight())
                self.rate_cap = max(1.0, 0.5 * accepted)
        elif self._trial is None and self.rate_cap is not None and rate >= 0.8 * self.rate_cap:
            # grows only while it holds the pace back, by the clock (windows vary in length)
            self.rate_cap *= 2**elapsed if self._doubling else 1 + self.CAP_GROWTH * elapsed
        median = sorted(window.rtts)[len(window.rtts) // 2] if window.rtts else None
        gradient = self._base_rtt / median if median else 1.0
        if self._hold:
            self._hold -= 1
        elif gradient < 1 / self.CUT_RTT:
            self._cut(max(0.5, gradient))
        elif gradient >= 1 / self.GROWTH_RTT and window.used >= 0.8 * self.limit:
            grown = self._limit * 2 if self._slow_start else self._limit + max(1, self._limit / 10)
            self._limit = min(float(self.ceiling), grown)
        self._windows += 1
        if self._windows % self.REBASE_WINDOWS == 0 and window.rtts:
            self._base_rtt = min(window.rtts)

    def _judge(self, trial: _Trial, now: float) -> None:
        """A probe's answers (those to requests sent before it left out). A share that fell
        with the pace is a rate limit: the cap stays where the probe found room, and 429s pace
        the delivery from then on. A share that stays high may be a limit far below the pace
        (a token bucket's burst made the pace look many times what it takes): the next stage
        goes to 90% of what this one accepted, and there only a share that fell by more than
        the stage before's spread is a limit. A share that held, neither high nor gone, is the
        server's own (remembered, the cap as it was)."""
        share = trial.share
        fell = True
        if trial.before is not None:
            throttled, answers = trial.before
            first = throttled / answers
            fell = first - share > 3 * math.sqrt(first * (1 - first) / answers)
        if share <= self.MARGIN and fell:
            self._trial = None
            self._limited, self._slow_start, self._doubling = True, False, True
            self._found_at = self.rate_cap or 1.0
            self._noise = min(self._noise, share)  # what the server gives of its own, at most
        elif share > self.NEXT_STAGE and trial.stage < self.STAGES:
            span = max(now - (now if trial.started is None else trial.started), 1e-3)
            self.rate_cap = max(1.0, 0.9 * (trial.answers - trial.throttled) / span)
            self._trial = _Trial(
                trial.cap_before,
                skip=self._in_flight(),
                stage=trial.stage + 1,
                before=(trial.throttled, trial.answers),
            )
        else:
            self._trial = None
            self._noise = max(self._noise, share)
            self.rate_cap = trial.cap_before

    def _trial_answers(self) -> int:
        """Enough answers that the server's own share, when it has one, gives 16 429s: a
        share that fell to ``MARGIN`` is then no chance (seven in a hundred give one in 64
        answers one time in twenty)."""
        if self._noise <= 0:
            return self.TRIAL
        return max(self.TRIAL, min(16 * self.TRIAL, math.ceil(16 / self._noise)))

    def _in_flight(self) -> int:
        return max(0, self.requests - self._answers)

    def _cut(self, factor: float) -> None:
        """Cut the limit; the next window answers requests sent before, so it decides nothing."""
        self._slow_start = False
        self._limit = max(1.0, self._limit * factor)
        self._hold = 1

    def concurrency_median(self) -> int:
        """The median of requests in flight, over every request started."""
        seen = sorted(self.in_flight_seen.items())
        half, running = self.requests / 2, 0
        for in_flight, count in seen:
            running += count
            if running >= half:
                return in_flight
        return 0
