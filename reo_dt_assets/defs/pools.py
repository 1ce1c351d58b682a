"""Concurrency pools of the assets and the limits the project's instance gives them."""

DT_REPORTING = "dt_reporting"  # report requests and downloads to DT
DUCKDB_WRITER = "duckdb_writer"  # the one writer of the DuckDB file (DuckLake: many)
REO_DELIVERY = "reo_delivery"  # sends to Reo.Dev (each step is already concurrent inside)

MAX_CONCURRENT_RUNS = 4  # deploy/dagster.yaml and deploy/dagster-postgres.yaml


def limits(ducklake: bool) -> dict[str, int]:
    """The pools' limits: the DuckDB file takes one writer, a DuckLake catalog one per run."""
    return {DT_REPORTING: 3, DUCKDB_WRITER: MAX_CONCURRENT_RUNS if ducklake else 1, REO_DELIVERY: 1}
