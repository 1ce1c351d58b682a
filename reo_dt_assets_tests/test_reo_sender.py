"""The concurrent sender's scheduling, driven by scripted outcomes (no network, no clock).

The HTTP behaviour is in test_reo_client.py; here the attempt function is a script, so what is
checked is who gets sent when: a retry wait never holds up other events, the unrecorded window
holds, a STOP leaves every event with one result, and the worker target is plain arithmetic.
"""

from __future__ import annotations

import bisect
import datetime as dt
import heapq
import itertools
import platform
import random
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest

from reo_dt_assets.reo.pace import Answer, Pace
from reo_dt_assets.reo.sender import MALLOC_ARENAS, Health, Sender, SendResult, StopKind
from reo_dt_assets.retry import Outcome, RetryPolicy, Verdict

RETRY = RetryPolicy(attempts=5, base_delay=0.001, max_delay=0.001)
DELIVERED = Outcome[None](Verdict.DONE, 200)


def _events(count: int) -> list[tuple[str, dict[str, Any]]]:
    return [(f"e{n}", {"n": n}) for n in range(count)]


class _EnoughError(Exception):
    """Raised from on_results to end a run whose point has been made."""


def test_a_retry_wait_does_not_hold_up_other_events() -> None:
    """One worker; the first event must wait an hour: every other event goes out meanwhile."""

    def attempt(payload: dict[str, Any]) -> Outcome[None]:
        if payload["n"] == 0:
            return Outcome(Verdict.RETRY, 429, "HTTP 429", retry_after=3600.0)
        return DELIVERED

    results: list[SendResult] = []
    others_done = threading.Event()

    def on_results(batch: list[SendResult]) -> None:
        results.extend(batch)
        if len(results) == 99:
            others_done.set()
            raise _EnoughError

    def run() -> None:
        with pytest.raises(_EnoughError):
            Sender(attempt, max_concurrency=1, retry=RETRY).run(_events(100), on_results)

    threading.Thread(target=run, daemon=True).start()
    assert others_done.wait(timeout=60), "the retry wait held up the other events"
    assert {r.event_id for r in results} == {f"e{n}" for n in range(1, 100)}
    assert all(r.delivered for r in results)


def test_retries_are_bounded_and_keep_the_last_error() -> None:
    attempts: dict[str, int] = {}

    def attempt(payload: dict[str, Any]) -> Outcome[None]:
        key = f"e{payload['n']}"
        attempts[key] = attempts.get(key, 0) + 1
        if payload["n"] % 2:
            return Outcome(Verdict.RETRY, 503, f"HTTP 503 #{attempts[key]}")
        return DELIVERED

    results: list[SendResult] = []
    no_outage = Health(outage_streak=1000)  # half the events answer 503 to the end
    Sender(attempt, max_concurrency=4, retry=RETRY, health=no_outage).run(
        _events(40), results.extend
    )
    by_id = {r.event_id: r for r in results}
    assert len(results) == len(by_id) == 40
    for n in range(40):
        result = by_id[f"e{n}"]
        if n % 2:
            assert (result.delivered, result.attempts, result.error) == (False, 5, "HTTP 503 #5")
        else:
            assert (result.delivered, result.attempts) == (True, 1)


def test_no_more_than_max_unrecorded_events_are_ahead_of_the_record() -> None:
    """While on_results is busy, workers stop once the window is full."""
    lock = threading.Lock()
    sent, recorded, ahead = [0], [0], [0]
    window_full = threading.Event()

    def attempt(payload: dict[str, Any]) -> Outcome[None]:
        with lock:
            sent[0] += 1
            ahead[0] = max(ahead[0], sent[0] - recorded[0])
            if sent[0] - recorded[0] >= 8:
                window_full.set()
        return DELIVERED

    def on_results(batch: list[SendResult]) -> None:
        if not recorded[0]:
            assert window_full.wait(timeout=30)  # the workers caught up with the window
        with lock:
            recorded[0] += len(batch)

    Sender(attempt, max_concurrency=4, retry=RETRY, max_unrecorded=8).run(_events(300), on_results)
    assert recorded[0] == sent[0] == 300
    assert ahead[0] == 8


def test_a_stop_gives_every_event_exactly_one_result() -> None:
    def attempt(payload: dict[str, Any]) -> Outcome[None]:
        if payload["n"] == 5:
            return Outcome(Verdict.STOP, 400, "key refused")
        if payload["n"] == 3:
            return Outcome(Verdict.RETRY, 500, "HTTP 500", retry_after=3600.0)
        return DELIVERED

    results: list[SendResult] = []
    stopped = Sender(attempt, max_concurrency=1, retry=RETRY).run(_events(50), results.extend)
    assert stopped is not None and stopped.kind is StopKind.REFUSED
    assert stopped.reason == "key refused"
    by_id = {r.event_id: r for r in results}
    assert len(results) == len(by_id) == 50
    assert [n for n in range(50) if by_id[f"e{n}"].delivered] == [0, 1, 2, 4]
    assert by_id["e5"].error == "key refused"
    assert by_id["e3"] == SendResult("e3", False, 1, None, "not sent again: key refused")
    assert all(by_id[f"e{n}"].error == "not sent: key refused" for n in range(6, 50))
    assert all(by_id[f"e{n}"].attempts == 0 for n in range(6, 50))


def test_a_bug_in_the_attempt_is_raised_not_swallowed() -> None:
    def attempt(payload: dict[str, Any]) -> Outcome[None]:
        raise KeyError("bug")

    with pytest.raises(KeyError, match="bug"):
        Sender(attempt, max_concurrency=3, retry=RETRY).run(_events(10), lambda batch: None)


def test_a_bug_in_the_senders_own_bookkeeping_is_raised_not_swallowed() -> None:
    """A worker that died on it used to leave the others sending and the events it held with
    no result, and the run returned as if it were done."""

    class Broken(Health):
        def observe(self, *args: Any, **kwargs: Any) -> None:
            raise ZeroDivisionError("bookkeeping")

    sender = Sender(lambda payload: DELIVERED, max_concurrency=3, retry=RETRY, health=Broken())
    with pytest.raises(ZeroDivisionError, match="bookkeeping"):
        sender.run(_events(10), lambda batch: None)


def _window(pace: Pace, answer: Answer, rtt: float | None, now: float) -> bool:
    """One window of answers, each started when the limit was full; True if the pace changed."""
    changed = False
    for _ in range(max(Pace.MIN_WINDOW, pace.limit)):  # at least one window, slow start or not
        pace.start(now, pace.limit - 1)
        changed = pace.observe(answer, rtt, now) or changed
    return changed


def test_far_from_the_server_in_flight_doubles_to_the_ceiling() -> None:
    pace = Pace(ceiling=128)
    limits = [pace.limit]
    for n in range(8):
        for _ in range(pace.limit):  # one round trip of answers
            pace.start(n * 0.1, pace.limit - 1)
            pace.observe(Answer.DONE, 0.100, n * 0.1)
        limits.append(pace.limit)
    assert limits == [1, 2, 4, 8, 16, 32, 64, 128, 128]
    assert pace.rate is None and pace.concurrency_median() > 64


def test_a_growing_round_trip_cuts_in_flight_in_proportion() -> None:
    """Next to the server the round trip grows with every request in flight (the GIL)."""
    pace = Pace(ceiling=128)
    for n in range(20):
        _window(pace, Answer.DONE, 0.0005 * pace.limit, n * 0.01)
    assert pace.limit <= 2


def _stream(pace: Pace, start: int, count: int, answer: Callable[[int, Pace], Answer]) -> int:
    """One answer every 5 ms (200 a second) while the pace allows; the next answer's number."""
    n = start
    for n in range(start, start + count):
        pace.start(n * 0.005, 15)
        pace.observe(answer(n, pace), 0.02, n * 0.005)
    return n + 1


def test_429s_that_fall_with_the_pace_are_a_limit() -> None:
    """200 answers a second, then every other one is a 429: a probe at half the pace sees
    none, so it is a limit. The cap starts where the probe found room and doubles per second
    while it holds the pace back, until 429s come again; from then on they cut it (to 90% of
    what was accepted, at most by half) and it grows 5% a second."""
    pace = Pace(ceiling=16)
    every_other: Callable[[int, Pace], Answer] = lambda n, p: (  # noqa: E731
        Answer.THROTTLED if n % 2 else Answer.DONE
    )
    n = _stream(pace, 0, 400, lambda n, p: Answer.DONE)
    assert pace.rate is None
    while pace.rate is None:
        n = _stream(pace, n, 1, every_other)
    probe = pace.rate
    assert 0.5 * 100 <= probe <= 0.5 * 200
    n = _stream(pace, n, Pace.TRIAL + 2 * Pace.MIN_WINDOW, lambda n, p: Answer.DONE)
    doubling = pace.rate
    assert doubling is not None and doubling > probe
    n = _stream(pace, n, Pace.MIN_WINDOW, lambda n, p: Answer.DONE)
    assert pace.rate == pytest.approx(doubling * 2 ** (0.005 * Pace.MIN_WINDOW))
    before = pace.rate
    # a second later (little accepted in the last second): 429s halve the cap, no more
    n = _stream(pace, n + 200, Pace.MIN_WINDOW, every_other)
    cut = pace.rate
    assert cut == pytest.approx(0.5 * before)
    _stream(pace, n, Pace.MIN_WINDOW, lambda n, p: Answer.DONE)
    assert pace.rate == pytest.approx(cut * (1 + Pace.CAP_GROWTH * 0.005 * Pace.MIN_WINDOW))


def test_429s_that_hold_at_half_the_pace_are_the_servers_own() -> None:
    """A server that answers one request in ten 429 whatever the pace: the probe sees the same
    share, so the cap goes back and that share no longer slows the delivery down."""
    pace = Pace(ceiling=16)
    one_in_ten: Callable[[int, Pace], Answer] = lambda n, p: (  # noqa: E731
        Answer.THROTTLED if n % 10 == 0 else Answer.DONE
    )
    n = _stream(pace, 0, 200, lambda n, p: Answer.DONE)
    n = _stream(pace, n, Pace.MIN_WINDOW * 20, one_in_ten)
    assert pace.rate is None
    _stream(pace, n, Pace.MIN_WINDOW * 100, one_in_ten)
    assert pace.rate is None


def test_a_fixed_share_of_errors_is_the_servers_not_a_reason_to_slow_down() -> None:
    """A server that answers 10% 429 and 30% 5xx whatever the pace: after the first windows
    the slow averages know it, and in flight keeps growing."""
    pace = Pace(ceiling=128)
    pattern = [Answer.THROTTLED] + [Answer.UNAVAILABLE] * 3 + [Answer.DONE] * 6
    for n in range(300):
        pace.start(n * 0.001, pace.limit - 1)
        pace.observe(pattern[n % 10], 0.02, n * 0.001)
    for n in range(300, 3000):
        pace.start(n * 0.001, pace.limit - 1)
        pace.observe(pattern[n % 10], 0.02, n * 0.001)
    assert pace.limit == 128 and pace.rate is None


def _round_trip(pace: Pace, number: int, answer: Callable[[], Answer]) -> None:
    """Round trip ``number`` of 20 ms: start what the pace allows, answer each at its end."""
    now = number * 0.02
    started = 0
    while started < pace.limit and not pace.start(now, started):
        started += 1
    for _ in range(started):
        pace.observe(answer(), 0.02, now + 0.02)


def test_the_servers_own_429s_from_the_first_answer_do_not_end_slow_start() -> None:
    """One answer in ten is a 429 from the start, 20 ms away: the probe they start finds them
    the server's own, and in flight goes on doubling to the ceiling (with slow start ended by
    the probe, it grew a tenth a window: 67 round trips and 1,334 answers)."""
    pace = Pace(ceiling=128)
    answers = itertools.count(1)
    for round_trip in range(40):
        _round_trip(
            pace, round_trip, lambda: Answer.THROTTLED if next(answers) % 10 == 0 else Answer.DONE
        )
    assert pace.limit == 128 and pace.rate is None


def _against_a_token_bucket(
    events: int, rate: float, burst_seconds: float, rtt: float
) -> tuple[Pace, float]:
    """Deliver ``events`` on a simulated clock to a server whose limit is a token bucket of
    ``burst_seconds`` of tokens (full at the start), answering beyond it 429 with
    ``Retry-After: 1``; the pace decides when each request starts, as the sender's workers
    ask it. The pace, with its counts, and the seconds it took."""
    pace = Pace(ceiling=128)
    ready = [0.0] * events  # when each event waiting to be sent may go, in order
    answers: list[tuple[float, int, bool]] = []  # (when it comes, a tie-break, taken)
    tokens, tokens_at, now, sent = rate * burst_seconds, 0.0, 0.0, 0
    while ready or answers:
        while answers and answers[0][0] <= now:
            _, _, taken = heapq.heappop(answers)
            pace.observe(Answer.DONE if taken else Answer.THROTTLED, rtt, now)
            if not taken:
                bisect.insort(ready, now + 1.0)
        wait = 0.0
        while ready and ready[0] <= now and len(answers) < pace.limit:
            wait = pace.start(now, len(answers))
            if wait:
                break
            ready.pop(0)
            tokens = min(rate * burst_seconds, tokens + (now - tokens_at) * rate)
            tokens_at, sent = now, sent + 1
            heapq.heappush(answers, (now + rtt, sent, tokens >= 1.0))
            tokens -= 1.0 if tokens >= 1.0 else 0.0
        later = [answers[0][0]] if answers else []
        later += [ready[0]] if ready and ready[0] > now else []
        later += [now + max(wait, 1e-6)] if wait else []  # the clock moves on, as time does
        if later:
            now = min(later)
    return pace, now


@pytest.mark.parametrize(
    ("events", "rtt"), [(3000, 0.0005), (3000, 0.02), (3000, 0.1), (20000, 0.02)]
)
def test_a_token_bucket_with_a_seconds_burst_is_found_and_kept(events: int, rtt: float) -> None:
    """Reo.Dev's limit as a token bucket holding a second's tokens (150/s), answering 429 with
    ``Retry-After: 1``: its burst made the pace look ten times what it takes, the probe at half
    of that still saw most requests refused, and the 429s were taken for the server's own: a
    third of all requests answered 429, 88% at 20 ms. A second stage at what the first one
    accepted finds the limit: >= 0.8 x it, <= 10% of requests answered 429."""
    pace, seconds = _against_a_token_bucket(events, rate=150, burst_seconds=1.0, rtt=rtt)
    assert events / seconds >= 0.8 * 150
    assert pace.throttled / pace.requests <= 0.10


@pytest.mark.parametrize("seed", range(4))
def test_a_random_share_of_429s_is_never_taken_for_a_limit(seed: int) -> None:
    """Near the bench's fault mix, 20 ms away, for 300,000 requests: 7% of 429s at random (and
    30% 5xx) whatever the pace. Windows above the share's average are chance, not pressure: a
    slow average of the share that only ever fell drifted to the low end of the windows, every
    window above it started a probe, and one probe in twenty saw no 429 by chance and capped
    the rate at half of what the server takes, for good."""
    rng = random.Random(seed)
    pace = Pace(ceiling=128)
    capped = 0

    def answer() -> Answer:
        draw = rng.random()
        return (
            Answer.THROTTLED if draw < 0.07 else Answer.UNAVAILABLE if draw < 0.37 else Answer.DONE
        )

    for round_trip in range(3000):
        _round_trip(pace, round_trip, answer)
        capped += round_trip >= 1500 and pace.rate is not None
    assert pace.limit == 128 and pace.rate is None
    assert capped <= 15  # round trips of the second half spent under a probe's cap


def test_a_hard_rate_cap_is_a_token_bucket() -> None:
    pace = Pace(ceiling=128, max_rate=100)
    assert pace.start(0.0, 0) == 0.0
    wait = pace.start(0.0, 1)
    assert wait == pytest.approx(0.01)
    assert pace.start(0.01, 1) == 0.0
    assert pace.requests == 2


WALL = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)
UNAVAILABLE = Outcome[None](Verdict.RETRY, 503, "HTTP 503: Service Unavailable")
REJECTED = Outcome[None](Verdict.FAILED, 400, "HTTP 400: activity_type X is not configured")


def test_the_same_rejection_of_every_event_is_a_stop() -> None:
    health = Health(same_rejections=3)
    for n in range(2):
        health.observe(Outcome(Verdict.FAILED, 400, f"HTTP 400: event {n}1234 bad"), 0.0, WALL)
        health.observe(Outcome(Verdict.RETRY, 429, "HTTP 429"), 0.0, WALL)  # pace, not health
    assert health.stop is None
    health.observe(Outcome(Verdict.FAILED, 400, "HTTP 400: event 99887766 bad"), 0.0, WALL)
    assert health.stop is not None and health.stop.kind is StopKind.REJECTED
    assert health.stop.count == 3


def test_rejections_after_a_delivery_are_the_events_own() -> None:
    health = Health(same_rejections=3)
    health.observe(DELIVERED, 0.0, WALL)
    for _ in range(50):
        health.observe(REJECTED, 0.0, WALL)
    assert health.stop is None


def test_different_rejections_do_not_add_up() -> None:
    health = Health(same_rejections=3)
    for words in ("bad user_id", "bad product_id", "bad user_id", "bad product_id"):
        health.observe(Outcome(Verdict.FAILED, 400, f"HTTP 400: {words}"), 0.0, WALL)
    assert health.stop is None


def test_an_events_backoff_grows_only_with_failures_in_a_row() -> None:
    health, now, wall = Health(), 0.0, dt.datetime.now(dt.UTC)
    for _ in range(4):  # the event's tries fail, each between other events' deliveries
        health.observe(Outcome(Verdict.RETRY, 503), now, wall)
        assert health.backoff(attempts=6) == 1
        health.observe(DELIVERED, now, wall)
    for streak in range(1, 9):  # nothing gets through: the event backs off as far as its tries
        health.observe(Outcome(Verdict.RETRY, 503), now, wall)
        assert health.backoff(attempts=6) == min(6, streak)
    health.observe(Outcome(Verdict.RETRY, 429, "HTTP 429"), now, wall)
    assert health.backoff(attempts=6) == 1  # a 429 is the pace's, not a failure


def test_an_outage_probes_at_growing_intervals_and_ends_on_an_answer() -> None:
    health = Health(outage_limit_seconds=100, probe_first_seconds=1, probe_max_seconds=4)
    for n in range(11):
        health.observe(UNAVAILABLE, float(n), WALL)
    assert not health.in_outage
    health.observe(UNAVAILABLE, 11.0, WALL)  # the 12th in a row
    assert health.in_outage and health.next_probe == 12.0
    health.observe(UNAVAILABLE, 11.5, WALL)  # in flight before the outage: no new interval
    assert health.next_probe == 12.0
    waits = []
    for now in (12.0, 14.0, 18.0, 22.0):
        health.observe(UNAVAILABLE, now, WALL, probe=True)
        waits.append(health.next_probe - now)
    assert waits == [2, 4, 4, 4]
    health.observe(Outcome(Verdict.RETRY, 429, "HTTP 429"), 26.0, WALL, probe=True)
    assert not health.in_outage and health.stop is None  # it answered: it is back


def test_a_run_of_failures_likely_by_chance_is_no_outage() -> None:
    """Five answers in thirteen unavailable for a while (38%, near the bench's fault mix): 12 in
    a row come about once in 100,000 answers there, chance; 15 are under one in a million."""
    health = Health(outage_limit_seconds=100)
    pattern = [UNAVAILABLE if n in (0, 3, 5, 8, 10) else DELIVERED for n in range(13)]
    for n in range(2002):
        health.observe(pattern[n % 13], n * 0.001, WALL)
    for n in range(14):
        health.observe(UNAVAILABLE, 3.0 + n * 0.001, WALL)
    assert not health.in_outage
    health.observe(UNAVAILABLE, 3.1, WALL)
    assert health.in_outage and health.outage_since == 3.0


def test_an_outage_longer_than_the_limit_stops_saying_since_when() -> None:
    health = Health(outage_limit_seconds=60)
    health.observe(UNAVAILABLE, 5.0, WALL)
    for n in range(11):
        health.observe(UNAVAILABLE, 6.0 + n, WALL + dt.timedelta(seconds=1))
    assert health.check(64.9) is None
    stop = health.check(65.0)
    assert stop is not None and stop.kind is StopKind.UNAVAILABLE
    assert stop.since == WALL and "unavailable since 2026-12-01 09:30:00 UTC" in stop.reason


ARENAS = """
import ctypes, sys, threading
from reo_dt_assets.reo.sender import Sender
from reo_dt_assets.retry import Outcome, RetryPolicy, Verdict

def attempt(payload):
    ballast = [bytearray(4096) for _ in range(200)]  # malloc's, not Python's small-object pool
    return Outcome(Verdict.DONE, len(ballast))

events = [(str(n), {"n": n}) for n in range(2000)]
if sys.argv[1] == "sender":
    Sender(attempt, max_concurrency=16, retry=RetryPolicy(attempts=1)).run(events, lambda b: None)
else:  # the same threads, without the sender, all alive at once (an exited one's arena is reused)
    barrier = threading.Barrier(16)
    work = lambda: (barrier.wait(), [attempt(None) for _ in range(100)], barrier.wait())
    threads = [threading.Thread(target=work) for _ in range(16)]
    [t.start() for t in threads]
    [t.join() for t in threads]
libc = ctypes.CDLL(None)
libc.open_memstream.restype = ctypes.c_void_p
buffer, size = ctypes.c_char_p(), ctypes.c_size_t()
stream = ctypes.c_void_p(libc.open_memstream(ctypes.byref(buffer), ctypes.byref(size)))
libc.malloc_info(0, stream)
libc.fclose(stream)
print(buffer.value.decode().count("<heap nr="))
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc arenas are glibc's")
def test_the_senders_threads_share_a_few_malloc_arenas() -> None:
    def arenas(mode: str) -> int:
        run = subprocess.run(
            [sys.executable, "-c", ARENAS, mode], capture_output=True, text=True, check=True
        )
        return int(run.stdout)

    assert arenas("threads") > MALLOC_ARENAS  # what glibc does by itself
    assert arenas("sender") <= MALLOC_ARENAS


def test_a_change_of_the_limit_wakes_only_the_workers_it_lets_in() -> None:
    """Next to the server the limit moves every few windows; each move woke all the parked
    workers (up to 127 at 0 ms, where one is in flight), which went back to sleep: the bench's
    0 ms rate was 0.68 x the sequential loop, 0.85 x once only the workers let in wake."""
    in_flight = most_in_flight = 0
    lock = threading.Lock()

    def attempt(payload: dict[str, Any]) -> Outcome[None]:
        nonlocal in_flight, most_in_flight
        with lock:
            in_flight += 1
            busy = in_flight
            most_in_flight = max(most_in_flight, busy)
        threading.Event().wait(0.0002 * busy)  # the round trip grows with what is in flight
        with lock:
            in_flight -= 1
        return DELIVERED

    sender = Sender(attempt, max_concurrency=64, retry=RETRY)
    woken_for_nothing = 0

    class Parked(threading.Condition):
        def __init__(self, number: int) -> None:
            super().__init__(sender._lock)
            self.number = number

        def wait(self, timeout: float | None = None) -> bool:
            nonlocal woken_for_nothing
            woken = super().wait(timeout)
            woken_for_nothing += self.number >= sender.pace.limit and not sender._idle()
            return woken

    parked: list[threading.Condition] = [Parked(number) for number in range(64)]
    sender._parked = parked
    results: list[SendResult] = []
    sender.run(_events(3000), results.extend)
    assert len(results) == 3000 and all(r.delivered for r in results)
    assert most_in_flight >= 2  # the workers let in did wake
    assert woken_for_nothing <= 128, woken_for_nothing  # each wake of all parked: 7,567


class _CutOnTheFirstAnswer(Pace):
    """Two in flight until the first answer, which cuts the limit to one."""

    def __init__(self) -> None:
        super().__init__(2)
        self.cut = False

    @property
    def limit(self) -> int:
        return 1 if self.cut else 2

    def observe(self, answer: Answer, rtt: float | None, now: float) -> bool:
        changed, self.cut = not self.cut, True
        return changed


def test_the_last_answer_in_flight_wakes_the_next_probe_even_when_its_worker_parks() -> None:
    """An outage, both workers' requests in flight; worker 0's answer cuts the limit to one and
    worker 0 waits for the other answer (one probe at a time). Worker 1's answer then came back
    with nothing to wake anyone, and worker 1 parked (1 >= the limit): nobody sent the next
    probe or saw the outage limit pass, and the delivery hung for good (seen under pytest -n 3:
    6 workers parked, 2 waiting for an answer no longer in flight)."""
    numbers = threading.local()
    both_sent = threading.Barrier(2)
    zero_waits = threading.Event()
    calls = itertools.count()

    class Numbered(Sender):
        def _worker(self, number: int) -> None:
            numbers.value = number
            super()._worker(number)

    def attempt(payload: dict[str, Any]) -> Outcome[None]:
        if next(calls) >= 2:  # the probe: Reo.Dev is back
            return DELIVERED
        both_sent.wait(timeout=30)
        if numbers.value == 1:
            assert zero_waits.wait(timeout=30)
        return Outcome(Verdict.RETRY, 503, "HTTP 503")

    health = Health(outage_limit_seconds=3600, probe_first_seconds=0.001, outage_streak=1)
    sender = Numbered(attempt, max_concurrency=2, retry=RETRY, health=health)
    sender.pace = _CutOnTheFirstAnswer()

    class Active(threading.Condition):
        def wait(self, timeout: float | None = None) -> bool:
            if timeout is None and numbers.value == 0 and sender._in_flight:
                zero_waits.set()  # the lock is held until the wait below releases it
            return super().wait(timeout)

    sender._active = Active(sender._lock)
    results: list[SendResult] = []
    run = threading.Thread(target=sender.run, args=(_events(2), results.extend), daemon=True)
    run.start()
    run.join(timeout=30)
    if run.is_alive():
        with sender._lock:  # let the hung threads go
            sender._aborted = True
            sender._wake_all()
        pytest.fail("the delivery hung: no worker was woken to send the next probe")
    assert zero_waits.is_set()
    assert sorted(r.event_id for r in results) == ["e0", "e1"]
    assert all(r.delivered for r in results)
