"""How a DuckDB table of ``reo_dt_assets.schema`` shows in the UI: its column schema, derived from
the one definition, for every asset that writes or describes a table (its name comes from the
``duckdb`` resource, which knows where the table is)."""

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
