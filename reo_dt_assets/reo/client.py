"""HTTP client for Reo.Dev's Product Usage API: ``POST /api/product/usage``.

An event counts as delivered only on HTTP 200 whose body says ``"status": "success"``. The
documented ``Authentication Failure`` stops the whole delivery at once; 429 waits for
``Retry-After``; 5xx, timeouts and dropped connections are retried with jittered backoff,
bounded; any other 4xx is a permanent failure of that event, kept with the response body.
Events go out from a bounded pool of threads sharing one keep-alive ``httpx.Client``: measured
on this 2-core machine, that beats ``httpx.AsyncClient``, whose per-request CPU grows with the
number of requests in flight. The API key never appears in logs, results or errors.
"""

from __future__ import annotations

import json
import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from reo_dt_assets.http_retry import TRANSIENT_ERRORS, RetryPolicy, retry_after_seconds
from reo_dt_assets.settings import REO_API_KEY

USAGE_PATH = "/api/product/usage"
AUTH_FAILURE = "authentication failure"
HANDOFF_BATCH = 16  # events a worker takes from the queue at once


class ReoAuthError(RuntimeError):
    """Reo.Dev refused the API key: nothing more is sent."""


@dataclass(frozen=True)
class SendResult:
    event_id: str
    delivered: bool
    attempts: int
    http_status: int | None
    error: str | None


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


class _AdaptiveGate:
    """How many workers may send: as many as the network wait calls for, at most ``limit``.

    By Little's law a client needs about (round-trip time / its own CPU per request) requests
    in flight to stay busy. Far from the server (tens of ms) that is the whole ``limit``; next
    to it, extra threads only fight over the GIL. Both are measured while one request is in
    flight (contention would inflate the round trip): for the first ``PROBE`` requests, and
    again every ``REPROBE`` requests in case the latency changed. Workers beyond the target
    park between batches.
    """

    PROBE = 8
    REPROBE = 4000

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._target = 1
        self._in_flight = 0
        self._open = False
        self._samples: list[tuple[float, float]] = []
        self._since_probe = 0
        self.probing = True
        self._cond = threading.Condition()

    def wait_turn(self, worker: int) -> None:
        """Block worker number ``worker`` while the target leaves it out."""
        with self._cond:
            while worker >= self._target and not self._open:
                self._cond.wait()

    def open(self) -> None:
        """Let every worker through (to take its end-of-work marker)."""
        with self._cond:
            self._open = True
            self._cond.notify_all()

    def __enter__(self) -> None:
        with self._cond:
            self._in_flight += 1

    def __exit__(self, *exc_info: object) -> None:
        with self._cond:
            self._in_flight -= 1

    def count(self) -> None:
        """A request done outside a probe: probe again every ``REPROBE`` of them."""
        with self._cond:
            self._since_probe += 1
            if self._since_probe >= self.REPROBE:
                self._target, self._since_probe, self._samples = 1, 0, []
                self.probing = True

    def observe(self, rtt: float, cpu: float, alone: bool) -> None:
        """A request timed during a probe; ``alone`` if it was the only one in flight."""
        with self._cond:
            if not alone or not self.probing:
                return
            self._samples.append((rtt, max(cpu, 1e-5)))
            if len(self._samples) >= self.PROBE:
                rtts, cpus = zip(*self._samples, strict=True)
                wait_ratio = sorted(rtts)[len(rtts) // 2] / sorted(cpus)[len(cpus) // 2]
                self._target = max(1, min(self.limit, int(wait_ratio)))
                self.probing = False
                self._cond.notify_all()

    def alone(self) -> bool:
        return self._in_flight <= 1


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
        self._retry = retry or RetryPolicy(attempts=6)
        self._log = log or logging.getLogger(__name__)
        self._rng = random.Random()
        self._stop = threading.Event()
        self._gate = _AdaptiveGate(self.concurrency)
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

    def send(self, event_id: str, payload: dict[str, Any]) -> SendResult:
        """Deliver one payload, retrying what is worth retrying; raise ``ReoAuthError``."""
        content = json.dumps({"payload": payload}, separators=(",", ":")).encode()
        status: int | None = None
        error = ""
        for attempt in range(1, self._retry.attempts + 1):
            if self._stop.is_set():
                return SendResult(event_id, False, attempt - 1, status, "delivery stopped")
            wait_seconds = self._retry.delay(attempt, self._rng)
            try:
                with self._gate:
                    if self._gate.probing:
                        alone = self._gate.alone()
                        started, cpu = time.perf_counter(), time.thread_time()
                        response = self._http.post(self.url, content=content)
                        self._gate.observe(
                            time.perf_counter() - started, time.thread_time() - cpu, alone
                        )
                    else:
                        response = self._http.post(self.url, content=content)
                        self._gate.count()
            except TRANSIENT_ERRORS as exc:
                status, error = None, f"{type(exc).__name__}: {self._scrub(str(exc))}"
            else:
                status = response.status_code
                body = _body(response)
                said = str(body.get("response", ""))
                if AUTH_FAILURE in said.lower():
                    self._stop.set()
                    raise ReoAuthError(
                        f"Reo.Dev answered HTTP {status} 'Authentication Failure': check "
                        f"{REO_API_KEY} (Reo.Dev > Settings > Integrations > API Keys > "
                        "Product Usage API). Nothing more was sent."
                    )
                if status == 200 and body.get("status") == "success":
                    return SendResult(event_id, True, attempt, status, None)
                error = self._scrub(f"HTTP {status}: {response.text[:500]}")
                if status == 429:
                    wait_seconds = retry_after_seconds(response, wait_seconds)
                elif 400 <= status < 500:
                    return SendResult(event_id, False, attempt, status, error)
            if attempt < self._retry.attempts:
                self._stop.wait(wait_seconds)
        return SendResult(event_id, False, self._retry.attempts, status, error)

    def send_all(
        self,
        events: Iterable[tuple[str, dict[str, Any]]],
        on_result: Callable[[SendResult], None],
    ) -> None:
        """Send every event with ``concurrency`` workers; ``on_result`` runs in this thread.

        Long-lived worker threads take small batches of events from a bounded queue and hand
        back their results in batches: with no network wait, thread hand-offs, not HTTP, are
        what costs. Each worker has one request in flight at a time. On ``Authentication
        Failure`` the events not yet started are never sent, the ones in flight finish, and
        ``ReoAuthError`` is raised once their results are reported.
        """
        self._stop.clear()
        self._gate = _AdaptiveGate(self.concurrency)
        work: queue.Queue[list[tuple[str, dict[str, Any]]] | None] = queue.Queue(
            2 * self.concurrency
        )
        done: queue.Queue[list[SendResult] | ReoAuthError] = queue.Queue()
        fed = [0]

        def feed() -> None:
            batch: list[tuple[str, dict[str, Any]]] = []
            for item in events:
                if self._stop.is_set():
                    break
                batch.append(item)
                if len(batch) == HANDOFF_BATCH:
                    work.put(batch)
                    fed[0] += 1
                    batch = []
            if batch and not self._stop.is_set():
                work.put(batch)
                fed[0] += 1
            for _ in range(self.concurrency):
                work.put(None)

        def worker(number: int) -> None:
            while True:
                self._gate.wait_turn(number)
                batch = work.get()
                if batch is None:
                    return
                results: list[SendResult] = []
                try:
                    for item in batch:
                        results.append(self.send(*item))
                except ReoAuthError as error:
                    done.put(results)
                    done.put(error)
                    continue
                done.put(results)

        threads = [threading.Thread(target=feed, daemon=True)]
        threads += [
            threading.Thread(target=worker, args=(number,), daemon=True)
            for number in range(self.concurrency)
        ]
        for thread in threads:
            thread.start()
        auth_error: ReoAuthError | None = None
        reported = 0
        while threads[0].is_alive() or reported < fed[0]:
            try:
                outcome = done.get(timeout=0.05)
            except queue.Empty:
                continue
            if isinstance(outcome, ReoAuthError):
                auth_error = auth_error or outcome
                continue
            reported += 1
            for result in outcome:
                on_result(result)
        self._gate.open()
        for thread in threads:
            thread.join()
        if auth_error:
            raise auth_error


def progress_logger(
    log: logging.Logger, total: int, every_seconds: float = 10.0
) -> Callable[[int], None]:
    """``tick(done)`` logs done/total, rate and ETA at most every ``every_seconds``."""
    started = time.monotonic()
    last = [started]

    def tick(done: int) -> None:
        now = time.monotonic()
        if now - last[0] < every_seconds and done < total:
            return
        last[0] = now
        rate = done / max(now - started, 1e-9)
        eta = (total - done) / rate if rate else float("inf")
        log.info(f"Reo.Dev: {done}/{total} events ({rate:.0f}/s, ETA {eta:.0f}s)")

    return tick
