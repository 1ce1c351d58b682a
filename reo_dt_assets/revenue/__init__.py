"""The per-user revenue layer: parsing the raw report and writing the DuckDB tables."""
