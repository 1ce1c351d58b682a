"""The code location: every definition under ``defs/``, found by ``dg``'s folder loader."""

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
        # A run's steps form a chain (report -> check -> table -> checks -> events -> checks),
        # so one process per run is as fast as one per step and far lighter on a small machine.
        dg.Definitions(executor=dg.in_process_executor),
    )
