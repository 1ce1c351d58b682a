"""The Reo.Dev client against the Reo sandbox over loopback."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from reo_dt_assets.reo.client import (
    ReoAuthError,
    ReoClient,
    ReoSetupError,
    ReoUnavailableError,
    classify,
)
from reo_dt_assets.reo.sender import SendResult
from reo_dt_assets.retry import RetryPolicy, Verdict
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
    options: dict[str, Any] = {"retry": FAST, "max_concurrency": 8, "timeout_seconds": 5.0}
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
    with _client(reo_sandbox, max_concurrency=6) as client:
        results = _send_all(client, 120)
    assert all(r.delivered for r in results) and len(results) == 120
    assert 2 <= reo_sandbox.max_in_flight <= 6
    assert reo_sandbox.counts() == {f"e{n}": 1 for n in range(120)}


def test_in_flight_adapts_to_the_network_wait(reo_sandbox: ReoSandbox) -> None:
    """Next to the server extra threads only fight over the GIL: few requests run at once."""
    with _client(reo_sandbox, max_concurrency=16) as client:
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
        ({"failure_body_rate": 1.0}, _payload(1), Verdict.RETRY, 500),
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
    with _client(reo_sandbox, api_key="wrong-key-123", max_concurrency=4) as client:
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


DOCUMENTED_SUCCESS = '{"response_code": "200", "response": "Data Uploaded", "status": "success"}'
DOCUMENTED_REFUSAL = (
    '{"response_code": 400, "response": "Authentication Failure", "status": "failure"}'
)


@pytest.mark.parametrize(
    ("status", "text", "verdict", "meant"),
    [
        # Any 2xx whose body does not say failure is a success.
        (200, DOCUMENTED_SUCCESS, Verdict.DONE, 200),
        (200, "{}", Verdict.DONE, 200),
        (202, "", Verdict.DONE, 202),
        (200, "OK", Verdict.DONE, 200),
        (201, '{"id": 7}', Verdict.DONE, 201),
        # A body that says failure is one, whatever the status; its response_code says which.
        (200, '{"status": "failure", "response_code": 500}', Verdict.RETRY, 500),
        (200, '{"status": "failure"}', Verdict.RETRY, 200),
        (200, '{"success": false, "message": "try later"}', Verdict.RETRY, 200),
        (
            200,
            '{"status": "failure", "response_code": "400", "response": "bad"}',
            Verdict.FAILED,
            400,
        ),
        (200, '{"status": "failure", "response_code": 429}', Verdict.RETRY, 429),
        # Refusals of the key, any shape.
        (401, "", Verdict.STOP, 401),
        (403, "", Verdict.STOP, 403),
        (403, "<html>Forbidden</html>", Verdict.STOP, 403),
        (400, DOCUMENTED_REFUSAL, Verdict.STOP, 400),
        (200, DOCUMENTED_REFUSAL, Verdict.STOP, 400),
        (200, '{"status": "failure", "response_code": 401}', Verdict.STOP, 401),
        (400, '{"message": "Invalid API key"}', Verdict.STOP, 400),
        # Worth a retry, or a rejection of this event.
        (429, "", Verdict.RETRY, 429),
        (408, "", Verdict.RETRY, 408),
        (502, "<html>Bad Gateway</html>", Verdict.RETRY, 502),
        (400, "", Verdict.FAILED, 400),
        (404, "Not Found", Verdict.FAILED, 404),
        (422, '{"response": "event_id must be a string"}', Verdict.FAILED, 422),
        # A success body that names the key is still a success.
        (200, '{"status": "success", "response": "api key ok"}', Verdict.DONE, 200),
    ],
)
def test_every_reading_of_an_answer(status: int, text: str, verdict: Verdict, meant: int) -> None:
    outcome = classify(status, text)
    assert (outcome.verdict, outcome.http_status) == (verdict, meant)
    if verdict is Verdict.STOP:
        assert outcome.error and "REO_API_KEY" in outcome.error
    if verdict is Verdict.FAILED:
        assert outcome.error and outcome.error.startswith(f"HTTP {status}")


@pytest.mark.parametrize("shape", ["documented", "empty_object", "accepted_empty", "plain_text"])
def test_every_success_shape_delivers_each_event_once(
    reo_sandbox: ReoSandbox, shape: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    reo_sandbox.faults.update(success_shape=shape)
    with _client(reo_sandbox) as client:
        results = _send_all(client, 60)
    assert all(r.delivered for r in results) and len(results) == 60
    assert reo_sandbox.requests == 60  # not one retry: each answer was read as a success
    assert reo_sandbox.counts() == {f"e{n}": 1 for n in range(60)}
    [first] = [r.getMessage() for r in caplog.records if "first answer" in r.getMessage()]
    assert f"HTTP {202 if shape == 'accepted_empty' else 200}" in first


@pytest.mark.parametrize(
    "shape", ["documented", "unauthorized", "forbidden_empty", "ok_documented"]
)
def test_every_refusal_shape_stops_at_once(reo_sandbox: ReoSandbox, shape: str) -> None:
    reo_sandbox.faults.update(refusal_shape=shape)
    results: list[SendResult] = []
    client = _client(reo_sandbox, api_key="wrong-key-456", max_concurrency=4)
    with client, pytest.raises(ReoAuthError, match="REO_API_KEY") as error:
        client.send_all(((f"e{n}", _payload(n)) for n in range(300)), results.extend)
    assert reo_sandbox.requests <= 4 and reo_sandbox.received == []
    assert len(results) == 300 and all(r.error and "REO_API_KEY" in r.error for r in results)
    assert "wrong-key-456" not in str(error.value) + repr(results)


def _setup_mistake(reo_sandbox: ReoSandbox, **payload_changes: Any) -> tuple[str, list]:
    results: list[SendResult] = []
    events = ((f"e{n}", {**_payload(n), "event_id": n, **payload_changes}) for n in range(1000))
    with _client(reo_sandbox, max_concurrency=16) as client, pytest.raises(ReoSetupError) as error:
        client.send_all(events, results.extend)
    assert reo_sandbox.requests <= 64 and reo_sandbox.received == []
    assert sorted(r.event_id for r in results) == sorted(f"e{n}" for n in range(1000))
    assert not any(r.delivered for r in results)
    return str(error.value), results


def test_an_event_id_typed_otherwise_stops_naming_the_setting(reo_sandbox: ReoSandbox) -> None:
    reo_sandbox.faults.update(event_id_type="string")
    message, results = _setup_mistake(reo_sandbox)
    assert "event_id" in message and "REO_EVENT_ID_TYPE=string" in message
    assert all("event_id must be a string" in (r.error or "") for r in results)


def test_an_unknown_activity_type_stops_naming_the_fix(reo_sandbox: ReoSandbox) -> None:
    reo_sandbox.faults.update(unknown_activity_types="AD_REVENUE,OTHER")
    message, _ = _setup_mistake(reo_sandbox)
    assert "Settings > Product Usage" in message and "activity_type" in message


def test_a_wrong_key_answered_400_without_a_body_stops_as_a_setup_mistake(
    reo_sandbox: ReoSandbox,
) -> None:
    reo_sandbox.faults.update(refusal_shape="bad_request_empty")
    results: list[SendResult] = []
    client = _client(reo_sandbox, api_key="wrong", max_concurrency=16)
    with client, pytest.raises(ReoSetupError, match="REO_API_KEY"):
        client.send_all(((f"e{n}", _payload(n)) for n in range(500)), results.extend)
    assert reo_sandbox.requests <= 64 and len(results) == 500


def test_one_rejected_event_among_successes_stays_its_own_failure(
    reo_sandbox: ReoSandbox,
) -> None:
    reo_sandbox.faults.update(unknown_activity_types="ODD_ONE")
    events = [(f"e{n}", _payload(n)) for n in range(40)]
    events += [(f"odd{n}", {**_payload(100 + n), "activity_type": "ODD_ONE"}) for n in range(10)]
    results: list[SendResult] = []
    with _client(reo_sandbox, max_concurrency=4) as client:
        client.send_all(events, results.extend)
    failed = {r.event_id for r in results if not r.delivered}
    assert failed == {f"odd{n}" for n in range(10)} and len(results) == 50


def test_an_outage_is_one_wait_not_retries_per_event(reo_sandbox: ReoSandbox) -> None:
    """100 answers of 503 in a row: more than any event's own tries (6), yet every event is
    delivered, because the events wait for Reo.Dev instead of spending their tries."""
    reo_sandbox.faults.update(outage_requests=100)
    with _client(reo_sandbox, max_concurrency=8, probe_seconds=(0.01, 0.05)) as client:
        results = _send_all(client, 200)
    assert all(r.delivered for r in results)
    assert reo_sandbox.counts() == {f"e{n}": 1 for n in range(200)}
    assert reo_sandbox.requests == 300  # the outage's answers, then each event once


def test_an_outage_longer_than_the_limit_fails_retryable(reo_sandbox: ReoSandbox) -> None:
    reo_sandbox.faults.update(error_rate=1.0)
    results: list[SendResult] = []
    with (
        _client(
            reo_sandbox, max_concurrency=8, outage_limit_seconds=0.5, probe_seconds=(0.05, 0.1)
        ) as client,
        pytest.raises(ReoUnavailableError) as error,
    ):
        client.send_all(((f"e{n}", _payload(n)) for n in range(2000)), results.extend)
    assert error.value.retryable
    assert "unavailable since" in str(error.value) and "Nothing was lost" in str(error.value)
    assert len(results) == 2000 and not any(r.delivered for r in results)
    assert reo_sandbox.requests < 64  # the streak, what was in flight, then one probe at a time


@pytest.mark.parametrize(("burst_seconds", "taken"), [(1.0, range(20, 24)), (0.1, range(2, 5))])
def test_the_sandboxs_rate_limit_is_a_token_bucket_of_a_burst(
    reo_sandbox: ReoSandbox, burst_seconds: float, taken: range
) -> None:
    """A bucket of a second's tokens (full at the start) takes a second's worth at once, then
    answers 429 with ``Retry-After: 1``; the default of 0.1 s takes a tenth."""
    reo_sandbox.faults.update(rate_limit=20, rate_limit_burst_seconds=burst_seconds)
    headers = {"X-API-KEY": reo_sandbox.api_key}
    with httpx.Client(base_url=reo_sandbox.url, headers=headers) as http:
        answers = [
            http.post("/api/product/usage", json={"payload": _payload(n)}) for n in range(30)
        ]
    assert sum(a.status_code == 200 for a in answers) in taken
    refused = [a for a in answers if a.status_code != 200]
    assert refused and {(a.status_code, a.headers["Retry-After"]) for a in refused} == {(429, "1")}


def test_a_token_bucket_of_a_seconds_burst_gets_every_event_once(reo_sandbox: ReoSandbox) -> None:
    """Over loopback, 10 ms away, a bucket of a second's tokens at 200/s: every event arrives
    once (the share of 429s is the bench's and the simulated pace test's to measure)."""
    reo_sandbox.faults.update(latency_ms=10, rate_limit=200, rate_limit_burst_seconds=1.0)
    with _client(reo_sandbox, max_concurrency=64, retry=RetryPolicy(attempts=20)) as client:
        results = _send_all(client, 800)
    assert all(r.delivered for r in results) and len(results) == 800
    assert len(reo_sandbox.counts()) == 800 and set(reo_sandbox.counts().values()) == {1}
    assert reo_sandbox.throttled > 0  # the bucket did refuse
