"""Benchmark: raw CSV -> user_revenue, against DuckDB and pandas doing the same job.

Not a test (the machine is noisy). Generates a report with the sandbox generator, then runs
each contender in its own process and prints wall time, rows/s, peak RSS and the ratios:
  (a) ours: polars parse + aggregate + DuckDB write (reo_dt_assets.revenue)
  (b) DuckDB read_csv + GROUP BY into a table: (b1) the same output as ours (normalised
      identifiers, user key, lists of networks and placements), (b2) bare sums per user key
  (c) pandas read_csv + groupby: (c1) the same output as ours, (c2) bare sums per user key
Targets: a/b1 <= 1.0, peak RSS of (a) <= 1 GiB, c/a >= 10 (each against the same output), and
seconds per million rows of (a) at the larger size <= 1.1x that at 5M.

    .venv/bin/python bench/user_revenue.py [--rows 20000000] [--repeat 3] [--skip-pandas]

With --rows above 5M it runs both 5M and that size (pandas only at 5M); REO_DT_LOAD_MEMORY_MB
sets (a)'s memory target as in the asset.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

DAY = dt.date(2026, 11, 20)
APP = "148721"
ZERO = "00000000-0000-0000-0000-000000000000"


def ours(path: Path, database: Path) -> None:
    """What the asset does: buckets for the memory budget, a scratch folder, one write."""
    import duckdb

    from reo_dt_assets import settings
    from reo_dt_assets.revenue.parse import load_plan, parse_report
    from reo_dt_assets.revenue.scratch import scratch_folder
    from reo_dt_assets.revenue.store import write_partition

    plan = load_plan(path.stat().st_size, settings.REO_DT_LOAD_MEMORY_MB.value())
    buckets = plan.buckets
    with scratch_folder(database.parent) as folder:
        started = time.perf_counter()
        parsed = parse_report(path, DAY, APP, folder, buckets=buckets)
        parse_seconds = time.perf_counter() - started
        with duckdb.connect(str(database)) as conn:
            write_partition(
                conn, parsed, DAY, APP, dt.datetime(2026, 11, 21), memory_mb=plan.duckdb_memory_mb
            )
    print(
        f"    (a: {buckets} buckets, {parsed.totals.users:,} users, parse {parse_seconds:.2f} s, "
        f"write {time.perf_counter() - started - parse_seconds:.2f} s)",
        flush=True,
    )


def duckdb_same_output(path: Path, database: Path) -> None:
    import duckdb

    with duckdb.connect(str(database)) as conn:
        conn.execute(f"""
            CREATE TABLE user_revenue AS
            WITH typed AS (
                SELECT nullif(trim("User ID"), '') AS user_id,
                       nullif(nullif(trim("Advertising ID"), ''), '{ZERO}') AS advertising_id,
                       nullif(trim("IDFV"), '') AS idfv,
                       trim("Ad Network Name") AS ad_network,
                       lower(trim("Placement Type")) AS placement_type,
                       CAST(trim(Impressions) AS BIGINT) AS impressions,
                       CAST(trim(Revenue) AS DOUBLE) AS revenue
                FROM read_csv('{path}', header = true, all_varchar = true))
            SELECT coalesce(user_id, advertising_id, idfv) AS user_key,
                   min(user_id), min(advertising_id), min(idfv), sum(impressions),
                   sum(revenue), list(DISTINCT ad_network ORDER BY ad_network),
                   list(DISTINCT placement_type ORDER BY placement_type), count(*)
            FROM typed GROUP BY 1""")


def duckdb_sums(path: Path, database: Path) -> None:
    import duckdb

    with duckdb.connect(str(database)) as conn:
        conn.execute(f"""
            CREATE TABLE user_revenue AS
            SELECT coalesce(nullif("User ID", ''), nullif("Advertising ID", ''), "IDFV") AS key,
                   sum(Impressions) AS impressions, sum(Revenue) AS revenue, count(*) AS n
            FROM read_csv('{path}', header = true) GROUP BY 1""")


def pandas_same_output(path: Path, database: Path) -> None:
    import pandas as pd

    frame = pd.read_csv(path, dtype=str, keep_default_na=False)

    def text(values: pd.Series) -> pd.Series:
        values = values.str.strip()
        return values.where(values != "")

    user_id, ad_id, idfv = (
        text(pd.Series(frame[c])) for c in ("User ID", "Advertising ID", "IDFV")
    )
    ad_id = ad_id.where(ad_id != ZERO)
    table = pd.DataFrame(
        {
            "user_key": user_id.fillna(ad_id).fillna(idfv),
            "user_id": user_id,
            "advertising_id": ad_id,
            "idfv": idfv,
            "impressions": pd.to_numeric(frame["Impressions"].str.strip()),
            "revenue": pd.to_numeric(frame["Revenue"].str.strip()),
            "ad_network": frame["Ad Network Name"].str.strip(),
            "placement_type": frame["Placement Type"].str.strip().str.lower(),
        }
    )
    del frame
    users = table.groupby("user_key").agg(
        user_id=("user_id", "min"),
        advertising_id=("advertising_id", "min"),
        idfv=("idfv", "min"),
        impressions=("impressions", "sum"),
        revenue_usd=("revenue", "sum"),
        source_rows=("revenue", "size"),
        ad_networks=("ad_network", lambda s: sorted(set(s))),
        placement_types=("placement_type", lambda s: sorted(set(s))),
    )
    users.to_pickle(database.with_suffix(".pkl"))


def pandas_sums(path: Path, database: Path) -> None:
    import pandas as pd

    frame = pd.read_csv(path, dtype={"User ID": str, "Advertising ID": str, "IDFV": str})
    key = frame["User ID"].fillna(frame["Advertising ID"]).fillna(frame["IDFV"])
    sums = frame.groupby(key).agg({"Impressions": "sum", "Revenue": "sum"})
    sums.to_parquet(database.with_suffix(".pq"))


CONTENDERS = {
    "a_ours": ours,
    "b1_duckdb_same_output": duckdb_same_output,
    "b2_duckdb_sums": duckdb_sums,
    "c1_pandas_same_output": pandas_same_output,
    "c2_pandas_sums": pandas_sums,
}


def measure(name: str, path: Path, out: Path) -> tuple[float, float]:
    """Run one contender in a fresh process: (wall seconds, peak RSS in MiB)."""
    database = out / f"{name}.duckdb"
    database.unlink(missing_ok=True)
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, __file__, "--run", name, str(path), str(database)])
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"{name} failed")
    return seconds, usage.ru_maxrss / 1024


def report_file(out: Path, rows: int) -> Path:
    path = out / f"report_{rows}.csv"
    if not path.exists():
        from reo_dt_assets.sandbox.generator import generate

        print(f"generating {rows:,} rows ...", flush=True)
        partial = path.with_suffix(".csv.partial")
        with partial.open("w", newline="") as handle:
            generate(handle, DAY, APP, rows)
        partial.rename(path)
    with path.open("rb") as handle:  # into the page cache, as the stack facts were measured
        while handle.read(1 << 24):
            pass
    return path


def spread(values: list[float], unit: str, digits: int = 2) -> str:
    ordered = sorted(values)
    if len(ordered) == 1:
        return f"{ordered[0]:,.{digits}f} {unit}"
    low, mid, high = ordered[0], statistics.median(ordered), ordered[-1]
    return f"{mid:,.{digits}f} {unit} ({low:,.{digits}f}-{high:,.{digits}f})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5_000_000, help="the larger size (and 5M)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per contender: min/median/max")
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    parser.add_argument("--skip-pandas", action="store_true", help="pandas runs at 5M rows only")
    parser.add_argument("--run", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        CONTENDERS[args.run[0]](Path(args.run[1]), Path(args.run[2]))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    sizes = sorted({min(5_000_000, args.rows), args.rows})
    per_million: dict[int, float] = {}
    for rows in sizes:
        path = report_file(args.out, rows)
        print(f"file: {path} ({path.stat().st_size / 2**30:.2f} GiB, {rows:,} rows)")
        results: dict[str, float] = {}
        for name in CONTENDERS:
            if name.startswith("c") and (args.skip_pandas or rows > 5_000_000):
                continue
            runs = [measure(name, path, args.out) for _ in range(args.repeat)]
            walls, rss = [w for w, _ in runs], [r for _, r in runs]
            results[name] = statistics.median(walls)
            print(
                f"{name:24} {spread(walls, 's')}  {rows / results[name] / 1e6:5.2f} M rows/s  "
                f"peak RSS {spread(rss, 'MiB', 0)}",
                flush=True,
            )
        a = results["a_ours"]
        per_million[rows] = a / (rows / 1e6)
        print(f"a: {per_million[rows]:.3f} s per million rows")
        print(f"a/b1 (same output)  = {a / results['b1_duckdb_same_output']:.2f}  (target <= 1.0)")
        print(f"a/b2 (bare sums)    = {a / results['b2_duckdb_sums']:.2f}")
        if "c1_pandas_same_output" in results:
            c1, c2 = results["c1_pandas_same_output"], results["c2_pandas_sums"]
            print(f"c1/a (same output)  = {c1 / a:.1f}  (target >= 10)")
            print(f"c2/a (bare sums)    = {c2 / a:.1f}")
    if len(sizes) == 2:
        small, large = sizes
        print(
            f"linearity: s per M rows at {large:,} / at {small:,} = "
            f"{per_million[large] / per_million[small]:.2f}  (target <= 1.1)"
        )


if __name__ == "__main__":
    main()
