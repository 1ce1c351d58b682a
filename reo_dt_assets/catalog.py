"""The app catalog: which Digital Turbine apps we pull, and how their Reo.Dev events look.

A small TOML file (``REO_DT_APPS_FILE``) is the single place where an app is switched on. It is
validated as a whole when the code location loads, so a typo names its entry instead of
surfacing as a failed run days later.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: DT serves user-level data from this day on (DT's *User Level Reporting API* document,
#: "Date Information").
DT_FIRST_DATE = dt.date(2020, 2, 16)

APP_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")

_APP_KEYS = {
    "app_id",
    "product_id",
    "activity_type",
    "environment",
    "start_date",
    "correction_activity_type",
}
_TOP_KEYS = {"apps", "start_date", "start_days_ago"}


class CatalogError(ValueError):
    """The app catalog cannot be used; the message names the file and the entry."""


@dataclass(frozen=True)
class App:
    app_id: str
    product_id: str
    activity_type: str
    environment: str | None = None
    start_date: dt.date | None = None
    #: Opt-in: a delivered user whose revenue a later pull moved gets one event of this type.
    correction_activity_type: str | None = None


@dataclass(frozen=True)
class Catalog:
    apps: tuple[App, ...]
    start_date: dt.date

    def app(self, app_id: str) -> App:
        for app in self.apps:
            if app.app_id == app_id:
                return app
        raise CatalogError(f"app {app_id!r} is not in the app catalog")

    @property
    def app_ids(self) -> list[str]:
        return [app.app_id for app in self.apps]

    def first_day(self, app: App) -> dt.date:
        """The first day ``app`` has a partition: its own start_date, never before the catalog's."""
        return max(self.start_date, app.start_date or self.start_date)

    def apps_on(self, day: dt.date) -> list[App]:
        """The apps active on ``day``: those that have a partition that day (the one rule the
        raw asset, the schedules and the rollup go by)."""
        return [app for app in self.apps if day >= self.first_day(app)]


def validate_app_id(app_id: str) -> str:
    """Return ``app_id`` if it is safe to use in a file name and a URL; raise otherwise."""
    if not APP_ID_PATTERN.fullmatch(app_id):
        raise CatalogError(
            f"app_id {app_id!r} is not valid: use 1-64 letters, digits, '_' or '-' "
            "(starting with a letter or digit)"
        )
    return app_id


def _date(value: Any, where: str) -> dt.date:
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            raise CatalogError(f"{where}: {value!r} is not a YYYY-MM-DD date") from None
    if not isinstance(value, dt.date):
        raise CatalogError(f"{where}: expected a YYYY-MM-DD date, got {value!r}")
    if value < DT_FIRST_DATE:
        raise CatalogError(
            f"{where}: {value} is before {DT_FIRST_DATE}, the first day DT serves user-level data"
        )
    return value


def _text(entry: Mapping[str, Any], key: str, where: str, *, required: bool) -> str | None:
    value = entry.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise CatalogError(f"{where}: '{key}' must be a non-empty string, got {value!r}")
    return value.strip()


def parse_catalog(
    document: Mapping[str, Any], source: str = "app catalog", today: dt.date | None = None
) -> Catalog:
    unknown_top = sorted(set(document) - _TOP_KEYS)
    if unknown_top:
        raise CatalogError(f"{source}: unknown keys {unknown_top}; allowed: {sorted(_TOP_KEYS)}")
    raw_apps = document.get("apps")
    if not isinstance(raw_apps, list) or not raw_apps:
        raise CatalogError(f"{source}: add at least one [[apps]] entry")
    apps: list[App] = []
    for index, entry in enumerate(raw_apps):
        where = f"{source}: [[apps]] entry {index + 1}"
        if not isinstance(entry, dict):
            raise CatalogError(f"{where}: expected a table, got {entry!r}")
        raw_id = entry.get("app_id")
        if isinstance(raw_id, int) and not isinstance(raw_id, bool):
            raw_id = str(raw_id)
        if not isinstance(raw_id, str):
            raise CatalogError(f"{where}: 'app_id' is required (a string such as \"148721\")")
        where = f"{where} (app_id {raw_id!r})"
        unknown = sorted(set(entry) - _APP_KEYS)
        if unknown:
            raise CatalogError(f"{where}: unknown keys {unknown}; allowed: {sorted(_APP_KEYS)}")
        try:
            app_id = validate_app_id(raw_id)
        except CatalogError as exc:
            raise CatalogError(f"{where}: {exc}") from None
        if any(app.app_id == app_id for app in apps):
            raise CatalogError(f"{where}: app_id is listed twice")
        start = entry.get("start_date")
        activity_type = _text(entry, "activity_type", where, required=True) or ""
        correction = _text(entry, "correction_activity_type", where, required=False)
        if correction == activity_type:
            raise CatalogError(
                f"{where}: 'correction_activity_type' must differ from 'activity_type' "
                f"({activity_type!r}), or Reo.Dev counts a correction as the day's usage"
            )
        apps.append(
            App(
                app_id=app_id,
                product_id=_text(entry, "product_id", where, required=True) or "",
                activity_type=activity_type,
                environment=_text(entry, "environment", where, required=False),
                start_date=_date(start, f"{where}: 'start_date'") if start is not None else None,
                correction_activity_type=correction,
            )
        )
    if "start_date" in document and "start_days_ago" in document:
        raise CatalogError(f"{source}: give 'start_date' or 'start_days_ago', not both")
    if "start_date" in document:
        start_date = _date(document["start_date"], f"{source}: top-level 'start_date'")
    elif "start_days_ago" in document:
        start_date = _days_ago(document["start_days_ago"], source, today)
    else:
        starts = [app.start_date for app in apps if app.start_date]
        start_date = min(starts) if starts else DT_FIRST_DATE
    return Catalog(apps=tuple(apps), start_date=start_date)


def _days_ago(value: Any, source: str, today: dt.date | None) -> dt.date:
    """The first partition ``value`` days before today (UTC): DT's servable window, moving."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise CatalogError(
            f"{source}: 'start_days_ago' must be a whole number of days >= 1, got {value!r}"
        )
    today = today or dt.datetime.now(dt.UTC).date()
    return max(DT_FIRST_DATE, today - dt.timedelta(days=value))


def load_catalog(path: Path) -> Catalog:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogError(
            f"app catalog {path} not found: set REO_DT_APPS_FILE to your catalog "
            "(see apps.toml in the repository for the format)"
        ) from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"app catalog {path} is not valid TOML: {exc}") from None
    return parse_catalog(document, source=f"app catalog {path}")
