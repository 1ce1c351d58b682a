"""The daily view's checks: did every app land and deliver, does the day look like itself, and do
the cohorts add up to the users' revenue?"""

from __future__ import annotations

import statistics

import polars as pl

from reo_dt_assets.daily.cohorts import CohortTotals
from reo_dt_assets.verdict import CheckVerdict

#: A day outside [LOW, HIGH] x the median of the same weekday over the last four weeks is odd.
BAND = (0.5, 2.0)
MIN_HISTORY = 2  # weeks of history needed before a day can look odd


def coverage_verdict(rows: pl.DataFrame) -> CheckVerdict:
    """Every catalog app has the day loaded and every one of its events delivered."""
    gaps = []
    for row in rows.iter_rows(named=True):
        if not row["loaded"]:
            gaps.append(f"{row['app_id']} (not loaded)")
        elif row["events"] < row["users_with_user_id"] or row["events_delivered"] < row["events"]:
            sent = f"{row['events_delivered']} of {row['users_with_user_id']} events delivered"
            gaps.append(f"{row['app_id']} ({sent})")
    return CheckVerdict(
        "every_app_loaded_and_delivered",
        not gaps,
        f"missing: {', '.join(gaps)}" if gaps else f"all {rows.height} apps loaded and delivered",
        {"apps": rows.height, "missing": ", ".join(gaps) or "none"},
    )


def anomaly_verdict(rows: pl.DataFrame, history: pl.DataFrame) -> CheckVerdict:
    """Revenue and users of each app within a band of its same weekday over four weeks (warns)."""
    odd = []
    for row in rows.filter(pl.col("loaded")).iter_rows(named=True):
        past = history.filter(pl.col("app_id") == row["app_id"])
        if past.height < MIN_HISTORY:
            continue
        for measure in ("revenue_usd", "users"):
            median = statistics.median(past[measure].to_list())
            if median and not BAND[0] * median <= row[measure] <= BAND[1] * median:
                odd.append(
                    f"{row['app_id']} {measure} {row[measure]:.2f} vs a median of {median:.2f}"
                )
    return CheckVerdict(
        "day_looks_like_its_weekday",
        not odd,
        "; ".join(odd) or None,
        {"outside_band": "; ".join(odd) or "none", "band": f"{BAND[0]}-{BAND[1]} x median"},
        warn_only=True,
    )


COHORT_TOLERANCE_USD = 1e-6


def cohorts_verdict(totals: CohortTotals) -> CheckVerdict:
    """Every user with revenue in one cohort; the cohorts' revenue is ``user_revenue``'s."""
    difference = abs(totals.revenue_usd - totals.expected_revenue_usd)
    passed = totals.users == totals.expected_users and difference <= COHORT_TOLERANCE_USD
    return CheckVerdict(
        "cohorts_add_up_to_user_revenue",
        passed,
        f"{totals.cohorts} cohorts of {totals.users:,} users"
        if passed
        else f"the cohorts hold {totals.users:,} users and {totals.revenue_usd:,.2f} USD; "
        f"user_revenue has {totals.expected_users:,} users with revenue and "
        f"{totals.expected_revenue_usd:,.2f} USD (materialize revenue_cohorts again)",
        {
            "rows": totals.rows,
            "cohorts": totals.cohorts,
            "users": totals.users,
            "expected_users": totals.expected_users,
            "revenue_usd": round(totals.revenue_usd, 2),
            "expected_revenue_usd": round(totals.expected_revenue_usd, 2),
        },
    )
