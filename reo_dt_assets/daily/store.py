"""The ``daily_revenue`` rollup: one row per (day, catalog app), written from the loaded tables,
with ARPDAU, and the day's revenue per ad network and placement type (``daily_revenue_splits``).

A day is replaced in one transaction, so re-running it after a late app lands is safe. An app of
the catalog without its partition gets a row with ``loaded = false`` and zeros: the coverage
check and the UI see the hole instead of an absent row.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

import duckdb
import polars as pl

from reo_dt_assets.schema import (
    DAILY_REVENUE,
    DAILY_REVENUE_SPLITS,
    DELIVERIES,
    DELIVERY_RUNS,
    REVENUE_PARTITIONS,
    REVENUE_RESTATEMENTS,
    SPLITS,
    USER_REVENUE,
)
from reo_dt_assets.transactions import retry_conflicts, staged_transaction

_ROLLUP = f"""
WITH apps AS (SELECT unnest($apps::VARCHAR[]) AS app_id),
users AS (
    SELECT app_id, count(*) AS users,
           count(*) FILTER (WHERE user_key_type = 'user_id') AS users_with_user_id,
           sum(impressions) AS impressions, sum(revenue_usd) AS revenue_usd
    FROM {USER_REVENUE.name} WHERE report_date = $day GROUP BY app_id
),
ledger AS (
    SELECT app_id, count(*) AS events,
           count(*) FILTER (WHERE status = 'delivered') AS events_delivered,
           count(*) FILTER (WHERE status = 'rejected') AS events_rejected
    FROM {DELIVERIES.name} WHERE report_date = $day AND coalesce(kind, 'usage') = 'usage'
    GROUP BY app_id
),
runs AS (  -- every run that delivered the (app, day): its requests, 429s and time
    SELECT app_id, sum(requests) AS requests, sum(throttled) AS throttled,
           sum(seconds) AS seconds
    FROM {DELIVERY_RUNS.name} WHERE report_date = $day AND mode <> 'dry_run' GROUP BY app_id
),
previous AS (
    SELECT app_id, revenue_usd, users FROM {DAILY_REVENUE.name}
    WHERE report_date = $day - INTERVAL 1 DAY AND loaded
),
restated AS (  -- changes add up to now minus the first load, whose totals the first "before" has
    SELECT app_id, sum(change_usd) AS usd,
           arg_min(revenue_usd_before + unattributed_revenue_usd_before, restated_at) AS first_usd
    FROM {REVENUE_RESTATEMENTS.name} WHERE report_date = $day GROUP BY app_id
)
SELECT $day AS report_date, a.app_id, p.app_id IS NOT NULL AS loaded,
       coalesce(u.users, 0) AS users, coalesce(u.users_with_user_id, 0) AS users_with_user_id,
       coalesce(u.impressions, 0) AS impressions, coalesce(u.revenue_usd, 0) AS revenue_usd,
       coalesce(p.unattributed_revenue_usd, 0) AS unattributed_revenue_usd,
       coalesce(l.events, 0) AS events, coalesce(l.events_delivered, 0) AS events_delivered,
       CASE WHEN p.app_id IS NOT NULL AND v.revenue_usd > 0
            THEN (coalesce(u.revenue_usd, 0) - v.revenue_usd) / v.revenue_usd * 100 END
           AS revenue_change_pct,
       CASE WHEN p.app_id IS NOT NULL AND v.users > 0
            THEN (coalesce(u.users, 0) - v.users) / v.users * 100 END AS users_change_pct,
       $now AS rolled_up_at,
       CASE WHEN p.app_id IS NOT NULL THEN coalesce(r.usd, 0) END AS revenue_restated_usd,
       CASE WHEN p.app_id IS NOT NULL AND r.app_id IS NULL THEN 0
            WHEN p.app_id IS NOT NULL AND r.first_usd > 0 THEN r.usd / r.first_usd * 100 END
           AS revenue_restated_pct,
       coalesce(l.events_rejected, 0) AS events_rejected,
       coalesce(n.requests, 0) AS delivery_requests,
       coalesce(n.throttled, 0) AS delivery_throttled,
       coalesce(n.seconds, 0) AS delivery_seconds,
       CASE WHEN u.users > 0 THEN u.revenue_usd / u.users END AS arpdau_usd
FROM apps a
LEFT JOIN {REVENUE_PARTITIONS.name} p ON p.report_date = $day AND p.app_id = a.app_id
LEFT JOIN users u ON u.app_id = a.app_id
LEFT JOIN ledger l ON l.app_id = a.app_id
LEFT JOIN previous v ON v.app_id = a.app_id
LEFT JOIN restated r ON r.app_id = a.app_id
LEFT JOIN runs n ON n.app_id = a.app_id
ORDER BY a.app_id
"""


#: The day's revenue per (app, ad network) and (app, placement type): each user's split
#: (``user_revenue``), summed in whole pico-dollars.
_SPLITS = f"""
INSERT INTO {DAILY_REVENUE_SPLITS.name} ({", ".join(DAILY_REVENUE_SPLITS.column_names)})
WITH split AS (
    {
    " UNION ALL ".join(
        f"SELECT app_id, '{dimension}' AS dimension, unnest({values}) AS value, "
        f"unnest({revenue}) AS revenue_usd FROM {USER_REVENUE.name} "
        f"WHERE report_date = $day AND app_id IN (SELECT unnest($apps::VARCHAR[])) "
        f"AND {revenue} IS NOT NULL"
        for dimension, values, revenue in SPLITS
    )
}
)
SELECT $day, app_id, dimension, value, count(*),
       CAST(sum(CAST(revenue_usd AS DECIMAL(38,12))) AS DOUBLE)
FROM split GROUP BY app_id, dimension, value
"""


def write_day(
    conn: duckdb.DuckDBPyConnection,
    day: dt.date,
    app_ids: Sequence[str],
    now: dt.datetime,
    log: logging.Logger | None = None,
) -> pl.DataFrame:
    """Replace ``day``'s rows for the catalog apps ``app_ids`` (and their splits, in the same
    transaction); return them. On a DuckLake
    catalog, again if a concurrent writer's commit conflicts with it (logged to ``log``)."""
    # The ledger is read where the connection finds it: in this database, or in PostgreSQL beside
    # a DuckLake catalog (on its search path).
    columns = ", ".join(DAILY_REVENUE.column_names)

    def replace() -> pl.DataFrame:
        rows = conn.sql(_ROLLUP, params={"day": day, "apps": list(app_ids), "now": now}).pl()
        with staged_transaction(conn, "staged_daily_revenue", rows):
            conn.execute(f"DELETE FROM {DAILY_REVENUE.name} WHERE report_date = ?", [day])
            conn.execute(
                f"INSERT INTO {DAILY_REVENUE.name} ({columns}) "
                f"SELECT {columns} FROM staged_daily_revenue"
            )
            conn.execute(f"DELETE FROM {DAILY_REVENUE_SPLITS.name} WHERE report_date = ?", [day])
            conn.execute(_SPLITS, {"day": day, "apps": list(app_ids)})
        return rows

    return retry_conflicts(replace, log)


def same_weekday_history(
    conn: duckdb.DuckDBPyConnection, day: dt.date, weeks: int = 4
) -> pl.DataFrame:
    """Loaded rows of the same weekday over the ``weeks`` weeks before ``day``."""
    days = [day - dt.timedelta(weeks=n) for n in range(1, weeks + 1)]
    return conn.sql(
        f"SELECT report_date, app_id, users, revenue_usd FROM {DAILY_REVENUE.name} "
        "WHERE loaded AND report_date IN (SELECT unnest($days::DATE[]))",
        params={"days": days},
    ).pl()


def day_rows(conn: duckdb.DuckDBPyConnection, day: dt.date) -> pl.DataFrame:
    return conn.sql(
        f"SELECT * FROM {DAILY_REVENUE.name} WHERE report_date = ? ORDER BY app_id", params=[day]
    ).pl()
