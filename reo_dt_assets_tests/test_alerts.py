"""The alert rules and texts without Dagster: told once, recovered once, bursts summarised, the
state through JSON (the sensor's cursor), and sending through apprise to a loopback webhook."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace

import pytest

from reo_dt_assets.alerts import (
    FORGET_SECONDS,
    GIVE_UP_SECONDS,
    SUMMARY_LINES,
    AlertState,
    Notice,
    destinations,
    message,
    send,
    send_due,
    split_urls,
)
from reo_dt_assets_tests.webhook import WebhookReceiver

UI = "http://ui.example:3000"
SETTLE = 60.0


def run_failure(partition: str = "148721|2026-11-21", at: float = 0.0, group: str = "") -> Notice:
    return Notice(
        kind="failed",
        key=f"run:{partition}",
        what="run of daily_revenue_events_job",
        partition=partition,
        cause="step dt_user_level_report: DT answered HTTP 500 (after 3 tries)",
        link=f"{UI}/runs/abc",
        at=at,
        group=group,
    )


def check(passed: bool, partition: str = "2026-11-21", at: float = 0.0) -> Notice:
    return Notice(
        kind="failed",
        key=f"check:daily_revenue/every_app_loaded_and_delivered:{partition}",
        what="check daily_revenue / every_app_loaded_and_delivered",
        partition=partition,
        cause="" if passed else "App 148721 is not loaded for 2026-11-21.",
        link=f"{UI}/assets/daily_revenue?view=checks",
        at=at,
    )


def sent(state: AlertState, now: float, finished: tuple[str, ...] = ()) -> list[str]:
    """The bodies due at ``now``, as if every destination (one) took them."""
    outgoing = state.due(now, SETTLE, finished, UI)
    for item in outgoing:
        state.delivered(item, [0], 1)
    return [item.body for item in outgoing]


def test_a_run_failure_names_the_app_the_day_the_cause_and_the_run() -> None:
    title, body = message(run_failure())
    assert (
        title
        == "[reo-dt-assets] FAILED: run of daily_revenue_events_job, app 148721, day 2026-11-21"
    )
    assert body == (
        "run of daily_revenue_events_job failed for app 148721, day 2026-11-21:\n"
        "step dt_user_level_report: DT answered HTTP 500 (after 3 tries)\n"
        "http://ui.example:3000/runs/abc"
    )


def test_a_warning_says_so_and_an_unpartitioned_run_says_no_partition() -> None:
    anomaly = replace(check(False), severity="WARN", what="check daily_revenue / odd")
    assert (
        message(anomaly)[0] == "[reo-dt-assets] WARNING: check daily_revenue / odd, day 2026-11-21"
    )
    assert message(replace(run_failure(), partition=""))[0].endswith(", no partition")


def test_a_check_is_told_once_then_recovered_once() -> None:
    state = AlertState()
    assert state.failed(check(False, at=0))
    assert not sent(state, 10)  # waits for the burst to settle
    [body] = sent(state, 60)
    assert "every_app_loaded_and_delivered failed for day 2026-11-21" in body
    assert "App 148721 is not loaded" in body
    # Failing again (later ticks, a re-run still failing): nothing more.
    assert not state.failed(check(False, at=100))
    assert not sent(state, 1000)
    # Passing again: one "recovered"; passing once more: nothing.
    assert state.passed(check(True, at=2000))
    assert not state.passed(check(True, at=2001))
    [body] = sent(state, 3000)
    assert body.startswith("check daily_revenue / every_app_loaded_and_delivered passes again")
    assert not sent(state, 4000)
    # Failing after recovery is a new incident.
    assert state.failed(check(False, at=5000))
    assert len(sent(state, 6000)) == 1


def test_a_failure_that_recovers_before_it_is_told_is_never_told() -> None:
    state = AlertState()
    state.failed(check(False, at=0))
    state.passed(check(True, at=5))
    assert not sent(state, 1000)
    assert not state.open


def test_a_run_success_closes_its_incident_silently() -> None:
    state = AlertState()
    state.failed(run_failure(at=0))
    assert len(sent(state, 60)) == 1
    assert not state.failed(run_failure(at=70))  # still open: a later failed run is not news
    assert state.succeeded("run:148721|2026-11-21")
    assert not sent(state, 1000)
    assert state.failed(run_failure(at=2000))  # failing after a success: told again
    assert len(sent(state, 3000)) == 1


def test_a_burst_is_one_summary() -> None:
    state = AlertState()
    days = [f"2026-10-{day:02d}" for day in range(1, 31)]
    for n, day in enumerate(days):
        for app in ("148721", "203945"):
            state.failed(run_failure(f"{app}|{day}", at=n))  # one every second: one burst
    assert not sent(state, 29 + SETTLE - 1)
    [body] = sent(state, 29 + SETTLE)
    lines = body.splitlines()
    assert lines[0] == "60 failed: apps 148721, 203945; days 2026-10-01 to 2026-10-30."
    assert len([line for line in lines if line.startswith("- failed: ")]) == SUMMARY_LINES
    assert "... and 50 more." in lines
    assert lines[-1] == f"{UI}/runs"
    assert not state.outbox


def test_a_few_at_once_go_one_message_each() -> None:
    state = AlertState()
    for app in ("148721", "203945", "777"):
        state.failed(run_failure(f"{app}|2026-11-21"))
    assert len(sent(state, SETTLE)) == 3


def test_a_backfill_is_told_when_it_ends_in_one_summary() -> None:
    state = AlertState()
    for n in range(20):
        state.failed(run_failure(f"148721|2026-10-{n + 1:02d}", at=n * 100, group="bf1"))
    assert not sent(state, 3500)  # long quiet, but the backfill still runs
    [body] = sent(state, 3500, finished=("bf1",))
    assert body.startswith("20 failed: apps 148721; days 2026-10-01 to 2026-10-20.")
    assert body.endswith(f"{UI}/runs/b/bf1")


def test_the_state_survives_its_cursor() -> None:
    """A daemon restart reads the cursor back: nothing told is told again, pending stays."""
    state = AlertState(cursors={"check": 41})
    state.failed(check(False, at=0))
    sent(state, 100)
    state.failed(run_failure(at=200))
    state.awaiting["run-1"] = 150.0
    again = AlertState.from_json(state.to_json())
    assert again == state
    assert not again.failed(check(False, at=300))
    [body] = sent(again, 300)
    assert "run of daily_revenue_events_job failed" in body


def test_what_nobody_took_in_a_day_is_dropped_and_old_incidents_forgotten() -> None:
    state = AlertState()
    state.failed(run_failure(at=0))
    state.failed(check(False, at=0))
    [outgoing, _] = state.due(SETTLE, SETTLE, (), UI)
    state.delivered(outgoing, [], 1)  # no destination took anything
    assert state.give_up(GIVE_UP_SECONDS - 1) == []
    assert len(state.give_up(GIVE_UP_SECONDS)) == 2
    assert not state.outbox and len(state.open) == 2  # still open: not told again ...
    assert not state.failed(check(False, at=GIVE_UP_SECONDS))
    state.give_up(FORGET_SECONDS)  # ... until forgotten
    assert state.failed(check(False, at=FORGET_SECONDS))


def test_a_destination_that_did_not_take_a_notice_gets_it_next_time_alone() -> None:
    state = AlertState()
    state.failed(run_failure())
    [first] = state.due(SETTLE, SETTLE, (), UI)
    state.delivered(first, [1], 2)  # destination 0 failed
    [again] = state.due(SETTLE + 1, SETTLE, (), UI)
    assert again.notices[0].sent_to == (1,)
    state.delivered(again, [0], 2)
    assert not state.outbox


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


def test_send_retries_a_failing_destination_and_never_logs_its_url(
    receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    token_url = receiver.apprise_url("hooks/T0KEN-s3cr3t-value")
    urls = split_urls(f"{token_url}, json://127.0.0.1:9/hooks/other-s3cr3t")
    assert len(urls) == 2
    targets, problems = destinations([*urls, "nosuchscheme://x/y-s3cr3t"])
    assert [t.position for t in targets] == [0, 1]
    assert problems == [
        "alert destination 3 (scheme 'nosuchscheme') is not a URL apprise knows: see "
        "https://github.com/caronc/apprise/wiki for the URL of each service"
    ]
    state = AlertState()
    state.failed(run_failure())
    [outgoing] = state.due(SETTLE, SETTLE, (), UI)
    receiver.fail_next = 1  # the first try fails, the second is taken
    log = logging.getLogger("test_alerts")
    with caplog.at_level(logging.DEBUG):
        taken = send(outgoing, targets, urls, log, tries=2, wait_seconds=0.01)
    assert taken == [0]  # the loopback receiver; nothing listens on port 9
    [received] = receiver.messages()
    assert received["title"] == outgoing.title
    assert received["message"] == outgoing.body
    assert received["type"] == "failure"
    assert receiver.paths == ["/hooks/T0KEN-s3cr3t-value"]
    [warning] = [r.getMessage() for r in caplog.records if r.name == "test_alerts"]
    assert warning.startswith("alert destination 2 (JSON) did not take ")
    assert "after 2 tries" in warning
    assert "s3cr3t" not in caplog.text


def test_a_dead_destination_is_skipped_for_the_tick_and_gets_its_messages_later(
    receiver: WebhookReceiver,
) -> None:
    with WebhookReceiver() as failing:
        urls = [receiver.apprise_url("good"), failing.apprise_url("bad")]
        targets, _ = destinations(urls)
        state = AlertState()
        state.failed(run_failure("148721|2026-11-21"))
        state.failed(run_failure("203945|2026-11-21"))
        failing.fail_next = 100
        log = logging.getLogger("test_alerts")
        assert send_due(state, state.due(SETTLE, SETTLE, (), UI), targets, urls, log, 0.01) == 2
        assert len(receiver.messages()) == 2
        assert failing.fail_next == 97  # three tries of the first message, none of the second
        assert [n.sent_to for n in state.outbox] == [(0,), (0,)]

        failing.fail_next = 0  # back: the next tick sends it both, and nothing to the other
        assert send_due(state, state.due(SETTLE, SETTLE, (), UI), targets, urls, log, 0.01) == 2
        assert len(receiver.messages()) == 2
        assert [m["title"] for m in failing.messages()] == [m["title"] for m in receiver.messages()]
        assert not state.outbox
