"""Keeps Dagster's run retries away from failures that no retry can fix.

Run retries (``deploy/dagster.yaml``) re-run a failed partition; ``dg.Failure(allow_retries=
False)`` only bypasses an op retry policy, so this hook tags the run of such a failure with
``dagster/retry_on_asset_or_op_failure=false``, which the retry daemon reads when the run fails.
"""

import dagster as dg

NOT_RETRYABLE = {"dagster/retry_on_asset_or_op_failure": "false"}


@dg.failure_hook
def mark_not_retryable(context: dg.HookContext) -> None:
    error = context.op_exception
    if isinstance(error, dg.Failure) and not error.allow_retries:
        context.instance.add_run_tags(context.run_id, NOT_RETRYABLE)
