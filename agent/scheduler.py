"""``costagent run``: the daemon that collects, analyzes and reports on cron schedules.

APScheduler 3 runs the jobs of :mod:`agent.jobs` on cron triggers in ``report.timezone`` (so
"Monday 09:00" stays 09:00 local across daylight-saving changes).  Every job is
``coalesce=True, max_instances=1`` with a misfire grace time: a host that slept through three
runs catches up with one, and a job never overlaps itself.  Jobs also never overlap each other
(one work lock), so a report never reads a half-collected store.

The daemon holds the database's lock (:mod:`agent.daemon_lock`) for its whole life and refreshes
its heartbeat from an interval job.  SIGTERM / SIGINT stop the scheduling; a running job stops at
its next step boundary (``abandoned``), or — if it does not reach one within
``daemon.stop_timeout_seconds`` — is marked abandoned and the process exits anyway, which rolls
its open transaction back.  Either way the lock is released and the exit code is 0.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from agent import daemon_lock, jobs
from agent.config import JOB_NAMES, ConfigError, Settings
from agent.logs import current_job

log = logging.getLogger(__name__)


def timezone_of(settings: Settings) -> ZoneInfo:
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
    """A five-field crontab expression (crontab's weekday numbering) as an APScheduler trigger."""
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields (minute hour day month weekday), got {len(fields)}")
    minute, hour, day, month, weekday = fields
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=crontab_weekdays(weekday),
        timezone=timezone,
    )


def triggers(settings: Settings) -> dict[str, Any]:
    """The enabled jobs' cron triggers, in the configured time zone (``"off"`` jobs left out)."""
    tz = timezone_of(settings)
    out: dict[str, Any] = {}
    for name in JOB_NAMES:
        expr = getattr(settings.schedule, name)
        if expr != "off":
            out[name] = cron_trigger(expr, tz)
    return out


def next_runs(settings: Settings, now: datetime | None = None) -> dict[str, datetime | None]:
    """When each enabled job runs next (aware, in the configured zone), daemon or not."""
    now = now or datetime.now(timezone_of(settings))
    return {name: t.get_next_fire_time(None, now) for name, t in triggers(settings).items()}


def add_jobs(
    scheduler: BaseScheduler,
    settings: Settings,
    runner: Callable[[str], Any],
    run_on_start: Sequence[str] = (),
) -> None:
    """Add one cron job per enabled job name; ``runner(name)`` is what runs."""
    now = datetime.now(timezone_of(settings))
    for name, trigger in triggers(settings).items():
        extra: dict[str, Any] = {"next_run_time": now} if name in run_on_start else {}
        scheduler.add_job(
            runner,
            trigger,
            args=[name],
            id=name,
            name=name,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=settings.daemon.misfire_grace_seconds,
            replace_existing=True,
            **extra,
        )


class Daemon:
    """One ``costagent run`` process: lock, scheduler, signal handling, orderly shutdown."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.stop = threading.Event()
        self.lost_lock = False
        self.who = daemon_lock.me()
        self.scheduler = BlockingScheduler(timezone=timezone_of(settings))
        self._work = threading.Lock()  # jobs run one at a time
        self._active: dict[int, str] = {}  # run id -> job, while it runs
        self._idle = threading.Condition()
        self._shut = threading.Lock()
        self._shut_done = False

    # -- jobs ------------------------------------------------------------------------------
    def run_named(self, job: str) -> None:
        """What the scheduler calls: wait for other jobs, then run this one (unless stopping)."""
        while not self._work.acquire(timeout=0.2):
            if self.stop.is_set():
                return
        try:
            if self.stop.is_set():
                return
            jobs.run_job(self.engine, self.settings, job, self.stop, on_start=self._started)
        finally:
            with self._idle:
                for run_id in [r for r, j in self._active.items() if j == job]:
                    del self._active[run_id]
                self._idle.notify_all()
            self._work.release()

    def _started(self, run_id: int) -> None:
        with self._idle:
            self._active[run_id] = current_job.get() or "?"

    def _beat(self) -> None:
        try:
            ours = daemon_lock.heartbeat(self.engine, self.who)
        except Exception as exc:  # the database is away: try again next beat
            log.warning("heartbeat failed: %s", type(exc).__name__)
            return
        if not ours:
            log.error("lost the daemon lock (taken over after a missed heartbeat); stopping")
            self.lost_lock = True
            self.request_stop()

    # -- life cycle ------------------------------------------------------------------------
    def request_stop(self) -> None:
        self.stop.set()
        with self._shut:
            if self._shut_done:
                return
            self._shut_done = True
        # Not started yet: serve() checks self.stop before starting.
        with suppress(Exception):
            self.scheduler.shutdown(wait=False)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        log.info("received %s; stopping", signal.Signals(signum).name)
        # Never touch the scheduler's locks from inside a signal handler: hand it to a thread.
        threading.Thread(target=self.request_stop, name="stop", daemon=True).start()

    def serve(self) -> int:
        """Take the lock and run until stopped; the exit code is 0, or 1 if the lock was lost."""
        d = self.settings.daemon
        self.who = daemon_lock.acquire(self.engine, timedelta(seconds=d.lock_stale_seconds))
        try:
            orphans = jobs.abandon_running(self.engine, "the daemon stopped while it ran")
            if orphans:
                log.warning(
                    "%d job run(s) left running by a previous daemon marked abandoned", orphans
                )
            add_jobs(self.scheduler, self.settings, self.run_named, d.run_on_start)
            self.scheduler.add_job(
                self._beat,
                IntervalTrigger(seconds=d.heartbeat_seconds),
                id="heartbeat",
                name="heartbeat",
                coalesce=True,
                max_instances=1,
            )
            self._log_start()
            with _signals(self._on_signal):
                if not self.stop.is_set():
                    self.scheduler.start()  # blocks until request_stop()
                self._finish(d.stop_timeout_seconds)
        finally:
            daemon_lock.release(self.engine, self.who)
            log.info("daemon stopped; lock released")
        return 1 if self.lost_lock else 0

    def _finish(self, timeout: float) -> None:
        """Wait for a running job to reach a step boundary; abandon it if it does not in time."""
        with self._idle:
            self._idle.wait_for(lambda: not self._active, timeout=timeout)
            left = dict(self._active)
        if not left:
            return
        for run_id, job in left.items():
            jobs.finish_run(
                self.engine,
                run_id,
                "abandoned",
                f"daemon stopped; the job did not reach a step boundary within {timeout:g} s",
            )
            log.warning("job %s abandoned at shutdown (its transaction rolls back)", job)
        # The job's thread is inside a step (an open transaction): leave without joining it;
        # the database rolls the transaction back when the connection goes away.
        daemon_lock.release(self.engine, self.who)
        log.info("daemon stopped; lock released")
        logging.shutdown()
        sys.stdout.flush()
        os._exit(1 if self.lost_lock else 0)

    def _log_start(self) -> None:
        tz = timezone_of(self.settings)
        now = datetime.now(tz)
        log.info(
            "costagent daemon started as %s on %s (time zone %s)",
            self.who.holder,
            self.engine.url.render_as_string(hide_password=True),
            tz.key,
        )
        for name, trigger in triggers(self.settings).items():
            first = (
                "now"
                if name in self.settings.daemon.run_on_start
                else _iso(trigger.get_next_fire_time(None, now))
            )
            log.info(
                "job %s: cron %r, next run %s",
                name,
                getattr(self.settings.schedule, name),
                first,
                extra={"job": name, "next_run": first},
            )
        off = [n for n in JOB_NAMES if getattr(self.settings.schedule, n) == "off"]
        if off:
            log.info("jobs switched off: %s", ", ".join(off))


def run_once(engine: Engine, settings: Settings, job: str) -> str:
    """``costagent run --once JOB``: the job now, under the daemon lock; returns its status."""
    d = settings.daemon
    who = daemon_lock.acquire(engine, timedelta(seconds=d.lock_stale_seconds))
    stop = threading.Event()
    done = threading.Event()

    def beat() -> None:
        while not done.wait(d.heartbeat_seconds):
            try:
                daemon_lock.heartbeat(engine, who)
            except Exception as exc:
                log.warning("heartbeat failed: %s", type(exc).__name__)

    beater = threading.Thread(target=beat, name="heartbeat", daemon=True)
    beater.start()
    try:
        jobs.abandon_running(engine, "the daemon stopped while it ran")
        with _signals(lambda signum, _f: stop.set()):
            return jobs.run_job(engine, settings, job, stop)
    finally:
        done.set()
        beater.join(timeout=5)
        daemon_lock.release(engine, who)


@contextmanager
def _signals(handler: Callable[[int, FrameType | None], None]) -> Iterator[None]:
    """SIGTERM and SIGINT go to ``handler`` inside the block (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else "never"
