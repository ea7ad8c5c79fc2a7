"""Which week a report covers: a whole ISO week (Monday 00:00 to the next Monday 00:00) in the
user's time zone, turned into the naive-UTC bounds the store is queried with.

A week is a local notion — a Berlin team's Monday starts at 23:00 UTC on Sunday in winter —
so the bounds are computed in the zone first and converted afterwards; a week containing a DST
change is therefore 167 or 169 hours long, never a shifted 168.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agent.config import ConfigError


@dataclass(frozen=True)
class Week:
    """One ISO week: local dates for people, naive-UTC bounds for SQL (``start <= t < end``)."""

    label: str  # ISO week, e.g. 2026-W47
    timezone: str
    first_day: date  # the Monday
    last_day: date  # the Sunday
    start: datetime  # naive UTC
    end: datetime  # naive UTC, exclusive

    @property
    def hours(self) -> int:
        return int((self.end - self.start).total_seconds() // 3600)

    def previous(self) -> Week:
        return week_of(self.first_day - timedelta(days=7), self.timezone)


def zone(name: str) -> ZoneInfo:
    """The configured zone; an unknown name is a configuration error (exit 2), not a crash."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"report.timezone: unknown time zone {name!r}") from None


def week_of(day: date, timezone: str) -> Week:
    """The ISO week (in ``timezone``) that contains ``day``."""
    tz = zone(timezone)
    monday = day - timedelta(days=day.weekday())
    next_monday = monday + timedelta(days=7)
    start = datetime.combine(monday, time(), tzinfo=tz).astimezone(UTC).replace(tzinfo=None)
    end = datetime.combine(next_monday, time(), tzinfo=tz).astimezone(UTC).replace(tzinfo=None)
    year, number, _ = monday.isocalendar()
    return Week(
        label=f"{year}-W{number:02d}",
        timezone=timezone,
        first_day=monday,
        last_day=monday + timedelta(days=6),
        start=start,
        end=end,
    )


def last_full_week(now: datetime, timezone: str) -> Week:
    """The last whole ISO week before ``now`` (naive ``now`` is UTC, like the store)."""
    aware = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    local_day = aware.astimezone(zone(timezone)).date()
    return week_of(local_day - timedelta(days=local_day.weekday() + 7), timezone)
