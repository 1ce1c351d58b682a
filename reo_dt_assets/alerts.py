"""Alerts that reach a person: which failures are told, once, and in what words.

The alert sensor (``defs/alerts.py``) only reads Dagster's event log and hands what it saw to
``AlertState``: a run that failed for good, a check that failed or passed, a run that succeeded.
This module decides the rest, as plain data that round-trips through JSON (the sensor's cursor,
so it survives a daemon restart):

- an incident is a key (a run's partition, or a check and its partition); it is told once when
  it opens, never again while it stays open, on later ticks or retries;
- a check incident that passes again is told once more, "recovered"; a run incident closes
  silently on a later success of its partition (the checks of that partition say whether the
  data is whole);
- notices wait until no new one came for ``settle_seconds`` (a backfill's, until the backfill
  ends), then go out one message each, or as one summary when there are more than
  ``SUMMARY_OVER``;
- a notice stays in the outbox until every destination took it (``Delivery``), for a day at most.

``send`` delivers a message to URLs with apprise, retrying, and reports failures without ever
naming a URL: they carry tokens.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from typing import Literal

import apprise
from apprise.utils.parse import parse_urls

SUMMARY_OVER = 3  # more notices than this at once become one summary message
SUMMARY_LINES = 10  # incidents listed by name in a summary
BACKFILL_HOLD_SECONDS = 3600.0  # a backfill still running after this is summarised so far
GIVE_UP_SECONDS = 86400.0  # a notice no destination took in a day is dropped, with a log line
FORGET_SECONDS = 30 * 86400.0  # an incident still open after this is forgotten (told anew)
CAUSE_CHARS = 600  # of a failure's own description, in a message
PRODUCT = "reo-dt-assets"

Kind = Literal["failed", "recovered"]


@dataclass(frozen=True)
class Notice:
    """One thing to tell: an incident opened (``failed``) or a check passes again
    (``recovered``)."""

    kind: Kind
    key: str  # the incident: "run:<partition>" or "check:<asset>/<check>:<partition>"
    what: str  # "run of daily_revenue_events_job" or "check user_revenue / key_is_unique"
    partition: str  # "<app>|<YYYY-MM-DD>", "<YYYY-MM-DD>", or "" when not partitioned
    cause: str  # the failure's own description, written for people
    link: str
    at: float  # when it was seen (epoch seconds)
    severity: str = "ERROR"
    group: str = ""  # a backfill's id: its notices go out together when it ends
    sent_to: tuple[int, ...] = ()  # destinations (by position) that took it already


def where(partition: str) -> str:
    """``"148721|2026-11-21"`` -> ``"app 148721, day 2026-11-21"``; a day alone -> ``"day
    2026-11-21"``."""
    if "|" in partition:
        app, day = partition.split("|", 1)
        return f"app {app}, day {day}"
    return f"day {partition}" if partition else "no partition"


def _cut(text: str) -> str:
    text = text.strip()
    return text if len(text) <= CAUSE_CHARS else text[: CAUSE_CHARS - 1] + "…"


def message(notice: Notice) -> tuple[str, str]:
    """(title, body) of one notice."""
    place = where(notice.partition)
    if notice.kind == "recovered":
        title = f"[{PRODUCT}] RECOVERED: {notice.what}, {place}"
        body = f"{notice.what} passes again for {place}.\n{notice.link}"
        return title, body
    label = "FAILED" if notice.severity == "ERROR" else "WARNING"
    title = f"[{PRODUCT}] {label}: {notice.what}, {place}"
    body = f"{notice.what} failed for {place}:\n{_cut(notice.cause)}\n{notice.link}"
    return title, body


def _days(notices: Sequence[Notice]) -> str:
    days = sorted({n.partition.split("|")[-1] for n in notices if n.partition})
    if not days:
        return ""
    return f"; days {days[0]} to {days[-1]}" if len(days) > 1 else f"; day {days[0]}"


def summary(notices: Sequence[Notice], link: str) -> tuple[str, str]:
    """(title, body) of one message for many notices: counts, apps and days, the first
    ``SUMMARY_LINES`` by name, and where to see them all."""
    failed = [n for n in notices if n.kind == "failed"]
    recovered = [n for n in notices if n.kind == "recovered"]
    apps = sorted({n.partition.split("|")[0] for n in notices if "|" in n.partition})
    counts = ", ".join(
        part
        for part in (
            f"{len(failed)} failed" if failed else "",
            f"{len(recovered)} recovered" if recovered else "",
        )
        if part
    )
    title = f"[{PRODUCT}] {counts}" + (" (one backfill)" if notices[0].group else "")
    scope = f"apps {', '.join(apps)}" if apps else "no app"
    lines = [f"{counts}: {scope}{_days(notices)}."]
    for notice in notices[:SUMMARY_LINES]:
        state = "recovered" if notice.kind == "recovered" else "failed"
        cause = notice.cause.strip().splitlines()[0][:160] if notice.kind == "failed" else ""
        lines.append(
            f"- {state}: {notice.what}, {where(notice.partition)}" + (f": {cause}" if cause else "")
        )
    if len(notices) > SUMMARY_LINES:
        lines.append(f"... and {len(notices) - SUMMARY_LINES} more.")
    lines.append(link)
    return title, "\n".join(lines)


@dataclass(frozen=True)
class Outgoing:
    """A message to send and the notices it tells."""

    title: str
    body: str
    notices: tuple[Notice, ...]
    failure: bool  # False when it only tells recoveries


@dataclass
class AlertState:
    """What the sensor has read and told; ``to_json`` / ``from_json`` is its cursor."""

    cursors: dict[str, int] = field(default_factory=dict)  # event type -> last storage id read
    open: dict[str, float] = field(default_factory=dict)  # incident key -> when it opened
    outbox: list[Notice] = field(default_factory=list)
    awaiting: dict[str, float] = field(default_factory=dict)  # failed run id -> first seen

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> AlertState:
        raw = json.loads(text)
        return cls(
            cursors={k: int(v) for k, v in raw.get("cursors", {}).items()},
            open={k: float(v) for k, v in raw.get("open", {}).items()},
            outbox=[
                Notice(**{**n, "sent_to": tuple(n.get("sent_to", ()))})
                for n in raw.get("outbox", [])
            ],
            awaiting={k: float(v) for k, v in raw.get("awaiting", {}).items()},
        )

    def failed(self, notice: Notice) -> bool:
        """An incident seen failing: told once, when it opens. True if it opened now."""
        if notice.key in self.open:
            return False
        self.open[notice.key] = notice.at
        self.outbox.append(notice)
        return True

    def passed(self, notice: Notice) -> bool:
        """A check seen passing: its open incident closes with one "recovered" notice (none if
        the failure was not told yet: then neither is). True if an incident closed."""
        if self.open.pop(notice.key, None) is None:
            return False
        if not self._drop_untold(notice.key):
            self.outbox.append(replace(notice, kind="recovered"))
        return True

    def succeeded(self, key: str) -> bool:
        """A run of the incident's partition succeeded: the run incident closes, silently."""
        if self.open.pop(key, None) is None:
            return False
        self._drop_untold(key)
        return True

    def _drop_untold(self, key: str) -> bool:
        untold = [n for n in self.outbox if n.key == key and n.kind == "failed" and not n.sent_to]
        self.outbox = [n for n in self.outbox if n not in untold]
        return bool(untold)

    def due(
        self, now: float, settle_seconds: float, finished_groups: Iterable[str], ui_url: str
    ) -> list[Outgoing]:
        """The messages to send now. Notices of a backfill wait for it to end (at most
        ``BACKFILL_HOLD_SECONDS``); the others until none came for ``settle_seconds``. Notices
        already taken by some destinations go apart, to the others only."""
        finished = set(finished_groups)
        batches: dict[tuple[str, tuple[int, ...]], list[Notice]] = {}
        for notice in self.outbox:
            batches.setdefault((notice.group, notice.sent_to), []).append(notice)
        outgoing: list[Outgoing] = []
        for (group, _), notices in batches.items():
            oldest = min(n.at for n in notices)
            newest = max(n.at for n in notices)
            if group:
                ready = group in finished or now - oldest >= BACKFILL_HOLD_SECONDS
            else:
                ready = now - newest >= settle_seconds
            if not ready:
                continue
            if len(notices) > SUMMARY_OVER:
                link = f"{ui_url}/runs/b/{group}" if group else f"{ui_url}/runs"
                title, body = summary(notices, link)
                failure = any(n.kind == "failed" for n in notices)
                outgoing.append(Outgoing(title, body, tuple(notices), failure))
            else:
                for notice in notices:
                    title, body = message(notice)
                    outgoing.append(Outgoing(title, body, (notice,), notice.kind == "failed"))
        return outgoing

    def delivered(self, outgoing: Outgoing, destinations: Iterable[int], count: int) -> None:
        """``destinations`` took ``outgoing``: its notices leave the outbox once all ``count``
        did."""
        took = set(destinations)
        told = {id(n) for n in outgoing.notices}
        kept: list[Notice] = []
        for notice in self.outbox:
            if id(notice) in told:
                sent_to = tuple(sorted(set(notice.sent_to) | took))
                if len(sent_to) < count:
                    kept.append(replace(notice, sent_to=sent_to))
            else:
                kept.append(notice)
        self.outbox = kept

    def give_up(self, now: float) -> list[Notice]:
        """Notices no destination took within ``GIVE_UP_SECONDS``: dropped and returned. An
        incident open for ``FORGET_SECONDS`` is forgotten, so the cursor does not grow without
        end: failing again, it is told again."""
        stale = [n for n in self.outbox if now - n.at >= GIVE_UP_SECONDS]
        self.outbox = [n for n in self.outbox if n not in stale]
        self.open = {key: at for key, at in self.open.items() if now - at < FORGET_SECONDS}
        return stale


# -- sending ---------------------------------------------------------------------------------


def split_urls(value: str) -> list[str]:
    """``REO_DT_ALERT_URLS``: URLs separated by spaces, commas or new lines."""
    return [url for url in parse_urls(value or "") if url.strip()]


def scrub(text: str, urls: Sequence[str]) -> str:
    """``text`` without any piece of ``urls`` (host, path, user, token ...): a URL's parts are
    its secrets."""
    pieces = {p for url in urls for p in re.split(r"[/:@?&=#]+", url) if len(p) >= 3}
    for piece in sorted(pieces, key=len, reverse=True):
        text = text.replace(piece, "***")
    return text


@dataclass(frozen=True)
class Destination:
    """A URL apprise understands, known in logs only by its position and its service's name."""

    position: int
    service: str
    notify: Callable[[str, str, bool], bool]  # (title, body, failure) -> taken


def destinations(urls: Sequence[str]) -> tuple[list[Destination], list[str]]:
    """(destinations, problems): a URL apprise does not know is a problem naming its position
    and scheme only."""
    found: list[Destination] = []
    problems: list[str] = []
    for position, url in enumerate(urls):
        with _quiet():  # apprise logs a URL it cannot parse
            plugin = apprise.Apprise.instantiate(url)
        if plugin is None:
            scheme = url.split("://", 1)[0] if "://" in url else "(no scheme)"
            problems.append(
                f"alert destination {position + 1} (scheme {scheme!r}) is not a URL apprise "
                "knows: see https://github.com/caronc/apprise/wiki for the URL of each service"
            )
            continue

        def notify(title: str, body: str, failure: bool, plugin=plugin) -> bool:
            kind = apprise.NotifyType.FAILURE if failure else apprise.NotifyType.SUCCESS
            return bool(plugin.notify(body=body, title=title, notify_type=kind))

        found.append(Destination(position, str(plugin.service_name), notify))
    return found, problems


def send(
    outgoing: Outgoing,
    targets: Sequence[Destination],
    urls: Sequence[str],
    log: logging.Logger,
    tries: int = 3,
    wait_seconds: float = 1.0,
) -> list[int]:
    """Send ``outgoing`` to each target, ``tries`` times at most; the positions that took it.
    A failure is logged with the service's name and apprise's reason, scrubbed of the URLs."""
    taken: list[int] = []
    for target in targets:
        with _quiet() as reasons:
            for attempt in range(tries):
                try:
                    if target.notify(outgoing.title, outgoing.body, outgoing.failure):
                        taken.append(target.position)
                        break
                except Exception as error:  # a plugin's bug must not lose the other targets
                    reasons.lines.append(f"{type(error).__name__}: {error}")
                if attempt + 1 < tries:
                    time.sleep(wait_seconds * (attempt + 1))
            else:
                said = "; ".join(dict.fromkeys(reasons.lines)) or "no reason given"
                log.warning(
                    f"alert destination {target.position + 1} ({target.service}) did not take "
                    f"{outgoing.title!r} after {tries} tries ({scrub(said, urls)}); it stays "
                    "pending for the next tick"
                )
    return taken


def send_due(
    state: AlertState,
    outgoing: Sequence[Outgoing],
    targets: Sequence[Destination],
    urls: Sequence[str],
    log: logging.Logger,
    wait_seconds: float = 1.0,
) -> int:
    """Send each message to the targets that do not have it yet, and record who took it. A
    target that failed is not tried again within this call (a dead destination does not hold
    the tick for every message). The number of messages some target took."""
    down: set[int] = set()
    sent = 0
    for item in outgoing:
        have = set(item.notices[0].sent_to) | down
        live = [target for target in targets if target.position not in have]
        taken = send(item, live, urls, log, wait_seconds=wait_seconds) if live else []
        down |= {target.position for target in live} - set(taken)
        state.delivered(item, taken, len(targets))
        sent += bool(taken)
    return sent


@contextmanager
def _quiet() -> Iterator[_Capture]:
    """apprise's and urllib3's log records kept from every other log while inside (they name
    URLs: urllib3's debug lines have the path, a webhook's token), apprise's warnings captured
    as the reason of a failure."""
    capture = _Capture()
    loggers = [logging.getLogger(name) for name in ("apprise", "urllib3")]
    saved = [logger.propagate for logger in loggers]
    for logger in loggers:
        logger.addHandler(capture)
        logger.propagate = False
    try:
        yield capture
    finally:
        for logger, propagate in zip(loggers, saved, strict=True):
            logger.removeHandler(capture)
            logger.propagate = propagate


class _Capture(logging.Handler):
    """apprise's own warnings while it sends: the reason of a failure, kept off other logs."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())
