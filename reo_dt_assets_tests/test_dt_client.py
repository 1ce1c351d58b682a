"""The DT client against the DT sandbox over loopback: every documented behaviour and error."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from pathlib import Path

import pytest

from reo_dt_assets.digital_turbine.client import (
    DigitalTurbineClient,
    DTCredentialsError,
    DTQueryError,
    DTReportTimeoutError,
    DTUnavailableError,
)
from reo_dt_assets.retry import RetryPolicy
from reo_dt_assets.sandbox.dt_server import DTSandbox
from reo_dt_assets_tests.helpers import make_client, wait_for

DAY = dt.date(2026, 11, 20)
APP = "148721"


def test_fetch_stores_report_byte_for_byte(
    dt_sandbox: DTSandbox, dt_client: DigitalTurbineClient, tmp_path: Path
) -> None:
    target = tmp_path / "r" / "report.csv"
    report = dt_client.fetch_report(DAY, APP, target)
    served, truth = dt_sandbox.report(DAY, APP)
    assert target.read_bytes() == served
    assert report.bytes == len(served)
    assert report.sha256 == hashlib.sha256(served).hexdigest()
    assert truth is not None and truth.rows == 400
    assert report.polls == dt_sandbox.faults.not_ready_polls + 1
    assert list(target.parent.iterdir()) == [target]  # no temporary file left behind


def test_polls_through_404_403_and_empty_200(
    dt_sandbox: DTSandbox, dt_client: DigitalTurbineClient, tmp_path: Path
) -> None:
    dt_sandbox.faults.not_ready_polls = 6
    report = dt_client.fetch_report(DAY, APP, tmp_path / "r.csv")
    assert report.polls == 7
    assert dt_sandbox.stats.polls == 7


def test_token_is_reused_across_reports(
    dt_sandbox: DTSandbox, dt_client: DigitalTurbineClient, tmp_path: Path
) -> None:
    for day in (DAY, DAY - dt.timedelta(days=1), DAY - dt.timedelta(days=2)):
        dt_client.fetch_report(day, APP, tmp_path / f"{day}.csv")
    assert dt_sandbox.stats.token_requests == 1
    assert dt_sandbox.stats.report_requests == 3


def test_token_refreshed_before_expiry(
    dt_sandbox: DTSandbox, dt_client: DigitalTurbineClient
) -> None:
    dt_sandbox.faults.token_ttl = 2  # the client refreshes in its last tenth: the last 0.2 s
    dt_client.request_report(DAY, APP)
    [expires] = dt_sandbox.tokens.values()
    wait_for(
        "the token's last 0.1 s on the server",
        lambda: time.time() >= expires - 0.1,
        timeout=5,
        every=0.01,
    )
    dt_client.request_report(DAY, APP)
    assert dt_sandbox.stats.token_requests == 2  # a token still valid was not used again ...
    assert dt_sandbox.stats.report_requests == 2  # ... nor an expired one (no 401 round trip)


def test_invalid_token_refreshes_once_and_retries_once(
    dt_sandbox: DTSandbox, dt_client: DigitalTurbineClient
) -> None:
    dt_client.request_report(DAY, APP)
    dt_sandbox.expire_tokens()  # server forgets the token: next call gets 401 invalid_token
    dt_client.request_report(DAY, APP)
    assert dt_sandbox.stats.token_requests == 2
    assert dt_sandbox.stats.report_requests == 3


def test_token_rejected_twice_stops(dt_sandbox: DTSandbox) -> None:
    dt_sandbox.faults.token_ttl = -10  # every token is already expired on the server
    with make_client(dt_sandbox) as client, pytest.raises(DTCredentialsError, match="DT_CLIENT_ID"):
        client.request_report(DAY, APP)
    assert dt_sandbox.stats.report_requests == 2


@pytest.mark.parametrize(
    ("overrides", "fault", "code"),
    [
        ({"client_secret": "wrong"}, "", "invalid_client"),
        ({"client_secret": ""}, "", "invalid_request"),
        ({}, "unsupported_grant_type", "unsupported_grant_type"),
    ],
)
def test_credential_errors_stop_without_retry(
    dt_sandbox: DTSandbox, overrides: dict, fault: str, code: str
) -> None:
    dt_sandbox.faults.token_error = fault
    with make_client(dt_sandbox, **overrides) as client, pytest.raises(DTCredentialsError) as error:
        client.request_report(DAY, APP)
    assert code in str(error.value)
    assert "DT_CLIENT_ID and DT_CLIENT_SECRET" in str(error.value)
    assert dt_sandbox.stats.token_requests == 1
    assert dt_sandbox.stats.report_requests == 0


def test_dates_before_first_day_refused_locally(
    dt_sandbox: DTSandbox, dt_client: DigitalTurbineClient
) -> None:
    with pytest.raises(DTQueryError, match="before 2020-02-16"):
        dt_client.request_report(dt.date(2020, 2, 15), APP)
    assert dt_sandbox.stats.token_requests == 0


def test_invalid_query_stops_with_dt_message(
    dt_sandbox: DTSandbox, dt_client: DigitalTurbineClient
) -> None:
    dt_sandbox.faults.retention_days = 10
    with pytest.raises(DTQueryError, match=r"Query/date: Date \(no user level data"):
        dt_client.request_report(dt.date(2025, 1, 1), APP)
    assert dt_sandbox.stats.report_requests == 1


def test_bad_app_id_refused_locally(dt_client: DigitalTurbineClient) -> None:
    with pytest.raises(ValueError, match="not valid"):
        dt_client.request_report(DAY, "../../etc")


def test_server_errors_and_drops_are_retried(dt_sandbox: DTSandbox, tmp_path: Path) -> None:
    dt_sandbox.faults.update(error_rate=0.3, drop_rate=0.2)
    with make_client(dt_sandbox, retry=_retry(12)) as client:
        for day in range(5):
            date = DAY - dt.timedelta(days=day)
            client.fetch_report(date, APP, tmp_path / f"{day}.csv")
            assert (tmp_path / f"{day}.csv").read_bytes() == dt_sandbox.report(date, APP)[0]
    assert dt_sandbox.stats.injected_errors > 0 and dt_sandbox.stats.dropped > 0


def test_retries_are_bounded(dt_sandbox: DTSandbox) -> None:
    dt_sandbox.faults.error_rate = 1.0
    with make_client(dt_sandbox) as client, pytest.raises(DTUnavailableError, match="4 times"):
        client.request_report(DAY, APP)
    assert dt_sandbox.stats.injected_errors == 4  # four tries in all, then a clear stop


def test_failed_download_leaves_previous_file(dt_sandbox: DTSandbox, tmp_path: Path) -> None:
    target = tmp_path / "report.csv"
    target.write_bytes(b"previous")
    dt_sandbox.faults.not_ready_polls = 0
    with make_client(dt_sandbox) as client:
        client.request_report(DAY, APP)  # token and report first, then every download drops
        dt_sandbox.faults.drop_rate = 1.0
        with pytest.raises(DTUnavailableError):
            client.fetch_report(DAY, APP, target)
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["report.csv"]


def test_poll_deadline(dt_sandbox: DTSandbox) -> None:
    dt_sandbox.faults.not_ready_polls = 10_000
    with (
        make_client(dt_sandbox, poll_deadline_seconds=0.3) as client,
        pytest.raises(DTReportTimeoutError, match="not ready after"),
    ):
        client.fetch_report(DAY, APP, Path("/nonexistent/never-written.csv"))


def test_expired_url_gets_one_fresh_request(dt_sandbox: DTSandbox, tmp_path: Path) -> None:
    dt_sandbox.faults.expire_next_urls = 1
    with make_client(dt_sandbox) as client:
        client.fetch_report(DAY, APP, tmp_path / "r.csv")
    assert dt_sandbox.stats.report_requests == 2
    dt_sandbox.faults.expire_next_urls = 2
    with make_client(dt_sandbox) as client, pytest.raises(DTReportTimeoutError, match="twice"):
        client.fetch_report(DAY, APP, tmp_path / "r.csv")


def test_url_older_than_validity_is_renewed(dt_sandbox: DTSandbox, tmp_path: Path) -> None:
    dt_sandbox.faults.not_ready_polls = 3
    with (
        make_client(dt_sandbox, url_validity_seconds=0.0) as client,
        pytest.raises(DTReportTimeoutError, match="expired twice"),
    ):
        client.fetch_report(DAY, APP, tmp_path / "r.csv")
    assert dt_sandbox.stats.report_requests == 2


def test_secrets_never_logged_or_raised(
    dt_sandbox: DTSandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    dt_sandbox.faults.update(error_rate=0.3, drop_rate=0.1, expire_next_urls=1)
    messages = []
    with make_client(dt_sandbox, retry=_retry(12)) as client:
        messages.append(repr(client))
        client.fetch_report(DAY, APP, tmp_path / "r.csv")
        dt_sandbox.faults.error_rate = 1.0
        with pytest.raises(DTUnavailableError) as error:
            client.fetch_report(DAY, APP, tmp_path / "r.csv")
        messages.append(str(error.value))
    with make_client(dt_sandbox, client_secret="wrong-secret-123") as client:
        dt_sandbox.faults.error_rate = 0.0
        with pytest.raises(DTCredentialsError) as refused:
            client.access_token()
        messages.append(str(refused.value))
    text = caplog.text + "\n".join(messages)
    assert "polling http://127.0.0.1" in caplog.text  # the URL is logged, without its query
    secrets = [dt_sandbox.client_secret, "wrong-secret-123", "Signature=", "Expires="]
    secrets += list(dt_sandbox.tokens)
    for secret in secrets:
        assert secret not in text


def _retry(attempts: int) -> RetryPolicy:
    return RetryPolicy(attempts=attempts, base_delay=0.01, max_delay=0.05)


def test_days_outside_what_dt_serves_are_refused_early(dt_sandbox: DTSandbox) -> None:
    today = dt.datetime.now(dt.UTC).date()
    with make_client(dt_sandbox, retention_days=10) as client:
        with pytest.raises(DTQueryError, match="DT keeps user-level data for about the last 10"):
            client.request_report(today - dt.timedelta(days=11), APP)
        with pytest.raises(DTQueryError, match="by 12:00 UTC the next day"):
            client.request_report(today, APP)
        client.request_report(today - dt.timedelta(days=10), APP)
    assert dt_sandbox.stats.report_requests == 1


def test_retry_waits_come_from_the_shared_policy(dt_sandbox: DTSandbox) -> None:
    """FAST_RETRY: 4 tries, waits doubling from 0.01 s; no real time passes (sleep recorded)."""
    dt_sandbox.faults.error_rate = 1.0
    waits: list[float] = []
    with make_client(dt_sandbox, sleep=waits.append) as client, pytest.raises(DTUnavailableError):
        client.access_token()
    assert len(waits) == 3
    for wait, ceiling in zip(waits, (0.01, 0.02, 0.04), strict=True):
        assert ceiling / 2 <= wait <= ceiling


def test_a_429_waits_the_retry_after_it_promises(dt_sandbox: DTSandbox) -> None:
    """Measured where it matters, at the server: the retry arrives no sooner than asked, though
    the backoff alone (FAST_RETRY, 0.01 s) would have come back at once."""
    dt_sandbox.faults.update(throttle_next=1, retry_after_seconds=0.4)
    with make_client(dt_sandbox) as client:
        client.access_token()
    throttled, retried = dt_sandbox.stats.arrivals
    assert dt_sandbox.stats.throttled == 1
    assert retried - throttled >= 0.4


def test_poll_waits_grow_from_initial_to_max(dt_sandbox: DTSandbox, tmp_path: Path) -> None:
    dt_sandbox.faults.not_ready_polls = 6
    waits: list[float] = []
    with make_client(dt_sandbox, sleep=waits.append) as client:
        client.fetch_report(DAY, APP, tmp_path / "r.csv")
    assert len(waits) == 6
    for wait, ceiling in zip(waits, (0.01, 0.02, 0.04, 0.05, 0.05, 0.05), strict=True):
        assert ceiling / 2 <= wait <= ceiling
