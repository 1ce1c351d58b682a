"""A new user's first screens, in a real browser: headless Chromium on ``make demo`` + ``make ui``.

Not a test (it needs Chromium, which CI does not install, and a UI left running): run it after
``make demo`` with ``make ui`` running in another terminal. Each page is rendered by Chromium
(``--dump-dom`` once the page's scripts and queries settle) and read as a person would:

1. Overview > Timeline lists the demo's runs: a green bar with the count of each daily job.
2. The jobs page shows each job's latest runs as green status bars.
3. A backfill of the three per-app assets on two days (both apps), launched as the UI's Materialize
   button does, is rolled up with no other launch: ``daily_rollup_sensor`` runs
   ``daily_rollup_job`` once per day, the Partitions tab of ``daily_revenue`` shows the days
   materialized, and ``revenue_report`` is materialized after those rollups.
4. The checks of those runs show money to the cent.

    apt-get install -y chromium        # Debian's package
    make demo && make ui               # in another terminal
    .venv/bin/python bench/ui_check.py [--url http://127.0.0.1:3000] [--days-ago 8 9]

Prints what it found and exits 1 at the first thing a person would not see.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

APPS = ("148721", "203945")  # apps.toml's
ASSETS = ("dt_user_level_report", "user_revenue", "reo_usage_events")
JOBS = ("daily_revenue_events_job", "daily_rollup_job")
T = TypeVar("T")

LAUNCH = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}"""
BACKFILL = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { status } }
}"""
RUNS = """
query Runs($filter: RunsFilter!) {
  runsOrError(filter: $filter) {
    ... on Runs { results { runId status tags { key value } } }
  }
}"""
MATERIALIZED = """
query Latest($key: AssetKeyInput!) {
  assetOrError(assetKey: $key) {
    ... on Asset { assetMaterializations(limit: 1) { runId timestamp } }
  }
}"""
CHECK_METADATA = """
query Checks($runId: ID!) {
  logsForRun(runId: $runId) {
    ... on EventConnection { events {
      ... on AssetCheckEvaluationEvent { evaluation { checkName metadataEntries {
        label ... on FloatMetadataEntry { floatValue } } } }
    } }
  }
}"""
DONE = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


class NotSeenError(AssertionError):
    """What a person would not see."""


def page(chromium: str, url: str) -> str:
    """The page's DOM once Chromium has run its scripts and its queries have settled."""
    result = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--dump-dom",
            "--virtual-time-budget=20000",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise NotSeenError(f"Chromium failed on {url}: {result.stderr[-500:]}")
    return result.stdout


def graphql(url: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(
        f"{url}/graphql", json={"query": query, "variables": variables}, timeout=60
    )
    response.raise_for_status()
    body = response.json()
    if "errors" in body:
        raise NotSeenError(f"GraphQL: {body['errors']}")
    return body["data"]


def wait_for(what: str, probe: Callable[[], T | None], timeout: float) -> T:
    deadline = time.monotonic() + timeout
    while (value := probe()) is None or value is False:
        if time.monotonic() > deadline:
            raise NotSeenError(f"not within {timeout:.0f} s: {what}")
        time.sleep(2)
    return value


def timeline_counts(dom: str) -> dict[str, int]:
    """Each job row of the timeline: the number its green bar (successful runs) shows."""
    counts = {}
    for job in JOBS:
        row = re.search(
            rf'href="/locations/[^"]+/jobs/{job}".*?var\(--color-accent-green\).*?>(\d+)</div>',
            dom,
            re.S,
        )
        if row and "No runs or scheduled ticks" not in dom:
            counts[job] = int(row.group(1))
    return counts


def status_bars(dom: str, job: str) -> int:
    """How many green status bars the jobs page shows beside ``job``."""
    start = dom.find(f'/jobs/{job}"')
    end = dom.find("/jobs/", start + 10)
    row = dom[start : end if end > 0 else None]
    return row.count("--pez-color: var(--color-accent-green)")


def partition_dot(dom: str, day: dt.date) -> str | None:
    """The colour of the status dot of ``day``'s row in an asset's Partitions tab (green:
    materialized, gray: missing), or None if the row is not there."""
    row = re.search(
        rf'data-tooltip="{day}".*?border-radius: 100%; flex-shrink: 0; '
        r"background: var\(--color-accent-(\w+)\)",
        dom,
        re.S,
    )
    return row.group(1) if row else None


def check_timeline(chromium: str, url: str) -> None:
    counts = timeline_counts(page(chromium, f"{url}/overview/timeline"))
    print(f"Overview > Timeline: {counts or 'no runs'}")
    if set(counts) != set(JOBS):
        raise NotSeenError(f"the timeline does not show runs of {set(JOBS) - set(counts)}")
    jobs = page(chromium, f"{url}/jobs")
    bars = {job: status_bars(jobs, job) for job in JOBS}
    print(f"Jobs: green status bars {bars}")
    if not all(bars.values()):
        raise NotSeenError(f"no status bars: {[job for job, n in bars.items() if not n]}")


def rollups_of(url: str, days: list[dt.date]) -> list[dict[str, Any]] | None:
    runs = graphql(url, RUNS, {"filter": {"pipelineName": "daily_rollup_job"}})["runsOrError"]
    mine = [
        run
        for run in runs["results"]
        if {"key": "dagster/sensor_name", "value": "daily_rollup_sensor"} in run["tags"]
        and any(
            t["key"] == "dagster/partition" and t["value"] in map(str, days) for t in run["tags"]
        )
    ]
    if any(run["status"] == "FAILURE" for run in mine):
        raise NotSeenError(f"a rollup failed: {mine}")
    done = [run for run in mine if run["status"] == "SUCCESS"]
    return done if len(done) >= len(days) else None


def check_backfill_rolls_up(chromium: str, url: str, days: list[dt.date]) -> None:
    keys = [f"{app}|{day}" for app in APPS for day in days]
    launched = graphql(
        url,
        LAUNCH,
        {"params": {"assetSelection": [{"path": [a]} for a in ASSETS], "partitionNames": keys}},
    )["launchPartitionBackfill"]
    if launched["__typename"] != "LaunchBackfillSuccess":
        raise NotSeenError(f"the backfill was not launched: {launched}")
    backfill = launched["backfillId"]
    print(f"Backfill {backfill}: {len(keys)} partitions, {', '.join(map(str, days))}")

    def finished() -> str | None:
        answer = graphql(url, BACKFILL, {"id": backfill})["partitionBackfillOrError"]
        return answer["status"] if answer.get("status") in DONE else None

    status = wait_for("the backfill finished", finished, 900)
    print(f"Backfill {status}")
    rollups = wait_for("the sensor rolled the days up", lambda: rollups_of(url, days), 300)
    print(f"Rolled up by daily_rollup_sensor, no launch by anyone: {len(rollups)} runs")
    if len(rollups) != len(days):
        raise NotSeenError(f"{len(rollups)} rollups for {len(days)} days: not once per day")

    dom = page(chromium, f"{url}/assets/daily_revenue?view=partitions")
    dots = {str(day): partition_dot(dom, day) for day in days}
    print(f"daily_revenue > Partitions: {dots}")
    if set(dots.values()) != {"green"}:
        raise NotSeenError(f"daily_revenue's Partitions tab does not show the days green: {dots}")
    latest = graphql(url, MATERIALIZED, {"key": {"path": ["daily_revenue"]}})["assetOrError"]
    report = graphql(url, MATERIALIZED, {"key": {"path": ["revenue_report"]}})["assetOrError"]
    rolled = float(latest["assetMaterializations"][0]["timestamp"])
    written = float(report["assetMaterializations"][0]["timestamp"])
    print(f"revenue_report written {(written - rolled) / 1000:+.1f} s after the last rollup")
    if written < rolled:
        raise NotSeenError("revenue_report is older than the last rollup")

    money = []
    for run in graphql(
        url, RUNS, {"filter": {"tags": [{"key": "dagster/backfill", "value": backfill}]}}
    )["runsOrError"]["results"][:1]:
        events = graphql(url, CHECK_METADATA, {"runId": run["runId"]})["logsForRun"]["events"]
        money += [
            (entry["label"], entry["floatValue"])
            for event in events
            if event
            for entry in event["evaluation"]["metadataEntries"]
            if entry["label"].endswith("_usd") and entry.get("floatValue") is not None
        ]
    print(f"Check metadata, money: {money}")
    if not money or any(round(value, 2) != value for _, value in money):
        raise NotSeenError(f"money in check metadata is not to the cent: {money}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:3000")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    parser.add_argument(
        "--days-ago", type=int, nargs="+", default=[8, 9], help="the days to backfill"
    )
    args = parser.parse_args()
    today = dt.datetime.now(dt.UTC).date()
    days = sorted(today - dt.timedelta(days=n) for n in args.days_ago)
    try:
        check_timeline(args.chromium, args.url)
        check_backfill_rolls_up(args.chromium, args.url, days)
    except NotSeenError as missing:
        sys.exit(f"NOT SEEN: {missing}")
    print("All seen.")


if __name__ == "__main__":
    main()
