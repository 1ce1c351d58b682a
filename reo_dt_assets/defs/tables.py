"""How a DuckDB table of ``reo_dt_assets.schema`` shows in the UI: its column schema and its
name, derived from the one definition, for every asset that writes or describes a table."""

from pathlib import Path

import dagster as dg

from reo_dt_assets.schema import Table


def column_schema(table: Table) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                c.name,
                c.type,
                description=c.description,
                constraints=dg.TableColumnConstraints(nullable=c.nullable),
            )
            for c in table.columns
        ]
    )


def table_name(database: str, table: Table) -> str:
    """``dagster/table_name``: ``<database file stem>.main.<table>``."""
    return f"{Path(database).stem}.main.{table.name}"
