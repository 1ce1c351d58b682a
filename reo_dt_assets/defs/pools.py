"""Concurrency pools of the assets and the limits the project's instance gives them."""

DT_REPORTING = "dt_reporting"  # report requests and downloads to DT
DUCKDB_WRITER = "duckdb_writer"  # the one writer of the DuckDB file
REO_DELIVERY = "reo_delivery"  # sends to Reo.Dev (each step is already concurrent inside)

LIMITS = {DT_REPORTING: 3, DUCKDB_WRITER: 1, REO_DELIVERY: 1}
