"""The code location loads and validates, with every asset, check and resource wired."""

import dagster as dg

from reo_dt_assets.definitions import defs


def test_definitions_validate() -> None:
    dg.Definitions.validate_loadable(defs)


def test_raw_asset_is_partitioned_by_app_and_date() -> None:
    asset = defs.resolve_assets_def("dt_user_level_report")
    partitions = asset.partitions_def
    assert isinstance(partitions, dg.MultiPartitionsDefinition)
    assert {d.name for d in partitions.partitions_defs} == {"app", "date"}
    assert "148721|2026-11-20" in partitions.get_partition_keys()
    assert asset.group_names_by_key[asset.key] == "digital_turbine"
    assert asset.op.pool == "dt_reporting"


def test_layers_checks_pools_and_freshness() -> None:
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert keys == {"dt_user_level_report", "user_revenue", "reo_usage_events"}
    pools = {k: defs.resolve_assets_def(k).op.pool for k in keys}
    assert pools == {
        "dt_user_level_report": "dt_reporting",
        "user_revenue": "duckdb_writer",
        "reo_usage_events": "reo_delivery",
    }
    checks = {key.name for key in graph.asset_check_keys}
    assert {
        "dt_user_level_report_columns",
        "reconciles_with_raw_report",
        "payloads_match_contract",
    } <= checks
    assert (
        defs.resolve_assets_def("user_revenue")
        .specs_by_key[dg.AssetKey("user_revenue")]
        .freshness_policy
        is not None
    )
    assert defs.resolve_job_def("daily_revenue_events_job") is not None
    assert defs.resolve_schedule_def("daily_revenue_events_schedule") is not None


def test_resource_reprs_hide_secrets() -> None:
    from reo_dt_assets.defs.resources import DigitalTurbineResource, ReoResource

    dt_resource = DigitalTurbineResource(client_id="id", client_secret="s3cret-value")
    reo_resource = ReoResource(api_key="k3y-value")
    assert "s3cret-value" not in repr(dt_resource) + str(dt_resource)
    assert "k3y-value" not in repr(reo_resource) + str(reo_resource)
