"""The concurrent sender's scheduling, driven by scripted outcomes (no network, no clock).

The HTTP behaviour is in test_reo_client.py; here the attempt function is a script, so what is
checked is who gets sent when: a retry wait never holds up other events, the unrecorded window
holds, a STOP leaves every event with one result, and the worker target is plain arithmetic.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from reo_dt_assets.http_retry import Outcome, RetryPolicy, Verdict
from reo_dt_assets.reo.sender import Sender, SendResult, WorkerTarget

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
            Sender(attempt, concurrency=1, retry=RETRY).run(_events(100), on_results)

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
    Sender(attempt, concurrency=4, retry=RETRY).run(_events(40), results.extend)
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

    Sender(attempt, concurrency=4, retry=RETRY, max_unrecorded=8).run(_events(300), on_results)
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
    stopped = Sender(attempt, concurrency=1, retry=RETRY).run(_events(50), results.extend)
    assert stopped is not None and stopped.error == "key refused"
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
        Sender(attempt, concurrency=3, retry=RETRY).run(_events(10), lambda batch: None)


def test_worker_target_follows_the_wait_ratio() -> None:
    far = WorkerTarget(limit=16)
    for _ in range(WorkerTarget.PROBE - 1):
        assert not far.observe(rtt=0.020, cpu=0.0005, alone=True)
    assert far.value == 1 and far.probing
    assert far.observe(rtt=0.020, cpu=0.0005, alone=True)  # 40 -> capped at the limit
    assert (far.value, far.probing) == (16, False)

    near = WorkerTarget(limit=16)
    for _ in range(WorkerTarget.PROBE):
        near.observe(rtt=0.0006, cpu=0.0005, alone=True)
    assert (near.value, near.probing) == (1, False)


def test_worker_target_ignores_contended_samples_and_reprobes() -> None:
    target = WorkerTarget(limit=16)
    for _ in range(100):
        target.observe(rtt=0.5, cpu=0.0001, alone=False)  # overlapping requests: not samples
    assert target.probing and target.value == 1
    for _ in range(WorkerTarget.PROBE):
        target.observe(rtt=0.004, cpu=0.001, alone=True)
    assert target.value == 4
    for _ in range(WorkerTarget.REPROBE - 1):
        assert not target.observe(rtt=1.0, cpu=1.0, alone=True)
    assert target.observe(rtt=1.0, cpu=1.0, alone=True)  # time to measure again, from one
    assert (target.value, target.probing) == (1, True)
