"""The delivery ledger on a real DuckDB file: statuses, attempts, what is sent again."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import duckdb

from reo_dt_assets.migrations import migrate_file_at
from reo_dt_assets.reo.events import BuiltEvent
from reo_dt_assets.reo.ledger import SUPERSEDED
from reo_dt_assets.reo.sender import SendResult
from reo_dt_assets_tests.helpers import file_ledger

DAY = dt.date(2026, 11, 20)


def _event(n: int, revenue: float = 1.0) -> BuiltEvent:
    return BuiltEvent(f"e{n}", f"user{n}", revenue, {"event_id": f"e{n}", "revenue": revenue})


def _rows(path: Path) -> dict[str, tuple]:
    with duckdb.connect(str(path)) as conn:
        rows = conn.execute(
            "SELECT event_id, status, attempts, last_http_status, last_error, revenue_usd, "
            "delivered_at IS NOT NULL FROM reo_event_deliveries"
        ).fetchall()
    return {row[0]: row[1:] for row in rows}


def test_register_record_and_register_again(tmp_path: Path) -> None:
    path = tmp_path / "ledger.duckdb"
    ledger = file_ledger(path)
    first = ledger.register(
        DAY,
        "1",
        [_event(1), _event(2), _event(3)],
        rejected={"e3": "user_id must be a non-empty string"},
    )
    assert [event_id for event_id, _ in first.to_send] == ["e1", "e2"]
    assert _rows(path)["e3"][:1] + _rows(path)["e3"][3:4] == (
        "rejected",
        "user_id must be a non-empty string",
    )

    ledger.record(
        [SendResult("e1", True, 2, 200, None), SendResult("e2", False, 3, 422, "HTTP 422: nope")]
    )
    rows = _rows(path)
    assert rows["e1"] == ("delivered", 2, 200, None, 1.0, True)
    assert rows["e2"] == ("failed", 3, 422, "HTTP 422: nope", 1.0, False)

    # The day re-pulled with other revenue: e1 stays as delivered, e2 is sent again.
    again = ledger.register(DAY, "1", [_event(1, 5.0), _event(2, 5.0), _event(3)], rejected={})
    assert [event_id for event_id, _ in again.to_send] == ["e2", "e3"]
    assert again.already_delivered == 1
    rows = _rows(path)
    assert rows["e1"] == ("delivered", 2, 200, None, 1.0, True)
    assert rows["e2"][:2] == ("pending", 3) and rows["e2"][4] == 5.0
    assert ledger.status_counts(DAY, "1") == {"delivered": 1, "pending": 2}


def test_a_delivered_event_is_never_downgraded(tmp_path: Path) -> None:
    path = tmp_path / "ledger.duckdb"
    ledger = file_ledger(path)
    ledger.register(DAY, "1", [_event(1)], rejected={})
    ledger.record([SendResult("e1", True, 1, 200, None)])
    ledger.record([SendResult("e1", False, 1, 503, "late duplicate failure")])
    assert _rows(path)["e1"][0] == "delivered"


def test_a_correction_not_delivered_is_superseded_until_registered_again(tmp_path: Path) -> None:
    path = tmp_path / "ledger.duckdb"
    ledger = file_ledger(path)
    corrections = [
        BuiltEvent(f"c{n}", f"user{n}", 0.5, {"event_id": f"c{n}"}, kind="correction")
        for n in (1, 2)
    ]
    ledger.register(DAY, "1", [_event(1), *corrections], rejected={})
    ledger.record([SendResult("c1", True, 1, 200, None)])
    ledger.supersede_corrections(DAY, "1")
    rows = _rows(path)
    assert rows["c1"][0] == "delivered" and rows["e1"][0] == "pending"  # only corrections
    assert rows["c2"][0] == "rejected" and rows["c2"][3] == SUPERSEDED
    again = ledger.register(DAY, "1", corrections[1:], rejected={})  # still due: pending again
    assert [event_id for event_id, _ in again.to_send] == ["c2"]
    assert _rows(path)["c2"][0] == "pending"


def test_a_ledger_of_an_earlier_release_gains_the_kind_column(tmp_path: Path) -> None:
    path = tmp_path / "ledger.duckdb"
    migrate_file_at(path, target=4)  # the release before correction events: no kind column
    with duckdb.connect(str(path)) as conn:
        conn.execute(
            "INSERT INTO reo_event_deliveries VALUES ('e0', ?, '1', 'user0', 'delivered', 1, "
            "200, NULL, 'h', '{}', 1.0, now(), now(), now())",
            [DAY],
        )
    ledger = file_ledger(path)
    ledger.register(DAY, "1", [_event(1)], rejected={})
    kinds = {event.event_id: event.kind for event in ledger.partition_events(DAY, "1")}
    assert kinds == {"e0": "usage", "e1": "usage"}


# A run that journals three results and dies without closing anything (the kernel drops its
# lock on the journal): the first result went into the ledger, the other two only journaled.
DYING_RUN = """
import datetime as dt, os, sys
from pathlib import Path
from reo_dt_assets.reo.ledger import RunKey
from reo_dt_assets.reo.sender import SendResult
from reo_dt_assets_tests.helpers import file_ledger
from reo_dt_assets_tests.test_ledger import _event
path, journal = Path(sys.argv[1]), Path(sys.argv[2])
ledger = file_ledger(path, RunKey("dying", dt.date(2026, 11, 20), "1"), journal)
ledger.start_run()
ledger.register(dt.date(2026, 11, 20), "1", [_event(1), _event(2), _event(3)], rejected={})
ledger.record([SendResult("e1", True, 1, 200, None)])  # the first batch is folded at once
ledger.record([SendResult("e2", True, 1, 200, None), SendResult("e3", False, 2, 503, "HTTP 503")])
os._exit(0)
"""


def _run_counts(path: Path) -> tuple[int, int]:
    with duckdb.connect(str(path)) as conn:
        [counts] = conn.execute(
            "SELECT delivered_now, failed FROM reo_delivery_runs WHERE run_id = 'dying'"
        ).fetchall()
    return counts


def test_a_dead_runs_journal_is_folded_into_the_ledger_once(tmp_path: Path) -> None:
    path, journal = tmp_path / "ledger.duckdb", tmp_path / "journal"
    subprocess.run([sys.executable, "-c", DYING_RUN, path, journal], check=True)
    assert _rows(path)["e2"][0] == "pending" and _run_counts(path) == (1, 0)
    [left] = journal.glob("*.jsonl")
    kept = left.read_bytes()
    with left.open("ab") as file:  # a line the death cut short
        file.write(b'["e9", tr')
    assert file_ledger(path, journal=journal).recover() == 2
    rows = _rows(path)
    assert rows["e2"] == ("delivered", 1, 200, None, 1.0, True)
    assert rows["e3"] == ("failed", 2, 503, "HTTP 503", 1.0, False)
    assert _run_counts(path) == (2, 1)  # the dead run's row counts what its journal held
    assert not list(journal.glob("*.jsonl"))
    # Killed after folding and before deleting: folding again changes nothing.
    left.write_bytes(kept)
    assert file_ledger(path, journal=journal).recover() == 2
    assert _rows(path) == rows and _run_counts(path) == (2, 1)


def test_a_live_runs_journal_is_left_alone(tmp_path: Path) -> None:
    path, journal = tmp_path / "ledger.duckdb", tmp_path / "journal"
    ledger = file_ledger(path, journal=journal)
    ledger.register(DAY, "1", [_event(1), _event(2)], rejected={})
    ledger.record([SendResult("e1", True, 1, 200, None)])
    ledger.record([SendResult("e2", True, 1, 200, None)])  # journaled, not yet folded
    assert file_ledger(path, journal=journal).recover() == 0
    assert _rows(path)["e2"][0] == "pending"
    ledger.close()
    assert _rows(path)["e2"][0] == "delivered" and not list(journal.glob("*.jsonl"))
