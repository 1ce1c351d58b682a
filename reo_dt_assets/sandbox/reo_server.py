"""A loopback HTTP server that behaves like Reo.Dev's Product Usage API, failures included.

Written from Reo.Dev's *Product Usage API* document ("Single Events") alone: ``POST
/api/product/usage`` with ``X-API-KEY``, the documented success body and the documented
``Authentication Failure`` body (HTTP 400), plus payload validation. It records every payload it
read, so tests count events and duplicates per ``event_id``. Faults: added latency, a 5xx rate, 429
with ``Retry-After``, a connection dropped after the request was read (the event counts as
received), and a 200 whose body says failure.

The document shows one answer of each kind; a real server may give others, so each is a knob
(``ReoFaults``): the success shape (the documented body, ``{}``, 202 with no body, plain text),
the refusal of a wrong key (the documented 400 body, 401, 403 with no body, 200 with the
documented body, 400 with no body), how ``event_id`` must be typed (as the table says, a string;
as the examples send it, an integer; or either), activity types not set up in Product Usage
Settings, an outage of the first N requests, the 256 KiB request cap of Reo.Dev's client, and a
rate limit (requests beyond it answered 429 with ``Retry-After``).
"""

from __future__ import annotations

import json
import math
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
MAX_REQUEST_BYTES = 256 * 1024
DOCUMENTED_SUCCESS = {"response_code": "200", "response": "Data Uploaded", "status": "success"}
DOCUMENTED_AUTH_FAILURE = {
    "response_code": 400,
    "response": "Authentication Failure",
    "status": "failure",
}
SUCCESS_SHAPES = ("documented", "empty_object", "accepted_empty", "plain_text")
REFUSAL_SHAPES = (
    "documented",
    "unauthorized",
    "forbidden_empty",
    "ok_documented",
    "bad_request_empty",
)
EVENT_ID_TYPES = ("any", "string", "integer")


@dataclass
class ReoFaults:
    latency_ms: float = 0.0
    error_rate: float = 0.0  # answer 500/502/503/504
    throttle_rate: float = 0.0  # answer 429 with Retry-After
    retry_after_seconds: float = 0.05
    drop_after_read_rate: float = 0.0  # read the request, record it, close without answering
    failure_body_rate: float = 0.0  # HTTP 200 whose body says "status": "failure"
    success_shape: str = "documented"  # one of SUCCESS_SHAPES
    refusal_shape: str = "documented"  # one of REFUSAL_SHAPES: how a wrong key is answered
    event_id_type: str = "any"  # one of EVENT_ID_TYPES: what else is refused with a 400
    unknown_activity_types: str = ""  # comma-separated: refused as not set up in Reo.Dev
    outage_requests: int = 0  # the next N usage requests are answered 503
    rate_limit: float = 0.0  # requests per second taken (a token bucket); beyond: 429
    rate_limit_burst_seconds: float = 0.1  # the bucket holds this many seconds of tokens

    def update(self, **changes: Any) -> None:
        known = {f.name: f for f in fields(self)}
        choices = {
            "success_shape": SUCCESS_SHAPES,
            "refusal_shape": REFUSAL_SHAPES,
            "event_id_type": EVENT_ID_TYPES,
        }
        for key, value in changes.items():
            if key not in known:
                raise ValueError(f"unknown fault {key!r}; known: {sorted(known)}")
            if key in choices and value not in choices[key]:
                raise ValueError(f"{key} must be one of {choices[key]}, got {value!r}")
            kind = type(getattr(self, key))
            setattr(self, key, kind(value))


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


def _event_id_problem(payload: dict[str, Any], typed: str) -> str:
    value = payload.get("event_id")
    if value is None or typed == "any":
        return ""
    if typed == "string" and not isinstance(value, str):
        return "event_id must be a string"
    if typed == "integer" and not (isinstance(value, int) and not isinstance(value, bool)):
        return "event_id must be an integer"
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
        self.throttled = 0  # answered 429, by the rate limit or the throttle fault
        self._tokens = 0.0
        self._tokens_at = time.monotonic()
        self._bucket = (0.0, 0.0)  # the (rate, burst) the tokens are of
        self.dropped_event_ids: list[str] = []
        self._lock = threading.Lock()
        self._server = QuietServer((host, port), _handler_for(self))

    def take_token(self) -> float:
        """0 if the rate limit lets a request through now, else the seconds until it would."""
        rate = self.faults.rate_limit
        if rate <= 0:
            return 0.0
        with self._lock:
            now = time.monotonic()
            burst = max(1.0, rate * self.faults.rate_limit_burst_seconds)
            if self._bucket != (rate, burst):  # a limit set now starts full, as an idle one is
                self._bucket, self._tokens = (rate, burst), burst
            self._tokens = min(burst, self._tokens + (now - self._tokens_at) * rate)
            self._tokens_at = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) / rate

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
            "throttled": self.throttled,
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
            self._send(status, json.dumps(body).encode(), "application/json", headers)

        def _send(
            self,
            status: int,
            data: bytes,
            content_type: str | None,
            headers: dict[str, str] | None = None,
        ) -> None:
            self.send_response(status)
            if content_type:
                self.send_header("Content-Type", content_type)
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
                self._refuse(faults.refusal_shape)
                return
            with sandbox._lock:
                outage = faults.outage_requests > 0
                if outage:
                    faults.outage_requests -= 1
            if outage:
                self._json(503, {"response_code": 503, "response": "Service Unavailable"})
                return
            if len(raw) > MAX_REQUEST_BYTES:
                self._json(413, {"response_code": 413, "response": "Payload Too Large"})
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
            wait = sandbox.take_token()
            if wait or (faults.throttle_rate and rng.random() < faults.throttle_rate):
                with sandbox._lock:
                    sandbox.throttled += 1
                retry_after = math.ceil(wait) if wait else faults.retry_after_seconds
                self._json(
                    429,
                    {"response_code": 429, "response": "Too Many Requests", "status": "failure"},
                    {"Retry-After": f"{retry_after:g}"},
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
            problem = _event_id_problem(payload, faults.event_id_type)
            if payload["activity_type"] in faults.unknown_activity_types.split(","):
                problem = (
                    f"activity_type {payload['activity_type']} is not configured in Product "
                    "Usage Settings"
                )
            if problem:
                self._json(400, {"response_code": 400, "response": problem, "status": "failure"})
                return
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
            self._succeed(faults.success_shape)

        def _succeed(self, shape: str) -> None:
            if shape == "empty_object":
                self._json(200, {})
            elif shape == "accepted_empty":
                self._send(202, b"", None)
            elif shape == "plain_text":
                self._send(200, b"OK", "text/plain")
            else:
                self._json(200, DOCUMENTED_SUCCESS)

        def _refuse(self, shape: str) -> None:
            if shape == "unauthorized":
                self._json(401, {"message": "Unauthorized"})
            elif shape == "forbidden_empty":
                self._send(403, b"", None)
            elif shape == "ok_documented":
                self._json(200, DOCUMENTED_AUTH_FAILURE)
            elif shape == "bad_request_empty":
                self._send(400, b"", None)
            else:
                self._json(400, DOCUMENTED_AUTH_FAILURE)

    return Handler
