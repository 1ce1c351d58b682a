"""A one-page HTML report of a span of days: revenue per app per day and events delivered, and
the lifetime value curves of each app's latest first-revenue cohorts.

What the revenue team looks at first, read from the ``daily_revenue`` rollup and
``revenue_cohorts`` (through the
warehouse's connection: the DuckDB file or the DuckLake catalog) and rendered as one
self-contained file: inline SVG bar charts and a table, no script, nothing
fetched from the network. Money is shown to the cent; the exact values stay in DuckDB.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from reo_dt_assets.daily.cohorts import CohortCurve
from reo_dt_assets.schema import DAILY_REVENUE


@dataclass(frozen=True)
class PartitionFigures:
    """One loaded partition (app, day) as the report shows it."""

    day: dt.date
    app_id: str
    users: int
    revenue_usd: float  # revenue of the users (user_revenue), exact
    unattributed_revenue_usd: float  # not tied to a user (user_revenue_partitions)
    events_delivered: int  # ledger rows of the partition confirmed by Reo.Dev
    restated_usd: float = 0.0  # whole revenue now minus at the first load (DT's restatements)
    restated_pct: float | None = 0.0  # of the first load's whole revenue (None: it had none)
    # Delivery health (reo_delivery_runs, through the rollup)
    events: int = 0  # usage events in the ledger
    events_rejected: int = 0
    requests: int = 0
    throttled: int = 0  # requests answered 429
    delivery_seconds: float = 0.0
    arpdau_usd: float | None = None  # revenue per user of the day (daily_revenue; None: no user)


def _tables(conn: duckdb.DuckDBPyConnection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()}


def latest_day(conn: duckdb.DuckDBPyConnection) -> dt.date | None:
    """The last day the rollup has a loaded app for, or None before any."""
    if DAILY_REVENUE.name not in _tables(conn):
        return None
    row = conn.execute(f"SELECT max(report_date) FROM {DAILY_REVENUE.name} WHERE loaded").fetchone()
    return row[0] if row else None


def read_partitions(
    conn: duckdb.DuckDBPyConnection, first: dt.date, last: dt.date
) -> list[PartitionFigures]:
    """The loaded partitions from ``first`` to ``last`` (inclusive), by day then app, as the
    ``daily_revenue`` rollup has them; a rollup not created yet means nothing to show."""
    if DAILY_REVENUE.name not in _tables(conn):
        return []
    # Rows rolled up before restatements or delivery health were tracked have none (null).
    rows = conn.execute(
        f"""
        SELECT report_date, app_id, users, revenue_usd, unattributed_revenue_usd,
               events_delivered, coalesce(revenue_restated_usd, 0), revenue_restated_pct,
               events, coalesce(events_rejected, 0), coalesce(delivery_requests, 0),
               coalesce(delivery_throttled, 0), coalesce(delivery_seconds, 0), arpdau_usd
        FROM {DAILY_REVENUE.name}
        WHERE loaded AND report_date BETWEEN $first AND $last
        ORDER BY report_date, app_id
        """,
        {"first": first, "last": last},
    ).fetchall()
    return [
        PartitionFigures(
            day,
            app,
            int(users),
            float(revenue),
            float(unattributed),
            int(delivered),
            float(moved),
            None if pct is None else float(pct),
            int(events),
            int(rejected),
            int(requests),
            int(throttled),
            float(seconds),
            None if arpdau is None else float(arpdau),
        )
        for (
            day,
            app,
            users,
            revenue,
            unattributed,
            delivered,
            moved,
            pct,
            events,
            rejected,
            requests,
            throttled,
            seconds,
            arpdau,
        ) in rows
    ]


def write_report(
    figures: Sequence[PartitionFigures],
    first: dt.date,
    last: dt.date,
    destination: Path,
    source: str,
    curves: Sequence[CohortCurve] = (),
) -> Path:
    """Render the days ``first``..``last`` to ``destination`` (a reader never sees half a page:
    it is written beside and renamed into place); its path. ``source`` names where the figures
    come from (a table, never a file path)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(f".{destination.name}.partial")
    partial.write_text(render(figures, first, last, source, curves), encoding="utf-8")
    partial.replace(destination)
    return destination.resolve()


def _usd(value: float) -> str:
    return f"{value:,.2f}"


def _restated(f: PartitionFigures) -> str:
    """How DT moved the day since its first load: nothing, or USD and %."""
    if round(f.restated_usd, 2) == 0:
        return "0.00"
    pct = "" if f.restated_pct is None else f" ({f.restated_pct:+.1f}%)"
    return f"{f.restated_usd:+,.2f}{pct}"


def render(
    figures: Sequence[PartitionFigures],
    first: dt.date,
    last: dt.date,
    source: str,
    curves: Sequence[CohortCurve] = (),
) -> str:
    days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    apps = sorted({f.app_id for f in figures})
    top_revenue = max((f.revenue_usd for f in figures), default=0.0)
    charts = [
        _chart(
            f"App {app}: revenue of its users, USD",
            days,
            {f.day: f.revenue_usd for f in figures if f.app_id == app},
            lambda v: "$" + _usd(v),
            top_revenue,
            "#2f6db5",
        )
        for app in apps
    ]
    events: dict[dt.date, float] = {}
    for f in figures:
        events[f.day] = events.get(f.day, 0) + f.events_delivered
    charts.append(
        _chart(
            "Reo.Dev events delivered (all apps)",
            days,
            events,
            lambda v: f"{v:,.0f}",
            max(events.values(), default=0),
            "#3a9a5b",
        )
    )
    rows = [
        _row(
            [
                str(f.day),
                html.escape(f.app_id),
                f"{f.users:,}",
                _usd(f.revenue_usd),
                "-" if f.arpdau_usd is None else f"{f.arpdau_usd:,.4f}",
                _usd(f.unattributed_revenue_usd),
                _restated(f),
                f"{f.events_delivered:,}",
            ]
        )
        for f in figures  # by day, then app
    ]
    total = _row(
        [
            "total",
            "",
            f"{sum(f.users for f in figures):,}",
            _usd(sum(f.revenue_usd for f in figures)),
            "",
            _usd(sum(f.unattributed_revenue_usd for f in figures)),
            f"{sum(f.restated_usd for f in figures):+,.2f}",
            f"{sum(f.events_delivered for f in figures):,}",
        ],
        cell="th",
    )
    health = [_health_row(day, [f for f in figures if f.day == day]) for day in days]
    body = (
        f"<div class='charts'>{''.join(charts)}</div>"
        if figures
        else "<p class='empty'>Nothing loaded on these days.</p>"
    )
    return _PAGE.format(
        first=first,
        last=last,
        source=html.escape(source),
        written=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        charts=body,
        rows="\n".join(rows),
        total=total,
        health="\n".join(row for row in health if row),
        cohorts="".join(
            _curves(app, [c for c in curves if c.app_id == app])
            for app in sorted({c.app_id for c in curves})
        )
        or "<p class='empty'>No cohorts yet.</p>",
    )


def _health_row(day: dt.date, figures: list[PartitionFigures]) -> str:
    """The day's delivery across apps: delivered %, rejected, the 429 share, the time taken."""
    events = sum(f.events for f in figures)
    if not figures:
        return ""
    requests = sum(f.requests for f in figures)
    delivered = sum(f.events_delivered for f in figures)
    return _row(
        [
            str(day),
            f"{len(figures)}",
            f"{delivered / events:.1%}" if events else "no events",
            f"{sum(f.events_rejected for f in figures):,}",
            f"{requests:,}",
            f"{sum(f.throttled for f in figures) / requests:.1%}" if requests else "-",
            f"{sum(f.delivery_seconds for f in figures):,.1f}",
        ]
    )


def _row(cells: list[str], cell: str = "td") -> str:
    return "<tr>" + "".join(f"<{cell}>{c}</{cell}>" for c in cells) + "</tr>"


SLOT, BAR, PLOT, TOP, BOTTOM = 76, 44, 90, 20, 38  # px: per day, bar, plot, labels above/below


def _chart(
    title: str,
    days: list[dt.date],
    values: dict[dt.date, float],
    label: Callable[[float], str],
    top: float,
    color: str,
) -> str:
    """One bar per day, left to right, on a scale shared by every chart of the same measure;
    a day without a loaded partition has no bar and says so."""
    width, height = SLOT * len(days), TOP + PLOT + BOTTOM
    parts = []
    for n, day in enumerate(days):
        x, middle = n * SLOT, n * SLOT + SLOT / 2
        value = values.get(day)
        if value is None:
            parts.append(
                f"<g><title>{day}: not loaded</title>"
                f'<text x="{middle}" y="{TOP + PLOT - 6}" class="none">no data</text></g>'
            )
        else:
            bar = PLOT * value / top if top else 0.0
            parts.append(
                f"<g><title>{day}: {label(value)}</title>"
                f'<rect x="{x + (SLOT - BAR) / 2}" y="{TOP + PLOT - bar:.1f}" width="{BAR}" '
                f'height="{bar:.1f}" fill="{color}"/>'
                f'<text x="{middle}" y="{TOP + PLOT - bar - 6:.1f}" class="value">'
                f"{label(value)}</text></g>"
            )
        parts.append(
            f'<text x="{middle}" y="{TOP + PLOT + 17}" class="day">{day:%a}</text>'
            f'<text x="{middle}" y="{TOP + PLOT + 33}" class="day">{day:%d %b}</text>'
        )
    axis = f'<line x1="0" x2="{width}" y1="{TOP + PLOT}" y2="{TOP + PLOT}" class="axis"/>'
    return (
        f"<figure><figcaption>{html.escape(title)}</figcaption>"
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">'
        f"{axis}{''.join(parts)}</svg></figure>"
    )


CURVE_WIDTH, CURVE_HEIGHT, CURVE_LEFT = 420, 160, 56  # px: the plot, and its axis labels
COLORS = ("#2f6db5", "#3a9a5b", "#c0392b", "#8e44ad", "#d68910", "#17a589", "#7f8c8d", "#34495e")


def _curves(app: str, curves: list[CohortCurve]) -> str:
    """One line per cohort: cumulative revenue per user (y) by days since its first revenue
    day (x), on one scale, and a legend with each cohort's users and value so far."""
    days = max(len(c.per_user_usd) for c in curves)
    top = max((max(c.per_user_usd) for c in curves if c.per_user_usd), default=0.0) or 1.0
    step = CURVE_WIDTH / max(days - 1, 1)
    lines, legend = [], []
    for n, curve in enumerate(curves):
        color = COLORS[n % len(COLORS)]
        points = " ".join(
            f"{CURVE_LEFT + d * step:.1f},{TOP + CURVE_HEIGHT * (1 - v / top):.1f}"
            for d, v in enumerate(curve.per_user_usd)
        )
        lines.append(
            f"<g><title>{curve.first_revenue_day}: {curve.users:,} users</title>"
            f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2"/></g>'
        )
        so_far = curve.per_user_usd[-1] if curve.per_user_usd else 0.0
        legend.append(
            f'<li><span style="color:{color}">&#9644;</span> {curve.first_revenue_day}: '
            f"{curve.users:,} users, ${so_far:,.4f} per user after "
            f"{len(curve.per_user_usd) - 1} days</li>"
        )
    width, height = CURVE_LEFT + CURVE_WIDTH + 8, TOP + CURVE_HEIGHT + BOTTOM
    axes = (
        f'<line x1="{CURVE_LEFT}" x2="{CURVE_LEFT + CURVE_WIDTH}" y1="{TOP + CURVE_HEIGHT}" '
        f'y2="{TOP + CURVE_HEIGHT}" class="axis"/>'
        f'<text x="{CURVE_LEFT / 2}" y="{TOP + 4}" class="day">${top:,.3f}</text>'
        f'<text x="{CURVE_LEFT / 2}" y="{TOP + CURVE_HEIGHT}" class="day">$0</text>'
        f'<text x="{CURVE_LEFT + CURVE_WIDTH / 2}" y="{TOP + CURVE_HEIGHT + 20}" class="day">'
        f"days since first revenue (0 to {days - 1})</text>"
    )
    return (
        f"<figure><figcaption>App {html.escape(app)}: lifetime value per user, USD</figcaption>"
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">'
        f"{axes}{''.join(lines)}</svg><ul class='legend'>{''.join(legend)}</ul></figure>"
    )


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Ad revenue and Reo.Dev events, {first} to {last}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; color: #222; margin: 24px; }}
h1 {{ font-size: 20px; margin: 0 0 4px; }}
h2 {{ font-size: 16px; margin: 24px 0 4px; }}
p.note {{ color: #666; margin: 0 0 16px; }}
div.charts {{ display: flex; flex-wrap: wrap; gap: 8px 40px; }}
figure {{ margin: 0 0 12px; overflow-x: auto; }}
figcaption {{ font-weight: 600; margin-bottom: 2px; }}
svg text {{ text-anchor: middle; font-size: 11px; fill: #333; }}
svg text.value {{ font-weight: 600; }}
svg text.none {{ fill: #999; font-style: italic; }}
svg text.day {{ fill: #555; }}
svg line.axis {{ stroke: #999; }}
table {{ border-collapse: collapse; margin-top: 8px; }}
th, td {{ padding: 3px 10px; border-bottom: 1px solid #ddd; text-align: right; }}
th:nth-child(-n+2), td:nth-child(-n+2) {{ text-align: left; }}
thead th {{ border-bottom: 2px solid #999; }}
ul.legend {{ list-style: none; padding: 0; margin: 4px 0 0; font-size: 12px; }}
</style>
</head>
<body>
<h1>Ad revenue and Reo.Dev events, {first} to {last}</h1>
<p class="note">From {source}, written {written}. Revenue is that of users (user_revenue);
unattributed is revenue DT could not tie to a user; restated is how much DT moved the day's
whole revenue since it was first loaded (revenue_restatements); events are those Reo.Dev
confirmed, by report day; ARPDAU is the revenue per user of the day (daily_revenue), to a
hundredth of a cent. USD, rounded to the cent (exact values in DuckDB).</p>
{charts}
<table>
<thead><tr><th>day</th><th>app</th><th>users</th><th>revenue USD</th><th>ARPDAU USD</th>
<th>unattributed USD</th><th>restated USD</th><th>events delivered</th></tr></thead>
<tbody>
{rows}
</tbody>
<tfoot>{total}</tfoot>
</table>
<h2>Delivery health</h2>
<p class="note">Per day across apps, from the delivery's run log (reo_delivery_runs): the share
of events Reo.Dev confirmed, the events refused, the requests of every run and the share
answered 429 (Reo.Dev's rate limit), and the time the runs took.</p>
<table>
<thead><tr><th>day</th><th>apps</th><th>delivered</th><th>rejected</th><th>requests</th>
<th>429 share</th><th>seconds</th></tr></thead>
<tbody>
{health}
</tbody>
</table>
<h2>Lifetime value by cohort</h2>
<p class="note">From revenue_cohorts: each app's latest cohorts of users by the day of their first
revenue, and their cumulative revenue per user on each day since (every loaded day, not only
this week).</p>
<div class='charts'>{cohorts}</div>
</body>
</html>
"""
