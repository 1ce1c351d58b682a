"""Tools for working on this repository, not shipped in the package: `make demo` (demo.py),
`make ui` (dev.py) and the generated configuration page (reference.py)."""
