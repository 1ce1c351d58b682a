"""Each layer's check verdicts decided from plain inputs, without Dagster or a database."""

from __future__ import annotations

import json
from pathlib import Path

from reo_dt_assets.digital_turbine.columns import REPORT_COLUMNS
from reo_dt_assets.digital_turbine.verdicts import report_columns_verdict
from reo_dt_assets.reo.ledger import SUPERSEDED, LedgerEvent
from reo_dt_assets.reo.verdicts import events_verdicts
from reo_dt_assets.revenue.queries import Totals
from reo_dt_assets.revenue.verdicts import table_verdicts
from reo_dt_assets.verdict import CheckVerdict

RAW = Totals(rows=10, impressions=100, revenue_usd=2.5)
GOOD_PAYLOAD = json.dumps(
    {
        "activity_type": "AD_REVENUE",
        "source": "PRODUCT_CLOUD",
        "user_id": "bob",
        "user_id_type": "USERNAME",
        "event_at": 0,
        "product_id": "p",
    }
)


def _by_check(verdicts: list[CheckVerdict]) -> dict[str, CheckVerdict]:
    return {v.check: v for v in verdicts}


def test_table_verdicts_pass_on_a_reconciled_partition() -> None:
    verdicts = table_verdicts([], [], 0, Totals(10, 100, 2.5 + 1e-9), RAW)
    assert [v.passed for v in verdicts] == [True] * 4


def test_table_verdicts_name_what_is_wrong() -> None:
    verdicts = _by_check(table_verdicts([], ["u1"], 2, Totals(10, 99, 2.5), RAW))
    assert not verdicts["key_is_unique"].passed
    assert verdicts["key_is_unique"].metadata["duplicated_keys"] == "u1"
    assert not verdicts["amounts_not_negative"].passed
    assert not verdicts["reconciles_with_raw_report"].passed
    broken = _by_check(table_verdicts(["column x is missing"], [], 0, None, RAW))
    assert [v.passed for v in broken.values()] == [False] * 4
    assert broken["schema_matches_contract"].description == "column x is missing"


def test_revenue_beyond_the_tolerance_fails() -> None:
    [*_, reconciliation] = table_verdicts([], [], 0, Totals(10, 100, 2.5 + 2e-6), RAW)
    assert not reconciliation.passed


def _event(
    status: str,
    error: str | None = None,
    revenue: float = 1.0,
    payload: str = "",
    kind: str = "usage",
) -> LedgerEvent:
    return LedgerEvent("e", status, error, payload or GOOD_PAYLOAD, revenue, kind)


def test_events_verdicts() -> None:
    good = events_verdicts(
        [_event("delivered"), _event("failed", "HTTP 422")], 2, 2.0, failure_pct=100
    )
    assert [v.passed for v in good] == [True, True, True, True]
    silent = _by_check(
        events_verdicts([_event("delivered"), _event("pending")], 2, 2.0, failure_pct=100)
    )
    assert not silent["every_event_accounted_for"].passed
    missing = _by_check(events_verdicts([_event("delivered")], 2, 1.0, failure_pct=100))
    assert not missing["every_event_accounted_for"].passed
    invalid = _by_check(
        events_verdicts([_event("delivered", payload="{}")], 1, 1.0, failure_pct=100)
    )
    assert not invalid["payloads_match_contract"].passed
    assert events_verdicts([_event("rejected", "bad", payload="{}")], 0, 1.0, failure_pct=100)[
        0
    ].passed


def test_failed_and_rejected_events_past_the_threshold_fail_naming_the_top_reasons() -> None:
    events = [_event("delivered")] * 97 + [
        _event("failed", "HTTP 503: Service Unavailable"),
        _event("failed", "HTTP 503: Service Unavailable"),
        _event("rejected", "payload over 256 KiB: 262,400 bytes"),
    ]
    within = _by_check(events_verdicts(events, 97, 100.0, failure_pct=5))
    assert within["failures_within_threshold"].passed
    over = _by_check(events_verdicts(events, 97, 100.0, failure_pct=1))["failures_within_threshold"]
    assert not over.passed and not over.warn_only
    assert "3 of 100 events (3.0%) failed or were rejected, over the 1% of" in (
        over.description or ""
    )
    assert over.metadata["top_reasons"] == "HTTP 503 (2); payload over 256 KiB (1)"
    superseded = _event("rejected", SUPERSEDED, kind="correction")  # by design, not a failure
    quiet = _by_check(events_verdicts([_event("delivered"), superseded], 1, 1.0, failure_pct=0))
    assert quiet["failures_within_threshold"].passed


def test_changed_revenue_after_delivery_only_warns() -> None:
    revenue = _by_check(events_verdicts([_event("delivered", revenue=1.0)], 1, 1.5, failure_pct=1))
    assert not revenue["revenue_matches_user_revenue"].passed
    assert revenue["revenue_matches_user_revenue"].warn_only
    same = _by_check(events_verdicts([_event("delivered", revenue=1.5)], 1, 1.5, failure_pct=1))
    assert same["revenue_matches_user_revenue"].passed
    assert not same["revenue_matches_user_revenue"].warn_only


def test_report_columns_verdict(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    path.write_text("Advertising ID,Impressions,Revenue,Country\r\nA,1,0.5,FR\r\n")
    verdict = report_columns_verdict(path)
    assert not verdict.passed and verdict.warn_only
    assert "Schema drift" in (verdict.description or "")
    assert "unknown columns ['Country']" in (verdict.description or "")
    assert verdict.metadata["unexpected"] == "Country"
    path.write_text("Advertising ID,Impressions,Revenue\r\nA,1,0.5\r\n")
    documented = report_columns_verdict(path)
    assert not documented.passed and documented.warn_only
    assert "documented columns absent ['Ad Network Name'" in (documented.description or "")
    path.write_text(",".join(column.display for column in REPORT_COLUMNS) + "\r\n")
    assert report_columns_verdict(path).passed
    path.write_text("Advertising ID,Impressions\r\n")
    failed = report_columns_verdict(path)
    assert not failed.passed and "missing required columns ['Revenue']" in (
        failed.description or ""
    )
    path.write_bytes(b"")
    assert "is empty" in (report_columns_verdict(path).description or "")
    assert "does not exist" in (report_columns_verdict(tmp_path / "x.csv").description or "")


def test_corrections_add_their_change_unless_superseded() -> None:
    usage = _event("delivered", revenue=1.0)
    told = _event("delivered", revenue=0.5, kind="correction")
    superseded = _event("rejected", "superseded", revenue=0.25, kind="correction")
    checks = _by_check(events_verdicts([usage, told, superseded], 1, 1.5, failure_pct=100))
    assert checks["revenue_matches_user_revenue"].passed
    # A user counts once, whatever corrections it got: two usage users are still short of three.
    accounted = _by_check(events_verdicts([usage, told, told], 2, 1.0, failure_pct=100))[
        "every_event_accounted_for"
    ]
    assert not accounted.passed and accounted.metadata["usage_events"] == 1


def test_money_in_check_metadata_is_to_the_cent_with_a_note_on_what_it_adds_up() -> None:
    """As the assets show money: ``5.684341886080802e-14`` or ``233.586465`` read as cents."""
    *_, reconciliation = table_verdicts([], [], 0, Totals(10, 100, 233.586465 + 5e-14), RAW)
    meta = reconciliation.metadata
    assert (meta["raw_revenue_usd"], meta["loaded_revenue_usd"]) == (2.5, 233.59)
    assert meta["revenue_difference_usd"] == 231.09
    assert "users (revenue_usd_total" in meta["note"] and "unattributed_revenue_usd" in meta["note"]
    assert "231.086465000 USD" in (reconciliation.description or "")  # the exact figure kept
    *_, close = table_verdicts([], [], 0, Totals(10, 100, 2.5 + 5.684341886080802e-14), RAW)
    assert close.passed and close.metadata["revenue_difference_usd"] == 0.0
    revenue = _by_check(
        events_verdicts([_event("delivered", revenue=1.234567)], 1, 1.234567, failure_pct=100)
    )["revenue_matches_user_revenue"]
    assert revenue.metadata["events_revenue_usd"] == revenue.metadata["user_revenue_usd"] == 1.23
    assert "device_only_revenue_usd" in revenue.metadata["note"]
    tiny = _by_check(
        events_verdicts([_event("delivered", revenue=1.0)], 1, 1.0 + 1e-12, failure_pct=1)
    )["revenue_matches_user_revenue"]
    assert str(tiny.metadata["difference_usd"]) == "0.0"  # not -0.0
