"""The sandboxes' HTTP server: threaded, and silent when a client hangs up mid-answer."""

from __future__ import annotations

import sys
from http.server import ThreadingHTTPServer
from typing import Any


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client that went away (killed, timed out) is part of the game
        super().handle_error(request, client_address)
