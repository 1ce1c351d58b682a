"""Synthetic, deterministic DT user-level reports and their ground truth.

Written from the reference document alone (it imports nothing of ours but the standard library),
so that it is an independent witness: a wrong column name or a wrong sum in the pipeline shows
up as a test failure instead of agreeing with itself. Revenue is generated as whole nano-dollars,
so the ground truth sums are exact integers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO

HEADER = (
    "Date",
    "App ID",
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
    out: IO[str], date: dt.date, app_id: str, rows: int = 2000, *, header: Iterable[str] = HEADER
) -> GroundTruth:
    """Write the report for (date, app) as CSV to ``out`` and return its ground truth."""
    rng = random.Random(_seed(date, app_id))
    pool = user_pool(app_id, max(20, rows // 3))
    truth = GroundTruth(date=date, app_id=app_id)
    out.write(",".join(header) + "\r\n")
    day = date.isoformat()
    lines: list[str] = []
    data_rows = max(rows - 1, 0)
    for _ in range(data_rows):
        user = pool[
            min(int(rng.paretovariate(1.2)) - 1, len(pool) - 1)
            if rng.random() < 0.3
            else rng.randrange(len(pool))
        ]
        network = rng.choice(NETWORKS)
        placement, container = rng.choice(PLACEMENTS)
        impressions = rng.randint(0, 40) if rng.random() < 0.97 else 0
        ecpm_nanos = rng.randint(50_000, 12_000_000)  # USD 0.00005 - 0.012 per impression
        revenue_nanos = impressions * ecpm_nanos
        lines.append(
            f"{day},{app_id},{network},{rng.randrange(10_000, 99_999)},{container},"
            f"{user.advertising_id},{user.idfv},{_csv_cell(user.user_id)},"
            f"inst-{rng.randrange(1000)},{rng.randrange(100_000, 999_999)},{placement},"
            f"{impressions},{_usd(revenue_nanos)}\r\n"
        )
        _add(truth, user, impressions, revenue_nanos)
        if len(lines) >= 10_000:
            out.write("".join(lines))
            lines.clear()
    if rows > 0:
        impressions = rng.randint(50, 500)
        revenue_nanos = impressions * rng.randint(100_000, 5_000_000)
        lines.append(
            f"{day},{app_id},DT Exchange,,,{MASKED},,,,,rewarded,{impressions},"
            f"{_usd(revenue_nanos)}\r\n"
        )
        truth.rows += 1
        truth.total.impressions += impressions
        truth.total.revenue_nanos += revenue_nanos
        truth.unattributed.impressions += impressions
        truth.unattributed.revenue_nanos += revenue_nanos
    out.write("".join(lines))
    return truth


def _add(truth: GroundTruth, user: SyntheticUser, impressions: int, revenue_nanos: int) -> None:
    truth.rows += 1
    truth.total.impressions += impressions
    truth.total.revenue_nanos += revenue_nanos
    key = user.key
    bucket = truth.unattributed if key[0] == "none" else truth.users.setdefault(key, Totals())
    bucket.impressions += impressions
    bucket.revenue_nanos += revenue_nanos


def _usd(nanos: int) -> str:
    whole, frac = divmod(nanos, 1_000_000_000)
    return f"{whole}.{frac:09d}".rstrip("0").rstrip(".") if nanos else "0"


def _csv_cell(value: str) -> str:
    if any(c in value for c in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def report_bytes(date: dt.date, app_id: str, rows: int = 2000) -> tuple[bytes, GroundTruth]:
    buffer = io.StringIO()
    truth = generate(buffer, date, app_id, rows)
    return buffer.getvalue().encode("utf-8"), truth
