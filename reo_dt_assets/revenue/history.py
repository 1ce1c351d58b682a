"""Each user's revenue history (``user_revenue_history``): 7-day, 30-day and lifetime revenue,
first and last revenue day and active days, as of every day the user is in ``user_revenue``.

The table is a function of ``user_revenue`` and is kept so by its writes: a partition written
for (app, day D) recomputes, in the same transaction, the history rows on D and on every later
day of the users D held before or holds now (a restatement or a reload of an old day moves
their later cumulative figures; nobody else's move). All of it is DuckDB SQL, so memory stays
within the connection's ``memory_limit`` at any history length:

- a user's rows on D and after are windows over their ``user_revenue`` rows from D - 29 on
  (the 7- and 30-day sums; the running sums and counts from D);
- added to what their last history row before D says (lifetime, active days, first and last
  revenue day): rows before D do not depend on D, so they stand.

A new day reads 30 days of its users' rows and one history row per user, whatever the history's
length; the migration that created the table fills it with the same statement over every day.
Money is summed as ``DECIMAL(38,12)``: whole pico-dollars, exact in any order.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from reo_dt_assets.schema import MONEY, USER_REVENUE, USER_REVENUE_HISTORY

#: The rolling windows, in days up to and including the row's day.
WINDOWS = {"revenue_7d_usd": 7, "revenue_30d_usd": 30}
LONGEST = max(WINDOWS.values())

_UR, _H = USER_REVENUE.name, USER_REVENUE_HISTORY.name
_RANGE = "PARTITION BY r.app_id, r.user_key ORDER BY r.report_date"


def _insert(scope: str, touched: str, *, one_day: bool = False) -> str:
    """Rows of ``user_revenue_history`` recomputed: ``scope`` (a query of ``app_id``, ``day``,
    ``since``, ``until``) says from which day a user's history moved and which days' rows to
    write, ``touched`` (``app_id``, ``user_key``) whose. ``one_day``: only the rows of ``day``
    (``since`` = ``until`` = ``day``, a new day's case), by sums over each user's last 30 days
    rather than windows over them, several times cheaper."""
    return f"""
INSERT INTO {_H} ({", ".join(USER_REVENUE_HISTORY.column_names)})
WITH scope AS ({scope}),
touched AS ({touched}),
before AS (
    SELECT h.app_id, h.user_key,
           arg_max(h.lifetime_revenue_usd, h.report_date) AS lifetime,
           arg_max(h.active_days, h.report_date) AS active_days,
           max(h.first_revenue_day) AS first_revenue_day,
           max(h.last_revenue_day) AS last_revenue_day
    FROM {_H} h
    JOIN scope s ON h.app_id = s.app_id AND h.report_date < s.day
    SEMI JOIN touched t ON h.app_id = t.app_id AND h.user_key = t.user_key
    GROUP BY h.app_id, h.user_key
),
recent AS (
    SELECT u.app_id, u.user_key, u.report_date, s.day,
           CAST(u.revenue_usd AS {MONEY}) AS revenue
    FROM {_UR} u
    JOIN scope s ON u.app_id = s.app_id
     AND u.report_date BETWEEN s.day - {LONGEST - 1} AND s.until
    SEMI JOIN touched t ON u.app_id = t.app_id AND u.user_key = t.user_key
),
{_ONE_DAY if one_day else _WINDOWED}
SELECT w.report_date, w.app_id, w.user_key, w.revenue_7d_usd, w.revenue_30d_usd,
       coalesce(b.lifetime, 0) + w.revenue_since,
       coalesce(b.first_revenue_day, w.first_since),
       greatest(b.last_revenue_day, w.last_recent),
       coalesce(b.active_days, 0) + w.days_since
FROM windowed w
JOIN scope s ON w.app_id = s.app_id AND w.report_date BETWEEN s.since AND s.until
LEFT JOIN before b ON b.app_id = w.app_id AND b.user_key = w.user_key
"""


#: Each user's figures on each day from ``recent``: windows over their rows.
_WINDOWED = f"""windowed AS (
    SELECT r.app_id, r.user_key, r.report_date,
    {
    ", ".join(
        f"sum(r.revenue) OVER ({_RANGE} "
        f"RANGE BETWEEN INTERVAL {days - 1} DAYS PRECEDING AND CURRENT ROW) AS {name}"
        for name, days in WINDOWS.items()
    )
},
    sum(CASE WHEN r.report_date >= r.day THEN r.revenue ELSE 0 END)
        OVER running AS revenue_since,
    count(*) FILTER (WHERE r.report_date >= r.day) OVER running AS days_since,
    min(r.report_date) FILTER (WHERE r.report_date >= r.day AND r.revenue > 0)
        OVER running AS first_since,
    max(r.report_date) FILTER (WHERE r.revenue > 0) OVER running AS last_recent
    FROM recent r
    WINDOW running AS ({_RANGE} ROWS UNBOUNDED PRECEDING)
)"""
#: The same figures on ``day`` alone: sums over each user's rows of its last 30 days.
_ONE_DAY = f"""windowed AS (
    SELECT r.app_id, r.user_key, any_value(r.day) AS report_date,
    {
    ", ".join(
        f"sum(r.revenue) FILTER (WHERE r.report_date > r.day - {days}) AS {name}"
        for name, days in WINDOWS.items()
    )
},
    sum(r.revenue) FILTER (WHERE r.report_date = r.day) AS revenue_since,
    count(*) FILTER (WHERE r.report_date = r.day) AS days_since,
    min(r.report_date) FILTER (WHERE r.report_date = r.day AND r.revenue > 0) AS first_since,
    max(r.report_date) FILTER (WHERE r.revenue > 0) AS last_recent
    FROM recent r
    GROUP BY r.app_id, r.user_key
)"""


_ONE = "SELECT $app AS app_id, $day::DATE AS day, $since::DATE AS since, $until::DATE AS until"
#: The users of the partition: those its history rows name (before the reload) and those
#: ``user_revenue`` holds (after it).
_PARTITION_USERS = f"""
    SELECT app_id, user_key FROM {_H} WHERE app_id = $app AND report_date = $day
    UNION
    SELECT app_id, user_key FROM {_UR} WHERE app_id = $app AND report_date = $day"""
_REFRESH = _insert(_ONE, _PARTITION_USERS)
_REFRESH_DAY = _insert(_ONE, _PARTITION_USERS, one_day=True)


def fill_sql() -> str:
    """Every history row, from every row of ``user_revenue`` (an empty history table)."""
    return _insert(
        f"SELECT app_id, min(report_date) AS day, min(report_date) AS since, "
        f"max(report_date) AS until FROM {_UR} GROUP BY app_id",
        f"SELECT DISTINCT app_id, user_key FROM {_UR}",
    )


def refresh_history(conn: duckdb.DuckDBPyConnection, date: dt.date, app_id: str) -> int:
    """Recompute the history the partition (``date``, ``app_id``) just written to
    ``user_revenue`` moved, inside the caller's transaction; return the rows written.

    The later days first, while the partition's old history rows still say whom the reload
    touched (a user it dropped has later rows to correct too), then the day itself."""
    [(last,)] = conn.execute(
        f"SELECT max(report_date) FROM {_UR} WHERE app_id = ?", [app_id]
    ).fetchall()
    written = 0
    if last is not None and last > date:
        params = {"app": app_id, "day": date, "since": date + dt.timedelta(days=1), "until": last}
        conn.execute(
            f"DELETE FROM {_H} WHERE app_id = $app AND report_date BETWEEN $since AND $until "
            f"AND user_key IN (SELECT user_key FROM ({_PARTITION_USERS}))",
            params,
        )
        written += _count(conn.execute(_REFRESH, params))
    conn.execute(f"DELETE FROM {_H} WHERE app_id = ? AND report_date = ?", [app_id, date])
    params = {"app": app_id, "day": date, "since": date, "until": date}
    return written + _count(conn.execute(_REFRESH_DAY, params))


def _count(cursor: duckdb.DuckDBPyConnection) -> int:
    row = cursor.fetchone()
    return int(row[0]) if row else 0
