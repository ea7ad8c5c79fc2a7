"""One daemon per database: a row in ``daemon_lock`` that names its holder and proves it is alive.

Two daemons on one store would collect twice and send every weekly report twice.  An advisory
lock of the database server would not survive SQLite, and a lock file would not be seen by a
second host sharing a PostgreSQL store, so the lock is a row: taken by INSERT (the primary key
makes exactly one of two racing daemons win), kept fresh by a heartbeat, released on exit.

A holder that died without releasing it is detected two ways: on the same host its pid no longer
exists (taken over at once), anywhere its heartbeat is older than the stale timeout.  The
take-over is a compare-and-swap on the row as read, so two daemons taking over the same stale
lock cannot both win, on SQLite or PostgreSQL.
"""

from __future__ import annotations

import getpass
import logging
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from agent.store.schema import DaemonLock as L

log = logging.getLogger(__name__)

LOCK_NAME = "daemon"


@dataclass(frozen=True)
class Holder:
    """Who holds (or wants) the lock."""

    holder: str  # "user@host pid 1234"
    host: str
    pid: int
    acquired_at: datetime | None = None
    heartbeat_at: datetime | None = None


class LockHeld(Exception):
    """Another live daemon holds the lock; the message names it."""

    def __init__(self, other: Holder) -> None:
        since = f"{other.acquired_at:%Y-%m-%d %H:%M:%S} UTC" if other.acquired_at else "?"
        super().__init__(f"another costagent daemon holds the lock: {other.holder} (since {since})")
        self.other = other


def me() -> Holder:
    """This process, as it is written into the lock row."""
    host = socket.gethostname()
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        user = str(os.getuid())
    pid = os.getpid()
    return Holder(f"{user}@{host} pid {pid}", host, pid)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (signal 0 probes without sending)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def read(engine: Engine, name: str = LOCK_NAME) -> Holder | None:
    with engine.connect() as conn:
        row = conn.execute(
            select(L.holder, L.host, L.pid, L.acquired_at, L.heartbeat_at).where(L.name == name)
        ).first()
    return Holder(*row) if row else None


def stale_reason(other: Holder, stale_after: timedelta, now: datetime, host: str) -> str | None:
    """Why ``other``'s lock may be taken over, or None while it looks alive."""
    if other.host == host and not pid_alive(other.pid):
        return f"process {other.pid} no longer exists on {host}"
    if other.heartbeat_at is None or other.heartbeat_at < now - stale_after:
        age = (now - other.heartbeat_at).total_seconds() if other.heartbeat_at else None
        return f"no heartbeat for {age:.0f} s" if age is not None else "no heartbeat"
    return None


def acquire(
    engine: Engine,
    stale_after: timedelta = timedelta(minutes=5),
    who: Holder | None = None,
    name: str = LOCK_NAME,
) -> Holder:
    """Take the lock for ``who`` (default: this process) or raise :class:`LockHeld`.

    Returns the holder as stored.  A stale lock is taken over with a warning in the log.
    """
    who = who or me()
    for _ in range(5):
        now = utcnow()
        try:
            with engine.begin() as conn:
                conn.execute(
                    insert(L).values(
                        name=name,
                        holder=who.holder,
                        host=who.host,
                        pid=who.pid,
                        acquired_at=now,
                        heartbeat_at=now,
                    )
                )
            return Holder(who.holder, who.host, who.pid, now, now)
        except IntegrityError:
            pass  # someone holds it: is it alive?
        other = read(engine, name)
        if other is None:
            continue  # released between our INSERT and our read: try again
        if (other.host, other.pid) == (who.host, who.pid):
            reason: str | None = "held by this very process"
        else:
            reason = stale_reason(other, stale_after, now, who.host)
        if reason is None:
            raise LockHeld(other)
        # Compare-and-swap on the row exactly as read: of two daemons taking over the same
        # stale lock only one matches, the other sees rowcount 0 and re-reads the winner.
        with engine.begin() as conn:
            taken = conn.execute(
                update(L)
                .where(
                    L.name == name,
                    L.host == other.host,
                    L.pid == other.pid,
                    L.heartbeat_at == other.heartbeat_at,
                )
                .values(
                    holder=who.holder,
                    host=who.host,
                    pid=who.pid,
                    acquired_at=now,
                    heartbeat_at=now,
                )
            ).rowcount
        if taken == 1:
            if (other.host, other.pid) != (who.host, who.pid):
                log.warning("took over a stale daemon lock from %s: %s", other.holder, reason)
            return Holder(who.holder, who.host, who.pid, now, now)
    raise LockHeld(read(engine, name) or who)


def heartbeat(engine: Engine, who: Holder, name: str = LOCK_NAME) -> bool:
    """Refresh the heartbeat; False if the lock is no longer ours (taken over while we slept)."""
    with engine.begin() as conn:
        n = conn.execute(
            update(L)
            .where(L.name == name, L.host == who.host, L.pid == who.pid)
            .values(heartbeat_at=utcnow())
        ).rowcount
    return n == 1


def release(engine: Engine, who: Holder, name: str = LOCK_NAME) -> None:
    """Give the lock back (only if it is still ours)."""
    with engine.begin() as conn:
        conn.execute(delete(L).where(L.name == name, L.host == who.host, L.pid == who.pid))
