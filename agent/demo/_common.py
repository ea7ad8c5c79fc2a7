"""What the demo generators share: the month, seeded randomness, ids and demand curves.

Everything here is a pure function of its arguments, so a seed gives the same output on every
machine (``random.Random`` seeded with a string is stable across Python versions and processes).
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

DEFAULT_SEED = 20261001
DEFAULT_MONTH = "2026-10"
WORKLOADS = ("inference", "training", "vector_storage", "other")

# Demand of an interactive application by US Eastern local hour (0 = midnight), peak = 1.
_BUSINESS = (
    0.10, 0.08, 0.07, 0.07, 0.08, 0.12, 0.22, 0.40, 0.65, 0.85, 0.95, 1.00,
    0.92, 0.97, 1.00, 0.96, 0.88, 0.72, 0.55, 0.42, 0.34, 0.26, 0.18, 0.13,
)  # fmt: skip
_EASTERN_OFFSET = timedelta(hours=-4)  # EDT; the demo month never crosses a DST change


@dataclass(frozen=True)
class Month:
    """A calendar month in UTC; ``start`` inclusive, ``end`` exclusive (the next month)."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        try:
            year_s, month_s = text.strip().split("-")
            value = cls(int(year_s), int(month_s))
        except ValueError:
            raise ValueError(f"{text!r} is not a month (expected YYYY-MM)") from None
        if not 1 <= value.month <= 12 or not 2000 <= value.year <= 2999:
            raise ValueError(f"{text!r} is not a month (expected YYYY-MM)")
        return value

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def compact(self) -> str:
        return f"{self.year:04d}{self.month:02d}"

    @property
    def days(self) -> int:
        return calendar.monthrange(self.year, self.month)[1]

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)

    @property
    def hours(self) -> list[datetime]:
        return [self.start + timedelta(hours=h) for h in range(self.days * 24)]

    def day(self, n: int, hour: int = 0, minute: int = 0) -> datetime:
        """Day ``n`` of the month (1-based) at ``hour:minute`` UTC."""
        return self.start + timedelta(days=n - 1, hours=hour, minutes=minute)

    def months_before(self, n: int) -> datetime:
        index = self.year * 12 + self.month - 1 - n
        return datetime(index // 12, index % 12 + 1, 1)


def rng(seed: int, part: str) -> random.Random:
    """An independent stream per part, so changing one generator never shifts another."""
    return random.Random(f"costagent-demo:{seed}:{part}")


def stable_id(*parts: object, length: int = 52) -> str:
    """Lower-case base32 of a SHA-256 of the parts (the look of a CUR line item id)."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return base64.b32encode(digest).decode().lower().rstrip("=")[:length]


def hex_id(*parts: object, length: int = 16) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:length]


def digits_id(*parts: object, length: int = 19) -> str:
    """A numeric id (Vertex AI resources and GCE instances have 19-digit ids)."""
    value = int(hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest(), 16)
    return str(value)[:length]


def local(ts: datetime) -> datetime:
    return ts + _EASTERN_OFFSET


def business(ts: datetime) -> float:
    """Demand of an interactive app at ``ts`` (UTC): office hours in New York, quiet weekends."""
    lt = local(ts)
    factor = _BUSINESS[lt.hour]
    return factor * 0.35 if lt.weekday() >= 5 else factor


def office_hours(ts: datetime) -> bool:
    lt = local(ts)
    return lt.weekday() < 5 and 8 <= lt.hour < 19


def growth(ts: datetime, month: Month, weekly: float) -> float:
    """Compound growth through the month: ``weekly`` = 1.08 means +8 % a week."""
    days = (ts - month.start).total_seconds() / 86400
    return float(weekly ** (days / 7))


def money(value: float) -> float:
    """Round to 10 decimals, as CUR does (so the shortest repr has at most 10)."""
    return round(value + 0.0, 10)


def iso_z(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC)


@dataclass
class Ledger:
    """Totals the generator intends, per (provider, workload) and per week, for the README."""

    start: datetime
    billed: dict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))
    effective: dict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))
    weekly: dict[tuple[str, int], float] = field(default_factory=lambda: defaultdict(float))
    credits: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    rows: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(
        self, provider: str, workload: str, billed: float, effective: float, when: datetime
    ) -> None:
        if workload not in WORKLOADS:
            raise ValueError(f"unknown workload {workload!r}")
        self.billed[(provider, workload)] += billed
        self.effective[(provider, workload)] += effective
        self.weekly[(provider, (when - self.start).days // 7 + 1)] += billed
