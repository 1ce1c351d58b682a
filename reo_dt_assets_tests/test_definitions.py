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
