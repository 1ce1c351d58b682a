"""Lifetime value by first-revenue cohort (``revenue_cohorts``): the users whose first revenue
fell on a day, and what they earned on each day since, per app.

Rebuilt whole from ``user_revenue`` at every rollup, in one transaction: a reload or a
restatement of any day moves cohorts (a user's first revenue day included), and recomputing
them is two aggregations DuckDB runs within its ``memory_limit`` whatever the history's length
(cohorts x days since: a few thousand rows per app over a quarter). Money is summed in whole
pico-dollars. Every cohort has a row for each day from its first to the app's last loaded day,
active or not, so the curves read without gaps.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import duckdb

from reo_dt_assets.schema import MONEY, REVENUE_COHORTS, REVENUE_PARTITIONS, USER_REVENUE
from reo_dt_assets.transactions import retry_conflicts, transaction

_COHORTS = f"""
INSERT INTO {REVENUE_COHORTS.name} ({", ".join(REVENUE_COHORTS.column_names)})
WITH firsts AS (
    SELECT app_id, user_key, min(report_date) AS first_day
    FROM {USER_REVENUE.name} WHERE revenue_usd > 0 GROUP BY app_id, user_key
),
sizes AS (
    SELECT app_id, first_day, count(*) AS cohort_users FROM firsts GROUP BY app_id, first_day
),
grid AS (
    SELECT s.app_id, s.first_day, s.cohort_users,
           unnest(range(0, d.last_day - s.first_day + 1)) AS days_since
    FROM sizes s
    JOIN (SELECT app_id, max(report_date) AS last_day FROM {REVENUE_PARTITIONS.name}
          GROUP BY app_id) d ON d.app_id = s.app_id
),
activity AS (
    SELECT f.app_id, f.first_day, u.report_date - f.first_day AS days_since,
           count(*) AS active_users, sum(CAST(u.revenue_usd AS {MONEY})) AS revenue
    FROM {USER_REVENUE.name} u
    JOIN firsts f ON f.app_id = u.app_id AND f.user_key = u.user_key
    WHERE u.report_date >= f.first_day
    GROUP BY ALL
),
curves AS (
    SELECT g.app_id, g.first_day, g.days_since, g.cohort_users,
           coalesce(a.active_users, 0) AS active_users,
           coalesce(a.revenue, 0) AS revenue,
           sum(coalesce(a.revenue, 0)) OVER (
               PARTITION BY g.app_id, g.first_day ORDER BY g.days_since
           ) AS cumulative
    FROM grid g
    LEFT JOIN activity a
      ON a.app_id = g.app_id AND a.first_day = g.first_day AND a.days_since = g.days_since
)
SELECT app_id, first_day, CAST(days_since AS INTEGER), cohort_users, active_users,
       CAST(revenue AS DOUBLE), CAST(cumulative AS DOUBLE),
       CAST(cumulative AS DOUBLE) / cohort_users
FROM curves
"""


@dataclass(frozen=True)
class CohortTotals:
    """What the cohorts hold in all, and what ``user_revenue`` says they should."""

    rows: int
    cohorts: int
    users: int  # users of every cohort
    revenue_usd: float  # every cohort's revenue, all days since
    expected_users: int  # users of user_revenue with revenue > 0 on some day
    expected_revenue_usd: float  # the revenue of user_revenue


def write_cohorts(conn: duckdb.DuckDBPyConnection, log: logging.Logger | None = None) -> int:
    """Replace every row of ``revenue_cohorts`` (again on a DuckLake conflict); how many."""

    def replace() -> int:
        with transaction(conn):
            conn.execute(f"DELETE FROM {REVENUE_COHORTS.name}")
            conn.execute(_COHORTS)
            [(rows,)] = conn.execute(f"SELECT count(*) FROM {REVENUE_COHORTS.name}").fetchall()
        return int(rows)

    return retry_conflicts(replace, log)


def cohort_totals(conn: duckdb.DuckDBPyConnection) -> CohortTotals:
    """The cohorts against ``user_revenue``: every user with revenue is in one cohort, and the
    cohorts' revenue is all of it (none is earned before a first revenue day)."""
    [(rows, cohorts, users, revenue)] = conn.execute(
        f"SELECT count(*), count(DISTINCT (app_id, first_revenue_day)), "
        f"coalesce(sum(cohort_users) FILTER (WHERE days_since = 0), 0), "
        f"coalesce(sum(CAST(revenue_usd AS {MONEY})), 0) FROM {REVENUE_COHORTS.name}"
    ).fetchall()
    [(expected_users, expected_revenue)] = conn.execute(
        f"SELECT count(DISTINCT (app_id, user_key)) FILTER (WHERE revenue_usd > 0), "
        f"coalesce(sum(CAST(revenue_usd AS {MONEY})), 0) FROM {USER_REVENUE.name}"
    ).fetchall()
    return CohortTotals(
        int(rows),
        int(cohorts),
        int(users),
        float(revenue),
        int(expected_users),
        float(expected_revenue),
    )


@dataclass(frozen=True)
class CohortCurve:
    """One cohort's lifetime value per user, by days since its first revenue day."""

    app_id: str
    first_revenue_day: dt.date
    users: int
    per_user_usd: tuple[float, ...]  # day 0, 1, ...


def recent_curves(
    conn: duckdb.DuckDBPyConnection, last: dt.date, cohorts: int
) -> list[CohortCurve]:
    """The ``cohorts`` latest cohorts of each app up to ``last``, for the report."""
    rows = conn.execute(
        f"""
        SELECT app_id, first_revenue_day, any_value(cohort_users),
               list(cumulative_revenue_per_user_usd ORDER BY days_since)
        FROM {REVENUE_COHORTS.name}
        WHERE first_revenue_day <= $last AND first_revenue_day + days_since <= $last
          AND (app_id, first_revenue_day) IN (
              SELECT (app_id, first_revenue_day) FROM (
                  SELECT DISTINCT app_id, first_revenue_day FROM {REVENUE_COHORTS.name}
                  WHERE first_revenue_day <= $last
              ) QUALIFY row_number() OVER (
                  PARTITION BY app_id ORDER BY first_revenue_day DESC) <= $cohorts)
        GROUP BY app_id, first_revenue_day
        ORDER BY app_id, first_revenue_day
        """,
        {"last": last, "cohorts": cohorts},
    ).fetchall()
    return [CohortCurve(app, day, int(users), tuple(curve)) for app, day, users, curve in rows]
