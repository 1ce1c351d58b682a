"""A loopback JSON webhook receiver: where the alert tests point apprise's ``json://`` URL.

It records every JSON body posted to it, and can answer 500 to the next N requests (a
destination that fails).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

from reo_dt_assets.sandbox.quiet import LoopbackService, QuietServer


class WebhookReceiver(LoopbackService):
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.fail_next = 0
        self._lock = threading.Lock()
        self._server = QuietServer(("127.0.0.1", 0), _handler_for(self))

    def messages(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.received)

    def apprise_url(self, path: str) -> str:
        """``json://127.0.0.1:<port>/<path>``: apprise's generic JSON webhook to this server."""
        return self.url.replace("http://", "json://") + "/" + path.lstrip("/")


def _handler_for(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with receiver._lock:
                failing = receiver.fail_next > 0
                if failing:
                    receiver.fail_next -= 1
                else:
                    receiver.received.append(json.loads(body))
                    receiver.paths.append(self.path)
            status = 500 if failing else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler
