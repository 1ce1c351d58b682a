"""Dagster wiring of the daily view across apps."""
