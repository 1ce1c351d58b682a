"""Turns a layer's ``CheckVerdict`` into the ``AssetCheckResult`` Dagster records."""

import dagster as dg

from reo_dt_assets.verdict import CheckVerdict


def check_result(verdict: CheckVerdict, partition_key: str) -> dg.AssetCheckResult:
    """The result, its ``partition`` metadata naming the partition it was evaluated on.

    Dagster records the partition on the evaluation only for checks with a ``partitions_def``
    (a preview feature); the metadata keeps every history row, in every view, traceable.
    """
    return dg.AssetCheckResult(
        check_name=verdict.check,
        passed=verdict.passed,
        description=verdict.description,
        metadata={**verdict.metadata, "partition": partition_key},
        severity=dg.AssetCheckSeverity.WARN if verdict.warn_only else dg.AssetCheckSeverity.ERROR,
    )
