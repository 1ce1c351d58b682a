"""Every store the settings name, brought to the current schema version at once: what
``python -m reo_dt_assets migrate`` does for an operator before the first run, and the demo and
``make ui`` before they start anything (each run migrates on its own first connection too)."""

from __future__ import annotations

import os

from reo_dt_assets import settings, warehouse
from reo_dt_assets.digital_turbine.budget import FILE_NAME as BUDGET_FILE
from reo_dt_assets.migrations import (
    Migrated,
    SchemaTooNewError,
    migrate_budget_at,
    migrate_file_at,
)


def migrate_stores() -> list[Migrated]:
    """The DuckDB file, or the DuckLake catalog and its ledger when ``REO_DT_DUCKLAKE`` is set,
    and the report budget's file if there is one; what each needed."""
    catalog = (os.environ.get(settings.REO_DT_DUCKLAKE) or "").strip()
    if catalog:
        lake = warehouse.DuckLake(catalog, settings.ducklake_data_path())
        migrated = [warehouse.migrate(lake)]
    else:
        migrated = [migrate_file_at(settings.duckdb_path())]
    budget = settings.data_dir() / BUDGET_FILE
    if budget.exists():
        migrated.append(migrate_budget_at(budget))
    return migrated


def print_migrations() -> None:
    """Migrate, saying what changed; a store newer than the code ends the program, saying so."""
    try:
        for migrated in migrate_stores():
            print(migrated, flush=True)
    except SchemaTooNewError as error:
        raise SystemExit(str(error)) from None
