"""A loopback HTTP server that behaves like Reo.Dev's Product Usage API, failures included.

Written from Reo.Dev's *Product Usage API* document ("Single Events") alone: ``POST
/api/product/usage`` with ``X-API-KEY``, the documented success body and the documented
``Authentication Failure`` body (HTTP 400), plus payload validation. It records every payload it
read, so tests count events and duplicates per ``event_id``. Faults: added latency, a 5xx rate, 429
with ``Retry-After``, a connection dropped after the request was read (the event counts as
received), and a 200 whose body says failure.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, fields
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from reo_dt_assets.sandbox.quiet import LoopbackService, QuietServer

SANDBOX_API_KEY = "reo-sandbox-key"
USER_ID_TYPES = {"EMAIL", "SOCIAL", "LINKEDIN", "GITHUB", "USERNAME"}


@dataclass
class ReoFaults:
    latency_ms: float = 0.0
    error_rate: float = 0.0  # answer 500/502/503/504
    throttle_rate: float = 0.0  # answer 429 with Retry-After
    retry_after_seconds: float = 0.05
    drop_after_read_rate: float = 0.0  # read the request, record it, close without answering
    failure_body_rate: float = 0.0  # HTTP 200 whose body says "status": "failure"

    def update(self, **changes: Any) -> None:
        names = {f.name for f in fields(self)}
        for key, value in changes.items():
            if key not in names:
                raise ValueError(f"unknown fault {key!r}; known: {sorted(names)}")
            setattr(self, key, float(value))


def _invalid(payload: Any) -> str:
    """Why Reo.Dev would refuse the payload, from the document's parameter table."""
    if not isinstance(payload, dict):
        return "payload must be an object"
    if payload.get("source") != "PRODUCT_CLOUD":
        return "source must be PRODUCT_CLOUD"
    if payload.get("user_id_type") not in USER_ID_TYPES:
        return "invalid user_id_type"
    for key in ("activity_type", "user_id", "product_id"):
        if not isinstance(payload.get(key), str) or not payload[key]:
            return f"{key} is required"
    if not isinstance(payload.get("event_at"), int):
        return "event_at must be an integer epoch"
    if "meta" in payload and not isinstance(payload["meta"], dict):
        return "meta must be an object"
    return ""


class ReoSandbox(LoopbackService):
    """Start with ``with ReoSandbox() as reo: ...``; ``reo.url`` is ``REO_INGEST_BASE_URL``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_key: str = SANDBOX_API_KEY,
        faults: ReoFaults | None = None,
        seed: int = 11,
    ) -> None:
        self.api_key = api_key
        self.faults = faults or ReoFaults()
        self.rng = random.Random(seed)
        self.received: list[dict[str, Any]] = []  # every valid payload read, in order
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.auth_failures = 0
        self.dropped_event_ids: list[str] = []
        self._lock = threading.Lock()
        self._server = QuietServer((host, port), _handler_for(self))

    def counts(self) -> Counter[str]:
        """How many times each ``event_id`` was received."""
        with self._lock:
            return Counter(str(p.get("event_id")) for p in self.received)

    def stats(self) -> dict[str, Any]:
        counts = self.counts()
        return {
            "requests": self.requests,
            "received": sum(counts.values()),
            "distinct_event_ids": len(counts),
            "duplicates": sum(n - 1 for n in counts.values()),
            "auth_failures": self.auth_failures,
            "dropped_after_read": len(self.dropped_event_ids),
            "max_in_flight": self.max_in_flight,
        }


def _handler_for(sandbox: ReoSandbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if urlsplit(self.path).path == "/_sandbox/stats":
                self._json(200, sandbox.stats())
            else:
                self._json(404, {"status": "failure", "response": "Not Found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            path = urlsplit(self.path).path
            if path == "/_sandbox/faults":
                try:
                    sandbox.faults.update(**json.loads(raw or b"{}"))
                except (ValueError, TypeError) as exc:
                    self._json(400, {"error": str(exc)})
                    return
                self._json(200, asdict(sandbox.faults))
                return
            if path != "/api/product/usage":
                self._json(404, {"status": "failure", "response": "Not Found"})
                return
            with sandbox._lock:
                sandbox.requests += 1
                sandbox.in_flight += 1
                sandbox.max_in_flight = max(sandbox.max_in_flight, sandbox.in_flight)
            try:
                self._usage(raw)
            finally:
                with sandbox._lock:
                    sandbox.in_flight -= 1

        def _usage(self, raw: bytes) -> None:
            faults, rng = sandbox.faults, sandbox.rng
            if faults.latency_ms:
                time.sleep(faults.latency_ms / 1000)
            if self.headers.get("X-API-KEY") != sandbox.api_key:
                with sandbox._lock:
                    sandbox.auth_failures += 1
                self._json(
                    400,
                    {
                        "response_code": 400,
                        "response": "Authentication Failure",
                        "status": "failure",
                    },
                )
                return
            if faults.error_rate and rng.random() < faults.error_rate:
                self._json(
                    rng.choice((500, 502, 503, 504)),
                    {
                        "response_code": 500,
                        "response": "Internal Server Error",
                        "status": "failure",
                    },
                )
                return
            if faults.throttle_rate and rng.random() < faults.throttle_rate:
                self._json(
                    429,
                    {"response_code": 429, "response": "Too Many Requests", "status": "failure"},
                    {"Retry-After": f"{faults.retry_after_seconds:g}"},
                )
                return
            try:
                payload = json.loads(raw).get("payload")
            except (ValueError, AttributeError):
                payload = None
            problem = _invalid(payload)
            if problem:
                self._json(
                    400,
                    {
                        "response_code": 400,
                        "response": f"Invalid payload: {problem}",
                        "status": "failure",
                    },
                )
                return
            assert isinstance(payload, dict)
            if faults.failure_body_rate and rng.random() < faults.failure_body_rate:
                self._json(
                    200,
                    {"response_code": 500, "response": "Data not uploaded", "status": "failure"},
                )
                return
            with sandbox._lock:
                sandbox.received.append(payload)
            if faults.drop_after_read_rate and rng.random() < faults.drop_after_read_rate:
                with sandbox._lock:
                    sandbox.dropped_event_ids.append(str(payload.get("event_id")))
                self.close_connection = True
                self.connection.close()
                return
            self._json(
                200, {"response_code": "200", "response": "Data Uploaded", "status": "success"}
            )

    return Handler
