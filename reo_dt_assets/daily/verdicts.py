"""The daily view's checks: did every app land and deliver, and does the day look like itself?"""

from __future__ import annotations

import statistics

import polars as pl

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
