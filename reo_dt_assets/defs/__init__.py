"""This code location, wired by its own components: one defs.yaml per folder."""
