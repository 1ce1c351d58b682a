"""Reo.Dev's Product Usage API on the wire: ``POST /api/product/usage``, one answer classified.

An event counts as delivered only on HTTP 200 whose body says ``"status": "success"``. The
documented ``Authentication Failure`` stops the whole delivery; 429, 5xx, a 200 whose body says
failure, timeouts and dropped connections are worth a retry (after ``Retry-After`` on 429 and
503, else the backoff: the waits are ``http_retry``'s); any other status is a permanent failure
of that event, kept with the response body. Who sends what and when lives in ``sender.py``: events
go out from a bounded pool of threads sharing this one keep-alive ``httpx.Client`` (measured on
this 2-core machine, that beats ``httpx.AsyncClient``, whose per-request CPU grows with the
number of requests in flight). The API key never appears in logs, results or errors.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

import httpx

from reo_dt_assets.http_retry import TRANSIENT_ERRORS, Outcome, RetryPolicy, Verdict, retry_later
from reo_dt_assets.reo.sender import Sender, SendResult
from reo_dt_assets.settings import REO_API_KEY

USAGE_PATH = "/api/product/usage"
AUTH_FAILURE = "authentication failure"

#: 20 tries, waits doubling from 0.5 s and capped at 2 s: about 30 s of retrying per event.
DEFAULT_RETRY = RetryPolicy(attempts=20, base_delay=0.5, max_delay=2.0)

#: Events in flight or confirmed but not yet recorded, at most: what a crash can duplicate.
MAX_UNRECORDED = 256


class ReoAuthError(RuntimeError):
    """Reo.Dev refused the API key: nothing more is sent."""


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


class ReoClient:
    """Use as a context manager; ``send_all`` for many events, ``send`` for one."""

    def __init__(
        self,
        api_key: str,
        base_url: str,
        *,
        concurrency: int = 16,
        timeout_seconds: float = 10.0,
        retry: RetryPolicy | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        self._api_key = api_key
        self.url = base_url.rstrip("/") + USAGE_PATH
        self.concurrency = max(1, concurrency)
        self._retry = retry or DEFAULT_RETRY
        self._log = log or logging.getLogger(__name__)
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout_seconds),
            limits=httpx.Limits(
                max_connections=self.concurrency, max_keepalive_connections=self.concurrency
            ),
            headers={"X-API-KEY": api_key, "Content-Type": "application/json"},
        )

    def __repr__(self) -> str:
        return f"ReoClient(url={self.url!r}, concurrency={self.concurrency})"

    def __enter__(self) -> ReoClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._http.close()

    def _scrub(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text

    def attempt(self, payload: dict[str, Any]) -> Outcome[None]:
        """POST one payload once and say what the answer means; the sender decides the rest."""
        content = json.dumps({"payload": payload}, separators=(",", ":")).encode()
        try:
            response = self._http.post(self.url, content=content)
        except TRANSIENT_ERRORS as exc:
            return Outcome(Verdict.RETRY, error=f"{type(exc).__name__}: {self._scrub(str(exc))}")
        status = response.status_code
        body = _body(response)
        if AUTH_FAILURE in str(body.get("response", "")).lower():
            return Outcome(
                Verdict.STOP, status, f"Reo.Dev refused {REO_API_KEY} (Authentication Failure)"
            )
        if status == 200 and body.get("status") == "success":
            return Outcome(Verdict.DONE, status)
        error = self._scrub(f"HTTP {status}: {response.text[:500]}")
        if status in (200, 429) or status >= 500:
            return retry_later(response, error)
        return Outcome(Verdict.FAILED, status, error)

    def send_all(
        self,
        events: Iterable[tuple[str, dict[str, Any]]],
        on_results: Callable[[list[SendResult]], None],
        *,
        max_unrecorded: int = MAX_UNRECORDED,
    ) -> None:
        """Send every event; ``on_results`` gets every event's result, in this thread.

        At most ``max_unrecorded`` events are in flight or handed to ``on_results`` that has
        not returned yet. On ``Authentication Failure`` requests in flight finish, nothing
        more is sent, every other event gets a "not sent" result, then ``ReoAuthError`` is
        raised.
        """
        sender = Sender(
            self.attempt,
            concurrency=self.concurrency,
            retry=self._retry,
            max_unrecorded=max_unrecorded,
        )
        stopped = sender.run(events, on_results)
        if sender.retries:
            self._log.info(f"Reo.Dev: {sender.retries} attempts were retried")
        if stopped is not None:
            raise ReoAuthError(
                f"Reo.Dev answered HTTP {stopped.http_status} 'Authentication Failure': check "
                f"{REO_API_KEY} (Reo.Dev > Settings > Integrations > API Keys > "
                "Product Usage API). Nothing more was sent."
            )

    def send(self, event_id: str, payload: dict[str, Any]) -> SendResult:
        """Deliver one payload, retrying what is worth retrying; raise ``ReoAuthError``."""
        results: list[SendResult] = []
        self.send_all([(event_id, payload)], results.extend)
        [result] = results
        return result
