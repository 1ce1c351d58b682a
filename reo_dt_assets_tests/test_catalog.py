"""The app catalog: good files load, each kind of bad entry fails naming the entry."""

import datetime as dt
from pathlib import Path

import pytest

from reo_dt_assets.catalog import CatalogError, load_catalog, parse_catalog
from reo_dt_assets_tests.helpers import REPO


def test_repository_catalog_loads_with_dts_window() -> None:
    before = dt.datetime.now(dt.UTC).date()
    catalog = load_catalog(REPO / "apps.toml")
    after = dt.datetime.now(dt.UTC).date()
    assert catalog.app_ids == ["148721", "203945"]
    assert catalog.start_date in {day - dt.timedelta(days=10) for day in (before, after)}
    assert catalog.app("148721").environment == "PRODUCTION"
    assert catalog.app("203945").environment is None
    assert catalog.app("203945").correction_activity_type is None  # corrections: opt-in


def test_start_days_ago_moves_with_today() -> None:
    document = {"start_days_ago": 10, "apps": [_app()]}
    catalog = parse_catalog(document, today=dt.date(2026, 11, 23))
    assert catalog.start_date == dt.date(2026, 11, 13)
    with pytest.raises(CatalogError, match="'start_days_ago' must be a whole number"):
        parse_catalog({"start_days_ago": "10", "apps": [_app()]})
    with pytest.raises(CatalogError, match="not both"):
        parse_catalog({"start_days_ago": 10, "start_date": "2026-11-01", "apps": [_app()]})
    with pytest.raises(CatalogError, match=r"unknown keys \['start_day'\]"):
        parse_catalog({"start_day": "2026-11-01", "apps": [_app()]})


def _app(**fields: object) -> dict:
    entry: dict = {"app_id": "123", "product_id": "p", "activity_type": "A"}
    entry.update(fields)
    return entry


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (_app(app_id="../etc"), "app_id '../etc' is not valid"),
        (_app(product_id=""), "'product_id' must be a non-empty string"),
        ({"app_id": "9", "activity_type": "A"}, "entry 1 (app_id '9'): 'product_id'"),
        (_app(start_date="2019-12-31"), "before 2020-02-16"),
        (_app(start_date="tomorrow"), "is not a YYYY-MM-DD date"),
        (_app(colour="red"), "unknown keys ['colour']"),
        ({"product_id": "p"}, "'app_id' is required"),
        (_app(correction_activity_type="A"), "'correction_activity_type' must differ"),
        (_app(correction_activity_type=" "), "'correction_activity_type' must be a non-empty"),
    ],
)
def test_bad_entries_name_the_entry(entry: dict, expected: str) -> None:
    with pytest.raises(CatalogError, match="entry 1") as error:
        parse_catalog({"apps": [entry]})
    assert expected in str(error.value)


def test_duplicate_and_empty_catalogs() -> None:
    with pytest.raises(CatalogError, match=r"entry 2 \(app_id '123'\): app_id is listed twice"):
        parse_catalog({"apps": [_app(), _app()]})
    with pytest.raises(CatalogError, match=r"at least one \[\[apps\]\]"):
        parse_catalog({"apps": []})


def test_numeric_app_id_and_default_start() -> None:
    catalog = parse_catalog({"apps": [_app(app_id=123, start_date="2024-05-01")]})
    assert catalog.app_ids == ["123"]
    assert catalog.start_date == dt.date(2024, 5, 1)


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="set REO_DT_APPS_FILE"):
        load_catalog(tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[[apps]\n")
    with pytest.raises(CatalogError, match="not valid TOML"):
        load_catalog(broken)


def test_an_app_is_active_from_its_start_never_before_the_catalogs() -> None:
    catalog = parse_catalog(
        {
            "start_date": "2026-10-05",
            "apps": [
                _app(app_id="plain"),
                _app(app_id="older", start_date="2026-10-01"),
                _app(app_id="later", start_date="2026-10-07"),
            ],
        }
    )
    assert [catalog.first_day(app) for app in catalog.apps] == [
        dt.date(2026, 10, 5),
        dt.date(2026, 10, 5),
        dt.date(2026, 10, 7),
    ]
    active = {
        day: [app.app_id for app in catalog.apps_on(dt.date(2026, 10, day))] for day in (4, 5, 6, 7)
    }
    assert active == {
        4: [],
        5: ["plain", "older"],
        6: ["plain", "older"],
        7: ["plain", "older", "later"],
    }
