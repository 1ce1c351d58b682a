"""The one definition of every table: the UI's column schema, the schema checks and the writes
derive from it. How a store gets there from any earlier release is ``migrations``; a test holds
the two together."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # DuckDB type, as information_schema.columns.data_type spells it
    description: str
    nullable: bool = False


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]


USER_REVENUE = Table(
    name="user_revenue",
    key=("report_date", "app_id", "user_key"),
    columns=(
        Column("report_date", "DATE", "UTC day of the DT report"),
        Column("app_id", "VARCHAR", "DT app ID"),
        Column("user_key", "VARCHAR", "User ID if present, else advertising ID, else IDFV"),
        Column(
            "user_key_type",
            "VARCHAR",
            "which identifier user_key is: user_id, advertising_id or idfv",
        ),
        Column("user_id", "VARCHAR", "publisher User ID (trimmed)", nullable=True),
        Column(
            "advertising_id", "VARCHAR", "IDFA/GAID; the all-zero LAT ID is null", nullable=True
        ),
        Column("idfv", "VARCHAR", "iOS identifier for vendor", nullable=True),
        Column("impressions", "BIGINT", "impressions of the user that day"),
        Column("revenue_usd", "DOUBLE", "estimated publisher revenue of the user that day, USD"),
        Column("ad_networks", "VARCHAR[]", "ad networks that served the user, sorted"),
        Column("placement_types", "VARCHAR[]", "placement types seen, sorted"),
        Column("source_rows", "BIGINT", "raw report rows aggregated into this row"),
        Column("loaded_at", "TIMESTAMP", "when this partition was written (UTC)"),
        # Added after the first releases: null in rows loaded before, until their day is reloaded.
        Column(
            "ad_network_revenue_usd",
            "DOUBLE[]",
            "revenue per ad network, USD, in the order of ad_networks",
            nullable=True,
        ),
        Column(
            "placement_type_revenue_usd",
            "DOUBLE[]",
            "revenue per placement type, USD, in the order of placement_types",
            nullable=True,
        ),
    ),
)

#: The revenue splits of ``user_revenue``: the dimension, its list of values, their revenue.
SPLITS = (
    ("ad_network", "ad_networks", "ad_network_revenue_usd"),
    ("placement_type", "placement_types", "placement_type_revenue_usd"),
)

#: Exact money: sums of whole pico-dollars, whatever their order or the history's length.
MONEY = "DECIMAL(38,12)"

#: Each user's revenue history as of each day they are in ``user_revenue``: written with it, in
#: the same transaction, from its rows (``revenue.history``).
USER_REVENUE_HISTORY = Table(
    name="user_revenue_history",
    key=("report_date", "app_id", "user_key"),
    columns=(
        Column("report_date", "DATE", "UTC day of the DT report: the figures are as of its end"),
        Column("app_id", "VARCHAR", "DT app ID"),
        Column("user_key", "VARCHAR", "user_revenue.user_key"),
        Column("revenue_7d_usd", MONEY, "revenue of the 7 days up to report_date, USD"),
        Column("revenue_30d_usd", MONEY, "revenue of the 30 days up to report_date, USD"),
        Column("lifetime_revenue_usd", MONEY, "revenue of every loaded day up to report_date, USD"),
        Column(
            "first_revenue_day",
            "DATE",
            "first day with revenue > 0 (null: none yet)",
            nullable=True,
        ),
        Column(
            "last_revenue_day",
            "DATE",
            "last day up to report_date with revenue > 0 (null: none yet)",
            nullable=True,
        ),
        Column("active_days", "BIGINT", "days up to report_date the user is in the report"),
    ),
)

#: One row per partition: what the report held in all, and what could not be tied to a user
#: (FairBid's masked aggregate row and rows without any identifier), so that
#: users + unattributed = the raw report.
REVENUE_PARTITIONS = Table(
    name="user_revenue_partitions",
    key=("report_date", "app_id"),
    columns=(
        Column("report_date", "DATE", "UTC day of the DT report"),
        Column("app_id", "VARCHAR", "DT app ID"),
        Column("raw_rows", "BIGINT", "data rows in the raw report"),
        Column("raw_impressions", "BIGINT", "impressions in the raw report"),
        Column("raw_revenue_usd", "DOUBLE", "revenue in the raw report, USD"),
        Column("users", "BIGINT", "rows written to user_revenue"),
        Column("unattributed_rows", "BIGINT", "masked aggregate rows and rows with no identifier"),
        Column("masked_rows", "BIGINT", "FairBid 'aggregated masked user level revenue' rows"),
        Column("unattributed_impressions", "BIGINT", "impressions not tied to a user"),
        Column("unattributed_revenue_usd", "DOUBLE", "revenue not tied to a user, USD"),
        Column("loaded_at", "TIMESTAMP", "when this partition was written (UTC)"),
    ),
)

#: One row per reload of a partition whose totals differ from the load before it, written in the
#: same transaction as the reload: how much a day moved, when, and at what age of the day.
REVENUE_RESTATEMENTS = Table(
    name="revenue_restatements",
    key=("report_date", "app_id", "restated_at"),
    columns=(
        Column("report_date", "DATE", "UTC day of the DT report"),
        Column("app_id", "VARCHAR", "DT app ID"),
        Column("restated_at", "TIMESTAMP", "when the reload was written (UTC)"),
        Column("pull_age_days", "INTEGER", "days from the report's day to the reload"),
        Column("users_before", "BIGINT", "users in the load before"),
        Column("users_after", "BIGINT", "users in this load"),
        Column("impressions_before", "BIGINT", "impressions in the report before"),
        Column("impressions_after", "BIGINT", "impressions in the report now"),
        Column("revenue_usd_before", "DOUBLE", "revenue tied to users before, USD"),
        Column("revenue_usd_after", "DOUBLE", "revenue tied to users now, USD"),
        Column("unattributed_revenue_usd_before", "DOUBLE", "revenue tied to no user before"),
        Column("unattributed_revenue_usd_after", "DOUBLE", "revenue tied to no user now"),
        Column("change_usd", "DOUBLE", "the report's whole revenue, now minus before, USD"),
        Column(
            "change_pct",
            "DOUBLE",
            "change_usd against the whole revenue before, % (null when it was 0)",
            nullable=True,
        ),
    ),
)

#: The Reo.Dev delivery ledger: one row per event_id.
DELIVERIES = Table(
    name="reo_event_deliveries",
    key=("event_id",),
    columns=(
        Column("event_id", "VARCHAR", "deterministic id of (app, date, user, activity type)"),
        Column("report_date", "DATE", "UTC day of the DT report"),
        Column("app_id", "VARCHAR", "DT app ID"),
        Column("user_key", "VARCHAR", "user_revenue.user_key of the event"),
        Column("status", "VARCHAR", "pending, delivered, failed or rejected"),
        Column("attempts", "INTEGER", "HTTP attempts made, over all runs"),
        Column("last_http_status", "INTEGER", "status of the last answer", nullable=True),
        Column("last_error", "VARCHAR", "why it is not delivered (or was rejected)", nullable=True),
        Column("payload_hash", "VARCHAR", "sha256 of the payload JSON"),
        Column("payload", "VARCHAR", "the payload JSON as built"),
        Column("revenue_usd", "DOUBLE", "revenue the event carries (a correction: the change)"),
        Column("created_at", "TIMESTAMP", "first built (UTC)"),
        Column("updated_at", "TIMESTAMP", "last changed (UTC)"),
        Column("delivered_at", "TIMESTAMP", "confirmed by Reo.Dev (UTC)", nullable=True),
        # Added after the first release: null in older rows, which are all usage events.
        Column("kind", "VARCHAR", "usage, or correction of a delivered usage", nullable=True),
    ),
)

#: The delivery's run log: one row per (run, partition), beside the ledger and written in the
#: same transactions as its rows, so its counts are the ledger's even for a run that was killed
#: (its ``finished_at`` stays null). ``mode`` says what ran: a delivery, a dry run, or the sweep
#: of an old partition's undelivered events.
DELIVERY_RUNS = Table(
    name="reo_delivery_runs",
    key=("run_id", "report_date", "app_id"),
    columns=(
        Column("run_id", "VARCHAR", "the Dagster run"),
        Column("report_date", "DATE", "UTC day of the DT report"),
        Column("app_id", "VARCHAR", "DT app ID"),
        Column("mode", "VARCHAR", "delivery, dry_run or sweep"),
        Column("started_at", "TIMESTAMP", "when the delivery started (UTC)"),
        Column("updated_at", "TIMESTAMP", "when the row last changed (UTC)"),
        Column(
            "finished_at",
            "TIMESTAMP",
            "when it ended (UTC); null while it runs, or if it was killed",
            nullable=True,
        ),
        Column(
            "outcome",
            "VARCHAR",
            "running, delivered, undelivered (failed or pending events) or stopped",
        ),
        Column("events", "BIGINT", "events of the partition the run registered"),
        Column("delivered_now", "BIGINT", "confirmed by Reo.Dev in this run"),
        Column("delivered_before", "BIGINT", "delivered by an earlier run: not sent"),
        Column("failed", "BIGINT", "not delivered after every try in this run"),
        Column("rejected", "BIGINT", "refused by the payload contract or by Reo.Dev"),
        Column("dry_run", "BIGINT", "recorded and not sent (a dry run)"),
        Column("requests", "BIGINT", "HTTP requests sent"),
        Column("throttled", "BIGINT", "requests answered 429"),
        Column(
            "other_retries", "BIGINT", "tries again after a 5xx, a timeout or a dropped connection"
        ),
        Column(
            "rtt_p50_ms", "DOUBLE", "median round trip of the answered requests, ms", nullable=True
        ),
        Column("rtt_p95_ms", "DOUBLE", "95th percentile round trip, ms", nullable=True),
        Column(
            "in_flight_ceiling",
            "INTEGER",
            "the most requests in flight the pace allowed",
            nullable=True,
        ),
        Column(
            "requests_per_second",
            "DOUBLE",
            "requests over the seconds spent sending",
            nullable=True,
        ),
        Column("seconds", "DOUBLE", "from start to end (or to the last change, if killed)"),
        Column(
            "first_error", "VARCHAR", "the first reason an event was not delivered", nullable=True
        ),
    ),
)

#: The daily view across apps: one row per (day, catalog app), loaded or not, so a missing app is
#: a row that says so rather than an absent one.
DAILY_REVENUE = Table(
    name="daily_revenue",
    key=("report_date", "app_id"),
    columns=(
        Column("report_date", "DATE", "UTC day"),
        Column("app_id", "VARCHAR", "DT app ID of the catalog"),
        Column("loaded", "BOOLEAN", "user_revenue has the (app, day) partition"),
        Column("users", "BIGINT", "users in user_revenue"),
        Column("users_with_user_id", "BIGINT", "users keyed by a publisher User ID"),
        Column("impressions", "BIGINT", "impressions of those users"),
        Column("revenue_usd", "DOUBLE", "revenue tied to a user, USD"),
        Column("unattributed_revenue_usd", "DOUBLE", "masked or unidentified revenue, USD"),
        Column("events", "BIGINT", "Reo.Dev events in the delivery ledger"),
        Column("events_delivered", "BIGINT", "of those, confirmed by Reo.Dev"),
        Column("revenue_change_pct", "DOUBLE", "revenue vs the day before, %", nullable=True),
        Column("users_change_pct", "DOUBLE", "users vs the day before, %", nullable=True),
        Column("rolled_up_at", "TIMESTAMP", "when this row was written (UTC)"),
        Column(
            "revenue_restated_usd",
            "DOUBLE",
            "the report's whole revenue now minus at its first load (DT's restatements), USD",
            nullable=True,
        ),
        Column(
            "revenue_restated_pct",
            "DOUBLE",
            "revenue_restated_usd against the first load's whole revenue, %",
            nullable=True,
        ),
        # Delivery health, from reo_delivery_runs (null in rows rolled up before it existed).
        Column(
            "events_rejected", "BIGINT", "events the contract or Reo.Dev refused", nullable=True
        ),
        Column(
            "delivery_requests",
            "BIGINT",
            "requests of every delivery run of the day",
            nullable=True,
        ),
        Column("delivery_throttled", "BIGINT", "of those, answered 429", nullable=True),
        Column("delivery_seconds", "DOUBLE", "time the day's delivery runs took, s", nullable=True),
        Column(
            "arpdau_usd",
            "DOUBLE",
            "average revenue per daily active user: revenue_usd / users (null: no users)",
            nullable=True,
        ),
    ),
)

#: The daily view split by ad network and by placement type: one row per (day, app, dimension,
#: value), rolled up with ``daily_revenue``, what a revenue team compares against each network's
#: own dashboard.
DAILY_REVENUE_SPLITS = Table(
    name="daily_revenue_splits",
    key=("report_date", "app_id", "dimension", "value"),
    columns=(
        Column("report_date", "DATE", "UTC day"),
        Column("app_id", "VARCHAR", "DT app ID"),
        Column("dimension", "VARCHAR", "ad_network or placement_type"),
        Column("value", "VARCHAR", "the network's or placement type's name"),
        Column("users", "BIGINT", "users it served"),
        Column("revenue_usd", "DOUBLE", "their revenue from it, USD"),
    ),
)

#: Lifetime value by first-revenue cohort: one row per (app, first revenue day, days since).
REVENUE_COHORTS = Table(
    name="revenue_cohorts",
    key=("app_id", "first_revenue_day", "days_since"),
    columns=(
        Column("app_id", "VARCHAR", "DT app ID"),
        Column("first_revenue_day", "DATE", "the cohort: users whose first revenue was that day"),
        Column("days_since", "INTEGER", "days from first_revenue_day (0: that day)"),
        Column("cohort_users", "BIGINT", "users in the cohort"),
        Column("active_users", "BIGINT", "of those, in the report on that day"),
        Column("revenue_usd", "DOUBLE", "the cohort's revenue that day, USD"),
        Column("cumulative_revenue_usd", "DOUBLE", "the cohort's revenue up to that day, USD"),
        Column(
            "cumulative_revenue_per_user_usd",
            "DOUBLE",
            "cumulative_revenue_usd / cohort_users: the cohort's lifetime value curve, USD",
        ),
    ),
)

#: Every table the project keeps (the budget's SQLite file aside: ``migrations``).
TABLES = (
    USER_REVENUE,
    USER_REVENUE_HISTORY,
    REVENUE_PARTITIONS,
    REVENUE_RESTATEMENTS,
    DELIVERIES,
    DELIVERY_RUNS,
    DAILY_REVENUE,
    DAILY_REVENUE_SPLITS,
    REVENUE_COHORTS,
)
