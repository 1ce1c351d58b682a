"""The daily view across apps: the rollup table and its checks (no Dagster)."""
