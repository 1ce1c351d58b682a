"""Operator commands: ``python -m reo_dt_assets migrate`` brings every store the settings name
to this release's schema version and says what it changed."""

from __future__ import annotations

import argparse

from reo_dt_assets.migrations import SCHEMA_VERSION
from reo_dt_assets.upgrade import print_migrations


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m reo_dt_assets", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "migrate",
        help=f"bring the stores to schema version {SCHEMA_VERSION} (runs do it on their own too)",
    )
    parser.parse_args(argv)
    print_migrations()


if __name__ == "__main__":
    main()
