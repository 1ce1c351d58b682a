"""Revenue layer: the per-user revenue table in DuckDB, one partition per DT report."""
