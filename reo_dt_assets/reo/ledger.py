"""The delivery ledger: one row per ``event_id`` in table ``reo_event_deliveries``.

The table is in the DuckDB file, or, beside a DuckLake catalog, in PostgreSQL (where a unique
index on ``event_id`` and row locks keep concurrent runs of other partitions apart); the
connections ``connect`` gives decide which (``reo_dt_assets.warehouse``).

An event is marked delivered only after Reo.Dev confirmed it. Given a journal folder, the
results the sender hands back (every 50 ms) go first to the run's journal (``reo.journal``),
and into the ledger about once a second, each time in one short transaction on a fresh
connection: the DuckDB file has one writer at a time and other partitions wait for it, and
opening it costs ~25 ms of CPU, so writing each hand-back there would not do. The next delivery
or sweep folds a killed run's journal into the ledger before reading it (``recover``). A crash
loses only the confirmations not yet journaled (the sender caps them, with the requests in
flight, at ``client.MAX_UNRECORDED``): those events are still pending and are sent again, the
one case besides a connection dropped after Reo.Dev read the request where Reo.Dev sees an
``event_id`` twice. A result goes into the ledger once: a failure only over an older row, so a
journal folded twice (killed between the fold and its truncation) changes nothing the second
time.

Releases before integer event ids keyed events by 32 hex digits of the same digest; a
migration rewrote such keys to today's ids (``migrations.RewriteLegacyEventIds``), so an event
delivered under its old id is still delivered and never sent again.

A partition is registered a chunk at a time, each chunk before any of its events is sent, and
read back a chunk at a time: memory does not grow with the partition.

Given a ``RunKey``, the ledger also keeps that run's row of ``reo_delivery_runs``: started before
anything is registered, its counts moved in the same transaction as every registered chunk and
every batch of results, its end (outcome, pace) written last. So the run log always says what
the ledger says, even for a run killed halfway (its ``finished_at`` is then null).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import math
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from reo_dt_assets.reo.events import BuiltEvent
from reo_dt_assets.reo.journal import FOLD_SECONDS, Journal, Timed, orphans
from reo_dt_assets.reo.journal import HAND_BACK_SECONDS as JOURNALED_HAND_BACK_SECONDS
from reo_dt_assets.reo.sender import HAND_BACK_SECONDS, SendResult, Snapshot
from reo_dt_assets.schema import DELIVERIES, DELIVERY_RUNS
from reo_dt_assets.transactions import staged_transaction, transaction

Connect = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]
SUPERSEDED = "superseded: the day was loaded again before this correction was delivered"
DRY_RUN_NOTE = "dry run: not sent yet"  # why a dry run's events are pending: not the sweep's
#: Events a later run sends: not delivered, not rejected, and not a dry run's preview.
UNDELIVERED = (
    "status IN ('pending', 'failed') AND NOT (status = 'pending' AND "
    f"coalesce(last_error, '') = '{DRY_RUN_NOTE}')"
)


@dataclass(frozen=True)
class Undelivered:
    """A partition with events left to send, as the sweep finds it."""

    date: dt.date
    app_id: str
    events: int


def payload_json(payload: dict[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Registered:
    to_send: list[tuple[str, dict[str, Any]]]
    already_delivered: int


@dataclass(frozen=True)
class LedgerEvent:
    event_id: str
    status: str
    last_error: str | None
    payload: str  # JSON
    revenue_usd: float
    kind: str  # usage or correction


@dataclass(frozen=True)
class RunKey:
    """One run's delivery of one partition: its row of ``reo_delivery_runs``."""

    run_id: str
    date: dt.date
    app_id: str
    mode: str = "delivery"  # delivery, dry_run or sweep

    @property
    def where(self) -> str:
        return "run_id = $run AND report_date = $date AND app_id = $app"

    @property
    def params(self) -> dict[str, Any]:
        return {"run": self.run_id, "date": self.date, "app": self.app_id}

    def header(self) -> dict[str, str]:
        """The key as a journal keeps it."""
        return {
            "run_id": self.run_id,
            "date": self.date.isoformat(),
            "app_id": self.app_id,
            "mode": self.mode,
        }

    @classmethod
    def from_header(cls, header: dict[str, Any] | None) -> RunKey | None:
        if not header:
            return None
        return cls(
            header["run_id"],
            dt.date.fromisoformat(header["date"]),
            header["app_id"],
            header["mode"],
        )


class DeliveryLedger:
    """The ledger's reads and writes; ``journal``: the folder of the runs' journals (without
    one, each batch of results is written straight into the ledger)."""

    def __init__(
        self, connect: Connect, run: RunKey | None = None, journal: Path | None = None
    ) -> None:
        self._connect = connect
        self._run = run
        self._journal_folder = journal
        self._journal: Journal | None = None
        self._folded_at = 0.0

    @property
    def hand_back_seconds(self) -> float:
        """How often the sender should hand results back: what a record costs allows."""
        return JOURNALED_HAND_BACK_SECONDS if self._journal_folder else HAND_BACK_SECONDS

    def recover(self) -> int:
        """Fold the journals killed runs left into the ledger; return how many results they
        held."""
        if self._journal_folder is None:
            return 0
        recovered = 0
        for orphan in orphans(self._journal_folder):
            self._write_results(RunKey.from_header(orphan.run), orphan.results)
            orphan.delete()
            recovered += len(orphan.results)
        return recovered

    def start_run(self) -> None:
        """The run's row, with nothing counted yet (a step retried within its run starts it
        over: its earlier attempt's results are in the ledger, and in the counts of the row
        that attempt left until now)."""
        run = self._require_run()
        now = _now()
        with self._connect() as conn, transaction(conn):
            conn.execute(f"DELETE FROM {DELIVERY_RUNS.name} WHERE {run.where}", run.params)
            conn.execute(
                f"""INSERT INTO {DELIVERY_RUNS.name} (run_id, report_date, app_id, mode,
                        started_at, updated_at, outcome, events, delivered_now,
                        delivered_before, failed, rejected, dry_run, requests, throttled,
                        other_retries, seconds)
                    VALUES ($run, $date, $app, $mode, $now, $now, 'running',
                            0, 0, 0, 0, 0, 0, 0, 0, 0, 0)""",
                {**run.params, "mode": run.mode, "now": now},
            )

    def finish_run(self, outcome: str, pace: Snapshot | None) -> None:
        """The run's end: how it ended and the pace it kept."""
        run = self._require_run()
        with self._connect() as conn:
            conn.execute(
                f"""UPDATE {DELIVERY_RUNS.name} SET finished_at = $now, updated_at = $now,
                        outcome = $outcome,
                        seconds = epoch(CAST($now AS TIMESTAMP)) - epoch(started_at)
                    WHERE {run.where}""",
                {**run.params, "now": _now(), "outcome": outcome},
            )
            if pace is not None:
                self._count_pace(conn, run, pace)

    @property
    def run(self) -> RunKey | None:
        return self._run

    def _require_run(self) -> RunKey:
        if self._run is None:
            raise ValueError("this ledger keeps no run's row: give it a RunKey")
        return self._run

    @staticmethod
    def _count_pace(conn: duckdb.DuckDBPyConnection, run: RunKey, pace: Snapshot) -> None:
        conn.execute(
            f"""UPDATE {DELIVERY_RUNS.name} SET requests = $requests, throttled = $throttled,
                    other_retries = $retries, rtt_p50_ms = $p50, rtt_p95_ms = $p95,
                    in_flight_ceiling = $ceiling, requests_per_second = $rate
                WHERE {run.where}""",
            {
                **run.params,
                "requests": pace.requests,
                "throttled": pace.throttled,
                "retries": pace.other_retries,
                "p50": pace.rtt_p50_ms,
                "p95": pace.rtt_p95_ms,
                "ceiling": pace.peak_limit or None,
                "rate": pace.requests_per_second,
            },
        )

    @staticmethod
    def _count(
        conn: duckdb.DuckDBPyConnection, run: RunKey | None, **counts: int | str | None
    ) -> None:
        """Move ``run``'s counts by ``counts`` (``first_error``: kept if one is there), in the
        caller's transaction."""
        if run is None:
            return
        error = counts.pop("first_error", None)
        sets = ", ".join(f"{name} = {name} + ${name}" for name in counts)
        conn.execute(
            f"""UPDATE {DELIVERY_RUNS.name} SET {sets}, updated_at = $now,
                    first_error = coalesce(first_error, $error),
                    seconds = epoch(CAST($now AS TIMESTAMP)) - epoch(started_at)
                WHERE {run.where}""",
            {**run.params, **counts, "now": _now(), "error": error},
        )

    def register(
        self,
        date: dt.date,
        app_id: str,
        events: Iterable[BuiltEvent],
        rejected: dict[str, str],
        pending_note: str | None = None,
    ) -> Registered:
        """Record the partition's built events; return the ones not yet delivered.

        New events become pending (or rejected, with the reason, if ``rejected`` names them);
        undelivered ones take the new payload; delivered ones are left exactly as they are.
        ``pending_note`` is kept as the reason of pending events (a dry run says so).
        """
        now = _now()
        built = list(events)
        staged = pl.DataFrame(
            {
                "event_id": [e.event_id for e in built],
                "user_key": [e.user_key for e in built],
                "status": ["rejected" if e.event_id in rejected else "pending" for e in built],
                "last_error": [rejected.get(e.event_id, pending_note) for e in built],
                "payload": [payload_json(e.payload) for e in built],
                "revenue_usd": [e.revenue_usd for e in built],
                "kind": [e.kind for e in built],
            },
            schema={
                "event_id": pl.String,
                "user_key": pl.String,
                "status": pl.String,
                "last_error": pl.String,
                "payload": pl.String,
                "revenue_usd": pl.Float64,
                "kind": pl.String,
            },
        ).with_columns(
            payload_hash=pl.col("payload").map_batches(
                lambda s: pl.Series([hashlib.sha256(p.encode()).hexdigest() for p in s]),
                return_dtype=pl.String,
            )
        )
        with self._connect() as conn, staged_transaction(conn, "staged_events", staged):
            conn.execute(
                f"""UPDATE {DELIVERIES.name} AS l SET status = s.status,
                        last_error = s.last_error, payload = s.payload,
                        payload_hash = s.payload_hash, revenue_usd = s.revenue_usd,
                        updated_at = $now
                    FROM staged_events s
                    WHERE l.event_id = s.event_id AND l.status <> 'delivered'""",
                {"now": now},
            )
            conn.execute(
                f"""INSERT INTO {DELIVERIES.name}
                    SELECT s.event_id, $date, $app, s.user_key, s.status, 0, NULL, s.last_error,
                           s.payload_hash, s.payload, s.revenue_usd, $now, $now, NULL, s.kind
                    FROM staged_events s
                    WHERE NOT EXISTS (
                        SELECT 1 FROM {DELIVERIES.name} l WHERE l.event_id = s.event_id)""",
                {"date": date, "app": app_id, "now": now},
            )
            delivered = {
                row[0]
                for row in conn.execute(
                    f"SELECT s.event_id FROM staged_events s JOIN {DELIVERIES.name} l "
                    "ON l.event_id = s.event_id WHERE l.status = 'delivered'"
                ).fetchall()
            }
            unsent = len([e for e in built if e.event_id not in delivered | rejected.keys()])
            self._count(
                conn,
                self._run,
                events=len(built),
                delivered_before=len(delivered),
                rejected=len(rejected),
                dry_run=unsent if self._run and self._run.mode == "dry_run" else 0,
                first_error=next(iter(rejected.values()), None),
            )
        to_send = [
            (e.event_id, e.payload)
            for e in built
            if e.event_id not in delivered and e.event_id not in rejected
        ]
        return Registered(to_send=to_send, already_delivered=len(delivered))

    def supersede_corrections(self, date: dt.date, app_id: str) -> None:
        """Reject the partition's corrections not yet delivered, saying why: a new load decides
        which are still due (``reo.corrections``), and ``register`` makes those pending again."""
        with self._connect() as conn:
            conn.execute(
                f"""UPDATE {DELIVERIES.name} SET status = 'rejected', last_error = $why,
                    updated_at = $now
                WHERE report_date = $date AND app_id = $app AND kind = 'correction'
                  AND status NOT IN ('delivered', 'rejected')""",
                {"why": SUPERSEDED, "now": _now(), "date": date, "app": app_id},
            )

    def record(self, results: list[SendResult], pace: Snapshot | None = None) -> None:
        """Record a batch of send results, with the run's counts (and the ``pace`` so far): in
        the journal, folded into the ledger once ``FOLD_SECONDS`` passed, or straight into the
        ledger in one transaction."""
        if not results:
            return
        if self._journal_folder is None:
            now = _now()
            self._write_results(self._run, [Timed(r, now) for r in results], pace)
            return
        if self._journal is None:
            self._journal = Journal(self._journal_folder, self._run and self._run.header())
        self._journal.append(results)
        if time.monotonic() - self._folded_at >= FOLD_SECONDS:
            self.flush(pace)

    def flush(self, pace: Snapshot | None = None) -> None:
        """Fold what the journal holds into the ledger."""
        journal = self._journal
        self._folded_at = time.monotonic()
        if journal is None or not journal.pending:
            return
        self._write_results(self._run, journal.pending, pace)
        journal.folded()

    def close(self) -> None:
        """Fold the journal and delete it; if the fold fails, the journal stays for ``recover``
        (the error is raised)."""
        journal = self._journal
        if journal is None:
            return
        try:
            self.flush()
        finally:
            self._journal = None
            if journal.pending:
                journal.release()
            else:
                journal.close()

    def _write_results(
        self, run: RunKey | None, results: list[Timed], pace: Snapshot | None = None
    ) -> None:
        staged = pl.DataFrame(
            {
                "event_id": [t.result.event_id for t in results],
                "status": ["delivered" if t.result.delivered else "failed" for t in results],
                "attempts": [t.result.attempts for t in results],
                "http_status": [t.result.http_status for t in results],
                "error": [t.result.error for t in results],
                "at": [t.at for t in results],
            },
            schema={
                "event_id": pl.String,
                "status": pl.String,
                "attempts": pl.Int32,
                "http_status": pl.Int32,
                "error": pl.String,
                "at": pl.Datetime("us"),
            },
        )
        changes = (
            "l.event_id = r.event_id AND l.status <> 'delivered' "
            "AND (r.status = 'delivered' OR l.updated_at < r.at)"
        )
        first_error = next(
            (t.result.error for t in results if not t.result.delivered and t.result.error), None
        )
        with self._connect() as conn, staged_transaction(conn, "staged_results", staged):
            [(delivered, failed)] = conn.execute(
                "SELECT count(*) FILTER (WHERE r.status = 'delivered'), "
                "count(*) FILTER (WHERE r.status = 'failed') "
                f"FROM staged_results r JOIN {DELIVERIES.name} l ON {changes}"
            ).fetchall()
            conn.execute(
                f"""UPDATE {DELIVERIES.name} AS l SET status = r.status,
                    attempts = l.attempts + r.attempts, last_http_status = r.http_status,
                    last_error = r.error, updated_at = r.at,
                    delivered_at = CASE WHEN r.status = 'delivered' THEN r.at END
                FROM staged_results r
                WHERE {changes}"""
            )
            self._count(
                conn,
                run,
                delivered_now=int(delivered),
                failed=int(failed),
                first_error=first_error,
            )
            if pace is not None and run is not None:
                self._count_pace(conn, run, pace)

    def partition_events(
        self, date: dt.date, app_id: str, chunk: int = 20_000
    ) -> Iterator[LedgerEvent]:
        """Every recorded event of the partition, as the checks read them, about ``chunk`` at a
        time, each chunk on a connection of its own. One query splits the partition into such
        chunks by the key its table reads ranges of cheaply, a chunk is then the rows between two
        splits: in the DuckDB file the row order (``rowid``: a chunk reads a few row groups), in
        PostgreSQL ``event_id`` (its unique index). By ``event_id`` in the file, a chunk's rows
        were scattered over every row group: 21 s for 951k events, 10 s by ``rowid``."""
        where = f"FROM {DELIVERIES.name} WHERE report_date = ? AND app_id = ?"
        with self._connect() as conn:
            [(kind,)] = conn.execute(
                "SELECT type FROM duckdb_databases() WHERE database_name = current_database()"
            ).fetchall()
            key = "rowid" if kind == "duckdb" else "event_id"
            [(count,)] = conn.execute(f"SELECT count(*) {where}", [date, app_id]).fetchall()
            parts = math.ceil(count / chunk)
            splits: list[Any] = []
            if parts > 1:
                [(splits,)] = conn.execute(
                    f"SELECT quantile_disc({key}, ?) {where}",
                    [[n / parts for n in range(1, parts)], date, app_id],
                ).fetchall()
        edges: list[Any] = [None, *sorted(set(splits)), None]
        for low, high in itertools.pairwise(edges):
            between = [(f"{key} > ?", low), (f"{key} <= ?", high)]
            rows = self._partition_query(
                "SELECT event_id, status, last_error, payload, revenue_usd, "
                "coalesce(kind, 'usage')",
                date,
                app_id,
                "".join(f"AND {term} " for term, value in between if value is not None)
                + f"ORDER BY {key}",
                [value for _, value in between if value is not None],
            )
            yield from (LedgerEvent(*row) for row in rows)

    def undelivered_partitions(self, before: dt.date) -> list[Undelivered]:
        """The partitions of days before ``before`` with events a run would send, oldest first."""
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT report_date, app_id, count(*) FROM {DELIVERIES.name} "
                f"WHERE report_date < ? AND {UNDELIVERED} GROUP BY ALL ORDER BY ALL",
                [before],
            ).fetchall()
        return [Undelivered(date, app_id, int(n)) for date, app_id, n in rows]

    def undelivered_events(
        self, date: dt.date, app_id: str
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """The partition's events a run would send, with their stored payloads, a chunk at a
        time (``partition_events``'s)."""
        for event in self.partition_events(date, app_id):
            if event.status == "failed" or (
                event.status == "pending" and event.last_error != DRY_RUN_NOTE
            ):
                yield event.event_id, json.loads(event.payload)

    def count_events(self, events: int) -> None:
        """Count ``events`` (the sweep's, which registers none) in the run's row."""
        with self._connect() as conn, transaction(conn):
            self._count(conn, self._run, events=events)

    def status_counts(self, date: dt.date, app_id: str) -> dict[str, int]:
        rows = self._partition_query("SELECT status, count(*)", date, app_id, "GROUP BY status")
        return {status: int(count) for status, count in rows}

    def _partition_query(
        self,
        select: str,
        date: dt.date,
        app_id: str,
        tail: str = "",
        params: list[Any] | None = None,
    ) -> list[tuple[Any, ...]]:
        with self._connect() as conn:
            return conn.execute(
                f"{select} FROM {DELIVERIES.name} WHERE report_date = ? AND app_id = ? {tail}",
                [date, app_id, *(params or [])],
            ).fetchall()
