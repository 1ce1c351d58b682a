"""Concurrent delivery of many events through a one-request ``attempt`` function.

The wire protocol (``client.py``) says what one POST meant; this module decides who sends what
and when. The caller's thread reads the events from their source a few thousand ahead of the
senders (the source may build and register them in chunks: memory does not grow with the
delivery) and records the results. Worker threads, as many as ``pace.Pace`` allows in flight
and at its rate, take events one at a time; an event whose attempt should be retried goes to a
delay queue, ready after ``RetryPolicy.next_wait`` (the policy the DT client applies in a
loop), and the worker moves on, so a retry wait never holds up other events. Results are handed
back to the caller's thread in batches; at most ``max_unrecorded`` events are ever in flight or
handed back but not yet recorded (the caller's ``on_results`` has not returned), which bounds
what a crash can make Reo.Dev receive twice. Every event taken from the input gets exactly one
result, including the ones never sent because the delivery stopped.

``Health`` reads the answers as a whole: a refused key stops at once; the same rejection of
every event so far is a set-up mistake and stops after a few; a run of 5xx and timeouts is an
outage: one probe at growing intervals until Reo.Dev answers again, and a stop once it has been
away longer than the outage limit.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import heapq
import itertools
import math
import platform
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from itertools import islice
from typing import Any

from reo_dt_assets.reo.pace import Answer, Pace
from reo_dt_assets.retry import Outcome, RetryPolicy, Verdict

#: glibc's ``mallopt`` parameter for the most malloc arenas a process may create.
M_ARENA_MAX = -8
#: Arenas the process may have once senders start: glibc otherwise gives each new thread that
#: allocates an arena of its own, up to 8 per core, and each keeps its freed memory (measured at
#: 200,000 events: the delivery's steady RSS 330 -> 280 MiB, its peak 499 -> 447 MiB).
MALLOC_ARENAS = 2
#: How often results are handed back when the caller records each batch in the ledger itself
#: (a journal allows more often: ``reo.journal.HAND_BACK_SECONDS``).
HAND_BACK_SECONDS = 0.2


def share_malloc_arenas() -> None:
    """Cap the process's glibc malloc arenas at ``MALLOC_ARENAS`` (the threads started after
    share them; arenas that exist stay). Nothing on another C library."""
    if platform.libc_ver()[0] == "glibc":
        ctypes.CDLL(None).mallopt(M_ARENA_MAX, MALLOC_ARENAS)


@dataclass(frozen=True)
class SendResult:
    event_id: str
    delivered: bool
    attempts: int
    http_status: int | None
    error: str | None


#: One request: payload -> its outcome (DONE means delivered).
Attempt = Callable[[dict[str, Any]], Outcome[Any]]


class StopKind(Enum):
    REFUSED = "refused"  # the key: an answer said STOP
    REJECTED = "rejected"  # every event so far rejected the same way: a set-up mistake
    UNAVAILABLE = "unavailable"  # 5xx and timeouts for longer than the outage limit


@dataclass(frozen=True)
class Stop:
    """Why a delivery stopped: the answer that decided it, how many like it, since when."""

    kind: StopKind
    outcome: Outcome[Any]
    count: int = 1
    since: dt.datetime | None = None

    @property
    def reason(self) -> str:
        if self.kind is StopKind.REJECTED:
            return f"Reo.Dev rejected every event so far the same way: {self.outcome.error}"
        if self.kind is StopKind.UNAVAILABLE and self.since is not None:
            return (
                f"Reo.Dev unavailable since {self.since:%Y-%m-%d %H:%M:%S} UTC "
                f"(last: {self.outcome.error})"
            )
        return self.outcome.error or "stopped"


def _rejection_key(outcome: Outcome[Any]) -> tuple[int | None, str]:
    """A rejection with the numbers and ids of its event blanked: the same mistake, any event."""
    return outcome.http_status, re.sub(r"[0-9a-fA-F]{6,}|\d+", "#", outcome.error or "")


class Health:
    """The state of the whole delivery, from the answers so far. Plain bookkeeping: the sender
    passes the time in, tests drive it directly.

    - STOP (a refused key) stops at once.
    - ``same_rejections`` rejections in a row with the same reason before any event was
      delivered stop the delivery: the same mistake would reject every event.
    - ``outage_streak`` answers in a row that were 5xx, timeouts, dropped connections or
      failure bodies open an outage, or more if the share of such answers before them makes
      that many a likely run of chance (one in a million, ``CHANCE``; at most three times as
      many): under the bench's fault mix (39% of answers) 12 in a row came about twice per
      100,000 events, each time holding the whole delivery to one probe for a second or more.
      In an outage only one probe is sent, at intervals doubling from ``probe_first_seconds``
      to ``probe_max_seconds``; any other answer ends it, and once it has lasted
      ``outage_limit_seconds`` (from the first of those answers) the delivery stops.
    A 429 is none of these: it is about pace, not health.
    """

    CHANCE = 1e-6
    SHARE_ANSWERS = 256  # answers the share of unavailable ones is averaged over

    def __init__(
        self,
        outage_limit_seconds: float = 600.0,
        probe_first_seconds: float = 1.0,
        probe_max_seconds: float = 30.0,
        same_rejections: int = 8,
        outage_streak: int = 12,
    ) -> None:
        self.same_rejections = same_rejections
        self.outage_streak = outage_streak
        self.outage_limit_seconds = outage_limit_seconds
        self.probe_first_seconds = probe_first_seconds
        self.probe_max_seconds = probe_max_seconds
        self.delivered_any = False
        self.stop: Stop | None = None
        self.streak = 0  # unavailable answers in a row
        self.outage_since: float | None = None
        self.next_probe = 0.0
        self._first_failure = (0.0, dt.datetime.now(dt.UTC))
        self._outage_wall: dt.datetime | None = None
        self._interval = probe_first_seconds
        self._last: Outcome[Any] | None = None
        self._rejection: tuple[int | None, str] | None = None
        self._rejections = 0
        self._share = 0.0  # of unavailable answers, a moving average
        self._needed = outage_streak  # in a row that open an outage, from the share before

    @property
    def in_outage(self) -> bool:
        return self.outage_since is not None

    def backoff(self, attempts: int) -> int:
        """The retry whose backoff an event waits out after ``attempts`` tries: its own count,
        but no more than the unavailable answers in a row. While most answers are fine, an
        event's failures are chance (Reo.Dev as a whole is the outage guard's and the pace's),
        and backing off further only kept the unluckiest events of a delivery waiting seconds a
        try after every other event was done (under the bench's fault mix, ~15 tries)."""
        return max(1, min(attempts, self.streak))

    def observe(
        self, outcome: Outcome[Any], now: float, wall: dt.datetime, probe: bool = False
    ) -> None:
        """Account for one answer, received at ``now`` (monotonic) / ``wall`` (UTC)."""
        if self.stop is not None:
            return
        verdict = outcome.verdict
        if verdict is Verdict.STOP:
            self.stop = Stop(StopKind.REFUSED, outcome)
            return
        if verdict is Verdict.RETRY and outcome.http_status != 429:
            self._unavailable(outcome, now, wall, probe)
            self._count_in_share(1.0)
            return
        self._count_in_share(0.0)
        self.streak, self.outage_since = 0, None
        if verdict is Verdict.DONE:
            self.delivered_any = True
        elif verdict is Verdict.FAILED and not self.delivered_any:
            key = _rejection_key(outcome)
            self._rejections = self._rejections + 1 if key == self._rejection else 1
            self._rejection = key
            if self._rejections >= self.same_rejections:
                self.stop = Stop(StopKind.REJECTED, outcome, self._rejections)

    def _count_in_share(self, unavailable: float) -> None:
        """One answer into the share of unavailable ones; an outage's answers say nothing of
        the share before the next."""
        if not self.in_outage:
            self._share += (unavailable - self._share) / self.SHARE_ANSWERS

    def _unavailable(
        self, outcome: Outcome[Any], now: float, wall: dt.datetime, probe: bool
    ) -> None:
        if self.streak == 0:
            self._first_failure = (now, wall)
            self._needed = self.outage_streak
            if 0 < self._share < 1:
                chance = math.ceil(math.log(self.CHANCE) / math.log(self._share))
                self._needed = min(3 * self.outage_streak, max(self.outage_streak, chance))
        self.streak += 1
        self._last = outcome
        if self.outage_since is None:
            if self.streak >= self._needed:
                self.outage_since, self._outage_wall = self._first_failure
                self._interval = self.probe_first_seconds
                self.next_probe = now + self._interval
        elif probe:
            self._interval = min(self.probe_max_seconds, self._interval * 2)
            self.next_probe = now + self._interval
        self.check(now)

    def check(self, now: float) -> Stop | None:
        """The stop, if any; an outage older than the limit becomes one."""
        if (
            self.stop is None
            and self.outage_since is not None
            and now - self.outage_since >= self.outage_limit_seconds
            and self._last is not None
        ):
            self.stop = Stop(StopKind.UNAVAILABLE, self._last, self.streak, self._outage_wall)
        return self.stop


@dataclass
class _Job:
    event_id: str
    payload: dict[str, Any]
    attempts: int = 0
    probe: bool = False  # sent alone to see whether Reo.Dev is back


@dataclass(frozen=True)
class Snapshot:
    """The delivery so far, as progress lines and metadata show it."""

    requests: int
    throttled: int
    in_flight: int
    limit: int
    rate_cap: float | None
    concurrency_median: int
    retries: int = 0  # tries again after any answer or none (429s included)
    peak_limit: int = 0  # the most requests in flight the pace allowed
    rtt_p50_ms: float | None = None  # of the answered requests (a sample of them)
    rtt_p95_ms: float | None = None
    sending_seconds: float = 0.0

    @property
    def throttled_share(self) -> float:
        return self.throttled / self.requests if self.requests else 0.0

    @property
    def other_retries(self) -> int:
        """Tries again after a 5xx, a timeout or a dropped connection: not after a 429."""
        return max(0, self.retries - self.throttled)

    @property
    def requests_per_second(self) -> float | None:
        return self.requests / self.sending_seconds if self.sending_seconds > 0 else None


def _quantile(ordered: list[float], q: float) -> float | None:
    """The ``q`` quantile of sorted seconds, in ms (nearest rank); None for none."""
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)


def _answer(outcome: Outcome[Any]) -> Answer:
    if outcome.verdict is Verdict.DONE:
        return Answer.DONE
    if outcome.verdict is Verdict.RETRY:
        return Answer.THROTTLED if outcome.http_status == 429 else Answer.UNAVAILABLE
    return Answer.REJECTED


class Sender:
    """Send with up to ``max_concurrency`` threads, paced by ``Pace``; ``run`` once."""

    PREFETCH = 4096  # events read ahead of the senders, at most
    RTT_SAMPLE = 4096  # round trips kept for the percentiles (reservoir sampling)
    UNSENT_CHUNK = 10_000  # "not sent" results handed back at a time after a stop

    def __init__(
        self,
        attempt: Attempt,
        *,
        max_concurrency: int,
        retry: RetryPolicy,
        max_unrecorded: int = 512,
        max_rate: float | None = None,
        hand_back_seconds: float = HAND_BACK_SECONDS,
        rng: random.Random | None = None,
        health: Health | None = None,
    ) -> None:
        self._attempt = attempt
        self._retry = retry
        self._rng = rng or random.Random()
        self.max_concurrency = max(1, max_concurrency)
        self.max_unrecorded = max(self.max_concurrency, max_unrecorded)
        self._hand_back_seconds = hand_back_seconds
        self.pace = Pace(self.max_concurrency, max_rate)
        self.health = health or Health()
        self._lock = threading.Lock()  # every condition below is on it
        self._active = threading.Condition(self._lock)  # workers the pace lets send wait here
        # the others wait here, each on its own: a change of the limit wakes only those it lets in
        self._parked = [threading.Condition(self._lock) for _ in range(self.max_concurrency)]
        self._handed = threading.Condition(self._lock)  # the caller's thread waits here
        self._source: Iterator[tuple[str, dict[str, Any]]] = iter(())
        self._queue: deque[_Job] = deque()  # read from the source, not yet taken
        self._source_done = False
        self._delayed: list[tuple[float, int, _Job]] = []
        self._order = itertools.count()
        self._in_flight = 0
        self._unrecorded = 0  # in flight + results not yet returned from on_results
        self._results: list[SendResult] = []
        self._workers_alive = 0
        self._aborted = False
        self._crash: Exception | None = None
        self.retries = 0
        self._rtts: list[float] = []
        self._answered = 0
        self._peak_limit = 0
        self._started: float | None = None

    def snapshot(self) -> Snapshot:
        with self._active:
            rtts = sorted(self._rtts)
            return Snapshot(
                self.pace.requests,
                self.pace.throttled,
                self._in_flight,
                self.pace.limit,
                self.pace.rate_cap,
                self.pace.concurrency_median(),
                retries=self.retries,
                peak_limit=max(self._peak_limit, self.pace.limit),
                rtt_p50_ms=_quantile(rtts, 0.5),
                rtt_p95_ms=_quantile(rtts, 0.95),
                sending_seconds=time.monotonic() - self._started if self._started else 0.0,
            )

    def run(
        self,
        events: Iterable[tuple[str, dict[str, Any]]],
        on_results: Callable[[list[SendResult]], None],
        on_progress: Callable[[Snapshot], None] | None = None,
    ) -> Stop | None:
        """Send every event; ``on_results`` runs in this thread. Return why it stopped, if it did.

        Results are handed back every ``hand_back_seconds``, or sooner once half of
        ``max_unrecorded`` wait; an event's result counts as recorded when ``on_results``
        returns; ``on_progress`` follows each hand-back. If ``health`` stops the delivery,
        requests in flight finish, nothing more is sent, and every event not resolved gets a
        failed result saying it was not sent and why.
        """
        self._source = iter(events)
        self._started = time.monotonic()
        self._workers_alive = self.max_concurrency
        share_malloc_arenas()
        threads = [
            threading.Thread(target=self._worker, args=(number,), daemon=True)
            for number in range(self.max_concurrency)
        ]
        try:
            self._refill()
            for thread in threads:
                thread.start()
            while True:
                self._refill()
                batch, finished = self._next_batch()
                if batch:
                    on_results(batch)
                    with self._active:
                        self._unrecorded -= len(batch)
                        self._active.notify_all()
                if on_progress is not None:
                    on_progress(self.snapshot())
                if finished:
                    if self._crash:
                        raise self._crash
                    if self.health.stop is not None:
                        self._hand_back_unsent(self.health.stop.reason, on_results)
                    return self.health.stop
        except BaseException:
            with self._active:
                self._aborted = True
                self._wake_all()
            raise
        finally:
            for thread in threads:
                if thread.is_alive():
                    thread.join()

    def _refill(self) -> None:
        """Read events from the source (outside the lock: it may query and write the ledger)
        until ``PREFETCH`` wait to be taken."""
        with self._active:
            if self._source_done or len(self._queue) > self.PREFETCH // 2 or self._stopped():
                return
            wanted = self.PREFETCH - len(self._queue)
        jobs = [_Job(event_id, payload) for event_id, payload in islice(self._source, wanted)]
        with self._active:
            self._queue.extend(jobs)
            self._source_done = len(jobs) < wanted
            self._active.notify_all()
            if self._source_done and self._idle():
                self._wake_all()

    def _next_batch(self) -> tuple[list[SendResult], bool]:
        """Wait for results worth handing back, or for the queue to run low; True once every
        worker has exited."""
        deadline = time.monotonic() + self._hand_back_seconds
        with self._handed:
            while self._workers_alive and len(self._results) < self.max_unrecorded // 2:
                if not self._source_done and len(self._queue) <= self.PREFETCH // 2:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._handed.wait(left)
            batch, self._results = self._results, []
            return batch, not self._workers_alive

    def _hand_back_unsent(
        self, reason: str, on_results: Callable[[list[SendResult]], None]
    ) -> None:
        """After a stop: a result for each event waiting for a retry, read ahead, or never
        read, handed back a chunk at a time."""
        waiting = [job for _, _, job in self._delayed] + list(self._queue)
        self._delayed, self._queue = [], deque()
        while waiting:
            on_results(
                [
                    SendResult(
                        job.event_id,
                        False,
                        job.attempts,
                        None,
                        f"not sent again: {reason}" if job.attempts else f"not sent: {reason}",
                    )
                    for job in waiting
                ]
            )
            waiting = [_Job(*item) for item in islice(self._source, self.UNSENT_CHUNK)]

    def _worker(self, number: int) -> None:
        try:
            while (job := self._take(number)) is not None:
                started = time.perf_counter()
                try:
                    outcome = self._attempt(job.payload)
                except Exception:
                    with self._active:
                        self._in_flight -= 1
                    raise
                self._finish(job, outcome, time.perf_counter() - started)
        except Exception as exc:  # a bug, in the attempt or here: stop, and raise it in run()
            with self._active:
                self._aborted = True
                self._crash = self._crash or exc
        finally:
            with self._active:
                self._workers_alive -= 1
                self._wake_all()

    def _wake_all(self) -> None:
        """Wake every waiting thread (the lock held): something all of them must see."""
        self._active.notify_all()
        for parked in self._parked:
            parked.notify()
        self._handed.notify()

    def _idle(self) -> bool:
        """Nothing left to send (the lock held)."""
        return self._source_done and not self._queue and not self._delayed and not self._in_flight

    def _stopped(self) -> bool:
        return self._aborted or self.health.stop is not None

    def _take(self, number: int) -> _Job | None:
        """The next job for worker ``number``: a due retry first, then a new event, when the
        pace allows; in an outage, one probe at a time when it is due."""
        with self._active:
            while True:
                now = time.monotonic()
                if self._aborted or self._stopping(now) or self._idle():
                    return None
                if number >= self.pace.limit:
                    # An answer this worker brought back may be what another waits for (the last
                    # one in flight in an outage, room in the unrecorded window): the others left
                    # acting on it to this worker, so it hands the wake-up on before it parks.
                    self._active.notify()
                    self._parked[number].wait()
                    continue
                outage = self.health.in_outage
                timeout = None
                if self._unrecorded < self.max_unrecorded and not (outage and self._in_flight):
                    retry_due = bool(self._delayed) and (outage or self._delayed[0][0] <= now)
                    if outage and now < self.health.next_probe:
                        timeout = self.health.next_probe - now
                    elif retry_due or self._queue:
                        wait = self.pace.start(now, self._in_flight)
                        if not wait:
                            job = heapq.heappop(self._delayed)[2] if retry_due else None
                            job = job or self._queue.popleft()
                            job.probe = outage
                            job.attempts += 1
                            self._in_flight += 1
                            self._unrecorded += 1
                            if len(self._queue) == self.PREFETCH // 2:
                                self._handed.notify()
                            return job
                        timeout = wait
                    if timeout is None and self._delayed:
                        timeout = max(0.0, self._delayed[0][0] - now)
                self._active.wait(timeout)

    def _sample_rtt(self, rtt: float) -> None:
        """Keep ``rtt`` in a uniform sample of every answered request's (the lock held)."""
        self._answered += 1
        if len(self._rtts) < self.RTT_SAMPLE:
            self._rtts.append(rtt)
        elif (slot := self._rng.randrange(self._answered)) < self.RTT_SAMPLE:
            self._rtts[slot] = rtt

    def _stopping(self, now: float) -> bool:
        """True once the delivery stopped (the lock held); wakes everyone the first time."""
        if self.health.stop is not None:
            return True
        if self.health.check(now) is not None:
            self._wake_all()
            return True
        return False

    def _finish(self, job: _Job, outcome: Outcome[Any], rtt: float) -> None:
        with self._active:
            self._in_flight -= 1
            now = time.monotonic()
            answered = outcome.http_status is not None
            if answered:
                self._sample_rtt(rtt)
            limit = self.pace.limit
            self._peak_limit = max(self._peak_limit, limit)
            if self.pace.observe(_answer(outcome), rtt if answered else None, now):
                self._active.notify_all()  # the rate changed, or the limit
                for number in range(limit, self.pace.limit):
                    self._parked[number].notify()
            was_outage, was_stopped = self.health.in_outage, self.health.stop is not None
            self.health.observe(outcome, now, dt.datetime.now(dt.UTC), probe=job.probe)
            stopped = self.health.stop is not None
            if was_outage != self.health.in_outage or stopped != was_stopped:
                self._wake_all()
            if outcome.verdict is Verdict.RETRY and self.health.in_outage and not stopped:
                # Reo.Dev is away: the event waits for it without spending its own tries.
                wait: float | None = max(0.0, self.health.next_probe - now)
            else:
                backoff = self.health.backoff(job.attempts)
                wait = self._retry.next_wait(outcome, job.attempts, self._rng, backoff)
            if wait is not None and not stopped:
                self.retries += 1
                self._unrecorded -= 1
                ready = now + wait
                earliest = not self._delayed or ready < self._delayed[0][0]
                heapq.heappush(self._delayed, (ready, next(self._order), job))
                if earliest:
                    self._active.notify_all()
                return
            delivered = outcome.verdict is Verdict.DONE
            status, error = outcome.http_status, outcome.error
            self._results.append(SendResult(job.event_id, delivered, job.attempts, status, error))
            if len(self._results) in (1, self.max_unrecorded // 2):
                self._handed.notify()
            if self._idle():
                self._wake_all()
            else:
                self._active.notify()
