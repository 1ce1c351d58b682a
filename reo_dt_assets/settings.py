"""Settings read from environment variables.

The variable names are a contract that other tooling relies on; this module is the one place
that knows them and their defaults. Secrets are not read here: they reach the resources through
`dagster.EnvVar` so that they never sit in a config value that the UI could show. ``validate``
reads every other one when the code location loads, so a bad value fails ``dg check defs`` and
the deployment, naming it, instead of the first schedule tick or run that reads it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

DT_CLIENT_ID = "DT_CLIENT_ID"
DT_CLIENT_SECRET = "DT_CLIENT_SECRET"
DT_REPORTING_BASE_URL = "DT_REPORTING_BASE_URL"
REO_API_KEY = "REO_API_KEY"
REO_INGEST_BASE_URL = "REO_INGEST_BASE_URL"
# How event_id goes on the wire: ``integer`` (the document's examples, Reo.Dev's own client) or
# ``string`` (the document's parameter table), the same number either way.
REO_EVENT_ID_TYPE = "REO_EVENT_ID_TYPE"
EventIdType = Literal["integer", "string"]
EVENT_ID_TYPES: tuple[EventIdType, ...] = ("integer", "string")
REO_DT_DATA_DIR = "REO_DT_DATA_DIR"
REO_DT_DUCKDB_PATH = "REO_DT_DUCKDB_PATH"
REO_DT_APPS_FILE = "REO_DT_APPS_FILE"
REO_DT_USER_DIRECTORY = "REO_DT_USER_DIRECTORY"
REO_DT_LOOKBACK_DAYS = "REO_DT_LOOKBACK_DAYS"
# Ages (days after the day) at which the daily schedule pulls a day: DT's numbers move after the
# first pull. Replaces REO_DT_LOOKBACK_DAYS (N there meant the ages 1..N+1), still read if set.
REO_DT_PULL_AGES = "REO_DT_PULL_AGES"
DEFAULT_PULL_AGES = (1, 2, 3, 8)
DT_WINDOW_DAYS = 10  # DT serves a day's user-level data for about this many days
# DT report requests allowed per UTC day and per minute, across every run (unset: no limit).
DT_REPORTS_PER_DAY = "DT_REPORTS_PER_DAY"
DT_REPORTS_PER_MINUTE = "DT_REPORTS_PER_MINUTE"
# A libpq conninfo (``dbname=lake host=... user=... password=...``): the tables go to a DuckLake
# catalog in that PostgreSQL database instead of the DuckDB file. It may hold a password, so it
# is read like a secret (``dagster.EnvVar``), not here.
REO_DT_DUCKLAKE = "REO_DT_DUCKLAKE"
REO_DT_DUCKLAKE_DATA_PATH = "REO_DT_DUCKLAKE_DATA_PATH"
# A SQLAlchemy URL (``postgresql+psycopg2://...``): the Dagster instance in PostgreSQL
# (``deploy/dagster-postgres.yaml``) instead of SQLite files in DAGSTER_HOME.
DAGSTER_PG_URL = "DAGSTER_PG_URL"
# Where alerts go: apprise URLs (Slack, Teams, e-mail, a JSON webhook, ...). They carry tokens,
# so they are read like a secret (``dagster.EnvVar``), not here.
REO_DT_ALERT_URLS = "REO_DT_ALERT_URLS"
# The Dagster UI's address, for the links in alerts.
REO_DT_UI_URL = "REO_DT_UI_URL"
DEFAULT_UI_URL = "http://127.0.0.1:3000"
# Also alert on failed WARN checks (the weekday anomaly, restatements): true or false.
REO_DT_ALERT_WARNINGS = "REO_DT_ALERT_WARNINGS"

DEFAULT_DT_REPORTING_BASE_URL = "https://reporting.fyber.com"
DEFAULT_REO_INGEST_BASE_URL = "https://ingest.reo.dev"


@dataclass(frozen=True)
class Tunable:
    """A number with a default that the environment variable ``name`` overrides: at least
    ``minimum``, and a whole number if ``whole``."""

    name: str
    default: float
    minimum: float = 0
    whole: bool = False

    def value(self) -> float:
        return number(self.name, self.default, self.minimum, whole=self.whole)


# The DT client's tunables: the resource's config defaults (read when the code location loads)
# and the client's own defaults.
DT_TIMEOUT_SECONDS = Tunable("DT_TIMEOUT_SECONDS", 30.0)
DT_RETRY_ATTEMPTS = Tunable("DT_RETRY_ATTEMPTS", 5, whole=True)
DT_POLL_INITIAL_SECONDS = Tunable("DT_POLL_INITIAL_SECONDS", 2.0)
DT_POLL_MAX_SECONDS = Tunable("DT_POLL_MAX_SECONDS", 30.0)
DT_POLL_DEADLINE_SECONDS = Tunable("DT_POLL_DEADLINE_SECONDS", 300.0)
DT_NOT_READY_RETRIES = Tunable("DT_NOT_READY_RETRIES", 6, whole=True)
DT_NOT_READY_WAIT_SECONDS = Tunable("DT_NOT_READY_WAIT_SECONDS", 600.0)
# The Reo.Dev client's tunables, the same way.
REO_MAX_CONCURRENCY = Tunable("REO_MAX_CONCURRENCY", 128, whole=True)
#: Before adaptive pacing, requests in flight were fixed by REO_CONCURRENCY: now the ceiling.
REO_CONCURRENCY = "REO_CONCURRENCY"
REO_MAX_REQUESTS_PER_SECOND = Tunable("REO_MAX_REQUESTS_PER_SECOND", 0)  # 0: no hard cap
REO_TIMEOUT_SECONDS = Tunable("REO_TIMEOUT_SECONDS", 10.0)
REO_RETRY_ATTEMPTS = Tunable("REO_RETRY_ATTEMPTS", 20, whole=True)
REO_RETRY_BASE_SECONDS = Tunable("REO_RETRY_BASE_SECONDS", 0.1)
REO_RETRY_MAX_SECONDS = Tunable("REO_RETRY_MAX_SECONDS", 2.0)
REO_OUTAGE_LIMIT_SECONDS = Tunable("REO_OUTAGE_LIMIT_SECONDS", 600.0)
#: MiB one user_revenue load aims to stay within.
REO_DT_LOAD_MEMORY_MB = Tunable("REO_DT_LOAD_MEMORY_MB", 1024, 512, whole=True)
#: MiB DuckDB may use on any other connection to the file (deliveries, checks, the rollup): a
#: scan of a million-event ledger otherwise caches it whole. Beyond it DuckDB spills to disk.
REO_DT_DUCKDB_MEMORY_MB = Tunable("REO_DT_DUCKDB_MEMORY_MB", 256, 64, whole=True)
#: A reload that moves a day whose events were delivered by more than this % is a warning.
REO_DT_RESTATEMENT_WARN_PCT = Tunable("REO_DT_RESTATEMENT_WARN_PCT", 10.0)
#: An app with a correction_activity_type corrects a delivered user whose revenue moved by more
#: than both of these (USD, and % of what Reo.Dev was told).
REO_CORRECTION_MIN_USD = Tunable("REO_CORRECTION_MIN_USD", 0.01)
REO_CORRECTION_MIN_PCT = Tunable("REO_CORRECTION_MIN_PCT", 10.0)
#: The events check fails when failed + rejected events pass this % of a partition's events.
REO_DT_DELIVERY_FAILURE_PCT = Tunable("REO_DT_DELIVERY_FAILURE_PCT", 1.0)
#: Seconds between two ticks of the alert sensor.
REO_DT_ALERT_INTERVAL_SECONDS = Tunable("REO_DT_ALERT_INTERVAL_SECONDS", 30, whole=True)
#: An alert waits until no other came for this long, so a burst goes out as one summary.
REO_DT_ALERT_SETTLE_SECONDS = Tunable("REO_DT_ALERT_SETTLE_SECONDS", 60)


def http_url(name: str, default: str) -> str:
    """The http(s) URL in the environment variable ``name``, else ``default``."""
    value = os.environ.get(name) or default
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{name}={value!r}: expected an http(s) URL such as {default}")
    return value


def dt_reporting_base_url() -> str:
    return http_url(DT_REPORTING_BASE_URL, DEFAULT_DT_REPORTING_BASE_URL)


def reo_ingest_base_url() -> str:
    return http_url(REO_INGEST_BASE_URL, DEFAULT_REO_INGEST_BASE_URL)


def reo_max_concurrency() -> int:
    """``REO_MAX_CONCURRENCY``, else the older ``REO_CONCURRENCY``, else 128."""
    if (os.environ.get(REO_MAX_CONCURRENCY.name) or "").strip():
        return max(1, int(REO_MAX_CONCURRENCY.value()))
    return max(1, int(number(REO_CONCURRENCY, REO_MAX_CONCURRENCY.default, whole=True)))


def event_id_type() -> EventIdType:
    value = (os.environ.get(REO_EVENT_ID_TYPE) or "integer").strip().lower()
    for known in EVENT_ID_TYPES:
        if value == known:
            return known
    raise ValueError(f"{REO_EVENT_ID_TYPE}={value!r}: expected one of {', '.join(EVENT_ID_TYPES)}")


def ui_url() -> str:
    """The Dagster UI's base URL, without a trailing slash, for the links in alerts."""
    return http_url(REO_DT_UI_URL, DEFAULT_UI_URL).strip().rstrip("/")


def alert_warnings() -> bool:
    value = (os.environ.get(REO_DT_ALERT_WARNINGS) or "false").strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise ValueError(f"{REO_DT_ALERT_WARNINGS}={value!r}: expected true or false (default false)")


def data_dir() -> Path:
    return Path(os.environ.get(REO_DT_DATA_DIR) or "data")


DUCKDB_FILE = "reo_dt.duckdb"  # in the data folder unless REO_DT_DUCKDB_PATH names one


def duckdb_path() -> Path:
    configured = os.environ.get(REO_DT_DUCKDB_PATH)
    return Path(configured) if configured else data_dir() / DUCKDB_FILE


def ducklake_data_path() -> str:
    """Where a DuckLake catalog's Parquet files go: a folder (or URL) every worker reaches."""
    return os.environ.get(REO_DT_DUCKLAKE_DATA_PATH) or str(data_dir() / "ducklake")


def apps_file() -> Path:
    return Path(os.environ.get(REO_DT_APPS_FILE) or "apps.toml")


def user_directory() -> str:
    """A CSV path, ``duckdb:<table>`` for a table in the DuckDB file, or empty for none."""
    value = os.environ.get(REO_DT_USER_DIRECTORY) or ""
    table = value.removeprefix("duckdb:") if value.startswith("duckdb:") else None
    if table is not None and (not table.strip() or '"' in table):
        raise ValueError(
            f"{REO_DT_USER_DIRECTORY}={value!r}: expected duckdb:<table> with the name of a "
            "table in the DuckDB file, a CSV path, or unset for no directory"
        )
    return value


def number(name: str, default: float, minimum: float = 0, *, whole: bool = False) -> float:
    """A tunable's value from the environment variable ``name``, else ``default``: a number
    (a whole one if ``whole``) >= ``minimum``."""
    value = (os.environ.get(name) or "").strip()
    if not value:
        return default
    kind = "a whole number" if whole else "a number"
    try:
        parsed = float(value)
    except ValueError:
        parsed = math.nan
    if not parsed >= minimum or (whole and not parsed.is_integer()):
        raise ValueError(f"{name}={value!r}: expected {kind} >= {minimum:g} (default {default:g})")
    return parsed


def pull_ages() -> tuple[int, ...]:
    """The ages (days after the day) at which the daily schedule pulls each day, ascending:
    ``REO_DT_PULL_AGES`` (``1,2,3,8``), else ``REO_DT_LOOKBACK_DAYS`` N as it always meant
    (yesterday and the N days before it), else the default."""
    ages = (os.environ.get(REO_DT_PULL_AGES) or "").strip()
    lookback = (os.environ.get(REO_DT_LOOKBACK_DAYS) or "").strip()
    if not ages and lookback:
        if not lookback.isdigit():
            raise ValueError(
                f"{REO_DT_LOOKBACK_DAYS}={lookback!r}: expected a whole number of days "
                f"(or set {REO_DT_PULL_AGES}, which replaces it)"
            )
        return tuple(range(1, min(int(lookback) + 1, DT_WINDOW_DAYS) + 1))
    if not ages:
        return DEFAULT_PULL_AGES
    cells = [cell.strip() for cell in ages.split(",")]
    if not all(cell.isdigit() and 1 <= int(cell) <= DT_WINDOW_DAYS for cell in cells):
        raise ValueError(
            f"{REO_DT_PULL_AGES}={ages!r}: expected whole numbers of days from 1 to "
            f"{DT_WINDOW_DAYS} (DT serves a day for about {DT_WINDOW_DAYS} days), such as "
            f"{','.join(map(str, DEFAULT_PULL_AGES))}"
        )
    return tuple(sorted({int(cell) for cell in cells}))


def report_limit(name: str) -> int | None:
    """``DT_REPORTS_PER_DAY`` / ``DT_REPORTS_PER_MINUTE``: a whole number >= 1, unset: none."""
    value = (os.environ.get(name) or "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{name}={value!r}: expected a whole number >= 1, or unset for no limit")
    return int(value)


#: Every tunable of this module, for ``validate``.
TUNABLES = tuple(value for value in list(globals().values()) if isinstance(value, Tunable))


class SettingsError(ValueError):
    """Settings the environment gives that cannot be used; the message lists each one."""


def validate(urls: Mapping[str, str] | None = None) -> None:
    """Read every setting but the secrets (read when a run uses them, and never shown); raise
    one ``SettingsError`` naming each bad variable, its value and what it expects. ``urls``: more
    variables holding base URLs (a component's second account), with their defaults."""
    reads: list[Callable[[], object]] = [
        *(tunable.value for tunable in TUNABLES),
        reo_max_concurrency,
        dt_reporting_base_url,
        reo_ingest_base_url,
        ui_url,
        event_id_type,
        alert_warnings,
        user_directory,
        pull_ages,
        lambda: report_limit(DT_REPORTS_PER_DAY),
        lambda: report_limit(DT_REPORTS_PER_MINUTE),
        _catalog_file,
        *(partial(http_url, name, default) for name, default in (urls or {}).items()),
    ]
    problems: dict[str, None] = {}  # in order, once each (a tunable may be read twice)
    for read in reads:
        try:
            read()
        except ValueError as error:
            problems[str(error)] = None
    if problems:
        raise SettingsError(
            f"{len(problems)} setting(s) in the environment cannot be used; fix them where the "
            "code location runs (see .env.example), then reload it:\n"
            + "\n".join(f"  - {problem}" for problem in problems)
        )


def _catalog_file() -> None:
    """The catalog's file named in the environment is there (what it holds is checked when it
    loads: ``catalog``; a component given its catalog in YAML reads no variable)."""
    if not os.environ.get(REO_DT_APPS_FILE):
        return
    path = apps_file()
    if not path.is_file():
        raise ValueError(
            f"{REO_DT_APPS_FILE}={str(path)!r}: no such file; expected the app catalog "
            "(a TOML file such as apps.toml)"
        )


@dataclass(frozen=True)
class Setting:
    """One environment variable as the docs' configuration reference shows it: ``default`` is
    the reader that gives its value (the reference calls it with the variable unset, so the
    default shown is the code's), or the words for one with no value of its own."""

    name: str
    topic: str
    meaning: str
    default: Callable[[], object] | str
    secret: bool = False


def _tunable(tunable: Tunable, topic: str, meaning: str) -> Setting:
    return Setting(tunable.name, topic, meaning, tunable.value)


CREDENTIALS, STORES, SCHEDULE, ALERTS, DT_CLIENT, REO_CLIENT = (
    "Credentials and APIs",
    "Where things are stored",
    "The schedule, the report budget and restatements",
    "Alerts",
    "The DT client",
    "The Reo.Dev delivery",
)

#: Every environment variable the project reads, its default and meaning: the one source of the
#: docs' configuration reference (``reo_dt_assets_dev.reference``), which a test holds to the code.
REFERENCE: tuple[Setting, ...] = (
    Setting(
        DT_CLIENT_ID,
        CREDENTIALS,
        "DT reporting API client ID (DT Console > User Profile > Reporting API Keys).",
        "(required)",
        secret=True,
    ),
    Setting(DT_CLIENT_SECRET, CREDENTIALS, "Its secret.", "(required)", secret=True),
    Setting(
        DT_REPORTING_BASE_URL, CREDENTIALS, "Base URL of DT's reporting API.", dt_reporting_base_url
    ),
    Setting(
        REO_API_KEY,
        CREDENTIALS,
        "Reo.Dev Product Usage API key (Settings > Integrations > API Keys > Product Usage API).",
        "(required for sending)",
        secret=True,
    ),
    Setting(
        REO_INGEST_BASE_URL, CREDENTIALS, "Base URL of Reo.Dev's ingest API.", reo_ingest_base_url
    ),
    Setting(REO_DT_DATA_DIR, STORES, "Where raw reports (and the DuckDB file) land.", data_dir),
    Setting(REO_DT_DUCKDB_PATH, STORES, "The DuckDB file of every table.", duckdb_path),
    Setting(
        REO_DT_DUCKLAKE,
        STORES,
        "A PostgreSQL conninfo (`dbname=lake host=... user=... password=...`): the tables go to "
        "a DuckLake catalog there and the delivery ledger to PostgreSQL itself. Read like a "
        "secret: it may hold a password.",
        "(unset: the DuckDB file)",
        secret=True,
    ),
    Setting(
        REO_DT_DUCKLAKE_DATA_PATH,
        STORES,
        "Where DuckLake's Parquet files go: a folder or URL every worker reaches.",
        ducklake_data_path,
    ),
    Setting(
        DAGSTER_PG_URL,
        STORES,
        "`postgresql+psycopg2://...`: the Dagster instance in PostgreSQL "
        "(`deploy/dagster-postgres.yaml`) instead of SQLite files in `DAGSTER_HOME`.",
        "(unset: SQLite in DAGSTER_HOME)",
        secret=True,
    ),
    Setting(
        "DAGSTER_HOME",
        STORES,
        "The Dagster instance's folder that `make demo` and `make ui` prepare (its "
        "`dagster.yaml` and pool limits).",
        "(unset: .dagster_home/ in the project)",
    ),
    Setting(REO_DT_APPS_FILE, STORES, "The app catalog (TOML).", apps_file),
    Setting(
        REO_DT_USER_DIRECTORY,
        STORES,
        "Optional publisher user directory: a CSV path, or `duckdb:<table>` in the DuckDB file; "
        "columns `user_id`, `email`, `github`, `linkedin`, `ip_addr`, `user_agent`.",
        "(unset: none)",
    ),
    _tunable(
        REO_DT_LOAD_MEMORY_MB,
        STORES,
        "MiB one `user_revenue` load aims to stay within (>= 512): bigger reports are parsed in "
        "more buckets.",
    ),
    _tunable(
        REO_DT_DUCKDB_MEMORY_MB,
        STORES,
        "MiB DuckDB may use on any other connection to the file (deliveries, checks, the "
        "rollup); beyond it DuckDB spills to disk.",
    ),
    Setting(
        REO_DT_PULL_AGES,
        SCHEDULE,
        "The ages (days after the day, 1 to 10) at which the daily schedule pulls each day: DT "
        "restates its estimates after the first pull.",
        lambda: ",".join(map(str, pull_ages())),
    ),
    Setting(
        REO_DT_LOOKBACK_DAYS,
        SCHEDULE,
        f"Older form of `{REO_DT_PULL_AGES}`: N means the ages 1..N+1; read only when "
        f"`{REO_DT_PULL_AGES}` is unset.",
        "(unset)",
    ),
    Setting(
        DT_REPORTS_PER_DAY,
        SCHEDULE,
        "DT report requests allowed per UTC day, across every run and process; the schedule "
        "plans within what is left.",
        "(unset: no limit)",
    ),
    Setting(
        DT_REPORTS_PER_MINUTE,
        SCHEDULE,
        "DT report requests allowed per minute, across every run and process.",
        "(unset: no limit)",
    ),
    _tunable(
        REO_DT_RESTATEMENT_WARN_PCT,
        SCHEDULE,
        "A reload moving a day whose events were delivered by more than this % of its revenue "
        "turns `restatement_within_threshold` yellow.",
    ),
    Setting(
        REO_DT_ALERT_URLS,
        ALERTS,
        "Where alerts go: apprise URLs separated by spaces or commas (Slack, Teams, e-mail, a "
        "JSON webhook, ...). Read like a secret: URLs carry tokens.",
        "(unset: no alerts)",
        secret=True,
    ),
    Setting(REO_DT_UI_URL, ALERTS, "The Dagster UI's address, for the links in alerts.", ui_url),
    Setting(
        REO_DT_ALERT_WARNINGS,
        ALERTS,
        "`true`: alert on failed WARN checks too (the weekday anomaly, restatements, drift).",
        alert_warnings,
    ),
    _tunable(
        REO_DT_ALERT_INTERVAL_SECONDS, ALERTS, "Seconds between two ticks of the alerts sensor."
    ),
    _tunable(
        REO_DT_ALERT_SETTLE_SECONDS,
        ALERTS,
        "An alert waits until no other came for this long, so a burst goes out as one summary.",
    ),
    _tunable(DT_TIMEOUT_SECONDS, DT_CLIENT, "Per-request timeout, seconds."),
    _tunable(DT_RETRY_ATTEMPTS, DT_CLIENT, "Tries per request on 5xx and timeouts."),
    _tunable(DT_POLL_INITIAL_SECONDS, DT_CLIENT, "First wait between polls of the report URL."),
    _tunable(DT_POLL_MAX_SECONDS, DT_CLIENT, "Longest wait between polls."),
    _tunable(
        DT_POLL_DEADLINE_SECONDS,
        DT_CLIENT,
        "How long one attempt polls (holding a `dt_reporting` slot) before handing the wait "
        "back to Dagster.",
    ),
    _tunable(DT_NOT_READY_RETRIES, DT_CLIENT, "Later attempts for a report still not ready."),
    _tunable(
        DT_NOT_READY_WAIT_SECONDS,
        DT_CLIENT,
        "The wait before each later attempt (no slot is held meanwhile).",
    ),
    Setting(
        REO_MAX_CONCURRENCY.name,
        REO_CLIENT,
        "Requests in flight at most; how many below it follows Reo.Dev's answers.",
        reo_max_concurrency,
    ),
    Setting(
        REO_CONCURRENCY,
        REO_CLIENT,
        f"Older name of `{REO_MAX_CONCURRENCY.name}`, read only when that is unset.",
        "(unset)",
    ),
    _tunable(
        REO_MAX_REQUESTS_PER_SECOND,
        REO_CLIENT,
        "A hard cap on requests per second, for a contract with a known limit (0: none).",
    ),
    _tunable(REO_TIMEOUT_SECONDS, REO_CLIENT, "Per-request timeout, seconds."),
    _tunable(REO_RETRY_ATTEMPTS, REO_CLIENT, "Tries per event on 429, 5xx and timeouts."),
    _tunable(
        REO_RETRY_BASE_SECONDS,
        REO_CLIENT,
        "First wait between an event's tries; it doubles with Reo.Dev's failures in a row "
        "(a 429's `Retry-After` comes first).",
    ),
    _tunable(REO_RETRY_MAX_SECONDS, REO_CLIENT, "Longest wait between an event's tries."),
    _tunable(
        REO_OUTAGE_LIMIT_SECONDS,
        REO_CLIENT,
        "How long Reo.Dev may answer only 5xx or time out before the delivery fails, retryable.",
    ),
    Setting(
        REO_EVENT_ID_TYPE,
        REO_CLIENT,
        "`event_id` on the wire: `integer` (the document's examples, Reo.Dev's client) or "
        "`string` (the same number as a decimal string, as the document's table says).",
        event_id_type,
    ),
    _tunable(
        REO_CORRECTION_MIN_USD,
        REO_CLIENT,
        "An app with a `correction_activity_type` corrects a delivered user whose revenue moved "
        "by more than this many USD ...",
    ),
    _tunable(
        REO_CORRECTION_MIN_PCT,
        REO_CLIENT,
        "... and by more than this % of what Reo.Dev was told (any move from zero).",
    ),
    _tunable(
        REO_DT_DELIVERY_FAILURE_PCT,
        REO_CLIENT,
        "`failures_within_threshold` (a check of `reo_usage_events`, told by the alerts) fails "
        "when a partition's failed + rejected events pass this % of its events.",
    ),
)
