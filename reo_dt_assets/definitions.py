"""The code location: every definition under ``defs/``, found by ``dg``'s folder loader."""

from pathlib import Path

import dagster as dg

from reo_dt_assets.defs.executor import executor


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
        dg.Definitions(executor=executor),
    )
