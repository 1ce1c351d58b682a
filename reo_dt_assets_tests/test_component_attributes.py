"""The components' attributes, loaded from ``defs.yaml`` in a defs folder of Dagster's component
test helpers: an inline catalog, an instance's names, the delivery's per-app mapping, and the
attributes refused with a message that says what to fix."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster.components.testing import DefsFolderSandbox, create_defs_folder_sandbox

from reo_dt_assets.components import DigitalTurbineSource, ReoDevDelivery
from reo_dt_assets.sandbox.dt_server import DTSandbox
from reo_dt_assets_tests.helpers import point_at_sandboxes

APPS = [
    {"app_id": 148721, "product_id": "puzzle-quest", "activity_type": "AD_REVENUE"},
    {"app_id": "203945", "product_id": "word-garden", "activity_type": "AD_REVENUE"},
]
CATALOG = {"start_date": "2026-11-01", "apps": APPS}


@pytest.fixture
def sandbox() -> Iterator[DefsFolderSandbox]:
    with create_defs_folder_sandbox() as sandbox:
        yield sandbox


def _place(sandbox: DefsFolderSandbox, cls: type, path: str, attributes: dict[str, Any]) -> Path:
    return sandbox.scaffold_component(
        cls,
        defs_path=path,
        defs_yaml_contents={"type": f"{cls.__module__}.{cls.__name__}", "attributes": attributes},
    )


def _all_defs(sandbox: DefsFolderSandbox) -> dg.Definitions:
    with sandbox.build_all_defs() as defs:
        return defs


def test_an_inline_catalog_and_a_prefix_name_everything_of_the_instance(
    sandbox: DefsFolderSandbox,
) -> None:
    _place(
        sandbox, DigitalTurbineSource, "mkt/dt", {"catalog": CATALOG, "asset_key_prefix": ["mkt"]}
    )
    _place(sandbox, ReoDevDelivery, "mkt/reo", {"source": "mkt/dt"})
    defs = _all_defs(sandbox)
    keys = {a.key.to_user_string() for a in defs.assets or []}  # type: ignore[union-attr]
    assert keys == {
        "mkt/dt_user_level_report",
        "mkt/user_revenue",
        "mkt/reo_usage_events",
        "mkt/daily_revenue",
        "mkt/revenue_cohorts",
        "mkt/revenue_report",
    }
    raw = defs.get_assets_def(dg.AssetKey(["mkt", "dt_user_level_report"]))
    assert raw.partitions_def is not None
    assert "148721|2026-11-01" in raw.partitions_def.get_partition_keys()  # an unquoted app ID
    assert raw.op.pool == "mkt_dt_reporting"
    assert sorted(defs.resources or {}) == [
        "mkt_digital_turbine",
        "mkt_duckdb",
        "mkt_reo",
        "mkt_storage",
        "mkt_user_directory",
    ]
    assert {s.name for s in defs.schedules or []} == {  # type: ignore[union-attr]
        "mkt_daily_revenue_events_schedule",
        "mkt_daily_rollup_schedule",
        "mkt_reo_delivery_sweep_schedule",
    }
    assert defs.resolve_job_def("mkt_daily_revenue_events_job").asset_layer.selected_asset_keys == {
        dg.AssetKey(["mkt", name])
        for name in ("dt_user_level_report", "user_revenue", "reo_usage_events")
    }


def test_the_delivery_maps_apps_over_the_catalog_and_can_leave_the_rollup_out(
    sandbox: DefsFolderSandbox, dt_sandbox: DTSandbox, tmp_path: Path
) -> None:
    """A dry run of one app-day through the instance's own job: its events carry the delivery's
    activity_type for the app, not the catalog's."""
    day = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    _place(sandbox, DigitalTurbineSource, "dt", {"catalog": CATALOG, "data_dir": str(tmp_path)})
    _place(
        sandbox,
        ReoDevDelivery,
        "reo",
        {
            "source": "dt",
            "apps": {"203945": {"activity_type": "WORD_AD_REVENUE"}},
            "rollup": False,
            "dry_run": True,
        },
    )
    point_at_sandboxes(dt_sandbox.url)
    defs = _all_defs(sandbox)
    assert {a.key.to_user_string() for a in defs.assets or []} == {  # type: ignore[union-attr]
        "dt_user_level_report",
        "user_revenue",
        "reo_usage_events",
    }
    assert not defs.sensors
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("daily_revenue_events_job").execute_in_process(
            partition_key=f"203945|{day}", instance=instance
        )
    assert result.success
    [events] = [
        m
        for m in result.asset_materializations_for_node("reo_usage_events")
        if m.asset_key == dg.AssetKey("reo_usage_events")
    ]
    preview = events.metadata["preview"]
    assert isinstance(preview, dg.JsonMetadataValue) and isinstance(preview.data, dict)
    payloads = preview.data["payloads"]
    assert payloads and {p["activity_type"] for p in payloads} == {"WORD_AD_REVENUE"}
    assert events.metadata["sent_now"].value == 0


@pytest.mark.parametrize(
    ("attributes", "said"),
    [
        (
            {"catalog": CATALOG, "catalog_file": "apps.toml"},
            "give `catalog` (inline) or `catalog_file`, not both",
        ),
        ({"catalog": CATALOG, "pull_ages": [0, 3]}, "pull_ages [0, 3] must be days 1 to 10"),
        ({"catalog_file": "missing.toml"}, "missing.toml not found"),
        (
            {"catalog": {"apps": [{"app_id": "1", "product_id": "p"}]}},
            "0.activity_type at",  # dg's schema, at the line of the defs.yaml
        ),
    ],
)
def test_a_bad_attribute_fails_the_load_naming_it(
    sandbox: DefsFolderSandbox, attributes: dict[str, Any], said: str
) -> None:
    _place(sandbox, DigitalTurbineSource, "dt", attributes)
    with pytest.raises(Exception) as failure:  # the folder loader wraps what the component says
        _all_defs(sandbox)
    told = "".join(str(e) for e in _chain(failure.value))
    assert said in told


def test_a_delivery_mapping_an_app_the_catalog_lacks_is_refused(sandbox: DefsFolderSandbox) -> None:
    _place(sandbox, DigitalTurbineSource, "dt", {"catalog": CATALOG})
    _place(sandbox, ReoDevDelivery, "reo", {"source": "dt", "apps": {"999": {"product_id": "x"}}})
    with pytest.raises(Exception) as failure:
        _all_defs(sandbox)
    told = "".join(str(e) for e in _chain(failure.value))
    assert "apps ['999'] are not in the source's catalog (148721, 203945)" in told


def test_a_delivery_whose_source_is_not_there_says_what_to_set(sandbox: DefsFolderSandbox) -> None:
    _place(sandbox, DigitalTurbineSource, "dt", {"catalog": CATALOG})
    _place(sandbox, ReoDevDelivery, "reo", {"source": "digital_turbine"})
    with pytest.raises(Exception) as failure:
        _all_defs(sandbox)
    told = "".join(str(e) for e in _chain(failure.value))
    assert "source 'digital_turbine' is not the folder of a DigitalTurbineSource" in told


def _chain(error: BaseException | None) -> Iterator[BaseException]:
    while error is not None:
        yield error
        error = error.__cause__ or error.__context__
