"""Synthetic, deterministic DT user-level reports and their ground truth.

Written from DT's *User Level Reporting API* document alone (it imports nothing of ours but the
standard library), so that it is an independent witness: a wrong column name or a wrong sum in the
pipeline shows up as a test failure instead of agreeing with itself. Revenue is generated as whole
nano-dollars, so the ground truth sums are exact integers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import random
from dataclasses import dataclass, field, fields
from typing import IO, Any

#: The report's columns as the document's "Metrics and Dimensions" tables list them.
DOCUMENTED_HEADER = (
    "Ad Network Name",
    "Ad Unit ID",
    "Container Type ID",
    "Advertising ID",
    "IDFV",
    "User ID",
    "Instance ID",
    "Placement ID",
    "Placement Type",
    "Impressions",
    "Revenue",
)
QUERIED = ("Date", "App ID")  # what a request queries; "the date is included in the report"
FAIRBID_ONLY = ("IDFV", "User ID")  # "relevant to FairBid customers only"
ZERO_AD_ID = "00000000-0000-0000-0000-000000000000"
MASKED = "aggregated masked user level revenue"
NETWORKS = ("DT Exchange", "AdMob", "AppLovin", "Meta Audience Network", "Unity Ads", "Vungle")
PLACEMENTS = (("banner", 1), ("interstitial", 2), ("rewarded", 3))
FIRST = (
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
    "mallory",
    "niaj",
    "olivia",
    "peggy",
    "rupert",
    "sybil",
    "trent",
    "victor",
    "walter",
)
DOMAINS = ("example.com", "devshop.io", "mail.test", "corp.example.org")


@dataclass(frozen=True)
class ReportShape:
    """Which reading of the document the served CSV follows; the default is its dimension table.

    ``date_app_columns`` puts the queried ``Date`` and ``App ID`` first; without
    ``fairbid_columns`` the report of a non-FairBid publisher has no ``IDFV`` or ``User ID``;
    ``renamed`` maps documented names to other spellings (``{"Revenue": "Revenue (USD)"}``);
    ``revenue_percent`` restates the day: every row's revenue at that percent of the first
    estimate (DT's numbers move for days after the first pull).
    """

    date_app_columns: bool = False
    fairbid_columns: bool = True
    bom: bool = False
    line_ending: str = "\r\n"
    renamed: tuple[tuple[str, str], ...] = ()
    revenue_percent: int = 100

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> ReportShape:
        """From ``POST /_sandbox/report-shape``'s body; unknown keys are refused."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(body) - known)
        if unknown:
            raise ValueError(f"unknown report shape keys {unknown}; known: {sorted(known)}")
        renamed = tuple(sorted(dict(body.get("renamed") or {}).items()))
        return cls(**{**body, "renamed": renamed})

    @property
    def columns(self) -> tuple[str, ...]:
        """The documented names of the columns served, in order."""
        documented = tuple(
            c for c in DOCUMENTED_HEADER if self.fairbid_columns or c not in FAIRBID_ONLY
        )
        return (QUERIED if self.date_app_columns else ()) + documented

    @property
    def header(self) -> str:
        names = dict(self.renamed)
        return ",".join(names.get(c, c) for c in self.columns)


@dataclass
class Totals:
    impressions: int = 0
    revenue_nanos: int = 0

    @property
    def revenue_usd(self) -> float:
        return self.revenue_nanos / 1e9


@dataclass(frozen=True)
class SyntheticUser:
    """One device/user of the app; ``key`` is how the publisher would name them."""

    user_id: str
    advertising_id: str
    idfv: str

    @property
    def key(self) -> tuple[str, str]:
        """(kind, value): publisher User ID first, then a real advertising ID, then IDFV."""
        if self.user_id.strip():
            return ("user_id", self.user_id.strip())
        if self.advertising_id and self.advertising_id != ZERO_AD_ID:
            return ("advertising_id", self.advertising_id)
        if self.idfv:
            return ("idfv", self.idfv)
        return ("none", "")


@dataclass
class GroundTruth:
    """What the report contains, computed while writing it (never by parsing it)."""

    date: dt.date
    app_id: str
    rows: int = 0
    total: Totals = field(default_factory=Totals)
    users: dict[tuple[str, str], Totals] = field(default_factory=dict)
    unattributed: Totals = field(default_factory=Totals)
    #: Each user's revenue in nano-dollars per ad network, and per placement type.
    user_networks: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    user_placements: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)


def _uuid(rng: random.Random, upper: bool = False) -> str:
    text = (
        f"{rng.getrandbits(32):08x}-{rng.getrandbits(16):04x}-{rng.getrandbits(12) | 0x4000:04x}"
        f"-{rng.getrandbits(14) | 0x8000:04x}-{rng.getrandbits(48):012x}"
    )
    return text.upper() if upper else text


def _user_id(rng: random.Random, n: int) -> str:
    name = f"{rng.choice(FIRST)}{n}"
    roll = rng.random()
    if roll < 0.25:
        return f"{name}@{rng.choice(DOMAINS)}"
    if roll < 0.35:
        return f"https://github.com/{name}-dev"
    if roll < 0.45:
        return f"https://www.linkedin.com/in/{name}-{rng.randrange(1000)}"
    if roll < 0.65:
        return f"{name}_{rng.randrange(100)}"
    return ""


def user_pool(app_id: str, size: int) -> list[SyntheticUser]:
    """The app's users; the same on every day, so users recur across partitions."""
    rng = random.Random(int(hashlib.sha256(f"pool:{app_id}".encode()).hexdigest()[:16], 16))
    users = []
    for n in range(size):
        ios = rng.random() < 0.45
        lat = rng.random() < 0.12
        users.append(
            SyntheticUser(
                user_id=_user_id(rng, n),
                advertising_id=ZERO_AD_ID
                if lat
                else ("" if rng.random() < 0.05 else _uuid(rng, ios)),
                idfv=_uuid(rng, True) if ios and rng.random() < 0.9 else "",
            )
        )
    # A few users with padding around their ID, and one with no identifier at all.
    if size > 10:
        users[3] = SyntheticUser(
            f"  {users[3].user_id or 'padded_user'}  ", users[3].advertising_id, users[3].idfv
        )
        users[7] = SyntheticUser("", ZERO_AD_ID, "")
    return users


def _seed(date: dt.date, app_id: str) -> int:
    return int(hashlib.sha256(f"{date.isoformat()}:{app_id}".encode()).hexdigest()[:16], 16)


def generate(
    out: IO[str], date: dt.date, app_id: str, rows: int = 2000, shape: ReportShape | None = None
) -> GroundTruth:
    """Write the report for (date, app) as CSV to ``out`` and return its ground truth."""
    shape = shape or ReportShape()
    rng = random.Random(_seed(date, app_id))
    pool = user_pool(app_id, max(20, rows // 3))
    if not shape.fairbid_columns:  # the same devices, seen without FairBid's identifiers
        pool = [SyntheticUser("", user.advertising_id, "") for user in pool]
    picks = [(*QUERIED, *DOCUMENTED_HEADER).index(c) for c in shape.columns]
    end = shape.line_ending
    truth = GroundTruth(date=date, app_id=app_id)
    out.write(("\ufeff" if shape.bom else "") + shape.header + end)
    day = date.isoformat()
    lines: list[str] = []

    def line(*cells: object) -> str:
        return ",".join(str(cells[i]) for i in picks) + end

    for _ in range(max(rows - 1, 0)):
        user = pool[
            min(int(rng.paretovariate(1.2)) - 1, len(pool) - 1)
            if rng.random() < 0.3
            else rng.randrange(len(pool))
        ]
        network = rng.choice(NETWORKS)
        placement, container = rng.choice(PLACEMENTS)
        impressions = rng.randint(0, 40) if rng.random() < 0.97 else 0
        ecpm_nanos = rng.randint(50_000, 12_000_000)  # USD 0.00005 - 0.012 per impression
        revenue_nanos = impressions * ecpm_nanos * shape.revenue_percent // 100
        lines.append(
            line(
                day,
                app_id,
                network,
                rng.randrange(10_000, 99_999),
                container,
                user.advertising_id,
                user.idfv,
                _csv_cell(user.user_id),
                f"inst-{rng.randrange(1000)}",
                rng.randrange(100_000, 999_999),
                placement,
                impressions,
                _usd(revenue_nanos),
            )
        )
        _add(truth, user, impressions, revenue_nanos, network, placement)
        if len(lines) >= 10_000:
            out.write("".join(lines))
            lines.clear()
    if rows > 0:
        impressions = rng.randint(50, 500)
        revenue_nanos = impressions * rng.randint(100_000, 5_000_000) * shape.revenue_percent // 100
        lines.append(
            line(
                day,
                app_id,
                "DT Exchange",
                "",
                "",
                MASKED,
                "",
                "",
                "",
                "",
                "rewarded",
                impressions,
                _usd(revenue_nanos),
            )
        )
        truth.rows += 1
        truth.total.impressions += impressions
        truth.total.revenue_nanos += revenue_nanos
        truth.unattributed.impressions += impressions
        truth.unattributed.revenue_nanos += revenue_nanos
    out.write("".join(lines))
    return truth


def _add(
    truth: GroundTruth,
    user: SyntheticUser,
    impressions: int,
    revenue_nanos: int,
    network: str,
    placement: str,
) -> None:
    truth.rows += 1
    truth.total.impressions += impressions
    truth.total.revenue_nanos += revenue_nanos
    key = user.key
    bucket = truth.unattributed if key[0] == "none" else truth.users.setdefault(key, Totals())
    bucket.impressions += impressions
    bucket.revenue_nanos += revenue_nanos
    if key[0] != "none":
        for splits, value in ((truth.user_networks, network), (truth.user_placements, placement)):
            split = splits.setdefault(key, {})
            split[value] = split.get(value, 0) + revenue_nanos


def _usd(nanos: int) -> str:
    whole, frac = divmod(nanos, 1_000_000_000)
    return f"{whole}.{frac:09d}".rstrip("0").rstrip(".") if nanos else "0"


def _csv_cell(value: str) -> str:
    if any(c in value for c in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def report_bytes(
    date: dt.date, app_id: str, rows: int = 2000, shape: ReportShape | None = None
) -> tuple[bytes, GroundTruth]:
    buffer = io.StringIO()
    truth = generate(buffer, date, app_id, rows, shape)
    return buffer.getvalue().encode("utf-8"), truth
