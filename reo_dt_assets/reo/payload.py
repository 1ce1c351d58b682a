"""The one definition of a Reo.Dev product-usage payload.

Written from Reo.Dev's *Product Usage API* document ("Single Events": API Structure and Sample
JSON Request). ``event_id`` may be a string (the table) or a non-negative integer (the examples
and Reo.Dev's own client); a serialized request may not exceed 256 KiB (that client's cap). The
delivery (before anything is sent) and the asset check call
``payload_problems``: an invalid payload is never sent, it is recorded as rejected with these
reasons.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

SOURCE = "PRODUCT_CLOUD"
USER_ID_TYPES = frozenset({"EMAIL", "SOCIAL", "LINKEDIN", "GITHUB", "USERNAME"})
REQUIRED_TEXT = ("activity_type", "user_id", "product_id")
OPTIONAL_TEXT = ("environment", "ip_addr", "user_agent")
KNOWN = {"source", "user_id_type", "event_at", "event_id", "meta", *REQUIRED_TEXT, *OPTIONAL_TEXT}
MAX_REQUEST_BYTES = 256 * 1024


def request_body(payload: Mapping[str, Any]) -> bytes:
    """The request body as it is sent: ``{"payload": ...}``, compact JSON."""
    return json.dumps({"payload": payload}, separators=(",", ":")).encode()


def payload_problems(payload: Mapping[str, Any]) -> list[str]:
    """Why ``payload`` breaks the contract; empty when it may be sent."""
    problems = []
    if payload.get("source") != SOURCE:
        problems.append(f"source must be {SOURCE!r}, got {payload.get('source')!r}")
    if payload.get("user_id_type") not in USER_ID_TYPES:
        problems.append(
            f"user_id_type must be one of {sorted(USER_ID_TYPES)}, "
            f"got {payload.get('user_id_type')!r}"
        )
    for key in REQUIRED_TEXT:
        value = payload.get(key)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{key} must be a non-empty string, got {value!r}")
    event_at = payload.get("event_at")
    if not isinstance(event_at, int) or isinstance(event_at, bool) or event_at < 0:
        problems.append(f"event_at must be integer epoch seconds, got {event_at!r}")
    if "event_id" in payload:
        value = payload["event_id"]
        text = isinstance(value, str) and bool(value.strip())
        number = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        if not (text or number):
            problems.append(
                f"event_id must be a non-empty string or a non-negative integer, got {value!r}"
            )
    for key in OPTIONAL_TEXT:
        if key in payload and not isinstance(payload[key], str):
            problems.append(f"{key} must be a string when given, got {payload[key]!r}")
    meta = payload.get("meta")
    if "meta" in payload and not isinstance(meta, dict):
        problems.append(f"meta must be an object when given, got {meta!r}")
    unknown = sorted(set(payload) - KNOWN)
    if unknown:
        problems.append(f"unknown fields {unknown}")
    size = len(request_body(payload))
    if size > MAX_REQUEST_BYTES:
        problems.append(
            f"the request is {size:,} bytes, over Reo.Dev's {MAX_REQUEST_BYTES // 1024} KiB: "
            "shorten the longest value (a user_agent or user directory field)"
        )
    return problems
