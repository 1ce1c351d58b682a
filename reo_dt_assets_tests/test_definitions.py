"""The code location loads and validates, with every asset, check and resource wired."""

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from reo_dt_assets.components.executor import executor
from reo_dt_assets.definitions import defs
from reo_dt_assets.reo.events import BuiltEvent
from reo_dt_assets.reo.ledger import DeliveryLedger
from reo_dt_assets_tests.helpers import REPO

DEFS = defs()  # what `dg` and the webserver load from the folder


def test_definitions_validate() -> None:
    dg.Definitions.validate_loadable(DEFS)


def test_raw_asset_is_partitioned_by_app_and_date() -> None:
    asset = DEFS.resolve_assets_def("dt_user_level_report")
    partitions = asset.partitions_def
    assert isinstance(partitions, dg.MultiPartitionsDefinition)
    assert {d.name for d in partitions.partitions_defs} == {"app", "date"}
    assert "148721|2026-11-20" in partitions.get_partition_keys()
    assert asset.group_names_by_key[asset.key] == "ad_revenue"  # one group: the whole flow
    assert asset.op.pool == "dt_reporting"


def test_layers_checks_pools_and_freshness() -> None:
    graph = DEFS.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert keys == {
        "dt_user_level_report",
        "user_revenue",
        "reo_usage_events",
        "daily_revenue",
        "revenue_cohorts",
        "revenue_report",
    }
    pools = {k: DEFS.resolve_assets_def(k).op.pool for k in keys}
    assert pools == {
        "dt_user_level_report": "dt_reporting",
        "user_revenue": "duckdb_writer",
        "reo_usage_events": "reo_delivery",
        "daily_revenue": "duckdb_writer",
        "revenue_cohorts": "duckdb_writer",
        "revenue_report": "duckdb_writer",
    }
    checks = {key.name for key in graph.asset_check_keys}
    assert {
        "dt_user_level_report_columns",
        "reconciles_with_raw_report",
        "payloads_match_contract",
    } <= checks
    assert (
        DEFS.resolve_assets_def("user_revenue")
        .specs_by_key[dg.AssetKey("user_revenue")]
        .freshness_policy
        is not None
    )
    assert DEFS.resolve_job_def("daily_revenue_events_job") is not None
    assert DEFS.resolve_job_def("daily_rollup_job") is not None
    assert DEFS.resolve_schedule_def("daily_revenue_events_schedule") is not None
    rollup = DEFS.resolve_job_def("daily_rollup_job")
    assert rollup.asset_layer.selected_asset_keys == {
        dg.AssetKey("daily_revenue"),
        dg.AssetKey("revenue_cohorts"),
        dg.AssetKey("revenue_report"),
    }  # the cohorts and the report are refreshed with every rollup
    sensor = DEFS.resolve_sensor_def("daily_rollup_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING  # make ui rolls days up


def test_resources_hold_no_credentials_or_urls() -> None:
    """Credentials and base URLs come from the environment at run time, never from config."""
    from reo_dt_assets.components.resources import DigitalTurbineResource, ReoResource

    for resource in (DigitalTurbineResource, ReoResource):
        fields = set(resource.model_fields)
        assert not fields & {"client_id", "client_secret", "api_key", "base_url"}, fields


def test_partition_keys_in_the_wrong_order_or_of_unknown_apps_say_what_to_do() -> None:
    from reo_dt_assets.components.wiring import report_key
    from reo_dt_assets_tests.chain import report_of

    assert report_of(report_key("148721", dt.date(2026, 11, 17))) == (
        dt.date(2026, 11, 17),
        "148721",
    )
    with pytest.raises(dg.Failure, match="use '203945\\|2026-11-17'"):
        report_of("2026-11-17|203945")
    with pytest.raises(dg.Failure, match="'999' of partition '999\\|2026-11-17' is not in the app"):
        report_of("999|2026-11-17")
    with pytest.raises(dg.Failure, match="partition keys read '<app>\\|<YYYY-MM-DD>'"):
        report_of("148721")


def test_folder_loader_keeps_the_executor_and_the_resources() -> None:
    job = DEFS.resolve_job_def("daily_revenue_events_job")
    assert job.executor_def is executor  # in-process, freeing dead runs' slots
    assert set(job.resource_defs) >= {
        "digital_turbine",
        "storage",
        "duckdb",
        "reo",
        "user_directory",
    }


def test_a_failed_write_lets_go_of_the_duckdb_file(tmp_path: Path) -> None:
    """Another process can write the file while the failure (and its traceback) is still held."""
    from reo_dt_assets.components.resources import WarehouseResource

    database = tmp_path / "reo_dt.duckdb"
    resource = WarehouseResource(database=str(database))
    with pytest.raises(RuntimeError) as failure, resource.get_connection() as conn:
        conn.execute("CREATE TABLE t (x INTEGER)")
        raise RuntimeError("the write failed")
    other = subprocess.run(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; duckdb.connect(sys.argv[1]).close()",
            str(database),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert other.returncode == 0, other.stderr
    assert failure.value is not None  # the traceback, with its frames, is still alive here


def test_the_alert_sensor_is_off_and_silent_without_destinations() -> None:
    """No ``REO_DT_ALERT_URLS`` here: stopped by default, and turned on it sends nothing and
    forgets its cursor, so URLs set later start from then, not from the history."""
    sensor = DEFS.resolve_sensor_def("alerts")
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(
            instance=instance, cursor='{"cursors": {}}', repository_def=DEFS.get_repository_def()
        )
        result = sensor(context)
        assert isinstance(result, dg.SkipReason)
        assert result.skip_message == "REO_DT_ALERT_URLS is not set: no alert is sent"
        assert context.cursor is None


def test_the_ledgers_chunks_are_never_rewritten_together(tmp_path: Path) -> None:
    """Every connection to the file leaves vacuum off: merging the ledger's row groups (one per
    registered chunk) rewrote up to 122,880 payloads at once, hundreds of MiB at a close."""
    from reo_dt_assets.components.resources import WarehouseResource

    resource = WarehouseResource(database=str(tmp_path / "reo_dt.duckdb"))
    ledger = DeliveryLedger(resource.get_ledger_connection)
    day = dt.date(2026, 11, 20)
    for chunk in range(4):
        events = [
            BuiltEvent(f"{chunk}-{n}", f"user{n}", 1.0, {"event_id": n, "meta": "x" * 500})
            for n in range(2_000)
        ]
        ledger.register(day, "1", events, rejected={})
    with resource.get_connection() as conn:
        conn.execute("CREATE TABLE other AS SELECT 1 AS x")  # a write elsewhere, then a close
    with resource.get_connection() as conn:
        [(row_groups,)] = conn.execute(
            "SELECT count(DISTINCT row_group_id) FROM pragma_storage_info('reo_event_deliveries')"
        ).fetchall()
    assert row_groups == 4


@pytest.mark.slow
def test_dg_check_defs_fails_naming_a_bad_setting() -> None:
    """A bad setting fails ``dg check defs`` (``make lint``, a deployment's check), not the
    first schedule tick that reads it."""
    done = subprocess.run(
        [str(Path(sys.executable).with_name("dg")), "check", "defs"],
        cwd=REPO,
        env={**os.environ, "VIRTUAL_ENV": sys.prefix, "REO_DT_PULL_AGES": "1,2,x"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0
    assert "REO_DT_PULL_AGES='1,2,x': expected whole numbers of days" in done.stdout + done.stderr
