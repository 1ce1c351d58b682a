"""Benchmark: events/s and client CPU per event sending to the Reo sandbox.

Not a test. For 0 ms and 20 ms of added server latency, runs our ``ReoClient.send_all`` at
concurrency 8, 16 and 32 and a plain sequential ``httpx.Client`` loop against the same server
in the same run, then prints the ratios of the targets:
  at 20 ms and the default concurrency: events/s >= 0.8 x concurrency / latency
  at 0 ms and the default concurrency:  events/s >= 0.9 x the sequential loop

    .venv/bin/python bench/reo_delivery.py [--events 3000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import httpx

from reo_dt_assets.reo.client import ReoClient, SendResult
from reo_dt_assets.sandbox.reo_server import SANDBOX_API_KEY

PORT = 8791
URL = f"http://127.0.0.1:{PORT}"

DEFAULT_CONCURRENCY = 16


def _payload(n: int) -> dict[str, Any]:
    return {
        "activity_type": "AD_REVENUE",
        "source": "PRODUCT_CLOUD",
        "user_id": f"user{n}@example.com",
        "user_id_type": "EMAIL",
        "event_id": f"e{n}",
        "event_at": 1795132800,
        "product_id": "bench",
        "meta": {
            "revenue_usd": "0.012345678",
            "impressions": "12",
            "report_date": "2026-11-20",
            "dt_app_id": "148721",
            "ad_networks": "AdMob,AppLovin,DT Exchange",
        },
    }


def _cpu() -> float:
    """CPU seconds of this process (the client only: the server runs in its own process)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def ours(events: int, concurrency: int) -> tuple[float, float]:
    results: list[SendResult] = []
    with ReoClient(SANDBOX_API_KEY, URL, concurrency=concurrency) as client:
        started, cpu = time.perf_counter(), _cpu()
        client.send_all(((f"e{n}", _payload(n)) for n in range(events)), results.append)
        seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    assert sum(r.delivered for r in results) == events
    return events / seconds, cpu / events * 1000


def sequential(events: int) -> tuple[float, float]:
    headers = {"X-API-KEY": SANDBOX_API_KEY, "Content-Type": "application/json"}
    with httpx.Client(headers=headers) as client:
        started, cpu = time.perf_counter(), _cpu()
        for n in range(events):
            body = json.dumps({"payload": _payload(n)}).encode()
            assert client.post(URL + "/api/product/usage", content=body).status_code == 200
        seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    return events / seconds, cpu / events * 1000


def _median(repeats: int, measure: Callable[[], tuple[float, float]]) -> tuple[float, float]:
    runs = sorted(measure() for _ in range(repeats))
    return runs[len(runs) // 2]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=3000)
    args = parser.parse_args()
    results: dict[tuple[str, float], float] = {}
    server = subprocess.Popen(
        [sys.executable, "-m", "reo_dt_assets.sandbox", "--dt-port", "0", "--reo-port", str(PORT)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        while "Reo.Dev sandbox" not in server.stdout.readline():
            pass
        for latency in (0.0, 20.0):
            httpx.post(URL + "/_sandbox/faults", json={"latency_ms": latency})
            count = args.events
            # 0 ms runs are short and noisy: the median of three (by events/s) is reported.
            repeats = 3 if latency == 0 else 1
            rate, cpu = _median(repeats, partial(sequential, count // (10 if latency else 1)))
            results[("sequential", latency)] = rate
            print(
                f"latency {latency:4.0f} ms  sequential httpx.Client  {rate:7.0f} ev/s  "
                f"CPU {cpu:5.2f} ms/event",
                flush=True,
            )
            for concurrency in (8, 16, 32):
                rate, cpu = _median(repeats, partial(ours, count, concurrency))
                results[(f"ours{concurrency}", latency)] = rate
                print(
                    f"latency {latency:4.0f} ms  ours, concurrency {concurrency:2d}     "
                    f"{rate:7.0f} ev/s  CPU {cpu:5.2f} ms/event",
                    flush=True,
                )
    finally:
        server.terminate()
        server.wait(timeout=10)
    ideal = DEFAULT_CONCURRENCY / 0.020
    at20 = results[(f"ours{DEFAULT_CONCURRENCY}", 20.0)] / ideal
    at0 = results[(f"ours{DEFAULT_CONCURRENCY}", 0.0)] / results[("sequential", 0.0)]
    print(
        f"20 ms, concurrency {DEFAULT_CONCURRENCY}: {at20:.2f} x concurrency/latency "
        "(target >= 0.8)"
    )
    print(f" 0 ms, concurrency {DEFAULT_CONCURRENCY}: {at0:.2f} x sequential (target >= 0.9)")


if __name__ == "__main__":
    main()
