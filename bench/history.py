"""Benchmark: what the users' history costs a new day, as ratios against the step without it.

Not a test (the machine is noisy). Builds a DuckDB file of ``--days`` days x ``--users`` users
a day of one app (synthetic rows written by DuckDB, each user with two networks and a
placement; the users of a day drawn from a pool 1.5x as large, so they recur), fills its
history with the migration's statement, adds one more day, then runs each contender in a fresh
process and prints CPU seconds (all threads) and peak RSS:
  (a) the history update of the new day (``refresh_history``, in the write's transaction, at
      the load's DuckDB ``memory_limit``: half of ``REO_DT_LOAD_MEMORY_MB``);
  (b) the delivery step's own work without enrichment: the day's users read 10,000 at a time
      (``user_revenue`` alone), their events built, checked against the contract and encoded;
  (c) the same with enrichment, as the asset does it (``event_user_chunks``: history and splits
      joined, in every event's ``meta``).
Targets: peak RSS of (a) within ``REO_DT_LOAD_MEMORY_MB``; (c)/(b) <= 1.5. The baseline (b)
leaves out the ledger's writes and the HTTP requests, which the real step also spends CPU on,
so (c)/(b) is an upper bound of what enrichment adds to it.

    .venv/bin/python bench/history.py [--days 90] [--users 1000000] [--repeat 3]

The defaults are the issue's size (90 days x 1M users: about 90M rows, a ~4.5 GiB DuckDB file,
about 10 minutes to build on 2 cores); ``--users 200000`` runs in a few minutes. The store is
kept in ``bench/out/`` for the next run of the same size.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

APP = "148721"
FIRST = dt.date(2026, 8, 1)
OUT = Path(__file__).parent / "out"


def build_store(path: Path, days: int, users: int) -> None:
    """The store of ``days`` days, its history filled, and one more day's users."""
    import duckdb

    from reo_dt_assets.migrations import migrate_file_at
    from reo_dt_assets.revenue.history import fill_sql

    path.unlink(missing_ok=True)
    migrate_file_at(path)
    pool = users * 3 // 2
    with duckdb.connect(str(path)) as conn:
        for day in range(days + 1):
            conn.execute(
                f"""
                INSERT INTO user_revenue
                SELECT $day, $app, 'user' || k, 'user_id', 'user' || k, NULL, NULL, i % 40,
                       r, ['AdMob', 'AppLovin'], ['rewarded'], 3, now()::TIMESTAMP,
                       [r * 0.625, r * 0.375], [r]
                FROM (SELECT i, (i * 7 + $day_n * 104729) % {pool} AS k,
                             ((hash(i, $day_n) % 1000000) / 1e8)::DOUBLE AS r
                      FROM range({users}) t(i))
                """,
                {"day": FIRST + dt.timedelta(days=day), "app": APP, "day_n": day},
            )
            if day == days - 1:  # the history of every day but the new one, as it stands
                conn.execute(fill_sql())


def history_update(path: Path, day: dt.date) -> None:
    import duckdb

    from reo_dt_assets import settings
    from reo_dt_assets.revenue.history import refresh_history

    budget = settings.REO_DT_LOAD_MEMORY_MB.value()
    with duckdb.connect(str(path)) as conn:
        conn.execute(f"SET memory_limit = '{int(budget / 2)}MiB'")
        conn.execute("BEGIN TRANSACTION")  # measured, then rolled back: every repeat the same
        started = time.process_time()
        written = refresh_history(conn, day, APP)
        print(f"    (a: {written:,} history rows)", flush=True)
        _report(started)
        conn.execute("ROLLBACK")


def events(path: Path, day: dt.date, enriched: bool) -> None:
    import duckdb

    from reo_dt_assets.components.events import CHUNK_USERS
    from reo_dt_assets.reo.events import build_events
    from reo_dt_assets.reo.ledger import payload_json
    from reo_dt_assets.reo.payload import payload_problems
    from reo_dt_assets.revenue.store import event_user_chunks

    def connect() -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(path), read_only=True)

    def plain() -> list:
        pages, after = [], ""
        while True:
            with connect() as conn:
                page = conn.sql(
                    "SELECT user_key, user_key_type, user_id, impressions, revenue_usd, "
                    "ad_networks FROM user_revenue WHERE report_date = ? AND app_id = ? "
                    f"AND user_key > ? ORDER BY user_key LIMIT {CHUNK_USERS}",
                    params=[day, APP, after],
                ).pl()
            if not page.height:
                return pages
            pages.append(page)
            after = page["user_key"][-1]

    started = time.process_time()
    chunks = event_user_chunks(connect, day, APP, CHUNK_USERS) if enriched else plain()
    built = size = 0
    for users in chunks:
        result = build_events(
            users.iter_rows(named=True),
            date=day,
            app_id=APP,
            product_id="p",
            activity_type="ad_revenue",
            environment=None,
        )
        for event in result.events:
            assert not payload_problems(event.payload)
            size += len(payload_json(event.payload))
        built += len(result.events)
    print(f"    ({'c' if enriched else 'b'}: {built:,} events, {size / built:,.0f} B each)")
    _report(started)


def _report(started: float) -> None:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"RESULT {time.process_time() - started:.3f} {peak:.0f}", flush=True)


def _child(contender: str, path: Path, day: dt.date) -> tuple[float, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--contender", contender, "--db", str(path), "--day", str(day)],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = done.stdout.splitlines()
    print("\n".join(line for line in lines if not line.startswith("RESULT")), flush=True)
    [result] = [line.split()[1:] for line in lines if line.startswith("RESULT")]
    return float(result[0]), float(result[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--contender", choices=("build", "history", "plain", "enriched"))
    parser.add_argument("--db", type=Path)
    parser.add_argument("--day", type=dt.date.fromisoformat)
    args = parser.parse_args()
    if args.contender:
        if args.contender == "build":
            build_store(args.db, args.days, args.users)
        elif args.contender == "history":
            history_update(args.db, args.day)
        else:
            events(args.db, args.day, enriched=args.contender == "enriched")
        return

    from reo_dt_assets import settings

    OUT.mkdir(exist_ok=True)
    path = OUT / f"history-{args.days}x{args.users}.duckdb"
    day = FIRST + dt.timedelta(days=args.days)  # the new day
    if not path.exists():  # built in a process of its own: its memory is not the contenders'
        started = time.monotonic()
        subprocess.run(
            [
                *(sys.executable, __file__, "--contender", "build", "--db", str(path)),
                *("--days", str(args.days), "--users", str(args.users)),
            ],
            check=True,
        )
        print(f"{args.days} days x {args.users:,} users in {time.monotonic() - started:.0f} s")
    runs: dict[str, list[tuple[float, float]]] = {"history": [], "plain": [], "enriched": []}
    for _ in range(args.repeat):
        for contender in runs:  # interleaved: the machine's speed moves
            runs[contender].append(_child(contender, path, day))
    cpu = {name: statistics.median(r[0] for r in results) for name, results in runs.items()}
    peak = {name: max(r[1] for r in results) for name, results in runs.items()}
    for name, label in (
        ("history", "a history update"),
        ("plain", "b events, no enrichment"),
        ("enriched", "c events, enriched"),
    ):
        print(f"{label:26} {cpu[name]:8.2f} s CPU (median), peak RSS {peak[name]:,.0f} MiB")
    budget = settings.REO_DT_LOAD_MEMORY_MB.value()
    print(f"peak RSS of (a) {peak['history']:,.0f} MiB, budget {budget:,.0f} MiB")
    print(f"c/b = {cpu['enriched'] / cpu['plain']:.2f} (target <= 1.5)")
    print(f"a/b = {cpu['history'] / cpu['plain']:.2f} (the history update against the step)")


if __name__ == "__main__":
    main()
