"""Run the sandbox servers from the command line: ``python -m reo_dt_assets.sandbox --help``."""

from __future__ import annotations

import argparse
import signal
import threading

from reo_dt_assets.sandbox.dt_server import DTFaults, DTSandbox
from reo_dt_assets.sandbox.generator import ReportShape
from reo_dt_assets.sandbox.reo_server import ReoFaults, ReoSandbox


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Loopback sandboxes of the DT and Reo.Dev APIs.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--dt-port", type=int, default=8710)
    parser.add_argument("--reo-port", type=int, default=8720)
    parser.add_argument("--reo-latency-ms", type=float, default=0.0)
    parser.add_argument("--reo-error-rate", type=float, default=0.0, help="share answered 5xx")
    parser.add_argument("--reo-throttle-rate", type=float, default=0.0, help="share answered 429")
    parser.add_argument(
        "--reo-drop-rate",
        type=float,
        default=0.0,
        help="share of requests read, recorded, then dropped unanswered",
    )
    parser.add_argument(
        "--reo-failure-body-rate",
        type=float,
        default=0.0,
        help="share answered 200 with a failure body",
    )
    parser.add_argument(
        "--reo-rate-limit",
        type=float,
        default=0.0,
        help="requests per second taken; beyond it, 429 with Retry-After (0: no limit)",
    )
    parser.add_argument("--rows", type=int, default=2000, help="rows per (date, app) report")
    parser.add_argument(
        "--error-rate", type=float, default=0.0, help="share of requests answered 5xx"
    )
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="delay added to every request"
    )
    parser.add_argument("--drop-rate", type=float, default=0.0, help="share of connections dropped")
    parser.add_argument("--token-ttl", type=int, default=3600, help="expiresIn of tokens, seconds")
    parser.add_argument("--url-ttl", type=float, default=3 * 3600, help="download URL validity, s")
    parser.add_argument("--not-ready-polls", type=int, default=2)
    parser.add_argument("--retention-days", type=int, default=0, help="refuse older dates (0: off)")
    parser.add_argument(
        "--date-app-columns", action="store_true", help="reports start with Date and App ID"
    )
    parser.add_argument(
        "--no-fairbid-columns", action="store_true", help="reports without IDFV and User ID"
    )
    args = parser.parse_args(argv)
    faults = DTFaults(
        error_rate=args.error_rate,
        latency_ms=args.latency_ms,
        drop_rate=args.drop_rate,
        token_ttl=args.token_ttl,
        url_ttl=args.url_ttl,
        not_ready_polls=args.not_ready_polls,
        retention_days=args.retention_days,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    reo_faults = ReoFaults(
        latency_ms=args.reo_latency_ms,
        error_rate=args.reo_error_rate,
        throttle_rate=args.reo_throttle_rate,
        drop_after_read_rate=args.reo_drop_rate,
        failure_body_rate=args.reo_failure_body_rate,
        rate_limit=args.reo_rate_limit,
    )
    with (
        DTSandbox(
            args.host,
            args.dt_port,
            rows=args.rows,
            faults=faults,
            shape=ReportShape(
                date_app_columns=args.date_app_columns, fairbid_columns=not args.no_fairbid_columns
            ),
        ) as dt_sandbox,
        ReoSandbox(args.host, args.reo_port, faults=reo_faults) as reo_sandbox,
    ):
        print(f"DT sandbox on {dt_sandbox.url}", flush=True)
        print(f"Reo.Dev sandbox on {reo_sandbox.url} (key {reo_sandbox.api_key})", flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
