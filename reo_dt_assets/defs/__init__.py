"""Dagster wiring: thin definitions over the library modules, one folder per source."""
