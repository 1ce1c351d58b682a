"""A loopback HTTP server that behaves like DT's User Level Reporting API, failures included.

Endpoints follow DT's *User Level Reporting API* document (Steps 1-3): ``POST /auth/v1/token``,
``POST /api/v1/report/user-level-data`` and a pre-signed, S3-style download URL on the same server
that answers "not ready" (404, 403, empty 200) for the first polls, then the CSV. Faults are set
per test (``server.faults``), over HTTP (``POST /_sandbox/faults``) or from the command line; so is
the report's shape (``server.shape``, ``POST /_sandbox/report-shape``): with or without the queried
Date and App ID columns, with or without FairBid's IDFV and User ID, BOM, line endings, renamed
headers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import random
import re
import secrets
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field, fields
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from reo_dt_assets.sandbox.generator import GroundTruth, ReportShape, report_bytes
from reo_dt_assets.sandbox.quiet import LoopbackService, QuietServer

SANDBOX_CLIENT_ID = "sandbox-client"
SANDBOX_CLIENT_SECRET = "sandbox-secret-do-not-use-in-production"
FIRST_DATE = dt.date(2020, 2, 16)


@dataclass
class DTFaults:
    """What can go wrong, all off by default. Rates are probabilities per request."""

    error_rate: float = 0.0  # answer 500/502/503/504
    latency_ms: float = 0.0  # added to every request
    drop_rate: float = 0.0  # close the connection without an answer (mid-body on downloads)
    token_ttl: int = 3600  # expiresIn of new tokens, seconds
    url_ttl: float = 3 * 3600  # validity of download URLs, seconds
    not_ready_polls: int = 2  # polls answered "not ready" before the file is served
    retention_days: int = 0  # > 0: dates older than this many days are refused (invalid_query)
    token_error: str = ""  # answer every token request 400 with this "error" code
    expire_next_urls: int = 0  # the next N download URLs are issued already expired
    unready_next_reports: int = 0  # the next N report requests never become ready
    throttle_next: int = 0  # the next N requests answer 429 with Retry-After: retry_after_seconds
    retry_after_seconds: float = 1.0
    # "app|YYYY-MM-DD" or "app", comma-separated: their report requests answer 500 (a day DT
    # cannot serve for a while), until the knob is cleared
    failing_reports: str = ""

    def update(self, **changes: Any) -> None:
        names = {f.name for f in fields(self)}
        for key, value in changes.items():
            if key not in names:
                raise ValueError(f"unknown fault {key!r}; known: {sorted(names)}")
            setattr(self, key, type(getattr(self, key))(value))


@dataclass
class DTStats:
    token_requests: int = 0
    report_requests: int = 0  # report requests past the faults (answered by the API itself)
    report_arrivals: int = 0  # every report request that arrived, 429s and 5xx included
    polls: int = 0
    downloads: int = 0
    injected_errors: int = 0
    dropped: int = 0
    throttled: int = 0
    arrivals: list[float] = field(default_factory=list)  # time.monotonic() of API requests


@dataclass
class _Report:
    id: str
    date: dt.date
    app_id: str
    expires: float
    polls: int = 0
    never_ready: bool = False


class DTSandbox(LoopbackService):
    """Start with ``with DTSandbox() as dt: ...``; ``dt.url`` is the base URL to configure."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        client_id: str = SANDBOX_CLIENT_ID,
        client_secret: str = SANDBOX_CLIENT_SECRET,
        rows: int = 2000,
        faults: DTFaults | None = None,
        shape: ReportShape | None = None,
        seed: int = 7,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.rows = rows
        self.faults = faults or DTFaults()
        self.shape = shape or ReportShape()
        self.stats = DTStats()
        self.rng = random.Random(seed)
        self.tokens: dict[str, float] = {}
        self.reports: dict[str, _Report] = {}
        self.overrides: dict[tuple[dt.date, str], bytes] = {}
        self._cache: dict[tuple[dt.date, str, ReportShape], tuple[bytes, GroundTruth]] = {}
        self._signing_key = secrets.token_bytes(16)
        self._lock = threading.Lock()
        self._server = QuietServer((host, port), _handler_for(self))

    # -- data ----------------------------------------------------------------------------------

    def report(self, date: dt.date, app_id: str) -> tuple[bytes, GroundTruth | None]:
        """The CSV served for (date, app) and, unless overridden by a test, its ground truth."""
        if (date, app_id) in self.overrides:
            return self.overrides[(date, app_id)], None
        key = (date, app_id, self.shape)
        with self._lock:
            if key not in self._cache:
                self._cache[key] = report_bytes(date, app_id, self.rows, self.shape)
            return self._cache[key]

    def ground_truth(self, date: dt.date, app_id: str) -> GroundTruth:
        truth = self.report(date, app_id)[1]
        if truth is None:
            raise KeyError(f"({date}, {app_id}) is overridden: no ground truth")
        return truth

    def expire_tokens(self) -> None:
        with self._lock:
            self.tokens.clear()

    def sign(self, report_id: str, expires: int) -> str:
        message = f"{report_id}:{expires}".encode()
        return hmac.new(self._signing_key, message, hashlib.sha256).hexdigest()[:32]


def _handler_for(sandbox: DTSandbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

        # -- helpers ---------------------------------------------------------------------------

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, payload: Any) -> None:
            self._send(status, json.dumps(payload).encode())

        def _s3_error(self, status: int, code: str, message: str) -> None:
            xml = (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
            )
            self._send(status, xml.encode(), "application/xml")

        def _drop(self) -> None:
            sandbox.stats.dropped += 1
            self.close_connection = True
            self.connection.close()

        def _faulted(self) -> bool:
            """Apply latency, then maybe answer 429, a 5xx or drop; True if the request is done."""
            faults = sandbox.faults
            sandbox.stats.arrivals.append(time.monotonic())
            del sandbox.stats.arrivals[:-1000]  # the last thousand are plenty for a test
            if faults.latency_ms:
                time.sleep(faults.latency_ms / 1000)
            with sandbox._lock:
                throttle = faults.throttle_next > 0
                if throttle:
                    faults.throttle_next -= 1
            if throttle:
                sandbox.stats.throttled += 1
                self.send_response(429)
                self.send_header("Retry-After", str(faults.retry_after_seconds))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return True
            if faults.error_rate and sandbox.rng.random() < faults.error_rate:
                sandbox.stats.injected_errors += 1
                status = sandbox.rng.choice((500, 502, 503, 504))
                self._json(status, {"error": "internal_server_error"})
                return True
            if faults.drop_rate and sandbox.rng.random() < faults.drop_rate:
                self._drop()
                return True
            return False

        # -- routes ----------------------------------------------------------------------------

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            body = self._body()
            if path == "/_sandbox/faults":
                try:
                    sandbox.faults.update(**json.loads(body or b"{}"))
                except (ValueError, TypeError) as exc:
                    self._json(400, {"error": str(exc)})
                    return
                self._json(200, asdict(sandbox.faults))
                return
            if path == "/_sandbox/report-shape":
                try:
                    sandbox.shape = ReportShape.from_json(json.loads(body or b"{}"))
                except (ValueError, TypeError) as exc:
                    self._json(400, {"error": str(exc)})
                    return
                self._json(200, asdict(sandbox.shape))
                return
            if path == "/api/v1/report/user-level-data":
                with sandbox._lock:
                    sandbox.stats.report_arrivals += 1
            if self._faulted():
                return
            if path == "/auth/v1/token":
                self._token(body)
            elif path == "/api/v1/report/user-level-data":
                self._report_request(body)
            else:
                self._json(404, {"error": "not_found"})

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/_sandbox/stats":
                self._json(200, asdict(sandbox.stats))
                return
            match = re.fullmatch(r"/reports/([0-9a-f-]+)\.csv", parts.path)
            if not match:
                self._s3_error(404, "NoSuchKey", "The specified key does not exist.")
                return
            if self._faulted():
                return
            self._download(match.group(1), parse_qs(parts.query))

        def _token(self, body: bytes) -> None:
            sandbox.stats.token_requests += 1
            try:
                request = json.loads(body or b"{}")
            except ValueError:
                self._json(400, {"error": "invalid_request"})
                return
            if sandbox.faults.token_error:
                self._json(400, {"error": sandbox.faults.token_error})
                return
            if request.get("grant_type") != "client_credentials":
                self._json(400, {"error": "unsupported_grant_type"})
                return
            if not request.get("client_id") or not request.get("client_secret"):
                self._json(400, {"error": "invalid_request"})
                return
            if not (
                hmac.compare_digest(str(request["client_id"]), sandbox.client_id)
                and hmac.compare_digest(str(request["client_secret"]), sandbox.client_secret)
            ):
                self._json(400, {"error": "invalid_client"})
                return
            token = secrets.token_urlsafe(24)
            ttl = sandbox.faults.token_ttl
            with sandbox._lock:
                sandbox.tokens[token] = time.time() + ttl
            self._json(200, {"accessToken": token, "tokenType": "bearer", "expiresIn": ttl})

        def _report_request(self, body: bytes) -> None:
            sandbox.stats.report_requests += 1
            auth = self.headers.get("Authorization") or ""
            token = auth[7:] if auth.lower().startswith("bearer ") else ""
            if not token or sandbox.tokens.get(token, 0) < time.time():
                self._json(401, {"error": "invalid_token"})
                return
            try:
                query = json.loads(body or b"{}")
            except ValueError:
                query = None
            if not isinstance(query, dict):
                self._json(
                    400,
                    {
                        "error": "invalid_query",
                        "message": "Invalid value undefined supplied to : Query",
                    },
                )
                return
            raw_date, app_id = query.get("date"), query.get("appId")
            try:
                date = dt.date.fromisoformat(str(raw_date))
                if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(raw_date)):
                    raise ValueError
            except ValueError:
                self._json(
                    400,
                    {
                        "error": "invalid_query",
                        "message": f'Invalid value "{raw_date}" supplied to : Query/date: Date',
                    },
                )
                return
            if app_id in (None, ""):
                self._json(
                    400,
                    {
                        "error": "invalid_query",
                        "message": "Invalid value undefined supplied to : Query/appId: AppId",
                    },
                )
                return
            failing = {item.strip() for item in sandbox.faults.failing_reports.split(",")}
            if str(app_id) in failing or f"{app_id}|{date.isoformat()}" in failing:
                self._json(500, {"error": "internal_server_error"})
                return
            retention = sandbox.faults.retention_days
            too_old = retention and date < dt.datetime.now(dt.UTC).date() - dt.timedelta(
                days=retention
            )
            if date < FIRST_DATE or too_old:
                self._json(
                    400,
                    {
                        "error": "invalid_query",
                        "message": f'Invalid value "{raw_date}" supplied to : Query/date: Date'
                        " (no user level data for this date)",
                    },
                )
                return
            report_id = str(uuid.uuid4())
            expires = int(time.time() + sandbox.faults.url_ttl)
            if sandbox.faults.expire_next_urls > 0:
                sandbox.faults.expire_next_urls -= 1
                expires = int(time.time()) - 1
            never_ready = sandbox.faults.unready_next_reports > 0
            if never_ready:
                sandbox.faults.unready_next_reports -= 1
            with sandbox._lock:
                sandbox.reports[report_id] = _Report(
                    report_id, date, str(app_id), expires, never_ready=never_ready
                )
            url = (
                f"{sandbox.url}/reports/{report_id}.csv?AWSAccessKeyId=SANDBOX"
                f"&Expires={expires}&Signature={sandbox.sign(report_id, expires)}"
            )
            self._json(200, {"id": report_id, "url": url})

        def _download(self, report_id: str, query: dict[str, list[str]]) -> None:
            sandbox.stats.polls += 1
            report = sandbox.reports.get(report_id)
            expires = (query.get("Expires") or ["0"])[0]
            signature = (query.get("Signature") or [""])[0]
            if (
                report is None
                or not expires.isdigit()
                or not hmac.compare_digest(signature, sandbox.sign(report_id, int(expires)))
            ):
                self._s3_error(
                    403,
                    "SignatureDoesNotMatch",
                    "The request signature we calculated does not match the signature"
                    " you provided.",
                )
                return
            if time.time() > min(int(expires), report.expires):
                self._s3_error(403, "AccessDenied", "Request has expired")
                return
            report.polls += 1
            if report.never_ready or report.polls <= sandbox.faults.not_ready_polls:
                answer = report.polls % 3
                if answer == 1:
                    self._s3_error(404, "NoSuchKey", "The specified key does not exist.")
                elif answer == 2:
                    self._s3_error(403, "AccessDenied", "Access Denied")
                else:
                    self._send(200, b"", "text/csv")
                return
            body, _ = sandbox.report(report.date, report.app_id)
            sandbox.stats.downloads += 1
            if sandbox.faults.drop_rate and sandbox.rng.random() < sandbox.faults.drop_rate:
                self.send_response(200)
                self.send_header("Content-Type", "text/csv")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self._drop()
                return
            self._send(200, body, "text/csv")

    return Handler
