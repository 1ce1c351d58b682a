"""Building Reo.Dev payloads from user_revenue rows, and the payload contract (no I/O)."""

import datetime as dt
import hashlib

import polars as pl
import pytest

from reo_dt_assets.reo.events import (
    LEGACY_EVENT_ID,
    build_events,
    event_id,
    load_directory,
    upgraded_event_id,
    user_id_type,
)
from reo_dt_assets.reo.payload import payload_problems

DAY = dt.date(2026, 11, 20)


@pytest.mark.parametrize(
    ("user_id", "expected"),
    [
        ("alice@example.com", "EMAIL"),
        ("https://github.com/alice-dev", "GITHUB"),
        ("github.com/alice-dev/", "GITHUB"),
        ("https://www.linkedin.com/in/alice-smith-42", "LINKEDIN"),
        ("alice_42", "USERNAME"),
        ("https://github.com/org/repo", "USERNAME"),
        ("not an @email", "USERNAME"),
    ],
)
def test_user_id_type_by_shape(user_id: str, expected: str) -> None:
    assert user_id_type(user_id) == expected


def _row(user_key: str, kind: str = "user_id", revenue: float = 0.5) -> dict:
    return {
        "user_key": user_key,
        "user_key_type": kind,
        "user_id": user_key if kind == "user_id" else None,
        "impressions": 7,
        "revenue_usd": revenue,
        "ad_networks": ["AdMob", "Vungle"],
    }


def _build(rows: list[dict], **kwargs: object):
    options: dict = {
        "date": DAY,
        "app_id": "148721",
        "product_id": "puzzle-quest",
        "activity_type": "AD_REVENUE",
        "environment": "PRODUCTION",
    }
    options.update(kwargs)
    return build_events(rows, **options)


def test_one_event_per_developer_identity() -> None:
    result = _build(
        [_row("bob_1"), _row("GAID-1", "advertising_id", 0.25), _row("IDFV-1", "idfv", 0.125)]
    )
    assert [e.user_key for e in result.events] == ["bob_1"]
    assert (result.device_only_users, result.device_only_revenue_usd) == (2, 0.375)
    payload = result.events[0].payload
    assert payload_problems(payload) == []
    assert payload == {
        "activity_type": "AD_REVENUE",
        "source": "PRODUCT_CLOUD",
        "user_id": "bob_1",
        "user_id_type": "USERNAME",
        "event_id": int(event_id("148721", DAY, "bob_1", "AD_REVENUE")),
        "event_at": 1795132800,  # 2026-11-20T00:00:00Z
        "product_id": "puzzle-quest",
        "environment": "PRODUCTION",
        "meta": {
            "revenue_usd": "0.500000000",
            "impressions": "7",
            "report_date": "2026-11-20",
            "dt_app_id": "148721",
            "ad_networks": "AdMob,Vungle",
        },
    }


def test_event_id_is_a_63_bit_integer_sent_as_the_setting_says() -> None:
    key = event_id("148721", DAY, "bob_1", "AD_REVENUE")
    assert key.isdigit() and 0 <= int(key) < 2**63 and str(int(key)) == key
    as_string = _build([_row("bob_1")], event_id_type="string").events[0]
    as_integer = _build([_row("bob_1")]).events[0]
    assert (as_string.event_id, as_string.payload["event_id"]) == (key, key)
    assert (as_integer.event_id, as_integer.payload["event_id"]) == (key, int(key))
    assert payload_problems(as_string.payload) == payload_problems(as_integer.payload) == []


def test_a_legacy_hex_id_upgrades_to_the_same_events_id() -> None:
    """Releases before integer ids sent the first 32 hex digits of the same digest."""
    digest = hashlib.sha256(f"148721|{DAY.isoformat()}|bob_1|AD_REVENUE".encode()).hexdigest()
    legacy = digest[:32]
    assert upgraded_event_id(legacy) == event_id("148721", DAY, "bob_1", "AD_REVENUE")
    assert LEGACY_EVENT_ID.fullmatch(legacy)
    assert not LEGACY_EVENT_ID.fullmatch(event_id("148721", DAY, "bob_1", "AD_REVENUE"))


def test_event_id_is_stable_and_distinct() -> None:
    first = event_id("148721", DAY, "bob_1", "AD_REVENUE")
    assert first == event_id("148721", DAY, "bob_1", "AD_REVENUE")
    assert (
        len(
            {
                first,
                event_id("148721", DAY + dt.timedelta(days=1), "bob_1", "AD_REVENUE"),
                event_id("203945", DAY, "bob_1", "AD_REVENUE"),
                event_id("148721", DAY, "bob_2", "AD_REVENUE"),
                event_id("148721", DAY, "bob_1", "LOGIN"),
            }
        )
        == 5
    )


def test_directory_upgrades_identity_and_adds_ip() -> None:
    directory = load_directory(
        pl.DataFrame(
            {
                "user_id": ["bob_1", "carol", "dave"],
                "email": ["", None, "dave@corp.example"],
                "github": ["https://github.com/bob", "", "https://github.com/dave"],
                "linkedin": ["", "https://www.linkedin.com/in/carol", ""],
                "ip_addr": ["203.0.113.7", "", ""],
                "user_agent": ["Mozilla/5.0", "", ""],
            }
        )
    )
    result = _build(
        [_row("bob_1"), _row("carol"), _row("dave"), _row("erin")],
        directory=directory,
        environment=None,
    )
    by_key = {e.user_key: e.payload for e in result.events}
    assert (by_key["bob_1"]["user_id"], by_key["bob_1"]["user_id_type"]) == (
        "https://github.com/bob",
        "GITHUB",
    )
    assert by_key["bob_1"]["ip_addr"] == "203.0.113.7"
    assert by_key["bob_1"]["user_agent"] == "Mozilla/5.0"
    assert by_key["carol"]["user_id_type"] == "LINKEDIN"
    assert (by_key["dave"]["user_id"], by_key["dave"]["user_id_type"]) == (
        "dave@corp.example",
        "EMAIL",
    )
    assert "ip_addr" not in by_key["erin"] and "environment" not in by_key["erin"]
    assert result.enriched == 3


def test_directory_needs_user_id_column() -> None:
    with pytest.raises(ValueError, match="lacks the column 'user_id'"):
        load_directory(pl.DataFrame({"email": ["a@b.c"]}))


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"source": "SDK"}, "source must be 'PRODUCT_CLOUD'"),
        ({"user_id_type": "PHONE"}, "user_id_type must be one of"),
        ({"user_id": "  "}, "user_id must be a non-empty string"),
        ({"product_id": None}, "product_id must be a non-empty string"),
        ({"event_at": "1795132800"}, "event_at must be integer epoch seconds"),
        ({"event_at": 1.5}, "event_at must be integer epoch seconds"),
        ({"ip_addr": 127}, "ip_addr must be a string"),
        ({"meta": ["x"]}, "meta must be an object"),
        ({"colour": "red"}, "unknown fields ['colour']"),
        ({"event_id": -1}, "event_id must be a non-empty string or a non-negative integer"),
        ({"event_id": True}, "event_id must be a non-empty string or a non-negative integer"),
        ({"event_id": ""}, "event_id must be a non-empty string or a non-negative integer"),
        ({"user_agent": "x" * 256 * 1024}, "over Reo.Dev's 256 KiB"),
    ],
)
def test_payload_contract(change: dict, problem: str) -> None:
    payload = _build([_row("bob_1")]).events[0].payload | change
    assert any(problem in p for p in payload_problems(payload))
