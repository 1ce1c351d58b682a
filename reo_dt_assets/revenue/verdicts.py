"""The ``user_revenue`` checks decided from what the table and the raw file hold."""

from __future__ import annotations

from reo_dt_assets.revenue.queries import (
    DeliveredEvents,
    HistoryAgreement,
    SplitAgreement,
    Totals,
)
from reo_dt_assets.revenue.store import Restatement
from reo_dt_assets.verdict import CheckVerdict

REVENUE_TOLERANCE_USD = 1e-6
#: Beside the asset's ``revenue_usd_total`` (users only), the check's total reads as another figure.
LOADED_NOTE = (
    "loaded = users (revenue_usd_total of user_revenue) + unattributed_revenue_usd: "
    "the whole raw report"
)


def table_verdicts(
    schema_problems: list[str],
    duplicate_keys: list[str],
    negative_rows: int,
    loaded: Totals | None,
    raw: Totals,
) -> list[CheckVerdict]:
    """Schema, key, signs, and users + unattributed = the raw report (DuckDB's reading)."""
    schema_ok = not schema_problems
    verdicts = [
        CheckVerdict("schema_matches_contract", schema_ok, "; ".join(schema_problems) or None),
        CheckVerdict(
            "key_is_unique",
            schema_ok and not duplicate_keys,
            metadata={"duplicated_keys": ", ".join(duplicate_keys) or "none"},
        ),
        CheckVerdict(
            "amounts_not_negative",
            schema_ok and negative_rows == 0,
            metadata={"negative_rows": negative_rows},
        ),
    ]
    if loaded is None:
        return [
            *verdicts,
            CheckVerdict("reconciles_with_raw_report", False, "the partition is not in the table"),
        ]
    difference = abs(loaded.revenue_usd - raw.revenue_usd)
    reconciles = (
        loaded.rows == raw.rows
        and loaded.impressions == raw.impressions
        and difference <= REVENUE_TOLERANCE_USD
    )
    return [
        *verdicts,
        CheckVerdict(
            "reconciles_with_raw_report",
            reconciles,
            None
            if reconciles
            else "users + unattributed differ from the raw report (revenue by "
            f"{difference:.9f} USD, tolerance {REVENUE_TOLERANCE_USD} USD)",
            {
                "raw_rows": raw.rows,
                "loaded_rows": loaded.rows,
                "raw_impressions": raw.impressions,
                "loaded_impressions": loaded.impressions,
                # Money to the cent for display, as the assets show it; exact values in DuckDB.
                "raw_revenue_usd": round(raw.revenue_usd, 2),
                "loaded_revenue_usd": round(loaded.revenue_usd, 2),
                "revenue_difference_usd": round(difference, 2),
                "note": LOADED_NOTE,
            },
        ),
    ]


def restatement_verdict(
    moved: Restatement | None, events: DeliveredEvents, warn_pct: float
) -> CheckVerdict:
    """A warning when this load moved a day whose events Reo.Dev already has by more than
    ``warn_pct`` of its revenue (any move from zero counts): what Reo.Dev holds is now off."""
    name = "restatement_within_threshold"
    if moved is None:
        return CheckVerdict(
            name, True, "the day did not move since the load before", warn_only=True
        )
    big = (
        abs(moved.change_pct) > warn_pct if moved.change_pct is not None else bool(moved.change_usd)
    )
    shown = "" if moved.change_pct is None else f" ({moved.change_pct:+.1f}%)"
    move = f"{moved.change_usd:+,.2f} USD{shown} at age {moved.pull_age_days} days"
    failed = big and events.delivered > 0
    if failed:
        description = (
            f"app {moved.app_id} on {moved.report_date}: DT restated the day's revenue by {move}, "
            f"more than {warn_pct:g}%, after {events.delivered:,} of its events were delivered to "
            f"Reo.Dev; {events.stale:,} of them carry a revenue that is now off by a cent or more "
            "(Reo.Dev has no update: an app with a correction_activity_type in the catalog "
            "sends corrections with its next delivery; revenue_restatements has the history)"
        )
    else:
        description = f"app {moved.app_id} on {moved.report_date} moved by {move}"
    return CheckVerdict(
        name,
        not failed,
        description,
        {
            "change_usd": round(moved.change_usd, 2),
            **({} if moved.change_pct is None else {"change_pct": round(moved.change_pct, 2)}),
            "pull_age_days": moved.pull_age_days,
            "events_delivered": events.delivered,
            "events_stale": events.stale,
            "warn_pct": warn_pct,
        },
        warn_only=True,
    )


def history_verdicts(
    schema_problems: list[str], history: HistoryAgreement | None, splits: SplitAgreement | None
) -> list[CheckVerdict]:
    """The users' history rows equal their ``user_revenue`` rows summed again; each user's
    revenue per network and per placement is one figure per value and adds up to no more than
    their revenue (cells that name no network or placement are in no split)."""
    if history is None or splits is None:
        problem = "; ".join(schema_problems) or "the partition is not in the table"
        return [
            CheckVerdict("history_matches_user_revenue", False, problem),
            CheckVerdict("splits_match_revenue", False, problem),
        ]
    history_ok = history.wrong == 0 and history.rows == history.users
    splits_ok = splits.misaligned == 0 and splits.over == 0
    return [
        CheckVerdict(
            "history_matches_user_revenue",
            history_ok,
            None
            if history_ok
            else f"{history.wrong:,} of {history.users:,} users' history rows are missing or "
            "differ from their user_revenue rows up to the day (re-materialize the partition: "
            "its write recomputes them)",
            {"users": history.users, "history_rows": history.rows, "wrong": history.wrong},
        ),
        CheckVerdict(
            "splits_match_revenue",
            splits_ok,
            None
            if splits_ok
            else f"{splits.misaligned:,} users' splits do not match their lists of networks or "
            f"placements, {splits.over:,} add up to more than their revenue",
            {
                "split_users": splits.split_users,
                "misaligned": splits.misaligned,
                "over_revenue": splits.over,
                "unsplit_revenue_usd": round(splits.unsplit_usd, 2),
            },
        ),
    ]
