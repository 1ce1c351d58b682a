"""The shared retry policy, driven by scripted outcomes: no network, and no time passes.

``sleep`` is a list's ``append`` and the jitter draws the top of its range, so every wait the
loop asks for is an exact number.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable

import httpx
import pytest

from reo_dt_assets.retry import (
    Outcome,
    RetryPolicy,
    Verdict,
    call_with_retries,
    retry_after_seconds,
    retry_later,
)

POLICY = RetryPolicy(attempts=5, base_delay=0.5, max_delay=1.5)


class _Top(random.Random):
    """Jitter that always draws the ceiling: the waits are exact."""

    def uniform(self, a: float, b: float) -> float:
        return b


def _script(outcomes: Iterable[Outcome[str]]) -> tuple[Callable[[], Outcome[str]], list[int]]:
    """An attempt function answering ``outcomes`` in order, and a counter of its calls."""
    remaining = iter(outcomes)
    calls = [0]

    def attempt() -> Outcome[str]:
        calls[0] += 1
        return next(remaining)

    return attempt, calls


def _retry(error: str, retry_after: float | None = None) -> Outcome[str]:
    return Outcome(Verdict.RETRY, 503, error, retry_after)


def test_waits_double_from_the_base_and_are_capped() -> None:
    attempt, calls = _script([_retry("#1"), _retry("#2"), _retry("#3"), Outcome(Verdict.DONE)])
    waits: list[float] = []
    call_with_retries(attempt, POLICY, sleep=waits.append, rng=_Top())
    assert waits == [0.5, 1.0, 1.5]
    assert calls[0] == 4


def test_attempts_are_bounded_and_the_last_error_kept() -> None:
    attempt, calls = _script(_retry(f"#{n}") for n in range(1, 100))
    waits: list[float] = []
    outcome = call_with_retries(attempt, POLICY, sleep=waits.append, rng=_Top())
    assert calls[0] == POLICY.attempts == 5
    assert len(waits) == 4  # no wait after the last try
    assert (outcome.verdict, outcome.error) == (Verdict.RETRY, "#5")


def test_retry_after_is_honoured_instead_of_the_backoff() -> None:
    attempt, _ = _script([_retry("429", retry_after=7.0), _retry("500"), Outcome(Verdict.DONE)])
    waits: list[float] = []
    call_with_retries(attempt, POLICY, sleep=waits.append, rng=_Top())
    assert waits == [7.0, 1.0]  # the server's wait, then the backoff of retry 2


def test_the_value_of_a_done_outcome_comes_back() -> None:
    attempt, calls = _script([_retry("drop"), Outcome(Verdict.DONE, 200, value="body")])
    outcome = call_with_retries(attempt, POLICY, sleep=lambda wait: None)
    assert (outcome.verdict, outcome.value, calls[0]) == (Verdict.DONE, "body", 2)


@pytest.mark.parametrize("verdict", [Verdict.DONE, Verdict.FAILED, Verdict.STOP])
def test_only_retry_is_retried(verdict: Verdict) -> None:
    attempt, calls = _script([Outcome(verdict, 400, "final"), _retry("never asked")])
    waits: list[float] = []
    outcome = call_with_retries(attempt, POLICY, sleep=waits.append)
    assert (outcome.verdict, calls[0], waits) == (verdict, 1, [])


def test_on_retry_hears_each_retry_before_its_wait() -> None:
    attempt, _ = _script([_retry("a"), _retry("b", retry_after=3.0), Outcome(Verdict.DONE)])
    heard: list[tuple[int, str | None, float]] = []
    waits: list[float] = []

    def on_retry(attempts_made: int, outcome: Outcome[str], wait: float) -> None:
        assert len(waits) == attempts_made - 1  # called before the sleep
        heard.append((attempts_made, outcome.error, wait))

    call_with_retries(attempt, POLICY, sleep=waits.append, rng=_Top(), on_retry=on_retry)
    assert heard == [(1, "a", 0.5), (2, "b", 3.0)]


def test_jitter_stays_in_the_upper_half_of_the_ceiling() -> None:
    rng = random.Random(7)
    for retry_number, ceiling in [(1, 0.5), (2, 1.0), (3, 1.5), (40, 1.5), (10_000, 1.5)]:
        for _ in range(200):
            assert ceiling / 2 <= POLICY.delay(retry_number, rng) <= ceiling


def test_the_concurrent_form_asks_the_same_question() -> None:
    """``next_wait`` is what the Reo.Dev sender's delay queue uses: the same decisions."""
    assert POLICY.next_wait(_retry("x"), 2, _Top()) == 1.0
    assert POLICY.next_wait(_retry("x", retry_after=9.0), 1) == 9.0
    assert POLICY.next_wait(_retry("x"), POLICY.attempts) is None
    assert POLICY.next_wait(Outcome(Verdict.DONE), 1) is None


@pytest.mark.parametrize(
    ("status", "header", "expected"),
    [
        (429, "3", 3.0),
        (503, "0.25", 0.25),
        (429, "Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # an HTTP date already past
        (429, "-4", 0.0),
        (429, "soon", None),
        (429, "inf", None),
        (429, "nan", None),
        (429, None, None),
        (500, "3", None),  # only 429 and 503 carry a wait the server asks for
        (200, "3", None),
    ],
)
def test_retry_later_reads_retry_after_on_429_and_503(
    status: int, header: str | None, expected: float | None
) -> None:
    response = httpx.Response(status, headers={"Retry-After": header} if header else {})
    outcome = retry_later(response, f"HTTP {status}")
    assert (outcome.verdict, outcome.http_status, outcome.error) == (
        Verdict.RETRY,
        status,
        f"HTTP {status}",
    )
    assert outcome.retry_after == expected


def test_retry_after_as_a_future_http_date() -> None:
    response = httpx.Response(429, headers={"Retry-After": "Fri, 31 Dec 2100 23:59:59 GMT"})
    seconds = retry_after_seconds(response)
    assert seconds is not None and seconds > 365 * 24 * 3600
