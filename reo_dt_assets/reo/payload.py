"""The one definition of a Reo.Dev product-usage payload.

Written from Reo.Dev's *Product Usage API* document ("Single Events": API Structure and Sample
JSON Request). The delivery (before anything is sent) and the asset check call
``payload_problems``: an invalid payload is never sent, it is recorded as rejected with these
reasons.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SOURCE = "PRODUCT_CLOUD"
USER_ID_TYPES = frozenset({"EMAIL", "SOCIAL", "LINKEDIN", "GITHUB", "USERNAME"})
REQUIRED_TEXT = ("activity_type", "user_id", "product_id")
OPTIONAL_TEXT = ("environment", "ip_addr", "event_id", "user_agent")
KNOWN = {"source", "user_id_type", "event_at", "meta", *REQUIRED_TEXT, *OPTIONAL_TEXT}


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
    for key in OPTIONAL_TEXT:
        if key in payload and not isinstance(payload[key], str):
            problems.append(f"{key} must be a string when given, got {payload[key]!r}")
    meta = payload.get("meta")
    if "meta" in payload and not isinstance(meta, dict):
        problems.append(f"meta must be an object when given, got {meta!r}")
    unknown = sorted(set(payload) - KNOWN)
    if unknown:
        problems.append(f"unknown fields {unknown}")
    return problems
