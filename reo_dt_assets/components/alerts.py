"""The alert sensor: reads the instance's event log and tells people, once, what failed.

Open-source Dagster tells nobody: a failed asset check does not fail its run, so run-failure
sensors never see it, and ``dagster-slack`` has only a run-failure sensor. So this sensor reads
the runs of the project's jobs that ended after its cursor (run failures and successes, indexed
on every instance storage) and the check evaluations of each, and hands them to
``reo_dt_assets.alerts.AlertState``, which decides what is told and keeps the state in the
cursor (it survives a daemon restart). A failed run is told only when Dagster will
not retry it (the ``dagster/will_retry`` tag the instance sets when a run fails, once its retry
count or a not-retryable failure says so). Destinations are apprise URLs in
``REO_DT_ALERT_URLS``, read like a secret; the sensor is on by default when it is set. A
destination that fails is retried within the tick and logged in the tick (never its URL); its
notices stay pending for the next tick. Sending never touches a run.
"""

import time
from typing import Literal

import dagster as dg

from reo_dt_assets import alerts, settings

RunEnd = Literal[dg.DagsterEventType.RUN_FAILURE, dg.DagsterEventType.RUN_SUCCESS]
KINDS: dict[str, RunEnd] = {
    "run_failure": dg.DagsterEventType.RUN_FAILURE,
    "run_success": dg.DagsterEventType.RUN_SUCCESS,
}
PAGE = 200  # ended runs of a kind read per tick; the rest on the next tick
WILL_RETRY, RETRY_RUN_ID = "dagster/will_retry", "dagster/auto_retry_run_id"
RETRY_NUMBER, PARTITION, BACKFILL = "dagster/retry_number", "dagster/partition", "dagster/backfill"
RETRY_GRACE_SECONDS = 600.0  # a run Dagster said it would retry, with no retry launched by then
UNFINISHED_BACKFILL = {"REQUESTED", "CANCELING"}


def _urls() -> list[str]:
    return alerts.split_urls(dg.EnvVar(settings.REO_DT_ALERT_URLS).get_value() or "")


def _cause(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str:
    """The run's failure in its own words: its last step failure's description (or the error
    at the root of it), else the run failure's message."""
    for record in reversed(instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)):
        event = record.dagster_event
        data = event.step_failure_data if event else None
        if event is None or data is None:
            continue
        if data.user_failure_data is not None and data.user_failure_data.description:
            return f"step {event.step_key}: {data.user_failure_data.description}"
        error = data.error
        while error is not None and error.cause is not None:
            error = error.cause
        if error is not None:  # "module.ErrorClass: what happened" -> what happened
            said = error.message.strip()
            prefix = f"{error.cls_name}: " if error.cls_name else ""
            if prefix and prefix in said:
                said = said.split(prefix, 1)[1].strip()
            return f"step {event.step_key}: {said}"
    failures = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    said = failures[-1].dagster_event.message if failures and failures[-1].dagster_event else ""
    return said or "the run failed (see its log)"


def _ended_runs(instance: dg.DagsterInstance, state: alerts.AlertState) -> list[tuple[int, str]]:
    """(storage id, run id) of the runs that ended (failed or succeeded) after the cursor, in
    order. Run status changes are indexed on every storage (a run-sharded SQLite too), where the
    storage ids of other events are per run."""
    ended: list[tuple[int, str]] = []
    for kind, event_type in KINDS.items():
        result = instance.fetch_run_status_changes(
            dg.RunStatusChangeRecordsFilter(event_type, after_storage_id=state.cursors[kind]),
            limit=PAGE,
            ascending=True,
        )
        if result.records:
            state.cursors[kind] = result.records[-1].storage_id
        ended += [(record.storage_id, record.run_id) for record in result.records]
    return sorted(ended)


def _start(instance: dg.DagsterInstance) -> alerts.AlertState:
    """A first tick starts at the end of the event log: history is not news."""
    state = alerts.AlertState()
    for kind, event_type in KINDS.items():
        latest = instance.fetch_run_status_changes(event_type, limit=1, ascending=False)
        state.cursors[kind] = latest.records[0].storage_id if latest.records else 0
    return state


def _run_key(run: dg.DagsterRun) -> str:
    return f"run:{run.tags.get(PARTITION) or run.job_name}"


def _observe_checks(
    instance: dg.DagsterInstance,
    state: alerts.AlertState,
    run: dg.DagsterRun,
    checks: set[dg.AssetCheckKey],
    now: float,
) -> None:
    """The check evaluations of an ended run: a failure opens an incident (ERROR severity, and
    WARN with ``REO_DT_ALERT_WARNINGS``), a pass closes one."""
    ui, warnings = settings.ui_url(), settings.alert_warnings()
    for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        event = record.dagster_event
        evaluation = event.event_specific_data if event else None
        if not isinstance(evaluation, dg.AssetCheckEvaluation):
            continue
        if dg.AssetCheckKey(evaluation.asset_key, evaluation.check_name) not in checks:
            continue
        partition = evaluation.partition or run.tags.get(PARTITION, "")
        asset = evaluation.asset_key.to_user_string()
        notice = alerts.Notice(
            kind="failed",
            key=f"check:{asset}/{evaluation.check_name}:{partition}",
            what=f"check {asset} / {evaluation.check_name}",
            partition=partition,
            cause=evaluation.description or "no description",
            link=f"{ui}/assets/{'/'.join(evaluation.asset_key.path)}?view=checks",
            at=now,
            severity=evaluation.severity.value,
            group=run.tags.get(BACKFILL, ""),
        )
        if evaluation.passed:
            state.passed(notice)
        elif evaluation.severity == dg.AssetCheckSeverity.ERROR or warnings:
            state.failed(notice)


def _observe(context: dg.SensorEvaluationContext, state: alerts.AlertState, now: float) -> None:
    """Runs of the project's jobs that ended: their checks, then the run itself. A failed run
    waits in ``awaiting`` while Dagster will retry it; a success closes its partition's run
    incident."""
    instance, repository = context.instance, context.repository_def
    assert repository is not None
    jobs = {job.name for job in repository.get_all_jobs()}
    checks = set(repository.asset_graph.asset_check_keys)
    for _, run_id in _ended_runs(instance, state):
        run = instance.get_run_by_id(run_id)
        if run is None or run.job_name not in jobs:
            continue
        _observe_checks(instance, state, run, checks, now)
        if run.status == dg.DagsterRunStatus.SUCCESS:
            state.succeeded(_run_key(run))
            state.awaiting = {
                other_id: seen
                for other_id, seen in state.awaiting.items()
                if (other := instance.get_run_by_id(other_id)) is None
                or _run_key(other) != _run_key(run)
            }
        elif run.status == dg.DagsterRunStatus.FAILURE:
            state.awaiting.setdefault(run.run_id, now)
    ui = settings.ui_url()
    for run_id, seen in list(state.awaiting.items()):
        run = instance.get_run_by_id(run_id)
        if run is None:
            del state.awaiting[run_id]
            continue
        if run.tags.get(WILL_RETRY) == "true":
            if run.tags.get(RETRY_RUN_ID):  # the retry speaks for itself
                del state.awaiting[run_id]
                continue
            if now - seen < RETRY_GRACE_SECONDS:
                continue
        del state.awaiting[run_id]
        tries = int(run.tags.get(RETRY_NUMBER, "0")) + 1
        state.failed(
            alerts.Notice(
                kind="failed",
                key=_run_key(run),
                what=f"run of {run.job_name}",
                partition=run.tags.get(PARTITION, ""),
                cause=f"{_cause(instance, run)} (after {tries} tr{'y' if tries == 1 else 'ies'})",
                link=f"{ui}/runs/{run.run_id}",
                at=now,
                group=run.tags.get(BACKFILL, ""),
            )
        )


def _finished_backfills(instance: dg.DagsterInstance, state: alerts.AlertState) -> set[str]:
    finished = set()
    for group in {notice.group for notice in state.outbox if notice.group}:
        backfill = instance.get_backfill(group)
        if backfill is None or backfill.status.value not in UNFINISHED_BACKFILL:
            finished.add(group)
    return finished


def build_alerts_sensor(name: str = "alerts") -> dg.SensorDefinition:
    """The sensor, named ``name``: one per code location (it reads every job's runs)."""

    @dg.sensor(
        name=name,
        minimum_interval_seconds=max(1, int(settings.REO_DT_ALERT_INTERVAL_SECONDS.value())),
        default_status=(
            dg.DefaultSensorStatus.RUNNING if _urls() else dg.DefaultSensorStatus.STOPPED
        ),
        description="Tells REO_DT_ALERT_URLS (Slack, e-mail, a webhook, ... via apprise) once per "
        "incident: a run failed after its last retry, an ERROR check failed (per partition), and "
        "once more when that check passes again; bursts as one summary. On when the URLs are set.",
    )
    def alerts_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        urls = _urls()
        if not urls:
            context.update_cursor(None)  # when URLs are set, start from then, not from history
            return dg.SkipReason(f"{settings.REO_DT_ALERT_URLS} is not set: no alert is sent")
        targets, problems = alerts.destinations(urls)
        for problem in problems:
            context.log.error(problem)
        if not targets:
            return dg.SkipReason(f"no usable URL in {settings.REO_DT_ALERT_URLS}: nothing sent")
        instance, now = context.instance, time.time()
        state = alerts.AlertState.from_json(context.cursor) if context.cursor else _start(instance)
        _observe(context, state, now)
        outgoing = state.due(
            now,
            settings.REO_DT_ALERT_SETTLE_SECONDS.value(),
            _finished_backfills(instance, state),
            settings.ui_url(),
        )
        sent = alerts.send_due(state, outgoing, targets, urls, context.log)
        for notice in state.give_up(now):
            context.log.error(
                f"gave up telling {notice.what}, {alerts.where(notice.partition)}: no destination "
                f"took it within {alerts.GIVE_UP_SECONDS / 3600:.0f} h"
            )
        context.update_cursor(state.to_json())
        return dg.SkipReason(
            f"sent {sent} of {len(outgoing)} message(s); {len(state.open)} incident(s) open, "
            f"{len(state.outbox)} notice(s) pending, {len(state.awaiting)} failed run(s) awaiting "
            "their retry"
        )

    return alerts_sensor
