"""One daemon per database: a row in ``daemon_lock`` that names its holder and proves it is alive.

Two daemons on one store would collect twice and send every weekly report twice.  An advisory
lock of the database server would not survive SQLite, and a lock file would not be seen by a
second host sharing a PostgreSQL store, so the lock is a row: taken by INSERT (the primary key
makes exactly one of two racing daemons win), kept fresh by a heartbeat, released on exit.

Liveness, kept deliberately simple:

- **Heartbeat age, on the database's clock.**  Heartbeats are written and aged with the
  database's own time (:class:`db_now`), never the caller's, so two hosts with skewed clocks
  agree on how old a heartbeat is.  Anywhere, a heartbeat older than the stale timeout may be
  taken over.
- **The pid, where it means something.**  The row carries ``process_key`` = boot id, pid
  namespace and the process's start time (from Linux ``/proc``).  A holder with the same boot id
  and pid namespace as ours is checked directly: its pid must exist *and* have the same start
  time, so a recycled pid is not mistaken for the daemon (dead, taken over at once).  The same
  host name with another boot id means the host rebooted since (dead).  Another pid namespace
  on this kernel (another container) cannot be probed, so only its heartbeat counts.  Rows
  without a key (no ``/proc``, or written before the key existed) fall back to "same host name
  and the pid exists".

The take-over is a compare-and-swap on the row as read, so two daemons taking over the same
stale lock cannot both win, on SQLite or PostgreSQL.
"""

from __future__ import annotations

import getpass
import logging
import os
import socket
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from agent.store.schema import DaemonLock as L

log = logging.getLogger(__name__)

LOCK_NAME = "daemon"


class db_now(FunctionElement[datetime]):  # lower case: it reads like the SQL function it is
    """The database's current time as naive UTC, in the format the DateTime columns store."""

    type = DateTime()
    inherit_cache = True


@compiles(db_now, "sqlite")
def _db_now_sqlite(_element: Any, _compiler: Any, **_kw: Any) -> str:
    # Milliseconds padded to SQLAlchemy's six digits, so a value read back and bound again
    # compares equal to the stored text (the take-over's compare-and-swap relies on it).
    return "(strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')"


@compiles(db_now)
def _db_now_default(_element: Any, _compiler: Any, **_kw: Any) -> str:
    return "(CURRENT_TIMESTAMP AT TIME ZONE 'UTC')"


@dataclass(frozen=True)
class Holder:
    """Who holds (or wants) the lock."""

    holder: str  # "user@host pid 1234"
    host: str
    pid: int
    acquired_at: datetime | None = None
    heartbeat_at: datetime | None = None
    process_key: str | None = None  # "boot id:pid namespace:start time", see the module doc
    #: seconds since the heartbeat, on the database's clock, when the row was read
    age_seconds: float | None = field(default=None, compare=False)


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
    return Holder(f"{user}@{host} pid {pid}", host, pid, process_key=process_key(pid))


# -- what identifies a process beyond its pid (Linux /proc; None elsewhere) ------------------
def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def _pid_namespace() -> str | None:
    try:
        link = os.readlink("/proc/self/ns/pid")  # "pid:[4026531836]"
    except OSError:
        return None
    return link.partition("[")[2].rstrip("]") or None


def start_ticks(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (``/proc/<pid>/stat`` field 22)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # after "(comm)", which may contain spaces
    return fields[19] if len(fields) > 19 else None


def process_key(pid: int) -> str | None:
    parts = [part for part in (_boot_id(), _pid_namespace(), start_ticks(pid)) if part]
    return ":".join(parts) if len(parts) == 3 else None


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists in our pid namespace (signal 0 probes only)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


#: what this process can tell about the holder's process
ALIVE, DEAD, UNKNOWN = "alive", "dead", "unknown"


def _liveness(other: Holder, mine: Holder) -> tuple[str, str | None]:
    """(ALIVE / DEAD / UNKNOWN, why dead), judged from this process.

    ALIVE only when proven: same boot and pid namespace, the pid exists and started at the
    recorded tick — that process is the holder, whatever its heartbeat says (on SQLite a long
    load holds the only write lock, so a busy daemon cannot beat).  UNKNOWN (another host or
    container, /proc hidden) leaves it to the heartbeat.
    """
    theirs = (other.process_key or "").split(":")
    ours = (mine.process_key or "").split(":")
    if len(theirs) == 3 and len(ours) == 3:
        if theirs[:2] == ours[:2]:  # same boot, same pid namespace: the pid can be probed
            if not pid_alive(other.pid):
                return DEAD, f"process {other.pid} no longer exists on {mine.host}"
            now = start_ticks(other.pid)
            if now is None:  # /proc hidden: exists, identity unknown
                return UNKNOWN, None
            if now != theirs[2]:
                return DEAD, f"pid {other.pid} now belongs to another process (the daemon is gone)"
            return ALIVE, None
        if other.host == mine.host and theirs[0] != ours[0]:
            return DEAD, f"{mine.host} was rebooted since {other.holder} took the lock"
        return UNKNOWN, None  # another container / pid namespace: only the heartbeat can tell
    if other.process_key is None and other.host == mine.host and not pid_alive(other.pid):
        return DEAD, f"process {other.pid} no longer exists on {mine.host}"
    return UNKNOWN, None


def stale_reason(other: Holder, stale_after: timedelta, mine: Holder) -> str | None:
    """Why ``other``'s lock may be taken over, or None while it looks alive (a holder proven
    alive keeps the lock even with an old heartbeat: it is busy, not gone)."""
    state, dead = _liveness(other, mine)
    if dead:
        return dead
    if state == ALIVE:
        return None
    if other.age_seconds is None:
        return "no heartbeat"
    if other.age_seconds > stale_after.total_seconds():
        return f"no heartbeat for {other.age_seconds:.0f} s"
    return None


# -- the row ---------------------------------------------------------------------------------
def read(engine: Engine, name: str = LOCK_NAME) -> Holder | None:
    """The lock row, its heartbeat aged on the database's clock (a plain read: under SQLite's
    WAL it works while another process writes)."""
    with engine.connect() as conn:
        row = conn.execute(
            select(
                L.holder,
                L.host,
                L.pid,
                L.acquired_at,
                L.heartbeat_at,
                L.process_key,
                db_now().label("now"),
            ).where(L.name == name)
        ).first()
    if row is None:
        return None
    age = (row.now - row.heartbeat_at).total_seconds() if row.heartbeat_at else None
    return Holder(
        row.holder, row.host, row.pid, row.acquired_at, row.heartbeat_at, row.process_key, age
    )


def _now(engine: Engine) -> datetime:
    with engine.connect() as conn:
        value = conn.execute(select(db_now())).scalar_one()
    assert isinstance(value, datetime)
    return value


def _same_process(a: Holder, b: Holder) -> bool:
    return (a.host, a.pid, a.process_key) == (b.host, b.pid, b.process_key)


def _ours(who: Holder, name: str) -> Any:
    """The WHERE clause matching ``who``'s row (NULL-safe on the key)."""
    return (
        (L.name == name)
        & (L.host == who.host)
        & (L.pid == who.pid)
        & L.process_key.is_not_distinct_from(who.process_key)
    )


def acquire(
    engine: Engine,
    stale_after: timedelta = timedelta(minutes=5),
    who: Holder | None = None,
    name: str = LOCK_NAME,
) -> Holder:
    """Take the lock for ``who`` (default: this process) or raise :class:`LockHeld`.

    Returns the holder as stored.  A stale lock is taken over with a warning in the log.  The
    row is read before anything is written: while the holder is inside a long write (SQLite
    has one writer), a second daemon is refused at once, naming the holder, instead of waiting
    for the write lock; a write that times out anyway is reported the same way.
    """
    who = who or me()
    for _ in range(5):
        other = read(engine, name)
        if other is None:
            try:
                now = _now(engine)
                with engine.begin() as conn:
                    conn.execute(insert(L).values(name=name, **_holder_values(who, now)))
            except IntegrityError:
                continue  # another daemon inserted first: look at it
            except OperationalError:
                _raise_held(engine, name)
                raise
            return replace(who, acquired_at=now, heartbeat_at=now, age_seconds=0.0)
        reason = (
            "held by this very process"
            if _same_process(other, who)
            else stale_reason(other, stale_after, who)
        )
        if reason is None:
            raise LockHeld(other)
        # Compare-and-swap on the row exactly as read: of two daemons taking over the same
        # stale lock only one matches, the other sees rowcount 0 and re-reads the winner.
        try:
            now = _now(engine)
            with engine.begin() as conn:
                taken = conn.execute(
                    update(L)
                    .where(_ours(other, name), L.heartbeat_at == other.heartbeat_at)
                    .values(**_holder_values(who, now))
                ).rowcount
        except OperationalError:  # the database stayed write-locked: someone is busy in it
            raise LockHeld(other) from None
        if taken == 1:
            if not _same_process(other, who):
                log.warning("took over a stale daemon lock from %s: %s", other.holder, reason)
            return replace(who, acquired_at=now, heartbeat_at=now, age_seconds=0.0)
    raise LockHeld(read(engine, name) or who)


def _holder_values(who: Holder, now: datetime) -> dict[str, Any]:
    """The lock row's columns for ``who`` taking the lock at ``now`` (insert or takeover)."""
    return {
        "holder": who.holder,
        "host": who.host,
        "pid": who.pid,
        "acquired_at": now,
        "heartbeat_at": now,
        "process_key": who.process_key,
    }


def _raise_held(engine: Engine, name: str) -> None:
    """After a write timed out: if a holder is there now, refuse naming it."""
    try:
        other = read(engine, name)
    except OperationalError:
        return
    if other is not None:
        raise LockHeld(other) from None


def heartbeat(engine: Engine, who: Holder, name: str = LOCK_NAME) -> bool:
    """Refresh the heartbeat (database clock); False if the lock is no longer ours."""
    with engine.begin() as conn:
        n = conn.execute(update(L).where(_ours(who, name)).values(heartbeat_at=db_now())).rowcount
    return n == 1


def release(engine: Engine, who: Holder, name: str = LOCK_NAME) -> None:
    """Give the lock back (only if it is still ours)."""
    with engine.begin() as conn:
        conn.execute(delete(L).where(_ours(who, name)))
