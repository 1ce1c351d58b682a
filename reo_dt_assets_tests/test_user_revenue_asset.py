"""The user_revenue asset with its checks, materialized on partitions against the sandbox."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from reo_dt_assets.components.resources import StorageResource
from reo_dt_assets.components.revenue import masked_key
from reo_dt_assets.revenue.queries import duplicate_keys, negative_rows, schema_problems
from reo_dt_assets.revenue.scratch import SCRATCH
from reo_dt_assets.sandbox.dt_server import DTSandbox
from reo_dt_assets.schema import USER_REVENUE
from reo_dt_assets_tests.chain import (
    dt_user_level_report,
    dt_user_level_report_columns,
    user_revenue,
    user_revenue_checks,
)
from reo_dt_assets_tests.helpers import all_resources, step_failure, wait_for

DAY = dt.date(2026, 11, 20)
APP = "148721"
ASSETS = [dt_user_level_report, dt_user_level_report_columns, user_revenue, user_revenue_checks]
HEADER = (
    "Date,App ID,Ad Network Name,Ad Unit ID,Container Type ID,Advertising ID,IDFV,User ID,"
    "Instance ID,Placement ID,Placement Type,Impressions,Revenue"
)


def _run(sandbox: DTSandbox, data_dir: Path, day: dt.date = DAY) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        ASSETS,
        partition_key=f"{APP}|{day}",
        resources=all_resources(sandbox.url, data_dir),
        raise_on_error=False,
    )


def _table(data_dir: Path) -> list[tuple]:
    with duckdb.connect(str(data_dir / "reo_dt.duckdb"), read_only=True) as conn:
        return conn.execute(
            "SELECT report_date, app_id, user_key, user_key_type, impressions, revenue_usd "
            "FROM user_revenue ORDER BY ALL"
        ).fetchall()


def test_table_matches_ground_truth_and_checks_pass(dt_sandbox: DTSandbox, tmp_path: Path) -> None:
    result = _run(dt_sandbox, tmp_path)
    assert result.success
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == {
        "dt_user_level_report_columns",
        "schema_matches_contract",
        "key_is_unique",
        "amounts_not_negative",
        "reconciles_with_raw_report",
        "history_matches_user_revenue",
        "splits_match_revenue",
        "restatement_within_threshold",
    }
    assert all(e.passed for e in evaluations.values())
    truth = dt_sandbox.ground_truth(DAY, APP)
    rows = {row[2]: row for row in _table(tmp_path)}
    assert len(rows) == len(truth.users)
    for (kind, key), totals in truth.users.items():
        assert rows[key][3] == kind
        assert rows[key][4] == totals.impressions
        assert rows[key][5] == pytest.approx(totals.revenue_usd, abs=1e-9)
    [materialization] = result.asset_materializations_for_node("user_revenue")
    meta = materialization.metadata
    assert meta["dagster/row_count"].value == len(truth.users)
    # Money to the cent in the metadata; the table keeps the exact values (above).
    users_usd = (truth.total.revenue_nanos - truth.unattributed.revenue_nanos) / 1e9
    for key, exact in (
        ("revenue_usd_total", users_usd),
        ("unattributed_revenue_usd", truth.unattributed.revenue_usd),
    ):
        value = meta[key].value
        assert isinstance(value, float), key
        assert value == round(value, 2) == pytest.approx(exact, abs=0.005 + 1e-9), key
    top = str(meta["top_users"].value).splitlines()
    assert top[0] == "| user_key | user_key_type | impressions | revenue_usd |"
    assert all(re.fullmatch(r"\| .+ \| \d+\.\d\d \|", line) for line in top[2:])  # cents
    shown = "\n".join(top[2:])
    assert len(top) == 12 and not any(key in shown for _, key in truth.users)  # keys masked
    assert isinstance(meta["dagster/column_schema"].value, dg.TableSchema)


def test_masked_keys_tell_users_apart_without_showing_them() -> None:
    first, second = "https://github.com/alice.dev", "https://github.com/bob.dev"
    assert masked_key(first) != masked_key(second)  # both read "htt…dev" before
    assert re.fullmatch(r"h…v #[0-9a-f]{6}", masked_key(first))
    assert masked_key(first) == masked_key(first)  # the same user reads the same everywhere
    assert "bo" not in masked_key("bob") and re.fullmatch(r"… #[0-9a-f]{6}", masked_key("bob"))


def test_rematerializing_replaces_rows(dt_sandbox: DTSandbox, tmp_path: Path) -> None:
    assert _run(dt_sandbox, tmp_path).success
    assert _run(dt_sandbox, tmp_path, DAY - dt.timedelta(days=1)).success
    before = _table(tmp_path)
    assert _run(dt_sandbox, tmp_path).success
    after = _table(tmp_path)
    assert after == before  # same rows, nothing duplicated, the other day untouched
    with duckdb.connect(str(tmp_path / "reo_dt.duckdb"), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM user_revenue_partitions").fetchone() == (2,)


def _line(**fields: str) -> str:
    values = {"date": "2026-11-20", "impressions": "3", "revenue": "0.01"} | fields
    return (
        f"{values['date']},{APP},AdMob,1,1,,,bob,i,1,banner,"
        f"{values['impressions']},{values['revenue']}"
    )


BAD_INPUTS = {
    "non-numeric revenue": (
        (HEADER + "\r\n" + _line(revenue="n/a") + "\r\n").encode(),
        "line 2, column 'Revenue'",
    ),
    "negative impressions": (
        (HEADER + "\r\n" + _line(impressions="-1") + "\r\n").encode(),
        "line 2, column 'Impressions'",
    ),
    "date of another day": (
        (HEADER + "\r\n" + _line(date="2026-11-01") + "\r\n").encode(),
        "line 2, column 'Date'",
    ),
    "invalid UTF-8": (
        (HEADER + "\r\n" + _line() + "\r\n").encode().replace(b"bob", b"b\xffb"),
        "line 2: invalid UTF-8",
    ),
    "truncated last line": (
        (HEADER + "\r\n" + _line() + "\r\n" + _line()[:20]).encode(),
        "line 3: the last line is truncated",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_fails_and_changes_nothing(
    dt_sandbox: DTSandbox, tmp_path: Path, case: str
) -> None:
    assert _run(dt_sandbox, tmp_path).success
    before = _table(tmp_path)
    body, message = BAD_INPUTS[case]
    dt_sandbox.overrides[(DAY, APP)] = body
    result = _run(dt_sandbox, tmp_path)
    assert not result.success
    step, failure = step_failure(result)
    assert step == "user_revenue"
    assert message in failure
    assert _table(tmp_path) == before


def test_missing_column_is_blocked_before_the_table(dt_sandbox: DTSandbox, tmp_path: Path) -> None:
    assert _run(dt_sandbox, tmp_path).success
    before = _table(tmp_path)
    dt_sandbox.overrides[(DAY, APP)] = (HEADER.replace(",Revenue", "") + "\r\n").encode()
    result = _run(dt_sandbox, tmp_path)
    assert not result.success
    step, failure = step_failure(result)
    assert step == "dt_user_level_report_dt_user_level_report_columns"
    assert "1 blocking asset check failed" in failure
    [check] = result.get_asset_check_evaluations()
    assert not check.passed
    assert "missing required columns ['Revenue']" in (check.description or "")
    started = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    assert "user_revenue" not in started  # the check blocked it
    assert _table(tmp_path) == before


def test_a_drifted_report_warns_and_still_loads(dt_sandbox: DTSandbox, tmp_path: Path) -> None:
    # Columns reordered, Placement ID gone, an unknown Country: a yellow check, then the load.
    header = HEADER.replace("Placement ID,", "").split(",")
    header = [*reversed(header), "Country"]
    rows = [
        "2026-11-20,148721,AdMob,1,1,,,bob,i,banner,3,0.25",
        "2026-11-20,148721,Unity,1,1,,,bob,i,video,2,0.5",
    ]
    body = [header, *([*reversed(row.split(",")), "DE"] for row in rows)]
    dt_sandbox.overrides[(DAY, APP)] = "".join(",".join(line) + "\r\n" for line in body).encode()
    result = _run(dt_sandbox, tmp_path)
    assert result.success
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    drift = evaluations.pop("dt_user_level_report_columns")
    assert not drift.passed and drift.severity == dg.AssetCheckSeverity.WARN
    assert "documented columns absent ['Placement ID']; unknown columns ['Country']" in (
        drift.description or ""
    )
    assert all(e.passed for e in evaluations.values())
    assert [(row[2], row[4], row[5]) for row in _table(tmp_path)] == [("bob", 5, 0.75)]


def test_blank_lines_count_alike_in_the_raw_report_and_the_table(
    dt_sandbox: DTSandbox, tmp_path: Path
) -> None:
    lines = [HEADER, _line(), "", _line().replace("bob", "ann"), ",,,,,,,,,,,,", "", _line(), ""]
    dt_sandbox.overrides[(DAY, APP)] = "\r\n".join(lines).encode()
    result = _run(dt_sandbox, tmp_path)
    assert result.success
    [raw] = result.asset_materializations_for_node("dt_user_level_report")
    [table] = result.asset_materializations_for_node("user_revenue")
    assert raw.metadata["dagster/row_count"].value == table.metadata["raw_rows"].value == 3
    columns = next(
        e for e in result.get_asset_check_evaluations() if e.check_name.endswith("_columns")
    )
    assert columns.metadata["data_rows"].value == 3


def test_check_queries_catch_a_tampered_table(dt_sandbox: DTSandbox, tmp_path: Path) -> None:
    assert _run(dt_sandbox, tmp_path).success
    with duckdb.connect(str(tmp_path / "reo_dt.duckdb")) as conn:
        assert schema_problems(conn, USER_REVENUE) == []
        conn.execute("INSERT INTO user_revenue SELECT * FROM user_revenue LIMIT 1")
        conn.execute("UPDATE user_revenue SET revenue_usd = -1 WHERE rowid = 0")
        assert len(duplicate_keys(conn, DAY, APP)) == 1
        assert negative_rows(conn, DAY, APP) >= 1
        conn.execute("ALTER TABLE user_revenue ADD COLUMN surprise INTEGER")
        assert schema_problems(conn, USER_REVENUE) == ["unexpected columns ['surprise']"]


PARALLEL_CHILD = """
import sys
from pathlib import Path
import dagster as dg
import duckdb
from reo_dt_assets_tests.helpers import all_resources
from reo_dt_assets_tests.test_user_revenue_asset import ASSETS
url, data_dir, key, met_lock = sys.argv[1:]
connect = duckdb.connect

def connect_and_tell(*args, **kwargs):
    # What DuckDBResource calls (and retries on IOException): the real connect, watched, so
    # the test learns that this process met the write lock the test holds.
    try:
        return connect(*args, **kwargs)
    except duckdb.IOException as error:
        told = Path(met_lock)
        if not told.exists():  # the first time says it; written whole, then renamed into place
            told.with_suffix(".part").write_text(str(error))
            told.with_suffix(".part").replace(told)
        raise

duckdb.connect = connect_and_tell
result = dg.materialize(ASSETS, partition_key=key, resources=all_resources(url, Path(data_dir)))
print("OK" if result.success else "FAILED")
"""


@pytest.mark.slow
def test_parallel_runs_of_different_partitions(dt_sandbox: DTSandbox, tmp_path: Path) -> None:
    """Four processes write four partitions of one DuckDB file; its write lock is held until
    each of them has met it, so each must wait for it (and then for the others)."""
    days = [DAY - dt.timedelta(days=n) for n in range(4)]
    database = tmp_path / "reo_dt.duckdb"
    met = [tmp_path / f"{day}.met-lock" for day in days]
    logs = [tmp_path / f"{day}.log" for day in days]
    holder = duckdb.connect(str(database))  # the writer lock, until every child has met it
    children: list[subprocess.Popen] = []
    try:
        for day, told, log in zip(days, met, logs, strict=True):
            arguments = [dt_sandbox.url, str(tmp_path), f"{APP}|{day}", str(told)]
            with log.open("w") as stderr:
                children.append(
                    subprocess.Popen(
                        [sys.executable, "-c", PARALLEL_CHILD, *arguments],
                        stdout=subprocess.PIPE,
                        stderr=stderr,
                        text=True,
                    )
                )

        def all_met() -> bool:
            for child, log in zip(children, logs, strict=True):
                assert child.poll() is None, log.read_text()[-3000:]  # it cannot finish yet
            return all(told.exists() for told in met)

        wait_for("every child met the write lock", all_met, timeout=120)
        for told in met:  # the lock they met is this test's
            assert "Conflicting lock is held" in told.read_text()
            assert f"(PID {os.getpid()})" in told.read_text()
        holder.close()
        outputs = [child.communicate(timeout=240)[0].strip() for child in children]
    finally:
        holder.close()
        for child in children:
            child.kill()
            child.wait()
    assert outputs == ["OK"] * 4, [log.read_text()[-2000:] for log in logs]
    with duckdb.connect(str(database), read_only=True) as conn:
        assert conn.execute(
            "SELECT count(DISTINCT report_date), count(*) = count(DISTINCT "
            "(report_date, app_id, user_key)) FROM user_revenue"
        ).fetchone() == (4, True)


BUCKETS = 3


def _in_buckets(dt_url: str, data_dir: Path) -> dict[str, object]:
    """Resources whose load parses the report in ``BUCKETS`` buckets, small as it is."""
    resources = all_resources(dt_url, data_dir)
    resources["storage"] = StorageResource(data_dir=str(data_dir), parse_buckets=BUCKETS)
    return resources


def test_a_report_loaded_in_buckets_is_the_ground_truth(
    dt_sandbox: DTSandbox, tmp_path: Path
) -> None:
    result = dg.materialize(
        ASSETS, partition_key=f"{APP}|{DAY}", resources=_in_buckets(dt_sandbox.url, tmp_path)
    )
    assert all(e.passed for e in result.get_asset_check_evaluations())  # reconciliation too
    [materialization] = result.asset_materializations_for_node("user_revenue")
    buckets = materialization.metadata["parse_buckets"].value
    assert buckets == BUCKETS
    truth = dt_sandbox.ground_truth(DAY, APP)
    rows = {row[2]: row for row in _table(tmp_path)}
    assert len(rows) == len(truth.users)
    for (kind, key), totals in truth.users.items():
        assert rows[key][3:5] == (kind, totals.impressions)
        assert rows[key][5] == pytest.approx(totals.revenue_usd, abs=1e-9)
    assert list((tmp_path / SCRATCH).glob("load-*")) == []


KILLED_CHILD = """
import sys
from pathlib import Path
import dagster as dg
from reo_dt_assets_tests.chain import user_revenue
from reo_dt_assets.components.revenue import masked_key
from reo_dt_assets_tests.test_user_revenue_asset import _in_buckets
url, data_dir, key = sys.argv[1:]
dg.materialize([user_revenue], partition_key=key, resources=_in_buckets(url, Path(data_dir)))
"""


@pytest.mark.slow
def test_a_load_killed_midway_changes_nothing_and_its_files_go_at_the_next(
    dt_sandbox: DTSandbox, tmp_path: Path
) -> None:
    """SIGKILL while the parsed buckets wait for the DuckDB file (the test holds its lock)."""
    assert dg.materialize(
        ASSETS, partition_key=f"{APP}|{DAY}", resources=_in_buckets(dt_sandbox.url, tmp_path)
    ).success
    before = _table(tmp_path)
    holder = duckdb.connect(str(tmp_path / "reo_dt.duckdb"))
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_CHILD, dt_sandbox.url, str(tmp_path), f"{APP}|{DAY}"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def parsed() -> list[Path]:
            assert child.poll() is None, child.communicate()[1][-3000:]
            return list((tmp_path / SCRATCH).glob("load-*/users-1.parquet"))

        [users_file] = wait_for("the child parsed in buckets", parsed, timeout=120)
        child.kill()
        child.wait()
    finally:
        child.kill()
        holder.close()
    assert users_file.exists()  # left behind by the dead process
    assert _table(tmp_path) == before
    assert _run(dt_sandbox, tmp_path).success
    assert list((tmp_path / SCRATCH).glob("load-*")) == []
    after = _table(tmp_path)  # the same report loaded again (in one bucket: sums in another order)
    assert [row[:5] for row in after] == [row[:5] for row in before]
    assert [row[5] for row in after] == pytest.approx([row[5] for row in before], rel=1e-12)
