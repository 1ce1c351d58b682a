"""How the layers' outcomes show in Dagster: a ``CheckVerdict`` as the ``AssetCheckResult`` it
records, a table of ``reo_dt_assets.schema`` as its column schema, and a failure no retry can fix
kept from Dagster's run retries."""

import logging

import dagster as dg

from reo_dt_assets.schema import Table
from reo_dt_assets.verdict import CheckVerdict

#: Run retries (``deploy/dagster.yaml``) re-run a failed partition; ``dg.Failure(allow_retries=
#: False)`` only bypasses an op retry policy, so ``mark_not_retryable`` tags the run of such a
#: failure with this, which the retry daemon reads when the run fails.
NOT_RETRYABLE = {"dagster/retry_on_asset_or_op_failure": "false"}


@dg.failure_hook
def mark_not_retryable(context: dg.HookContext) -> None:
    error = context.op_exception
    if isinstance(error, dg.Failure) and not error.allow_retries:
        context.instance.add_run_tags(context.run_id, NOT_RETRYABLE)


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


def column_schema(table: Table) -> dg.TableSchema:
    """The column schema of a table, from its one definition, for every asset that writes or
    describes it (its name comes from the warehouse resource, which knows where it is)."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                c.name,
                c.type,
                description=c.description,
                constraints=dg.TableColumnConstraints(nullable=c.nullable),
            )
            for c in table.columns
        ]
    )
