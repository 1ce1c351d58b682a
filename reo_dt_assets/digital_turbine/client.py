"""HTTP client for Digital Turbine's User Level Reporting API (its document's Steps 1-3).

It owns the whole exchange for one report: an OAuth2 client-credentials token (cached, refreshed
once on ``401 invalid_token``), the report request, polling of the pre-signed URL until the CSV
is there, and the streamed download (written atomically by ``raw.write_atomically``). Every
request classifies its answer into a ``retry.Outcome`` and runs under the shared retry
policy; every documented error is mapped to an exception that says what to do. The client
secret, the token and the pre-signed URL's query string never leave this module: errors and
logs carry the URL without its query and nothing else.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx

from reo_dt_assets.catalog import DT_FIRST_DATE, validate_app_id
from reo_dt_assets.digital_turbine.budget import ReportBudget
from reo_dt_assets.digital_turbine.columns import header_cells
from reo_dt_assets.digital_turbine.raw import Written, write_atomically
from reo_dt_assets.progress import MIB, Progress
from reo_dt_assets.retry import (
    TRANSIENT_ERRORS,
    TRANSIENT_STATUS,
    Outcome,
    RetryPolicy,
    Verdict,
    call_with_retries,
    retry_later,
)
from reo_dt_assets.settings import (
    DT_CLIENT_ID,
    DT_CLIENT_SECRET,
    DT_POLL_DEADLINE_SECONDS,
    DT_POLL_INITIAL_SECONDS,
    DT_POLL_MAX_SECONDS,
    DT_REPORTING_BASE_URL,
    DT_RETRY_ATTEMPTS,
    DT_TIMEOUT_SECONDS,
)

T = TypeVar("T")

# httpx logs every request URL at INFO, pre-signed query strings included: keep it quiet.
logging.getLogger("httpx").setLevel(logging.WARNING)

TOKEN_PATH = "/auth/v1/token"
REPORT_PATH = "/api/v1/report/user-level-data"
CREDENTIAL_ERRORS = {"unsupported_grant_type", "invalid_request", "invalid_client"}
CHUNK_BYTES = MIB


class DigitalTurbineError(RuntimeError):
    """Base class: the report could not be fetched; the message says why and what to do."""


class DTCredentialsError(DigitalTurbineError):
    """DT refused our credentials or token. Not retried."""


class DTQueryError(DigitalTurbineError):
    """DT refused the report query (``invalid_query``), or we refused it before sending."""


class DTUnavailableError(DigitalTurbineError):
    """DT kept failing (5xx, timeouts, dropped connections) through every retry."""


class DTReportTimeoutError(DigitalTurbineError):
    """The report file was not ready before the polling deadline: worth a try later."""


class DTProtocolError(DigitalTurbineError):
    """DT answered with something DT's document does not describe."""


def redact_url(url: str) -> str:
    """The URL without its query string and fragment: what may be logged of a pre-signed URL."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


@dataclass(frozen=True)
class ReportRequest:
    id: str
    url: str
    requested_at: float  # time.monotonic() when DT answered

    def __repr__(self) -> str:
        return f"ReportRequest(id={self.id!r}, url={redact_url(self.url)!r})"


@dataclass(frozen=True)
class DownloadedReport:
    report_id: str
    path: Path
    bytes: int
    sha256: str
    rows: int  # data rows, counted while downloading by the parser's rule
    header: list[str]
    seconds: float
    polls: int


@dataclass
class _Token:
    value: str
    refresh_at: float


def _error_code(response: httpx.Response) -> tuple[str, str]:
    """(``error`` field, a human message) of a DT error body, tolerating non-JSON bodies."""
    try:
        body: Any = response.json()
    except ValueError:
        return "", response.text[:300]
    if not isinstance(body, dict):
        return "", str(body)[:300]
    code = str(body.get("error") or "")
    for key in ("message", "error_description", "description", "details"):
        if body.get(key):
            return code, str(body[key])[:500]
    return code, code


#: Tries on 5xx, 429 and timeouts unless told otherwise; waits doubling from 1 s.
DEFAULT_RETRY = RetryPolicy(attempts=int(DT_RETRY_ATTEMPTS.default), base_delay=1.0)


class DigitalTurbineClient:
    """One client per run; use as a context manager so the connection pool is closed."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        base_url: str,
        *,
        timeout_seconds: float = DT_TIMEOUT_SECONDS.default,
        retry: RetryPolicy | None = None,
        poll_initial_seconds: float = DT_POLL_INITIAL_SECONDS.default,
        poll_max_seconds: float = DT_POLL_MAX_SECONDS.default,
        poll_deadline_seconds: float = DT_POLL_DEADLINE_SECONDS.default,
        url_validity_seconds: float = 3 * 3600.0,
        retention_days: int = 0,
        budget: ReportBudget | None = None,
        log: logging.Logger | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self.base_url = base_url.rstrip("/")
        self._retry = retry or DEFAULT_RETRY
        # "Not ready yet" waits: bounded by poll_deadline_seconds, not by a number of polls.
        self._poll = RetryPolicy(
            attempts=sys.maxsize, base_delay=poll_initial_seconds, max_delay=poll_max_seconds
        )
        self._poll_deadline = poll_deadline_seconds
        self._url_validity = url_validity_seconds
        self._retention_days = retention_days
        self._budget = budget  # taken before each report request, when DT's are limited
        self._log = log or logging.getLogger(__name__)
        self._sleep = sleep
        self._rng = random.Random()
        self._token: _Token | None = None
        self._http = httpx.Client(timeout=httpx.Timeout(timeout_seconds), follow_redirects=True)

    def __repr__(self) -> str:
        return f"DigitalTurbineClient(base_url={self.base_url!r})"

    def __enter__(self) -> DigitalTurbineClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- secrets never leave -------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        for secret in (self._client_secret, self._token.value if self._token else ""):
            if secret:
                text = text.replace(secret, "***")
        return text

    # -- transport with bounded retries --------------------------------------------------------

    def _send(
        self,
        what: str,
        method: str,
        url: str,
        *,
        before: Callable[[], None] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send under the retry policy (``before`` each try); return the first response that is
        not transient."""

        def attempt() -> Outcome[httpx.Response]:
            if before is not None:
                before()
            try:
                response = self._http.request(method, url, **kwargs)
            except TRANSIENT_ERRORS as exc:
                detail = self._scrub(str(exc)) or "no detail"
                return Outcome(Verdict.RETRY, error=f"{type(exc).__name__}: {detail}")
            if response.status_code in TRANSIENT_STATUS:
                return retry_later(response, f"HTTP {response.status_code}")
            return Outcome(Verdict.DONE, response.status_code, value=response)

        return self._with_retries(what, url, attempt)

    def _with_retries(self, what: str, url: str, attempt: Callable[[], Outcome[T]]) -> T:
        """The value of the first DONE outcome; ``DTUnavailableError`` once the tries run out."""

        def log_retry(attempts_made: int, outcome: Outcome[T], wait: float) -> None:
            self._log.warning(
                "%s: %s (attempt %d/%d), retrying in %.1fs",
                what,
                outcome.error,
                attempts_made,
                self._retry.attempts,
                wait,
            )

        outcome = call_with_retries(
            attempt, self._retry, sleep=self._sleep, rng=self._rng, on_retry=log_retry
        )
        if outcome.verdict is Verdict.DONE and outcome.value is not None:
            return outcome.value
        raise DTUnavailableError(
            f"{what} failed {self._retry.attempts} times, last with {outcome.error} "
            f"({redact_url(url)}). DT may be down: retry the run later."
        )

    # -- step 1: token -------------------------------------------------------------------------

    def access_token(self) -> str:
        """A valid bearer token, reused until shortly before it expires."""
        if self._token and time.monotonic() < self._token.refresh_at:
            return self._token.value
        response = self._send(
            "DT token request",
            "POST",
            self.base_url + TOKEN_PATH,
            json={
                "grant_type": "client_credentials",
                "client_id": self._client_id,
                "client_secret": self._client_secret,
            },
        )
        if response.status_code != 200:
            code, _ = _error_code(response)
            if code in CREDENTIAL_ERRORS:
                raise DTCredentialsError(
                    f"DT refused the token request ({response.status_code} {code}): check "
                    f"{DT_CLIENT_ID} and {DT_CLIENT_SECRET} (DT Console > User Profile > "
                    "Reporting API Keys; revoked keys and disabled accounts also give this)."
                )
            raise DTProtocolError(
                f"DT token request answered HTTP {response.status_code} {code or ''}".strip()
                + f"; check {DT_REPORTING_BASE_URL} ({self.base_url})."
            )
        try:
            body = response.json()
            value = str(body["accessToken"])
            expires_in = float(body.get("expiresIn", 3600))
        except (ValueError, KeyError, TypeError):
            raise DTProtocolError(
                "DT token response has no accessToken; check "
                f"{DT_REPORTING_BASE_URL} ({self.base_url}) points at DT's reporting API."
            ) from None
        margin = min(60.0, expires_in / 10)
        self._token = _Token(value=value, refresh_at=time.monotonic() + expires_in - margin)
        self._log.info("DT access token obtained (expires in %ds)", int(expires_in))
        return value

    # -- step 2: report request ----------------------------------------------------------------

    def request_report(self, date: dt.date, app_id: str) -> ReportRequest:
        """Ask DT to build the user-level report for one (date, app)."""
        if date < DT_FIRST_DATE:
            raise DTQueryError(
                f"{date} is before {DT_FIRST_DATE}: DT serves user-level data from "
                f"{DT_FIRST_DATE} on. Pick a later date."
            )
        today = dt.datetime.now(dt.UTC).date()
        if date >= today:
            raise DTQueryError(
                f"{date} is not over yet in UTC: DT publishes a day's user-level data by 12:00 "
                "UTC the next day. Run this partition after that."
            )
        if self._retention_days and (today - date).days > self._retention_days:
            raise DTQueryError(
                f"{date} is {(today - date).days} days ago: DT keeps user-level data for about "
                f"the last {self._retention_days} days, so it cannot serve this partition. "
                "What was loaded for it before is left as it is."
            )
        validate_app_id(app_id)
        body = {"date": date.isoformat(), "appId": app_id}
        what = f"DT report request for {app_id} on {date}"
        budget = self._budget
        for attempt in (1, 2):
            response = self._send(
                what,
                "POST",
                self.base_url + REPORT_PATH,
                before=None if budget is None else lambda: budget.take(what),
                json=body,
                headers={"Authorization": f"Bearer {self.access_token()}"},
            )
            code, message = _error_code(response)
            if response.status_code == 401 and attempt == 1:
                self._log.info("DT answered 401 %s: refreshing the token once", code)
                self._token = None
                continue
            if response.status_code == 401:
                raise DTCredentialsError(
                    f"DT rejected a fresh token ({code or 'HTTP 401'}): the account may be "
                    f"disabled or the keys revoked; check {DT_CLIENT_ID} and {DT_CLIENT_SECRET}."
                )
            if response.status_code == 400 and code == "invalid_query":
                raise DTQueryError(
                    f"DT refused the query {body}: {self._scrub(message)}. Dates are YYYY-MM-DD "
                    "and DT keeps user-level data for about the last 10 days."
                )
            if response.status_code != 200:
                raise DTProtocolError(
                    f"DT report request for {app_id} on {date} answered HTTP "
                    f"{response.status_code}: {self._scrub(message)}"
                )
            try:
                payload = response.json()
                request = ReportRequest(
                    id=str(payload["id"]), url=str(payload["url"]), requested_at=time.monotonic()
                )
            except (ValueError, KeyError, TypeError):
                raise DTProtocolError(
                    f"DT report response for {app_id} on {date} lacks 'id' or 'url'"
                ) from None
            self._log.info(
                "DT report %s requested: polling %s", request.id, redact_url(request.url)
            )
            return request
        raise AssertionError("unreachable")

    # -- step 3: poll and download -------------------------------------------------------------

    def fetch_report(self, date: dt.date, app_id: str, destination: Path) -> DownloadedReport:
        """Request the report, wait until it is ready and store it at ``destination``.

        The file appears whole or not at all: bytes go to a temporary file in the same folder,
        which replaces ``destination`` only once complete.
        """
        started = time.monotonic()
        deadline = started + self._poll_deadline
        request = self.request_report(date, app_id)
        renewed = False
        polls = 0
        while True:
            polls += 1
            outcome = self._try_download(request, destination, f"DT report {request.id}")
            if isinstance(outcome, Written):
                seconds = time.monotonic() - started
                self._log.info(
                    "DT report %s stored: %d bytes in %.1fs after %d polls",
                    request.id,
                    outcome.bytes,
                    seconds,
                    polls,
                )
                return DownloadedReport(
                    request.id,
                    destination,
                    outcome.bytes,
                    outcome.sha256,
                    outcome.rows,
                    header_cells(outcome.header) or [],
                    seconds,
                    polls,
                )
            if outcome == "expired" or time.monotonic() - request.requested_at > self._url_validity:
                if renewed:
                    raise DTReportTimeoutError(
                        f"DT report for {app_id} on {date}: the download URL expired twice "
                        f"({polls} polls); retry the run."
                    )
                self._log.warning("DT report %s: URL expired, requesting it anew", request.id)
                request = self.request_report(date, app_id)
                renewed = True
                continue
            wait = self._poll.delay(polls, self._rng)
            if time.monotonic() + wait > deadline:
                raise DTReportTimeoutError(
                    f"DT report {request.id} for {app_id} on {date} was not ready after "
                    f"{time.monotonic() - started:.0f}s ({polls} polls). DT publishes a day by "
                    "12:00 UTC the next day."
                )
            self._log.info(
                "DT report %s not ready (%s), poll %d, next in %.1fs",
                request.id,
                outcome,
                polls,
                wait,
            )
            self._sleep(wait)

    def _try_download(self, request: ReportRequest, destination: Path, what: str) -> Written | str:
        """One poll: what was stored, else why not ("404", "expired", "empty 200", ...)."""

        def attempt() -> Outcome[Written | str]:
            try:
                with self._http.stream("GET", request.url) as response:
                    status = response.status_code
                    if status == 200:
                        size = int(response.headers.get("Content-Length") or 0) or None
                        progress = Progress(
                            self._log,
                            f"{what} download",
                            size,
                            unit="MiB",
                            scale=MIB,
                            every=64 * MIB,
                        )
                        written = write_atomically(
                            destination, response.iter_bytes(CHUNK_BYTES), progress.update
                        )
                        return Outcome(Verdict.DONE, status, value=written or "empty 200")
                    if status in TRANSIENT_STATUS:
                        return retry_later(response, f"HTTP {status}")
                    body = response.read()[:2000].decode("utf-8", "replace")
            except TRANSIENT_ERRORS as exc:
                return Outcome(Verdict.RETRY, error=type(exc).__name__)
            if status == 403 and "expired" in body.lower():
                return Outcome(Verdict.DONE, status, value="expired")
            if status in (403, 404):
                return Outcome(Verdict.DONE, status, value=str(status))
            raise DTProtocolError(f"{what}: GET {redact_url(request.url)} answered HTTP {status}")

        return self._with_retries(f"{what} download", request.url, attempt)
