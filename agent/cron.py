"""The daemon's schedule: crontab expressions as APScheduler 3 triggers in ``report.timezone``.

Kept apart from the daemon so ``costagent status`` and config validation can compute fire times
without starting (or importing) a scheduler process.  Two things APScheduler 3 gets differently
from crontab are fixed here: numeric weekdays (crontab's 1 = Monday, APScheduler's 0 = Monday)
and the missing *previous* fire time (:func:`previous_fire`, for catching up after downtime).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel

from agent.validation import ConfigError


class _Report(Protocol):
    @property
    def timezone(self) -> str: ...


class Scheduled(Protocol):
    """What the schedule functions read from the settings (the settings model validates its
    expressions with :func:`cron_trigger`, so this module cannot import it)."""

    @property
    def report(self) -> _Report: ...

    @property
    def schedule(self) -> BaseModel: ...


def timezone_of(settings: Scheduled) -> ZoneInfo:
    try:
        return ZoneInfo(settings.report.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"report.timezone: unknown time zone {settings.report.timezone!r}"
        ) from None


_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def crontab_weekdays(field: str) -> str:
    """A crontab day-of-week field as APScheduler 3 means it.

    ``CronTrigger.from_crontab`` reads numeric weekdays as 0 = Monday, so crontab's
    ``0 9 * * 1`` (Monday) would fire on Tuesdays.  Expanding the field to day names keeps
    crontab's meaning (0 and 7 = Sunday, ranges, lists, steps, names).
    """
    if field == "*":
        return field
    days: set[int] = set()
    for token in field.lower().split(","):
        base, _, step_text = token.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"bad step in day-of-week field {field!r}")
        if base == "*":
            first, last = 0, 6
        else:
            a, dash, b = base.partition("-")
            first = _day(a, field)
            last = _day(b, field) if dash else (6 if step_text else first)
            if dash and b in ("7", "sun"):
                last = 7
            if last < first:
                raise ValueError(f"day-of-week range {base!r} runs backwards")
        days.update(d % 7 for d in range(first, last + 1, step))
    return ",".join(_DAYS[d] for d in sorted(days))


def _day(text: str, field: str) -> int:
    if text in _DAYS:
        return _DAYS.index(text)
    if text.isdigit() and int(text) <= 7:
        return int(text)
    raise ValueError(f"not a day of the week: {text!r} in {field!r}")


def cron_trigger(expr: str, timezone: Any) -> Any:
    """A crontab expression (crontab's weekday numbering) as an APScheduler trigger.

    Five fields as in crontab; six fields put the second first (``*/2 * * * * *``: every two
    seconds), which the daemon's own tests use to see a schedule fire without waiting a minute.
    """
    fields = expr.split()
    if len(fields) not in (5, 6):
        raise ValueError(
            f"expected 5 fields (minute hour day month weekday), or 6 with a leading second; "
            f"got {len(fields)}"
        )
    second = fields.pop(0) if len(fields) == 6 else "0"
    minute, hour, day, month, weekday = fields
    if day != "*" and weekday != "*":
        # crontab fires when EITHER field matches; APScheduler only when BOTH do — the same
        # text would mean something else here, so it is refused rather than misread.
        raise ValueError(
            f"day of month {day!r} and day of week {weekday!r} both restricted: crontab runs on "
            "either, this scheduler only on both; keep one of them '*'"
        )
    return CronTrigger(
        second=second,
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=crontab_weekdays(weekday),
        timezone=timezone,
    )


def triggers(settings: Scheduled) -> dict[str, Any]:
    """The enabled jobs' cron triggers, in the configured time zone (``"off"`` jobs left out)."""
    tz = timezone_of(settings)
    out: dict[str, Any] = {}
    for name in type(settings.schedule).model_fields:  # one field per job, in job order
        expr = getattr(settings.schedule, name)
        if expr != "off":
            out[name] = cron_trigger(expr, tz)
    return out


def next_runs(settings: Scheduled, now: datetime | None = None) -> dict[str, datetime | None]:
    """When each enabled job runs next (aware, in the configured zone), daemon or not."""
    now = now or datetime.now(timezone_of(settings))
    return {name: t.get_next_fire_time(None, now) for name, t in triggers(settings).items()}


def previous_fire(trigger: Any, now: datetime, within: timedelta) -> datetime | None:
    """The trigger's latest fire time in ``[now - within, now]`` (aware, UTC), or None.

    APScheduler 3 only computes *next* fire times, so this bisects: it keeps ``lo``, a fire
    time, and ``hi``, with no fire in ``[hi, now]``; fire times fall on whole seconds, so once
    the two are less than a second apart ``lo`` is the answer (≈ 15 steps for a 6 h window,
    even for a schedule firing every second).  All arithmetic is in UTC: on aware local times
    Python adds wall-clock time, which loops in a repeated daylight-saving hour.
    """
    now = now.astimezone(UTC)
    first = trigger.get_next_fire_time(None, now - within)
    if first is None or first > now:
        return None
    lo: datetime = first.astimezone(UTC)
    hi = now
    for _ in range(64):  # the interval halves each step: 64 is far more than ever needed
        if hi - lo < timedelta(seconds=1):
            break
        mid = lo + (hi - lo) / 2
        fire = trigger.get_next_fire_time(None, mid)
        if fire is not None and lo < fire <= now:
            lo = fire.astimezone(UTC)
        else:
            hi = mid
    return lo
