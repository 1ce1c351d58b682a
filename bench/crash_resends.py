"""Benchmark: what a SIGKILL mid-delivery sends again, and what journaling costs the pace.

Not a test. The Reo sandbox runs in this process (0 ms away); each delivery runs in a child
process against a DuckDB file ledger, in two ways measured in the same run:
  - before: each batch of results written into the ledger as it is handed back (every 0.2 s);
  - now: each batch journaled (every 50 ms), folded into the ledger about once a second
    (``reo_dt_assets.reo.journal``).
For each it prints the rate of a whole delivery (``--events``, the median of three, the two
ways alternating) and, over ``--kills`` deliveries killed once half the events were received,
how many events Reo.Dev received that the ledger (after folding the dead run's journal) does
not hold as delivered: what the next run sends again. Targets: now >= 0.9 x before's rate;
re-sent <= the requests in flight plus about 50 ms of confirmations.

    .venv/bin/python bench/crash_resends.py [--events 20000] [--kills 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

import duckdb

from reo_dt_assets.migrations import file_store, migrate_duckdb_file
from reo_dt_assets.reo.ledger import DeliveryLedger
from reo_dt_assets.sandbox.reo_server import ReoSandbox

CHILD = """
import contextlib, datetime as dt, json, sys, time
from pathlib import Path
import duckdb
from reo_dt_assets.migrations import file_store, migrate_duckdb_file
from reo_dt_assets.reo.client import ReoClient
from reo_dt_assets.reo.events import BuiltEvent
from reo_dt_assets.reo.ledger import DeliveryLedger
from reo_dt_assets.sandbox.reo_server import SANDBOX_API_KEY
url, path, journal, events, tag = sys.argv[1:]

@contextlib.contextmanager
def connect():
    with duckdb.connect(path) as conn:
        migrate_duckdb_file(conn, file_store(path))
        yield conn

ledger = DeliveryLedger(connect, journal=Path(journal) if journal else None)
built = [
    BuiltEvent(f"{tag}-{n}", f"user{n}", 0.01, {
        "activity_type": "AD_REVENUE", "source": "PRODUCT_CLOUD",
        "user_id": f"user{n}@example.com", "user_id_type": "EMAIL", "event_id": f"{tag}-{n}",
        "event_at": 1795132800, "product_id": "bench", "meta": {"revenue_usd": "0.01"}})
    for n in range(int(events))
]
to_send = ledger.register(dt.date(2026, 11, 20), "1", built, rejected={}).to_send
print("ready", flush=True)
with ReoClient(SANDBOX_API_KEY, url) as client:
    started = time.perf_counter()
    pace = client.send_all(to_send, ledger.record, hand_back_seconds=ledger.hand_back_seconds)
    ledger.close()
    seconds = time.perf_counter() - started
print(json.dumps({"rate": len(to_send) / seconds, "limit": pace.peak_limit}), flush=True)
"""

WAYS = {"before": False, "now": True}


def _child(
    sandbox: ReoSandbox, folder: Path, journal: bool, events: int, tag: str
) -> tuple[subprocess.Popen[str], Path, str]:
    path = folder / f"{tag}.duckdb"
    journal_folder = str(folder / f"{tag}.journal") if journal else ""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, sandbox.url, str(path), journal_folder, str(events), tag],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    return child, path, journal_folder


def rate(
    sandbox: ReoSandbox, folder: Path, journal: bool, events: int, tag: str
) -> tuple[float, int]:
    """events/s of a whole delivery, and the most requests it had in flight."""
    child, _, _ = _child(sandbox, folder, journal, events, tag)
    out, _ = child.communicate(timeout=600)
    figures = json.loads(out.splitlines()[-1])
    return figures["rate"], figures["limit"]


def resent(sandbox: ReoSandbox, folder: Path, journal: bool, events: int, tag: str) -> int:
    """Events received that the ledger does not hold as delivered after a kill mid-way."""
    child, path, journal_folder = _child(sandbox, folder, journal, events, tag)
    prefix = f"{tag}-"
    while (
        child.poll() is None
        and sum(str(p.get("event_id")).startswith(prefix) for p in sandbox.received[-events:])
        < events // 2
    ):
        time.sleep(0.002)
    child.kill()
    child.wait()
    received = {
        str(p["event_id"]) for p in sandbox.received if str(p["event_id"]).startswith(prefix)
    }

    def connect() -> duckdb.DuckDBPyConnection:
        conn = duckdb.connect(str(path))
        migrate_duckdb_file(conn, file_store(path))
        return conn

    ledger = DeliveryLedger(
        lambda: closing(connect()), journal=Path(journal_folder) if journal else None
    )
    ledger.recover()
    with closing(connect()) as conn:
        delivered = {
            row[0]
            for row in conn.execute(
                "SELECT event_id FROM reo_event_deliveries WHERE status = 'delivered'"
            ).fetchall()
        }
    return len(received - delivered)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--kills", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, ReoSandbox() as sandbox:
        folder = Path(tmp)
        rates: dict[str, list[tuple[float, int]]] = {way: [] for way in WAYS}
        for round_ in range(3):
            for way, journal in WAYS.items():
                rates[way].append(rate(sandbox, folder, journal, args.events, f"r{round_}{way}"))
                sandbox.received.clear()
        (before, _), (now, limit) = (sorted(rates[way])[1] for way in WAYS)
        print(
            f"delivery rate, 0 ms: before {before:,.0f} events/s, now {now:,.0f}: "
            f"{now / before:.2f} x (target >= 0.9)"
        )
        bound = limit + 0.05 * now
        print(f"in flight at most {limit}; + 50 ms of confirmations at {now:,.0f}/s = {bound:.0f}")
        for way, journal in WAYS.items():
            counts = []
            for kill in range(args.kills):
                counts.append(resent(sandbox, folder, journal, args.events, f"k{kill}{way}"))
                sandbox.received.clear()
            print(
                f"re-sent after a SIGKILL, {way}: {min(counts)}-{max(counts)} (median "
                f"{statistics.median(counts):.0f}) of {args.events // 2} received "
                f"(target <= {bound:.0f})"
            )


if __name__ == "__main__":
    main()
