"""Benchmark: events/s and client CPU per event sending to the Reo sandbox.

Not a test. For 0 ms and 20 ms of added server latency, runs our ``ReoClient.send_all`` at
concurrency 8, 16 and 32 and a plain sequential ``httpx.Client`` loop against the same server
in the same run, then, at the default concurrency, a larger delivery fault-free and under the
fault mix (30% 5xx, 10% 429 with ``Retry-After: 1``, 5% connections dropped after the request
was read, 10% HTTP 200 with a failure body), and prints the ratios of the targets:
  at 20 ms and the default concurrency: events/s >= 0.8 x concurrency / latency
  at 0 ms and the default concurrency:  events/s >= 0.9 x the sequential loop
  under the fault mix, at 0 and 20 ms:  events/s >= 0.3 x fault-free at the same latency
The fault runs count every event until its last retry: the unluckiest events of a delivery
wait out ~12 failures in a row, a fixed tail that a small delivery cannot amortise.

    .venv/bin/python bench/reo_delivery.py [--events 3000] [--fault-events 20000]
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
FAULT_MIX = {
    "error_rate": 0.3,
    "throttle_rate": 0.1,
    "retry_after_seconds": 1,
    "drop_after_read_rate": 0.05,
    "failure_body_rate": 0.1,
}
NO_FAULTS = dict.fromkeys(FAULT_MIX, 0)


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


def _deliver(events: int, concurrency: int) -> tuple[float, float, list[SendResult]]:
    """events/s, client CPU ms/event and the results of one ``send_all``."""
    results: list[SendResult] = []
    with ReoClient(SANDBOX_API_KEY, URL, concurrency=concurrency) as client:
        started, cpu = time.perf_counter(), _cpu()
        client.send_all(((f"e{n}", _payload(n)) for n in range(events)), results.extend)
        seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    assert len(results) == len({r.event_id for r in results}) == events
    return events / seconds, cpu / events * 1000, results


def ours(events: int, concurrency: int) -> tuple[float, float]:
    rate, cpu, results = _deliver(events, concurrency)
    assert all(r.delivered for r in results)
    return rate, cpu


def fault_mix(events: int, latency: float) -> tuple[float, float]:
    """Fault-free and fault-mix events/s at the default concurrency; prints the counts."""
    clean, _, _ = _deliver(events, DEFAULT_CONCURRENCY)
    httpx.post(URL + "/_sandbox/faults", json=FAULT_MIX)
    try:
        faulty, cpu, results = _deliver(events, DEFAULT_CONCURRENCY)
    finally:
        httpx.post(URL + "/_sandbox/faults", json=NO_FAULTS)
    delivered = sum(r.delivered for r in results)
    attempts = sum(r.attempts for r in results)
    failed = [r for r in results if not r.delivered]
    reasons = sorted({(r.error or "")[:60] for r in failed})
    print(
        f"latency {latency:4.0f} ms  {events} events, concurrency {DEFAULT_CONCURRENCY}: "
        f"fault-free {clean:5.0f} ev/s, fault mix {faulty:5.0f} ev/s "
        f"(ratio {faulty / clean:.2f}, target >= 0.3); delivered {delivered}, "
        f"failed {len(failed)} {reasons if failed else ''}; {attempts / events:.2f} "
        f"attempts/event, CPU {cpu:5.2f} ms/event",
        flush=True,
    )
    return clean, faulty


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
    parser.add_argument("--fault-events", type=int, default=20000)
    args = parser.parse_args()
    results: dict[tuple[str, float], float] = {}
    ratios: dict[float, float] = {}
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
            clean, faulty = fault_mix(args.fault_events, latency)
            ratios[latency] = faulty / clean
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
    for latency, ratio in ratios.items():
        print(f"{latency:3.0f} ms, fault mix: {ratio:.2f} x fault-free (target >= 0.3)")


if __name__ == "__main__":
    main()
