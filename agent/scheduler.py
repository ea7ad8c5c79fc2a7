"""``costagent run``: the daemon that collects, analyzes and reports on cron schedules.

APScheduler 3 runs the jobs of :mod:`agent.jobs` on cron triggers in ``report.timezone`` (so
"Monday 09:00" stays 09:00 local across daylight-saving changes).  Every job is
``coalesce=True, max_instances=1`` with a misfire grace time: a host that slept through three
runs catches up with one, and a job never overlaps itself.  Jobs also never overlap each other
(one work lock), so a report never reads a half-collected store.

Runs are not lost while the daemon is down: at start, a job whose latest scheduled time lies
within ``daemon.misfire_grace_seconds`` and that has no ok run since then runs at once (a
reboot or deploy over Monday 09:00 still sends that week's report).  A failed run — or one the
store could not even record — is retried after ``daemon.retry_after_minutes`` (5, then 15
minutes), while still inside the grace; retries repeat only what failed (see :mod:`agent.jobs`).

The daemon holds the database's lock (:mod:`agent.daemon_lock`) for its whole life and refreshes
its heartbeat from its own thread, on a separate connection that gives up quickly when the
database is locked.  Stopping (:class:`Shutdown`): SIGTERM / SIGINT are handled from the moment
``costagent run`` starts (before migrations and the lock); scheduling stops, a running job ends
at its next step boundary (``abandoned``) or — if it does not reach one within
``daemon.stop_timeout_seconds`` — is abandoned where it is: the process records that and
releases the lock on a short-timeout connection, best effort, and exits, which rolls the job's
open transaction back (the next start marks a row it could not update abandoned and takes over
a lock it could not release, its pid being dead).  A watchdog ends the process
:data:`HARD_EXIT_SECONDS` after the signal whatever is still blocked.  The exit code is 0, or 1
if the lock was lost (taken over after missed heartbeats).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from apscheduler.events import EVENT_SCHEDULER_START
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.date import DateTrigger
from sqlalchemy import Engine

from agent import daemon_lock, jobs
from agent.config import JOB_NAMES, Settings
from agent.cron import previous_fire, timezone_of, triggers
from agent.redact import redact
from agent.shutdown import HARD_EXIT_SECONDS, Shutdown, short_timeout_engine
from agent.store.engine import store_gone, superuser

log = logging.getLogger(__name__)

#: Longest a best-effort write at shutdown may wait for a locked database.
CLEANUP_WRITE_SECONDS = 1.0
#: Jobs whose retry repeats only the sources that failed.
COLLECT_JOBS = ("collect", "collect_metrics")


def missed_runs(
    engine: Engine, settings: Settings, now: datetime | None = None
) -> dict[str, datetime]:
    """Jobs whose latest scheduled run, within the misfire grace, has no ok run since: the
    runs lost while the daemon was down (or that failed), to run once at start."""
    grace = timedelta(seconds=settings.daemon.misfire_grace_seconds)
    now = now or datetime.now(UTC)
    out: dict[str, datetime] = {}
    for name, trigger in triggers(settings).items():
        fired = previous_fire(trigger, now, grace)
        if fired is not None and not jobs.ok_since(engine, name, fired):
            out[name] = fired
    return out


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


def _best_effort(what: str, action: Callable[[], Any]) -> None:
    try:
        action()
    except Exception as exc:
        message = redact(str(exc).strip().splitlines()[0] if str(exc).strip() else "")
        log.warning(
            "could not %s before exiting (%s: %s); the next start cleans up",
            what,
            type(exc).__name__,
            message,
        )


# -- the daemon --------------------------------------------------------------------------------
class Daemon:
    """One ``costagent run`` process: lock, heartbeat, scheduler, retries, orderly shutdown.

    ``bodies`` replaces job bodies by name (tests only); ``scheduler`` defaults to a
    ``BlockingScheduler`` in the configured zone.
    """

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        shutdown: Shutdown | None = None,
        scheduler: BaseScheduler | None = None,
        bodies: Mapping[str, jobs.Body] | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.shutdown = shutdown or Shutdown()
        self.stop = self.shutdown.event
        self.who = daemon_lock.me()
        self.locked = False
        self.lost_lock = False
        self.store_lost = False  # the database was replaced under the daemon
        self.scheduler = scheduler or BlockingScheduler(timezone=timezone_of(settings))
        self.triggers = triggers(settings)
        self._bodies = dict(bodies or {})
        self._work = threading.Lock()  # jobs run one at a time
        self._running: dict[str, int | None] = {}  # job -> its run id while it runs
        self._idle = threading.Condition()
        # Set (under _idle) once _finish has taken stock: no job starts after it, and a beat
        # that then finds no lock row saw our own release, not a take-over.
        self._closing = False
        self._beats = threading.Event()  # set: the heartbeat thread ends
        self._beat_thread: threading.Thread | None = None
        self._beat_engine = short_timeout_engine(
            engine, min(5.0, settings.daemon.heartbeat_seconds / 2)
        )
        self._beat_failing = False
        self._scheduler_lock = threading.Lock()
        self.shutdown.on_stop(self._wake)

    # -- jobs ------------------------------------------------------------------------------
    def run_named(
        self,
        job: str,
        attempt: int = 0,
        due: datetime | None = None,
        only: Collection[str] | None = None,
    ) -> jobs.JobResult | None:
        """What the scheduler calls: run the job (after any other job), retry it if it failed.

        ``due`` is the scheduled time the run stands for (default: the trigger's latest fire
        time, else now); ``attempt`` counts retries.  None if it did not run (stopping, or a
        later run already succeeded).
        """
        due = due or self._due(job)
        if attempt and self._ok_since(job, due):
            log.info("job %s: a later run succeeded; retry %d not needed", job, attempt)
            return None
        result = self._run(job, only)
        if result is not None and result.status == "failed":
            self._schedule_retry(job, attempt, due, result)
        return result

    def _run(self, job: str, only: Collection[str] | None = None) -> jobs.JobResult | None:
        """Wait for other jobs, then run this one (unless stopping)."""
        while not self._work.acquire(timeout=0.2):
            if self.stop.is_set():
                return None
        try:
            with self._idle:  # checked and registered together: _finish sees it or it stops
                if self.stop.is_set() or self._closing:
                    return None
                self._running[job] = None
            return jobs.run_job(
                self.engine,
                self.settings,
                job,
                self.stop,
                body=self._bodies.get(job),
                on_start=lambda run_id: self._started(job, run_id),
                only=only,
            )
        finally:
            with self._idle:
                self._running.pop(job, None)
                self._idle.notify_all()
            self._work.release()

    def _started(self, job: str, run_id: int) -> None:
        with self._idle:
            self._running[job] = run_id

    def _due(self, job: str) -> datetime:
        now = datetime.now(UTC)
        trigger = self.triggers.get(job)
        grace = timedelta(seconds=self.settings.daemon.misfire_grace_seconds)
        fired = previous_fire(trigger, now, grace) if trigger is not None else None
        return fired or now

    def _ok_since(self, job: str, since: datetime) -> bool:
        try:
            return jobs.ok_since(self.engine, job, since)
        except Exception:  # the store is away: the retry will find out for itself
            return False

    def _schedule_retry(
        self, job: str, attempt: int, due: datetime, result: jobs.JobResult
    ) -> None:
        delays = self.settings.daemon.retry_after_minutes
        if self.stop.is_set() or attempt >= len(delays):
            return
        when = datetime.now(UTC) + timedelta(minutes=delays[attempt])
        grace = timedelta(seconds=self.settings.daemon.misfire_grace_seconds)
        if when > due + grace:
            log.info(
                "job %s: no retry, %s is past the misfire grace of the run due %s",
                job,
                _iso(when),
                _iso(due),
            )
            return
        only = result.failed_sources() if job in COLLECT_JOBS else None
        try:
            self.scheduler.add_job(
                self.run_named,
                DateTrigger(when),
                kwargs={"job": job, "attempt": attempt + 1, "due": due, "only": only},
                id=f"{job}-retry",
                name=f"{job} (retry {attempt + 1})",
                coalesce=True,
                max_instances=1,
                misfire_grace_time=self.settings.daemon.misfire_grace_seconds,
                replace_existing=True,
            )
        except Exception as exc:  # the scheduler is shutting down
            log.debug("retry of %s not scheduled: %s", job, exc)
            return
        log.warning(
            "job %s failed; retry %d of %d at %s%s",
            job,
            attempt + 1,
            len(delays),
            _iso(when),
            f" (sources: {', '.join(sorted(only))})" if only else "",
            extra={"retry_at": _iso(when)},
        )

    # -- the lock and its heartbeat --------------------------------------------------------
    def _take_lock(self) -> None:
        d = self.settings.daemon
        admin = superuser(self.engine)
        if admin is not None:
            log.warning(
                "connected to PostgreSQL as the superuser %s: run the daemon as an application "
                "role that cannot create roles (README, Security; deploy/postgres-init)",
                admin,
            )
        log.info("taking the daemon lock")
        self.who = daemon_lock.acquire(self.engine, timedelta(seconds=d.lock_stale_seconds))
        self.locked = True
        self._beat_thread = threading.Thread(target=self._beat_loop, name="heartbeat", daemon=True)
        self._beat_thread.start()

    def _beat_loop(self) -> None:
        while not self._beats.wait(self.settings.daemon.heartbeat_seconds):
            self._beat()

    def _beat(self) -> None:
        try:
            ours = daemon_lock.heartbeat(self._beat_engine, self.who)
        except Exception as exc:  # the database is away or locked: try again next beat
            if store_gone(exc) and not self.stop.is_set():
                # Dropped and created again under us: exit non-zero, so the supervisor starts
                # a daemon that migrates the new store and takes the lock there.
                log.error("the store's tables are gone (database replaced?); stopping to restart")
                self.store_lost = True
                self.shutdown.request("the store's tables are gone", code=1)
                return
            if not self._beat_failing:
                log.warning(
                    "heartbeat failed (%s); retrying every beat, logged again once it works",
                    type(exc).__name__,
                )
            self._beat_failing = True
            return
        if self._beat_failing:
            log.info("heartbeat works again")
            self._beat_failing = False
        # Once stopping or closing, the lock may just have been released: a beat finding no
        # row then is the release, not a take-over.
        if not ours and not self.stop.is_set() and not self._closing:
            log.error("lost the daemon lock (taken over after missed heartbeats)")
            self.lost_lock = True
            self.shutdown.request("lost the daemon lock", code=1)

    # -- life cycle ------------------------------------------------------------------------
    def _wake(self) -> None:
        """The stop callback: end the scheduler's loop and wake whoever waits for jobs."""
        self._stop_scheduler()
        with self._idle:
            self._idle.notify_all()

    def _stop_scheduler(self) -> None:
        with self._scheduler_lock, suppress(SchedulerNotRunningError):
            self.scheduler.shutdown(wait=False)

    def _on_scheduler_start(self, _event: Any) -> None:
        # A stop requested while start() was on its way did not find a running scheduler.
        if self.stop.is_set():
            self._stop_scheduler()

    def serve(self) -> int:
        """Take the lock and run until stopped; the exit code is 0, or 1 if the lock was lost."""
        if self.stop.is_set():  # stopped during start-up (migrations)
            return self.shutdown.code
        self._take_lock()
        try:
            if not self.stop.is_set():
                self.schedule()
                self.scheduler.add_listener(self._on_scheduler_start, EVENT_SCHEDULER_START)
                if not self.stop.is_set():
                    self.scheduler.start()  # blocks until the stop callback shuts it down
        finally:
            code = self._finish()
        return code

    def schedule(self, now: datetime | None = None) -> dict[str, datetime]:
        """With the lock held: close the runs a dead daemon left open, add the cron jobs, and
        queue for right now the ``run_on_start`` jobs and the runs missed while no daemon ran
        (returned: job -> the scheduled time it missed)."""
        orphans = jobs.abandon_running(self.engine, "the daemon stopped while it ran")
        if orphans:
            log.warning("%d job run(s) left running by a previous daemon marked abandoned", orphans)
        missed = missed_runs(self.engine, self.settings, now)
        run_now = [*self.settings.daemon.run_on_start, *missed]
        add_jobs(self.scheduler, self.settings, self.run_named, run_now)
        self._log_start(missed)
        return missed

    def once(self, job: str) -> int:
        """``costagent run --once JOB``: the job now, under the lock; 0 if it ran ok, else 1."""
        if self.stop.is_set():
            return 1
        self._take_lock()
        done: list[jobs.JobResult | None] = []
        try:
            jobs.abandon_running(self.engine, "the daemon stopped while it ran")

            def work() -> None:
                result = self._run(job)
                with self._idle:
                    done.append(result)
                    self._idle.notify_all()

            threading.Thread(target=work, name=f"job-{job}", daemon=True).start()
            with self._idle:
                self._idle.wait_for(lambda: bool(done) or self.stop.is_set())
        finally:
            code = self._finish()
        ok = bool(done) and done[0] is not None and done[0].status == "ok"
        return 0 if ok and code == 0 else 1

    def _finish(self) -> int:
        """Wait for a running job to reach a step boundary, abandon it if it does not in time,
        release the lock; exit the process at once if a job is still inside a step.

        Returns 1 if the lock was lost, else 0 (the forced exit uses :attr:`Shutdown.code`).
        """
        d = self.settings.daemon
        stopping = self.stop.is_set()
        wait = self.shutdown.remaining(d.stop_timeout_seconds) if stopping else None
        with self._idle:
            self._idle.wait_for(lambda: not self._running, timeout=wait)
            left = dict(self._running)
            self._closing = True
        self._beats.set()
        if self._beat_thread is not None:
            self._beat_thread.join(timeout=min(1.0, self.shutdown.remaining(HARD_EXIT_SECONDS)))
        if not stopping and not left:
            if self.locked:
                daemon_lock.release(self.engine, self.who)
                log.info("lock released")
            return 1 if self.lost_lock or self.store_lost else 0
        # Stopping: every write from here on is best effort on a short-timeout connection —
        # on SQLite the job's own open transaction may hold the database's write lock.
        writes = len([r for r in left.values() if r is not None]) + (1 if self.locked else 0)
        budget = self.shutdown.remaining(HARD_EXIT_SECONDS - 0.5)
        per_write = max(0.1, min(CLEANUP_WRITE_SECONDS, budget / max(writes, 1)))
        quick = short_timeout_engine(self.engine, per_write)
        reason = (
            "daemon stopped; the job did not reach a step boundary within "
            f"{d.stop_timeout_seconds:g} s"
        )
        for job, run_id in left.items():
            log.warning("job %s abandoned at shutdown (its transaction rolls back)", job)
            if run_id is not None:
                _best_effort(
                    f"record job {job} abandoned",
                    partial(jobs.finish_run, quick, run_id, "abandoned", reason),
                )
        if self.locked:
            _best_effort("release the lock", lambda: daemon_lock.release(quick, self.who))
        log.info("daemon stopped")
        if left:
            # The job's thread is inside a step (an open transaction): leave without joining
            # it; the database rolls the transaction back when the connection goes away.
            self.shutdown.exit_now()
        return 1 if self.lost_lock or self.store_lost else 0

    def _log_start(self, missed: Mapping[str, datetime]) -> None:
        tz = timezone_of(self.settings)
        now = datetime.now(tz)
        log.info(
            "costagent daemon started as %s on %s (time zone %s)",
            self.who.holder,
            self.engine.url.render_as_string(hide_password=True),
            tz.key,
        )
        for name, trigger in self.triggers.items():
            if name in missed:
                first = f"now (missed its run at {missed[name].astimezone(tz).isoformat()})"
            elif name in self.settings.daemon.run_on_start:
                first = "now"
            else:
                first = _iso(trigger.get_next_fire_time(None, now))
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


def run_once(engine: Engine, settings: Settings, job: str, shutdown: Shutdown | None = None) -> int:
    """``costagent run --once JOB``; the exit code (see :meth:`Daemon.once`)."""
    return Daemon(engine, settings, shutdown or Shutdown(code=1)).once(job)


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else "never"
