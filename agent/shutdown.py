"""How one ``costagent run`` process stops: signals, a watchdog, and short-timeout cleanup writes.

The daemon must exit 0 within 10 s of SIGTERM even while a job sits in SQLite's 30 s busy wait,
so stopping cannot depend on the main thread: signals are read on a thread of their own, a
watchdog ends the process after :data:`HARD_EXIT_SECONDS`, and the writes made while stopping
(the abandoned run, the lock release) use a separate engine that gives up quickly.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from types import FrameType
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

#: Seconds from the stop request (SIGTERM) to the exit, whatever is still running or blocked.
HARD_EXIT_SECONDS = 9.5
SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _ignore(_signum: int, _frame: FrameType | None) -> None:
    """The Python-level handler: the work happens on the ``signals`` thread (see install)."""


class Shutdown:
    """The stop request of one ``costagent run`` process: SIGTERM/SIGINT, or a lost lock.

    Installed first thing (before migrations and the lock), so a signal never meets the
    default action (exit 143).  Signals are read from a wake-up pipe by a thread of their own:
    a Python signal handler would only run once the main thread returns from C, and SQLite's
    busy wait can keep it there for 30 s.  The first request sets :attr:`event`, runs the
    ``on_stop`` callbacks and arms a watchdog that exits with :attr:`code` after ``limit``
    seconds, whatever is still blocked.
    """

    def __init__(self, limit: float = HARD_EXIT_SECONDS, code: int = 0) -> None:
        self.event = threading.Event()
        self.code = code  # the exit code if the process has to be ended
        self.limit = limit
        self.requested_at: float | None = None  # time.monotonic()
        self._callbacks: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._restore: tuple[dict[signal.Signals, Any], int, int] | None = None

    def install(self) -> None:
        """Route SIGTERM and SIGINT to :meth:`request` (main thread only; else a no-op)."""
        if threading.current_thread() is not threading.main_thread() or self._restore:
            return
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        old_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        old = {s: signal.signal(s, _ignore) for s in SIGNALS}
        self._restore = (old, old_fd, write_fd)
        threading.Thread(target=self._watch, args=(read_fd,), name="signals", daemon=True).start()

    def uninstall(self) -> None:
        if self._restore is None:
            return
        old, old_fd, write_fd = self._restore
        self._restore = None
        for s, handler in old.items():
            signal.signal(s, handler)
        signal.set_wakeup_fd(old_fd)
        os.close(write_fd)  # the watcher reads EOF and ends

    def _watch(self, read_fd: int) -> None:
        try:
            while data := os.read(read_fd, 64):
                for signum in data:
                    if signum in SIGNALS:
                        self.request(f"received {signal.Signals(signum).name}")
        except OSError:
            pass
        finally:
            os.close(read_fd)

    def on_stop(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (on the requesting thread) when the stop is requested."""
        with self._lock:
            if not self.event.is_set():
                self._callbacks.append(callback)
                return
        callback()

    def request(self, reason: str, code: int | None = None) -> None:
        """Ask the process to stop; ``code`` raises the exit code (1: the lock was lost)."""
        with self._lock:
            if code is not None:
                self.code = max(self.code, code)
            if self.event.is_set():
                return
            log.info("%s; stopping", reason)  # before the event: the exit may follow at once
            self.requested_at = time.monotonic()
            watchdog = threading.Timer(self.limit, self._expire)
            watchdog.daemon = True
            watchdog.name = "stop-watchdog"
            watchdog.start()
            self.event.set()
            callbacks = list(self._callbacks)
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("stop callback failed")

    def remaining(self, budget: float) -> float:
        """Seconds left of ``budget`` counted from the stop request (all of it before one)."""
        if self.requested_at is None:
            return budget
        return max(0.0, self.requested_at + budget - time.monotonic())

    def _expire(self) -> None:
        log.error("still running %.1f s after the stop request; exiting now", self.limit)
        self.exit_now()

    def exit_now(self) -> None:
        """End the process at once with :attr:`code` (no joining of threads stuck in a step)."""
        for handler in logging.getLogger().handlers:
            with suppress(Exception):
                handler.flush()
        with suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(self.code)


def short_timeout_engine(engine: Engine, seconds: float) -> Engine:
    """A separate engine on ``engine``'s database whose statements give up after ``seconds``
    if the database (SQLite) or a row (PostgreSQL) is locked, instead of waiting 30 s.

    For the heartbeat and the writes at shutdown: they must never wait for a job's long write
    transaction.  No pool: each use opens its own connection (and survives a server restart).
    """
    millis = max(100, int(seconds * 1000))
    sqlite = engine.dialect.name == "sqlite"
    connect_args: dict[str, Any] = {} if sqlite else {"connect_timeout": max(1, math.ceil(seconds))}
    quick = create_engine(engine.url, poolclass=NullPool, connect_args=connect_args)

    @event.listens_for(quick, "connect")
    def _timeouts(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        if sqlite:
            cur.execute(f"PRAGMA busy_timeout={millis}")
        else:
            cur.execute(f"SET lock_timeout = {millis}")
            cur.execute(f"SET statement_timeout = {millis}")
        cur.close()
        if not sqlite:
            dbapi_conn.commit()  # a rolled-back SET would be undone

    return quick
