"""Turns a layer's ``CheckVerdict`` into the ``AssetCheckResult`` Dagster records."""

import dagster as dg

from reo_dt_assets.verdict import CheckVerdict


def check_result(verdict: CheckVerdict) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=verdict.check,
        passed=verdict.passed,
        description=verdict.description,
        metadata=verdict.metadata,
        severity=dg.AssetCheckSeverity.WARN if verdict.warn_only else dg.AssetCheckSeverity.ERROR,
    )
