"""Turns a layer's ``CheckVerdict`` into the ``AssetCheckResult`` Dagster records."""

import logging

import dagster as dg

from reo_dt_assets.verdict import CheckVerdict


def check_result(
    verdict: CheckVerdict, partition_key: str, log: logging.Logger | None = None
) -> dg.AssetCheckResult:
    """The result, its ``partition`` metadata naming the partition it was evaluated on.

    Dagster records the partition on the evaluation only for checks with a ``partitions_def``
    (a preview feature); the metadata keeps every history row, in every view, traceable. With a
    ``log``, a warning (a failed warn-only verdict) is also a WARNING line in the run's log.
    """
    if log is not None and verdict.warn_only and not verdict.passed:
        log.warning(f"{verdict.check} on {partition_key}: {verdict.description}")
    return dg.AssetCheckResult(
        check_name=verdict.check,
        passed=verdict.passed,
        description=verdict.description,
        metadata={**verdict.metadata, "partition": partition_key},
        severity=dg.AssetCheckSeverity.WARN if verdict.warn_only else dg.AssetCheckSeverity.ERROR,
    )
