"""From ``user_revenue`` rows to Reo.Dev payloads: identity typing, enrichment, event ids.

Only users with a publisher User ID are developers to Reo.Dev; users known only by an
advertising ID or IDFV are devices and are counted, not sent. An optional user directory
supplied by the publisher upgrades the identity (email first, then GitHub, then LinkedIn) and
adds the IP address and user agent Reo.Dev uses to find the company.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from reo_dt_assets.reo.payload import SOURCE
from reo_dt_assets.schema import SPLITS

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
GITHUB = re.compile(r"^(https?://)?(www\.)?github\.com/[A-Za-z0-9-]+/?$", re.IGNORECASE)
LINKEDIN = re.compile(r"^(https?://)?([a-z]{2,3}\.)?linkedin\.com/in/[^/\s]+/?$", re.IGNORECASE)
DIRECTORY_COLUMNS = ("user_id", "email", "github", "linkedin", "ip_addr", "user_agent")


def user_id_type(user_id: str) -> str:
    """The Reo.Dev ``user_id_type`` of a publisher User ID, by its shape."""
    if EMAIL.match(user_id):
        return "EMAIL"
    if GITHUB.match(user_id):
        return "GITHUB"
    if LINKEDIN.match(user_id):
        return "LINKEDIN"
    return "USERNAME"


#: Event ids are non-negative 63-bit integers, as Reo.Dev's examples and its own client send.
EVENT_ID_MASK = (1 << 63) - 1
#: The ids of releases before integer ids: the first 32 hex digits of the same digest.
LEGACY_EVENT_ID = re.compile(r"[0-9a-f]{32}")


def event_id(app_id: str, date: dt.date, user_key: str, activity_type: str) -> str:
    """Stable across runs, so Reo.Dev can drop a duplicate that a lost response caused: a
    63-bit integer from the event's digest, in decimal (the ledger's key)."""
    digest = hashlib.sha256(f"{app_id}|{date.isoformat()}|{user_key}|{activity_type}".encode())
    return str(int(digest.hexdigest()[:16], 16) & EVENT_ID_MASK)


def wire_event_id(key: str, event_id_type: str) -> int | str:
    """``event_id`` as the payload carries it: a JSON ``integer``, or its decimal ``string``."""
    return int(key) if event_id_type == "integer" else key


def upgraded_event_id(legacy: str) -> str:
    """The id ``event_id`` gives the event a legacy 32-hex id named (same digest, same event)."""
    return str(int(legacy[:16], 16) & EVENT_ID_MASK)


@dataclass(frozen=True)
class DirectoryEntry:
    email: str | None = None
    github: str | None = None
    linkedin: str | None = None
    ip_addr: str | None = None
    user_agent: str | None = None


def load_directory(frame: pl.DataFrame) -> dict[str, DirectoryEntry]:
    """The publisher's user directory, keyed by User ID; blank cells are absent values."""
    if "user_id" not in frame.columns:
        raise ValueError(
            f"user directory lacks the column 'user_id' (columns: {frame.columns}); expected "
            f"{list(DIRECTORY_COLUMNS)}"
        )
    directory: dict[str, DirectoryEntry] = {}
    present = [c for c in DIRECTORY_COLUMNS[1:] if c in frame.columns]
    for row in frame.select("user_id", *present).iter_rows(named=True):
        key = (row["user_id"] or "").strip()
        if key:
            values = {
                c: (str(row[c]).strip() or None) if row[c] is not None else None for c in present
            }
            directory[key] = DirectoryEntry(**values)
    return directory


def read_directory(
    source: str, conn: duckdb.DuckDBPyConnection
) -> dict[str, DirectoryEntry] | None:
    """The directory ``REO_DT_USER_DIRECTORY`` names (a CSV path, ``duckdb:<table>``, or
    nothing when empty)."""
    if not source:
        return None
    if source.startswith("duckdb:"):
        return load_directory(conn.sql(f'SELECT * FROM "{source.removeprefix("duckdb:")}"').pl())
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(
            f"user directory {path} not found: fix REO_DT_USER_DIRECTORY (a CSV path or "
            "duckdb:<table>) or unset it"
        )
    return load_directory(pl.read_csv(path, infer_schema=False))


#: ``meta`` keys of the user's history as of the event's day (``user_revenue_history``).
HISTORY_META = ("revenue_7d_usd", "revenue_30d_usd", "lifetime_revenue_usd")


@functools.cache
def split_key(dimension: str, value: str) -> str:
    """The ``meta`` key of a network's or placement type's revenue: its name in lower case,
    ``_`` for anything but letters and digits (``ad_network_meta_audience_network_usd``)."""
    slug = re.sub(r"[^a-z0-9]+", "_", value.lower()).strip("_") or "unnamed"
    return f"{dimension}_{slug}_usd"


def history_meta(row: Mapping[str, Any]) -> dict[str, str]:
    """What ``meta`` says of the user beside the day's figures, to the cent: 7-day, 30-day and
    lifetime revenue, first and last revenue day, active days (rows loaded before the history
    existed have none), and the day's revenue per ad network (``ad_network_<name>_usd``) and per
    placement type (``placement_type_<name>_usd``). At most 64 networks and 64 placement types make
    a report (``revenue.parse``), so ``meta`` stays a few KiB at most."""
    meta: dict[str, str] = {}
    if row.get("active_days") is not None:
        for key in HISTORY_META:  # to the cent already (``revenue.store.event_users``)
            meta[key] = row[key]
        meta["active_days"] = str(row["active_days"])
        for day in ("first_revenue_day", "last_revenue_day"):
            if row.get(day) is not None:
                meta[day] = row[day].isoformat()
    for dimension, values, revenue in SPLITS:
        if row.get(revenue) is None:  # loaded before the split existed
            continue
        split: dict[str, float] = {}
        for value, usd in zip(row[values], row[revenue], strict=True):
            key = split_key(dimension, value)
            split[key] = split.get(key, 0.0) + usd  # two names of one key: both
        for key, usd in split.items():
            meta[key] = f"{usd:.2f}"
    return meta


@dataclass(frozen=True)
class BuiltEvent:
    event_id: str
    user_key: str
    revenue_usd: float  # a correction: the change it tells
    payload: dict[str, Any]
    kind: str = "usage"  # or "correction" (``reo.corrections``)


@dataclass
class BuildResult:
    events: list[BuiltEvent] = field(default_factory=list)
    device_only_users: int = 0
    device_only_revenue_usd: float = 0.0
    enriched: int = 0


def build_events(
    rows: Iterable[Mapping[str, Any]],
    *,
    date: dt.date,
    app_id: str,
    product_id: str,
    activity_type: str,
    environment: str | None,
    directory: Mapping[str, DirectoryEntry] | None = None,
    event_id_type: str = "integer",
) -> BuildResult:
    """One event per user row that has a publisher User ID (rows of ``user_revenue``);
    ``event_id`` goes in the payload as a JSON ``integer`` or its decimal ``string``."""
    event_at = int(dt.datetime.combine(date, dt.time(), dt.UTC).timestamp())
    result = BuildResult()
    for row in rows:
        user_id = row.get("user_id")
        if row["user_key_type"] != "user_id" or not user_id:
            result.device_only_users += 1
            result.device_only_revenue_usd += float(row["revenue_usd"])
            continue
        identity, kind = user_id, user_id_type(user_id)
        entry = (directory or {}).get(user_id)
        if entry:
            for value, upgraded in (
                (entry.email, "EMAIL"),
                (entry.github, "GITHUB"),
                (entry.linkedin, "LINKEDIN"),
            ):
                if value:
                    identity, kind = value, upgraded
                    break
            result.enriched += 1
        key = event_id(app_id, date, row["user_key"], activity_type)
        payload: dict[str, Any] = {
            "activity_type": activity_type,
            "source": SOURCE,
            "user_id": identity,
            "user_id_type": kind,
            "event_id": wire_event_id(key, event_id_type),
            "event_at": event_at,
            "product_id": product_id,
            "meta": {
                "revenue_usd": f"{float(row['revenue_usd']):.9f}",
                "impressions": str(int(row["impressions"])),
                "report_date": date.isoformat(),
                "dt_app_id": app_id,
                "ad_networks": ",".join(row.get("ad_networks") or []),
                **history_meta(row),
            },
        }
        if environment:
            payload["environment"] = environment
        if entry and entry.ip_addr:
            payload["ip_addr"] = entry.ip_addr
        if entry and entry.user_agent:
            payload["user_agent"] = entry.user_agent
        result.events.append(BuiltEvent(key, row["user_key"], float(row["revenue_usd"]), payload))
    return result
