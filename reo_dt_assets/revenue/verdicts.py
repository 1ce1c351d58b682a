"""The ``user_revenue`` checks decided from what the table and the raw file hold."""

from __future__ import annotations

from reo_dt_assets.revenue.queries import Totals
from reo_dt_assets.verdict import CheckVerdict

REVENUE_TOLERANCE_USD = 1e-6


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
            None if reconciles else "users + unattributed differ from the raw report",
            {
                "raw_rows": raw.rows,
                "loaded_rows": loaded.rows,
                "raw_impressions": raw.impressions,
                "loaded_impressions": loaded.impressions,
                "raw_revenue_usd": round(raw.revenue_usd, 6),
                "loaded_revenue_usd": round(loaded.revenue_usd, 6),
                "revenue_difference_usd": difference,
            },
        ),
    ]
