"""The Reo.Dev client against the Reo sandbox over loopback."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from reo_dt_assets.http_retry import RetryPolicy, Verdict
from reo_dt_assets.reo.client import ReoAuthError, ReoClient
from reo_dt_assets.reo.sender import SendResult
from reo_dt_assets.sandbox.reo_server import ReoSandbox

FAST = RetryPolicy(attempts=6, base_delay=0.01, max_delay=0.05)


def _payload(n: int) -> dict[str, Any]:
    return {
        "activity_type": "AD_REVENUE",
        "source": "PRODUCT_CLOUD",
        "user_id": f"user{n}",
        "user_id_type": "USERNAME",
        "event_id": f"e{n}",
        "event_at": 1795132800,
        "product_id": "p",
        "meta": {"revenue_usd": "0.1"},
    }


def _client(sandbox: ReoSandbox, **kwargs: Any) -> ReoClient:
    options: dict[str, Any] = {"retry": FAST, "concurrency": 8, "timeout_seconds": 5.0}
    options.update(kwargs)
    return ReoClient(options.pop("api_key", sandbox.api_key), sandbox.url, **options)


def _send_all(client: ReoClient, count: int) -> list[SendResult]:
    results: list[SendResult] = []
    client.send_all(((f"e{n}", _payload(n)) for n in range(count)), results.extend)
    return results


def test_delivers_with_documented_shape(reo_sandbox: ReoSandbox) -> None:
    with _client(reo_sandbox) as client:
        result = client.send("e1", _payload(1))
    assert (result.delivered, result.attempts, result.http_status) == (True, 1, 200)
    assert reo_sandbox.received == [_payload(1)]


def test_send_all_is_concurrent_but_bounded(reo_sandbox: ReoSandbox) -> None:
    reo_sandbox.faults.latency_ms = 20
    with _client(reo_sandbox, concurrency=6) as client:
        results = _send_all(client, 120)
    assert all(r.delivered for r in results) and len(results) == 120
    assert 2 <= reo_sandbox.max_in_flight <= 6
    assert reo_sandbox.counts() == {f"e{n}": 1 for n in range(120)}


def test_in_flight_adapts_to_the_network_wait(reo_sandbox: ReoSandbox) -> None:
    """Next to the server extra threads only fight over the GIL: few requests run at once."""
    with _client(reo_sandbox, concurrency=16) as client:
        results = _send_all(client, 400)
    assert all(r.delivered for r in results)
    assert reo_sandbox.max_in_flight <= 8


def test_faults_are_retried_and_every_event_arrives(reo_sandbox: ReoSandbox) -> None:
    reo_sandbox.faults.update(
        error_rate=0.2,
        throttle_rate=0.1,
        failure_body_rate=0.1,
        drop_after_read_rate=0.05,
        retry_after_seconds=0.01,
    )
    with _client(
        reo_sandbox, retry=RetryPolicy(attempts=12, base_delay=0.01, max_delay=0.05)
    ) as client:
        results = _send_all(client, 300)
    assert all(r.delivered for r in results)
    counts = reo_sandbox.counts()
    assert set(counts) == {f"e{n}" for n in range(300)}
    duplicated = {event for event, n in counts.items() if n > 1}
    assert duplicated <= set(reo_sandbox.dropped_event_ids)  # only where the answer was lost
    assert reo_sandbox.dropped_event_ids  # the fault did happen


def test_200_with_failure_body_is_not_success(reo_sandbox: ReoSandbox) -> None:
    reo_sandbox.faults.failure_body_rate = 1.0
    with _client(reo_sandbox, retry=RetryPolicy(attempts=3, base_delay=0.01)) as client:
        result = client.send("e1", _payload(1))
    assert not result.delivered and result.attempts == 3
    assert result.error and "Data not uploaded" in result.error


def test_5xx_retries_are_bounded(reo_sandbox: ReoSandbox) -> None:
    reo_sandbox.faults.error_rate = 1.0
    with _client(reo_sandbox, retry=RetryPolicy(attempts=4, base_delay=0.01)) as client:
        result = client.send("e1", _payload(1))
    assert not result.delivered and result.attempts == 4
    assert reo_sandbox.requests == 4
    assert result.http_status in (500, 502, 503, 504)


def test_429_carries_retry_after_to_the_policy(reo_sandbox: ReoSandbox) -> None:
    reo_sandbox.faults.update(throttle_rate=1.0, retry_after_seconds=0.3)
    with _client(reo_sandbox, retry=RetryPolicy(attempts=2, base_delay=0.001)) as client:
        outcome = client.attempt(_payload(1))
        result = client.send("e1", _payload(1))
    assert (outcome.verdict, outcome.http_status, outcome.retry_after) == (Verdict.RETRY, 429, 0.3)
    assert (result.delivered, result.http_status, reo_sandbox.requests) == (False, 429, 3)


@pytest.mark.parametrize(
    ("faults", "payload", "verdict", "status"),
    [
        ({}, _payload(1), Verdict.DONE, 200),
        ({"error_rate": 1.0}, _payload(1), Verdict.RETRY, None),
        ({"failure_body_rate": 1.0}, _payload(1), Verdict.RETRY, 200),
        ({"drop_after_read_rate": 1.0}, _payload(1), Verdict.RETRY, None),
        ({}, {**_payload(1), "source": "SDK"}, Verdict.FAILED, 400),
    ],
)
def test_one_attempt_is_classified(
    reo_sandbox: ReoSandbox,
    faults: dict[str, float],
    payload: dict[str, Any],
    verdict: Verdict,
    status: int | None,
) -> None:
    reo_sandbox.faults.update(**faults)
    with _client(reo_sandbox) as client:
        outcome = client.attempt(payload)
    assert outcome.verdict is verdict
    if status is not None:
        assert outcome.http_status == status
    assert outcome.retry_after is None


def test_other_4xx_is_permanent_and_keeps_the_body(reo_sandbox: ReoSandbox) -> None:
    with _client(reo_sandbox) as client:
        result = client.send("bad", {**_payload(1), "source": "SDK"})
    assert (result.delivered, result.attempts, result.http_status) == (False, 1, 400)
    assert result.error and "Invalid payload: source must be PRODUCT_CLOUD" in result.error


def test_wrong_key_stops_everything(
    reo_sandbox: ReoSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    reo_sandbox.faults.latency_ms = 5
    results: list[SendResult] = []
    with _client(reo_sandbox, api_key="wrong-key-123", concurrency=4) as client:
        with pytest.raises(ReoAuthError, match="REO_API_KEY") as error:
            client.send_all(((f"e{n}", _payload(n)) for n in range(500)), results.extend)
        text = str(error.value) + repr(client) + caplog.text
    assert reo_sandbox.requests <= 4  # only what was already in flight; nothing after
    assert reo_sandbox.received == []
    # Every event handed over gets exactly one result, with a reason naming the variable.
    assert sorted(r.event_id for r in results) == sorted(f"e{n}" for n in range(500))
    assert not any(r.delivered for r in results)
    refused = [r for r in results if r.attempts]
    assert len(refused) == reo_sandbox.requests
    assert all(r.error and "REO_API_KEY" in r.error for r in results)
    assert sum(r.error.startswith("not sent: ") for r in results if r.error) == 500 - len(refused)
    assert "wrong-key-123" not in text + repr(results)
