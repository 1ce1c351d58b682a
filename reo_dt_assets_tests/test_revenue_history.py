"""The users' revenue history and the day's revenue split by network and placement, against the
DT sandbox generator's truth: loaded in any order, reloaded and restated, the history rows are
the sums of the loaded days; the events' ``meta`` carries them, stays small, and a delivered
event is not sent again because its user's history moved later."""

from __future__ import annotations

import datetime as dt
import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from reo_dt_assets.daily.cohorts import write_cohorts
from reo_dt_assets.daily.store import write_day
from reo_dt_assets.migrations import migrate_file_at
from reo_dt_assets.reo.events import BuiltEvent, build_events
from reo_dt_assets.reo.ledger import payload_json
from reo_dt_assets.revenue.history import fill_sql
from reo_dt_assets.revenue.parse import parse_report
from reo_dt_assets.revenue.queries import history_agreement, split_agreement
from reo_dt_assets.revenue.store import write_partition
from reo_dt_assets.revenue.verdicts import history_verdicts
from reo_dt_assets.sandbox.dt_server import DTSandbox
from reo_dt_assets.sandbox.generator import GroundTruth, ReportShape, report_bytes
from reo_dt_assets.sandbox.reo_server import ReoSandbox
from reo_dt_assets_tests.chain import CHAIN
from reo_dt_assets_tests.helpers import all_resources

WARN = dg.AssetCheckSeverity.WARN
APP = "148721"
FIRST = dt.date(2026, 11, 1)
DAYS = [FIRST + dt.timedelta(days=n) for n in range(40)]  # past both windows
ROWS = 300


class Store:
    """A DuckDB file loaded through the library, as the asset loads it, with each day's truth."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / "reo_dt.duckdb"
        migrate_file_at(self.path)
        self.truth: dict[dt.date, GroundTruth] = {}

    def load(self, day: dt.date, percent: int = 100, buckets: int = 1) -> None:
        data, truth = report_bytes(day, APP, ROWS, ReportShape(revenue_percent=percent))
        raw = self.folder / f"{day}-{percent}.csv"
        raw.write_bytes(data)
        scratch = self.folder / f"scratch-{day}-{percent}-{buckets}"
        scratch.mkdir()
        parsed = parse_report(raw, day, APP, scratch, buckets=buckets)
        with duckdb.connect(str(self.path)) as conn:
            write_partition(conn, parsed, day, APP, dt.datetime(2026, 12, 1))
        self.truth[day] = truth

    def history(self) -> dict[tuple[dt.date, str], tuple]:
        with duckdb.connect(str(self.path), read_only=True) as conn:
            rows = conn.execute(
                "SELECT report_date, user_key, revenue_7d_usd, revenue_30d_usd, "
                "lifetime_revenue_usd, first_revenue_day, last_revenue_day, active_days "
                "FROM user_revenue_history WHERE app_id = ?",
                [APP],
            ).fetchall()
        return {(day, key): tuple(rest) for day, key, *rest in rows}


def _expected(truth: dict[dt.date, GroundTruth]) -> dict[tuple[dt.date, str], tuple]:
    """Each user's history on each day they are in a report, from the generator's sums alone."""
    nanos: dict[str, dict[dt.date, int]] = {}
    for day, day_truth in truth.items():
        for (_, key), totals in day_truth.users.items():
            nanos.setdefault(key, {})[day] = totals.revenue_nanos
    expected = {}
    for key, by_day in nanos.items():
        for day in by_day:
            upto = {d: n for d, n in by_day.items() if d <= day}
            paid = sorted(d for d, n in upto.items() if n > 0)

            def usd(days: int, upto: dict[dt.date, int] = upto, day: dt.date = day) -> Decimal:
                total = sum(n for d, n in upto.items() if (day - d).days < days)
                return Decimal(total) / Decimal(10**9)

            expected[(day, key)] = (
                usd(7),
                usd(30),
                usd(10**6),
                paid[0] if paid else None,
                paid[-1] if paid else None,
                len(upto),
            )
    return expected


@pytest.fixture(scope="module")
def restated(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """Every day loaded out of order, then an old day and a recent one restated, one reloaded
    as it was, and one in buckets: the history must be the sums of the days as loaded now."""
    store = Store(tmp_path_factory.mktemp("history"))
    for day in [*DAYS[20:], *reversed(DAYS[:20])]:
        store.load(day)
    store.load(DAYS[5], percent=60)  # an old day restated: 35 later days move
    store.load(DAYS[-3], percent=130)
    store.load(DAYS[12], buckets=3)
    return store


def test_history_is_the_sum_of_the_loaded_days_after_reloads_and_restatements(
    restated: Store,
) -> None:
    found = restated.history()
    expected = _expected(restated.truth)
    assert found.keys() == expected.keys()
    wrong = [key for key, figures in expected.items() if found[key] != figures]
    assert not wrong, [(key, found[key], expected[key]) for key in wrong[:3]]
    with duckdb.connect(str(restated.path), read_only=True) as conn:
        for day in DAYS:
            agreement = history_agreement(conn, day, APP)
            assert agreement.wrong == 0 and agreement.rows == agreement.users > 0


def test_the_migration_fills_the_same_history_from_user_revenue(restated: Store) -> None:
    """A store whose history is empty (as before the table existed) gets the same rows from
    the statement the migration runs."""
    with duckdb.connect(str(restated.path)) as conn:
        conn.execute("ATTACH ':memory:' AS copy")
        conn.execute("CREATE TABLE copy.user_revenue AS SELECT * FROM user_revenue")
        conn.execute(
            "CREATE TABLE copy.user_revenue_history AS SELECT * FROM user_revenue_history LIMIT 0"
        )
        conn.execute("USE copy")
        conn.execute(fill_sql())
        differ = conn.execute(
            "SELECT count(*) FROM ((SELECT * FROM copy.user_revenue_history "
            "EXCEPT ALL SELECT * FROM reo_dt.user_revenue_history) UNION ALL "
            "(SELECT * FROM reo_dt.user_revenue_history "
            "EXCEPT ALL SELECT * FROM copy.user_revenue_history))"
        ).fetchone()
    assert differ == (0,)


def test_the_splits_are_the_generators_per_network_and_placement(restated: Store) -> None:
    with duckdb.connect(str(restated.path), read_only=True) as conn:
        for day in (DAYS[5], DAYS[12], DAYS[-1]):
            rows = conn.execute(
                "SELECT user_key, revenue_usd, ad_networks, ad_network_revenue_usd, "
                "placement_types, placement_type_revenue_usd FROM user_revenue "
                "WHERE report_date = ? AND app_id = ?",
                [day, APP],
            ).fetchall()
            split = split_agreement(conn, day, APP)
            assert (split.split_users, split.misaligned, split.over) == (len(rows), 0, 0)
            assert split.unsplit_usd == pytest.approx(0, abs=1e-9)
            truth = restated.truth[day]
            networks = {key: split for (_, key), split in truth.user_networks.items()}
            placements = {key: split for (_, key), split in truth.user_placements.items()}
            for key, revenue, names, by_network, kinds, by_placement in rows:
                assert sum(by_network) == pytest.approx(revenue, abs=1e-9)
                assert sum(by_placement) == pytest.approx(revenue, abs=1e-9)
                assert dict(zip(names, by_network, strict=True)) == pytest.approx(
                    {name: n / 1e9 for name, n in networks[key].items()}, abs=1e-9
                )
                assert dict(zip(kinds, by_placement, strict=True)) == pytest.approx(
                    {name: n / 1e9 for name, n in placements[key].items()}, abs=1e-9
                )


def test_the_daily_view_and_the_cohorts_are_the_generators_sums(restated: Store) -> None:
    """ARPDAU and the revenue per network and placement of each day, and every cohort's users
    and cumulative revenue, against the generator's truth of the days as loaded now."""
    with duckdb.connect(str(restated.path)) as conn:
        for day in DAYS:
            write_day(conn, day, [APP], dt.datetime(2026, 12, 1))
        assert write_cohorts(conn) > 0
        daily = dict(
            conn.execute(
                "SELECT report_date, arpdau_usd FROM daily_revenue WHERE app_id = ?", [APP]
            ).fetchall()
        )
        splits = {
            (day, dimension, value): (users, usd)
            for day, dimension, value, users, usd in conn.execute(
                "SELECT report_date, dimension, value, users, revenue_usd FROM daily_revenue_splits"
            ).fetchall()
        }
        cohorts = {
            (first, since): (users, active, usd, cumulative, per_user)
            for _, first, since, users, active, usd, cumulative, per_user in conn.execute(
                "SELECT * FROM revenue_cohorts"
            ).fetchall()
        }
    expected_splits = {}
    for day, truth in restated.truth.items():
        revenue = sum(t.revenue_nanos for t in truth.users.values())
        assert daily[day] == pytest.approx(revenue / 1e9 / len(truth.users), abs=1e-12)
        for dimension, user_splits in (
            ("ad_network", truth.user_networks),
            ("placement_type", truth.user_placements),
        ):
            for split in user_splits.values():
                for value, nanos in split.items():
                    users, usd = expected_splits.get((day, dimension, value), (0, 0))
                    expected_splits[(day, dimension, value)] = (users + 1, usd + nanos)
    assert splits.keys() == expected_splits.keys()
    for key, (users, nanos) in expected_splits.items():
        assert splits[key] == (users, pytest.approx(nanos / 1e9, abs=1e-9)), key

    by_user: dict[str, dict[dt.date, int]] = {}
    for day, truth in restated.truth.items():
        for (_, key), totals in truth.users.items():
            by_user.setdefault(key, {})[day] = totals.revenue_nanos
    firsts = {
        key: min(d for d, n in days.items() if n > 0)
        for key, days in by_user.items()
        if any(days.values())
    }
    for first in sorted(set(firsts.values())):
        members = [key for key, day in firsts.items() if day == first]
        cumulative = 0
        for since in range((DAYS[-1] - first).days + 1):
            day = first + dt.timedelta(days=since)
            active = [key for key in members if day in by_user[key]]
            nanos = sum(by_user[key][day] for key in active)
            cumulative += nanos
            found = cohorts[(first, since)]
            assert found == (
                len(members),
                len(active),
                pytest.approx(nanos / 1e9, abs=1e-9),
                pytest.approx(cumulative / 1e9, abs=1e-9),
                pytest.approx(cumulative / 1e9 / len(members), abs=1e-9),
            ), (first, since)
    assert len(cohorts) == sum((DAYS[-1] - first).days + 1 for first in set(firsts.values()))


def _row(**changes: object) -> dict[str, object]:
    return {
        "user_key": "ann@example.com",
        "user_key_type": "user_id",
        "user_id": "ann@example.com",
        "impressions": 12,
        "revenue_usd": 0.345678,
        "ad_networks": ["AdMob", "Meta Audience Network"],
        "ad_network_revenue_usd": [0.3, 0.045678],
        "placement_types": ["rewarded"],
        "placement_type_revenue_usd": [0.345678],
        "revenue_7d_usd": "1.23",  # to the cent, as event_users reads them
        "revenue_30d_usd": "4.50",
        "lifetime_revenue_usd": "10.01",
        "first_revenue_day": dt.date(2026, 10, 2),
        "last_revenue_day": dt.date(2026, 11, 20),
        "active_days": 17,
        **changes,
    }


def _event(row: dict[str, object]) -> BuiltEvent:
    [event] = build_events(
        [row],
        date=dt.date(2026, 11, 20),
        app_id=APP,
        product_id="p",
        activity_type="ad_revenue",
        environment=None,
    ).events
    return event


def _meta(row: dict[str, object]) -> dict[str, str]:
    return _event(row).payload["meta"]


def test_meta_carries_the_history_and_the_splits_to_the_cent() -> None:
    meta = _meta(_row())
    assert meta == {
        "revenue_usd": "0.345678000",
        "impressions": "12",
        "report_date": "2026-11-20",
        "dt_app_id": APP,
        "ad_networks": "AdMob,Meta Audience Network",
        "revenue_7d_usd": "1.23",
        "revenue_30d_usd": "4.50",
        "lifetime_revenue_usd": "10.01",
        "active_days": "17",
        "first_revenue_day": "2026-10-02",
        "last_revenue_day": "2026-11-20",
        "ad_network_admob_usd": "0.30",
        "ad_network_meta_audience_network_usd": "0.05",
        "placement_type_rewarded_usd": "0.35",
    }
    # A row loaded before the history and the splits existed: the day's figures alone.
    old = _meta(
        _row(
            **dict.fromkeys(
                ("ad_network_revenue_usd", "placement_type_revenue_usd", "revenue_7d_usd"), None
            ),
            revenue_30d_usd=None,
            lifetime_revenue_usd=None,
            first_revenue_day=None,
            last_revenue_day=None,
            active_days=None,
        )
    )
    assert set(old) == {"revenue_usd", "impressions", "report_date", "dt_app_id", "ad_networks"}


def test_meta_stays_far_below_reo_devs_cap_with_every_network() -> None:
    """64 networks and 64 placement types (the most a report can name), long names."""
    names = [f"Network {n} " + "x" * 80 for n in range(64)]
    kinds = [f"placement {n} " + "y" * 80 for n in range(64)]
    row = _row(
        ad_networks=names,
        ad_network_revenue_usd=[0.01] * 64,
        placement_types=kinds,
        placement_type_revenue_usd=[0.01] * 64,
    )
    event = _event(row)
    assert len(event.payload["meta"]) == 5 + 6 + 128
    assert len(payload_json(event.payload).encode()) < 24 * 1024  # the cap: 256 KiB


def _run(dt_sandbox: DTSandbox, reo: ReoSandbox, data: Path, day: dt.date) -> None:
    result = dg.materialize(
        CHAIN, partition_key=f"{APP}|{day}", resources=all_resources(dt_sandbox.url, data, reo.url)
    )
    checks = result.get_asset_check_evaluations()
    errors = [c.check_name for c in checks if not c.passed and c.severity != WARN]
    assert result.success and checks and not errors, errors  # a restatement warns: allowed


def _payloads(data: Path, day: dt.date) -> dict[str, dict]:
    with duckdb.connect(str(data / "reo_dt.duckdb"), read_only=True) as conn:
        rows = conn.execute(
            "SELECT user_key, payload FROM reo_event_deliveries WHERE report_date = ?", [day]
        ).fetchall()
    return {key: json.loads(payload)["meta"] for key, payload in rows}


def test_events_carry_the_history_and_are_not_sent_again_when_it_moves(
    dt_sandbox: DTSandbox, tmp_path: Path
) -> None:
    """Two days delivered; DT restates the first, both are run again: the second day's users'
    history moved, yet Reo.Dev receives nothing more (corrections are opt-in, and only follow
    the day's revenue), and the ledger keeps what it sent."""
    data = tmp_path / "data"
    first, second = dt.date(2026, 11, 19), dt.date(2026, 11, 20)
    with ReoSandbox() as reo:
        for day in (first, second):
            _run(dt_sandbox, reo, data, day)
        sent = reo.counts()
        delivered = _payloads(data, second)
        truth = {day: dt_sandbox.ground_truth(day, APP) for day in (first, second)}
        dt_sandbox.shape = ReportShape(revenue_percent=150)
        for day in (first, second):
            _run(dt_sandbox, reo, data, day)
        assert reo.counts() == sent and set(sent.values()) == {1}
    assert _payloads(data, second) == delivered  # the ledger holds what was sent
    both = {key for (kind, key) in truth[first].users if kind == "user_id"}
    both &= {key for (kind, key) in truth[second].users if kind == "user_id"}
    assert both
    for key in both:  # what was sent: the history as of the second day's first delivery
        lifetime = sum(truth[day].users[("user_id", key)].revenue_nanos for day in truth)
        meta = delivered[key]
        cents = (Decimal(lifetime) / 10**9).quantize(Decimal("0.01"), ROUND_HALF_UP)
        assert meta["lifetime_revenue_usd"] == str(cents)
        assert meta["active_days"] == "2"
        assert sum(
            Decimal(v) for k, v in meta.items() if k.startswith("ad_network_")
        ) == pytest.approx(Decimal(meta["revenue_usd"]), abs=Decimal("0.03"))
    with duckdb.connect(str(data / "reo_dt.duckdb"), read_only=True) as conn:
        assert history_agreement(conn, second, APP).wrong == 0  # the history itself moved


def test_the_checks_fail_on_a_wrong_history_row_or_split(restated: Store, tmp_path: Path) -> None:
    """A history row off by a pico-dollar, one missing, a split one figure short and one over
    the user's revenue: the blocking checks fail, naming how many."""
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(restated.path.read_bytes())
    day = DAYS[10]
    with duckdb.connect(str(copy)) as conn:
        [first, second, third] = [
            key
            for (key,) in conn.execute(
                "SELECT user_key FROM user_revenue WHERE report_date = ? AND app_id = ? "
                "AND len(ad_networks) > 1 ORDER BY user_key LIMIT 3",
                [day, APP],
            ).fetchall()
        ]
        base = "WHERE report_date = ? AND app_id = ? AND user_key = ?"
        conn.execute(
            "UPDATE user_revenue_history SET lifetime_revenue_usd = lifetime_revenue_usd "
            f"+ 0.000000000001 {base}",
            [day, APP, first],
        )
        conn.execute(f"DELETE FROM user_revenue_history {base}", [day, APP, second])
        conn.execute(
            "UPDATE user_revenue SET ad_network_revenue_usd = ad_network_revenue_usd[2:], "
            f"placement_type_revenue_usd = [revenue_usd + 0.01] {base}",
            [day, APP, third],
        )
        history, splits = history_agreement(conn, day, APP), split_agreement(conn, day, APP)
    assert (history.wrong, history.rows) == (2, history.users - 1)
    assert (splits.misaligned, splits.over) == (1, 1)
    verdicts = {v.check: v for v in history_verdicts([], history, splits)}
    assert not verdicts["history_matches_user_revenue"].passed
    assert "2 of" in (verdicts["history_matches_user_revenue"].description or "")
    assert not verdicts["splits_match_revenue"].passed
    with duckdb.connect(str(restated.path), read_only=True) as conn:
        fine = history_verdicts(
            [], history_agreement(conn, day, APP), split_agreement(conn, day, APP)
        )
    assert all(v.passed for v in fine)
