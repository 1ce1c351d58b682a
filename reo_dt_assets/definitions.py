"""The code location: the components of the ``defs/`` folder (``defs.yaml`` files), found by
``dg``'s folder loader, run by the executor that frees dead runs' pool slots."""

from pathlib import Path

import dagster as dg

from reo_dt_assets import settings
from reo_dt_assets.components import DigitalTurbineSource
from reo_dt_assets.components.executor import executor
from reo_dt_assets.components.wiring import Wiring

HERE = Path(__file__).parent


@dg.definitions
def defs() -> dg.Definitions:
    # First, so one error names every bad variable (the components check theirs again, wrapped
    # in the folder loader's error, for a project that loads them without this module).
    settings.validate()
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=HERE),
        dg.Definitions(executor=executor),
    )


def source_wiring() -> Wiring:
    """The catalog and names of this code location's DT source, as ``defs/digital_turbine``
    wires it (the demo plans its runs by them)."""
    tree = dg.ComponentTree.for_project(HERE)
    return tree.load_component("digital_turbine", DigitalTurbineSource).wiring()
