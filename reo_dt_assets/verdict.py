"""What a data-contract check concluded, apart from Dagster.

Each layer decides its checks in plain functions (``*/verdicts.py``) that return these, tested
alone; the asset checks under ``defs/`` only read the inputs and turn verdicts into
``AssetCheckResult``s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CheckVerdict:
    check: str
    passed: bool
    description: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    warn_only: bool = False  # a failure is a warning, not an error that blocks
