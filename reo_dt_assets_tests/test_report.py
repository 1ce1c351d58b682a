"""The HTML report: its pure renderer on figures made here (milliseconds), and one end-to-end
smoke: the ``revenue_report`` asset materialized with the daily rollup of two partitions the
pipeline built, checked against sums of the base tables."""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from reo_dt_assets.components.rollup import REPORT_DAYS
from reo_dt_assets.report import PLOT, PartitionFigures, render
from reo_dt_assets.sandbox.dt_server import DTSandbox
from reo_dt_assets.sandbox.reo_server import ReoSandbox
from reo_dt_assets_tests.chain import (
    daily_revenue,
    dt_user_level_report,
    reo_usage_events,
    revenue_cohorts,
    revenue_cohorts_checks,
    revenue_report,
    user_revenue,
)
from reo_dt_assets_tests.helpers import all_resources

APP = "148721"
DAY = dt.date(2026, 11, 20)
EARLIER = DAY - dt.timedelta(days=1)
FIRST = DAY - dt.timedelta(days=REPORT_DAYS - 1)  # the week up to DAY, not loaded before EARLIER


class _Page(HTMLParser):
    """The figures table's body and total rows (cell texts), the delivery health table's rows,
    each chart's caption, bar titles and bar heights, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.total: list[str] = []
        self.captions: list[str] = []
        self.charts: list[list[str]] = []
        self.bars: list[list[float]] = []
        self.health: list[list[str]] = []
        self._tables = 0
        self._section = ""
        self._text: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._tables += 1
            self._section = ""
        elif tag in ("tbody", "tfoot"):
            self._section = tag
        elif tag == "tr" and self._section == "tbody":
            (self.rows if self._tables == 1 else self.health).append([])
        elif tag == "svg":
            self.charts.append([])
            self.bars.append([])
        elif tag == "rect":
            self.bars[-1].append(float(dict(attrs)["height"] or 0))
        if tag in ("td", "th", "title", "figcaption"):
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag not in ("td", "th", "title", "figcaption") or self._text is None:
            return
        text, self._text = "".join(self._text), None
        if tag == "figcaption":
            self.captions.append(text)
        elif tag == "title" and self.charts:
            self.charts[-1].append(text)
        elif self._section == "tbody" and tag == "td":
            (self.rows if self._tables == 1 else self.health)[-1].append(text)
        elif self._section == "tfoot":
            self.total.append(text)


def _rendered(figures: list[PartitionFigures], first: dt.date, last: dt.date) -> _Page:
    page = _Page()
    page.feed(render(figures, first, last, source="reo_dt.main.daily_revenue"))
    return page


def test_render_shows_each_day_s_delivery_health_across_apps() -> None:
    day1, day2 = dt.date(2026, 11, 18), dt.date(2026, 11, 19)
    figures = [
        PartitionFigures(
            day1,
            "a",
            10,
            4.0,
            0.0,
            90,
            events=100,
            events_rejected=2,
            requests=120,
            throttled=12,
            delivery_seconds=3.25,
        ),
        PartitionFigures(
            day1, "b", 10, 4.0, 0.0, 100, events=100, requests=100, delivery_seconds=1.0
        ),
        PartitionFigures(day2, "a", 0, 0.0, 0.0, 0),
    ]
    page = _rendered(figures, day1, day2)
    assert page.health == [
        ["2026-11-18", "2", "95.0%", "2", "220", "5.5%", "4.2"],
        ["2026-11-19", "1", "no events", "0", "0", "-", "0.0"],
    ]


def test_render_shows_each_app_and_day_with_totals_on_one_scale() -> None:
    day1, day3 = dt.date(2026, 11, 18), dt.date(2026, 11, 20)
    figures = [
        PartitionFigures(day1, "a<1>", 10, 4.0, 0.5, 7, restated_usd=0.4, restated_pct=11.111),
        PartitionFigures(day1, "b", 1_200, 1_234.567, 0.0, 1_000, arpdau_usd=1.028806),
        PartitionFigures(day3, "b", 5, 617.2835, 1.25, 3, restated_usd=-2.0, restated_pct=None),
    ]
    page = _rendered(figures, day1, day3)
    assert page.rows == [
        ["2026-11-18", "a<1>", "10", "4.00", "-", "0.50", "+0.40 (+11.1%)", "7"],
        ["2026-11-18", "b", "1,200", "1,234.57", "1.0288", "0.00", "0.00", "1,000"],
        ["2026-11-20", "b", "5", "617.28", "-", "1.25", "-2.00", "3"],
    ]
    assert page.total == ["total", "", "1,215", "1,855.85", "", "1.75", "-1.60", "1,010"]
    assert page.captions == [
        "App a<1>: revenue of its users, USD",
        "App b: revenue of its users, USD",
        "Reo.Dev events delivered (all apps)",
    ]
    assert page.charts == [
        ["2026-11-18: $4.00", "2026-11-19: not loaded", "2026-11-20: not loaded"],
        ["2026-11-18: $1,234.57", "2026-11-19: not loaded", "2026-11-20: $617.28"],
        ["2026-11-18: 1,007", "2026-11-19: not loaded", "2026-11-20: 3"],
    ]
    # Every revenue chart on the scale of the biggest day of any app; events on their own.
    assert page.bars == [
        [pytest.approx(PLOT * 4.0 / 1_234.567, abs=0.05)],
        [PLOT, PLOT / 2],
        [PLOT, pytest.approx(PLOT * 3 / 1_007, abs=0.05)],
    ]


def test_render_says_when_nothing_was_loaded() -> None:
    day = dt.date(2026, 11, 20)
    page = _rendered([], day, day)
    assert page.rows == [] and page.charts == []
    assert page.total == ["total", "", "0", "0.00", "", "0.00", "+0.00", "0"]


@pytest.mark.slow
def test_report_shows_duckdb_sums_in_date_order(
    dt_sandbox: DTSandbox, reo_sandbox: ReoSandbox, tmp_path: Path
) -> None:
    for day in (DAY, EARLIER):  # the later day loaded first: the report orders by date
        assert dg.materialize(
            [dt_user_level_report, user_revenue, reo_usage_events],
            partition_key=f"{APP}|{day}",
            resources=all_resources(dt_sandbox.url, tmp_path, reo_sandbox.url),
        ).success
        rollup = dg.materialize(
            [daily_revenue, revenue_cohorts, revenue_cohorts_checks, revenue_report],
            partition_key=day.isoformat(),
            resources=all_resources(dt_sandbox.url, tmp_path),
        )
        assert rollup.success
        [cohorts_check] = rollup.get_asset_check_evaluations()
        assert cohorts_check.passed, cohorts_check.description
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
        cohorts = conn.execute(  # users by the day of their first revenue, summed here again
            "SELECT first_day, count(*) FROM (SELECT user_key, min(report_date) AS first_day "
            "FROM user_revenue WHERE revenue_usd > 0 GROUP BY ALL) GROUP BY ALL ORDER BY 1"
        ).fetchall()
        delivered = dict(
            conn.execute(
                "SELECT report_date, count(*) FROM reo_event_deliveries "
                "WHERE status = 'delivered' GROUP BY ALL"
            ).fetchall()
        )
    assert set(revenue) == set(delivered) == {EARLIER, DAY} and all(delivered.values())

    # The last rollup (EARLIER) refreshed the page: the week up to the last day rolled up (DAY).
    [materialization] = rollup.asset_materializations_for_node("revenue_report")
    meta = materialization.metadata
    path = tmp_path / "report.html"
    assert meta["path"] == dg.MetadataValue.path(str(path.resolve()))
    assert meta["link"] == dg.MetadataValue.url(path.resolve().as_uri())
    assert meta["days_covered"].value == f"{FIRST} to {DAY}"
    assert meta["days_with_data"].value == 2
    text = path.read_text(encoding="utf-8")
    assert str(tmp_path) not in text and "From reo_dt.main.daily_revenue," in text
    page = _Page()
    page.feed(text)

    assert page.rows == [
        [
            str(day),
            APP,
            f"{users[day]:,}",
            f"{revenue[day]:,.2f}",
            f"{revenue[day] / users[day]:,.4f}",  # ARPDAU
            f"{unattributed[day]:,.2f}",
            "0.00",  # loaded once: not restated
            f"{delivered[day]:,}",
        ]
        for day in (EARLIER, DAY)
    ]
    assert page.total == [
        "total",
        "",
        f"{sum(users.values()):,}",
        f"{sum(revenue.values()):,.2f}",
        "",
        f"{sum(unattributed.values()):,.2f}",
        "+0.00",
        f"{sum(delivered.values()):,}",
    ]
    revenue_chart, events_chart, cohort_chart = page.charts  # one app, the events, its cohorts
    assert cohort_chart == [f"{day}: {users:,} users" for day, users in cohorts]
    assert [day for day, _ in cohorts] == [EARLIER, DAY]
    not_loaded = [
        f"{FIRST + dt.timedelta(days=n)}: not loaded" for n in range((EARLIER - FIRST).days)
    ]
    assert revenue_chart == [
        *not_loaded,
        f"{EARLIER}: ${revenue[EARLIER]:,.2f}",
        f"{DAY}: ${revenue[DAY]:,.2f}",
    ]
    assert events_chart == [
        *not_loaded,
        f"{EARLIER}: {delivered[EARLIER]:,}",
        f"{DAY}: {delivered[DAY]:,}",
    ]
