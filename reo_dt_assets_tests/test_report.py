"""The demo's HTML report, rendered from a DuckDB file the pipeline built on two partitions
(and their daily rollup), checked against sums of the base tables."""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser
from pathlib import Path

import dagster as dg
import duckdb

from reo_dt_assets.defs.daily.assets import daily_revenue
from reo_dt_assets.defs.digital_turbine.assets import dt_user_level_report
from reo_dt_assets.defs.reo.assets import reo_usage_events
from reo_dt_assets.defs.revenue.assets import user_revenue
from reo_dt_assets.report import write_report
from reo_dt_assets.sandbox.dt_server import DTSandbox
from reo_dt_assets.sandbox.reo_server import ReoSandbox
from reo_dt_assets_tests.helpers import all_resources

APP = "148721"
DAY = dt.date(2026, 11, 20)
EARLIER = DAY - dt.timedelta(days=1)
FIRST = DAY - dt.timedelta(days=2)  # not loaded: the report says so


class _Page(HTMLParser):
    """The table's body and total rows (cell texts) and each chart's bar titles, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.total: list[str] = []
        self.charts: list[list[str]] = []
        self._section = ""
        self._text: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("tbody", "tfoot"):
            self._section = tag
        elif tag == "tr" and self._section == "tbody":
            self.rows.append([])
        elif tag == "svg":
            self.charts.append([])
        if tag in ("td", "th", "title"):
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag not in ("td", "th", "title") or self._text is None:
            return
        text, self._text = "".join(self._text), None
        if tag == "title" and self.charts:
            self.charts[-1].append(text)
        elif self._section == "tbody" and tag == "td":
            self.rows[-1].append(text)
        elif self._section == "tfoot":
            self.total.append(text)


def test_report_shows_duckdb_sums_in_date_order(
    dt_sandbox: DTSandbox, reo_sandbox: ReoSandbox, tmp_path: Path
) -> None:
    for day in (DAY, EARLIER):  # the later day loaded first: the report orders by date
        assert dg.materialize(
            [dt_user_level_report, user_revenue, reo_usage_events],
            partition_key=f"{APP}|{day}",
            resources=all_resources(dt_sandbox.url, tmp_path, reo_sandbox.url),
        ).success
        assert dg.materialize(
            [daily_revenue],
            partition_key=day.isoformat(),
            resources=all_resources(dt_sandbox.url, tmp_path),
        ).success
    database = tmp_path / "reo_dt.duckdb"
    with duckdb.connect(str(database), read_only=True) as conn:
        revenue = dict(
            conn.execute(
                "SELECT report_date, sum(revenue_usd) FROM user_revenue GROUP BY ALL"
            ).fetchall()
        )
        users = dict(
            conn.execute("SELECT report_date, count(*) FROM user_revenue GROUP BY ALL").fetchall()
        )
        unattributed = dict(
            conn.execute(
                "SELECT report_date, unattributed_revenue_usd FROM user_revenue_partitions"
            ).fetchall()
        )
        delivered = dict(
            conn.execute(
                "SELECT report_date, count(*) FROM reo_event_deliveries "
                "WHERE status = 'delivered' GROUP BY ALL"
            ).fetchall()
        )
    assert set(revenue) == set(delivered) == {EARLIER, DAY} and all(delivered.values())

    path = write_report(database, FIRST, DAY, tmp_path / "out" / "report.html")
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))

    assert page.rows == [
        [
            str(day),
            APP,
            f"{users[day]:,}",
            f"{revenue[day]:,.2f}",
            f"{unattributed[day]:,.2f}",
            f"{delivered[day]:,}",
        ]
        for day in (EARLIER, DAY)
    ]
    assert page.total == [
        "total",
        "",
        f"{sum(users.values()):,}",
        f"{sum(revenue.values()):,.2f}",
        f"{sum(unattributed.values()):,.2f}",
        f"{sum(delivered.values()):,}",
    ]
    revenue_chart, events_chart = page.charts  # one app in the file, then the events
    assert revenue_chart == [
        f"{FIRST}: not loaded",
        f"{EARLIER}: ${revenue[EARLIER]:,.2f}",
        f"{DAY}: ${revenue[DAY]:,.2f}",
    ]
    assert events_chart == [
        f"{FIRST}: not loaded",
        f"{EARLIER}: {delivered[EARLIER]:,}",
        f"{DAY}: {delivered[DAY]:,}",
    ]
