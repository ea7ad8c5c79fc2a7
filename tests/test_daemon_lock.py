"""The one-daemon-per-database lock on SQLite and PostgreSQL (``engine`` runs both): refusal
naming the holder, take-over of dead or stale holders (pid + start time, boot id, heartbeat age
on the database's clock), races, and PostgreSQL's pool surviving a server restart."""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import Engine, create_engine, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from agent import daemon_lock
from agent.config import Settings
from agent.daemon_lock import Holder, LockHeld
from agent.scheduler import Daemon
from agent.shutdown import Shutdown, short_timeout_engine
from agent.store import clock
from agent.store.engine import open_store
from agent.store.schema import DaemonLock

HOST = socket.gethostname()


def dead_pid() -> int:
    """A pid that existed a moment ago and no longer does."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def other(pid: int, host: str = HOST) -> Holder:
    return Holder(f"ops@{host} pid {pid}", host, pid)


def test_first_takes_it_second_is_refused_naming_the_holder(engine: Engine) -> None:
    first = other(os.getppid())  # a live process on this host (pytest's parent)
    daemon_lock.acquire(engine, who=first)
    with pytest.raises(LockHeld) as exc:
        daemon_lock.acquire(engine)
    message = str(exc.value)
    assert message.startswith(
        f"another costagent daemon holds the lock: ops@{HOST} pid {os.getppid()} (since 20"
    )
    assert message.endswith(" UTC)")
    held = daemon_lock.read(engine)
    assert held is not None and held.pid == os.getppid()


def test_lock_of_a_dead_process_on_this_host_is_taken_over(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    gone = other(dead_pid())
    daemon_lock.acquire(engine, who=gone)  # fresh heartbeat, but the process is gone
    with caplog.at_level(logging.WARNING, "agent.daemon_lock"):
        mine = daemon_lock.acquire(engine)
    assert mine.pid == os.getpid()
    held = daemon_lock.read(engine)
    assert held is not None and (held.host, held.pid) == (HOST, os.getpid())
    assert f"took over a stale daemon lock from {gone.holder}" in caplog.text
    assert "no longer exists" in caplog.text
    # the old holder, were it to come back, finds it lost the lock
    assert daemon_lock.heartbeat(engine, gone) is False
    assert daemon_lock.heartbeat(engine, mine) is True


def test_other_host_is_taken_over_only_after_the_stale_timeout(engine: Engine) -> None:
    remote = other(1, host="other-host.example")
    daemon_lock.acquire(engine, who=remote)
    with pytest.raises(LockHeld):
        daemon_lock.acquire(engine, timedelta(minutes=5))
    with engine.begin() as conn:
        conn.execute(update(DaemonLock).values(heartbeat_at=clock.utcnow() - timedelta(minutes=6)))
    mine = daemon_lock.acquire(engine, timedelta(minutes=5))
    assert daemon_lock.read(engine) == mine


def test_release_only_releases_our_own_lock(engine: Engine) -> None:
    mine = daemon_lock.acquire(engine)
    daemon_lock.release(engine, other(12345, "elsewhere"))
    assert daemon_lock.read(engine) is not None
    daemon_lock.release(engine, mine)
    assert daemon_lock.read(engine) is None
    # re-acquire after release works (no row left behind)
    assert daemon_lock.acquire(engine).pid == os.getpid()


def test_racing_takeovers_of_a_stale_lock_have_one_winner(engine: Engine) -> None:
    daemon_lock.acquire(engine, who=other(dead_pid()))
    with engine.begin() as conn:
        conn.execute(update(DaemonLock).values(heartbeat_at=clock.utcnow() - timedelta(1)))
    n = 6
    barrier = threading.Barrier(n)
    won: list[str] = []
    refused: list[str] = []

    def contender(i: int) -> None:
        who = other(1000 + i, host=f"host-{i}")
        barrier.wait()
        try:
            daemon_lock.acquire(engine, timedelta(minutes=5), who=who)
            won.append(who.holder)
        except LockHeld:
            refused.append(who.holder)

    threads = [threading.Thread(target=contender, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(won) == 1 and len(refused) == n - 1
    with engine.connect() as conn:
        assert conn.execute(select(DaemonLock.holder)).scalars().all() == won


def test_racing_first_acquisitions_have_one_winner(engine: Engine) -> None:
    n = 6
    barrier = threading.Barrier(n)
    won: list[int] = []

    def contender(i: int) -> None:
        barrier.wait()
        try:
            daemon_lock.acquire(engine, who=other(os.getppid(), host=f"h{i}"))
            won.append(i)
        except LockHeld:
            pass

    threads = [threading.Thread(target=contender, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(won) == 1


# -- liveness beyond the pid, on the database's clock ------------------------------------------
def keyed(pid: int, key: str | None, host: str = HOST) -> Holder:
    return Holder(f"ops@{host} pid {pid}", host, pid, process_key=key)


def my_scope() -> tuple[str, str]:
    key = daemon_lock.me().process_key
    if key is None:
        pytest.skip("needs Linux /proc (boot id, pid namespace, start time)")
    boot, namespace, _start = key.split(":")
    return boot, namespace


def test_a_recycled_pid_is_not_taken_for_the_daemon(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    boot, ns = my_scope()
    parent = os.getppid()  # alive, but it is not the process that took the lock
    daemon_lock.acquire(engine, who=keyed(parent, f"{boot}:{ns}:1"))
    with caplog.at_level(logging.WARNING, "agent.daemon_lock"):
        mine = daemon_lock.acquire(engine)
    assert mine.pid == os.getpid()
    assert f"pid {parent} now belongs to another process" in caplog.text


def test_a_live_holder_with_its_start_time_is_refused(engine: Engine) -> None:
    my_scope()
    parent = os.getppid()
    daemon_lock.acquire(engine, who=keyed(parent, daemon_lock.process_key(parent)))
    with pytest.raises(LockHeld, match=f"pid {parent} "):
        daemon_lock.acquire(engine)


def test_a_proven_live_holder_keeps_the_lock_with_an_old_heartbeat(engine: Engine) -> None:
    """On SQLite a long load holds the only write lock, so a busy daemon cannot beat: a holder
    proven alive (same boot and pid namespace, its pid started at the recorded tick) is busy,
    not gone, however old its heartbeat."""
    my_scope()
    parent = os.getppid()
    daemon_lock.acquire(engine, who=keyed(parent, daemon_lock.process_key(parent)))
    age(engine, minutes=60)
    with pytest.raises(LockHeld, match=f"pid {parent} "):
        daemon_lock.acquire(engine)


def test_another_pid_namespace_counts_only_by_its_heartbeat(engine: Engine) -> None:
    boot, _ns = my_scope()
    # Another container on this kernel: its pid means nothing here, even if no such pid exists.
    daemon_lock.acquire(engine, who=keyed(dead_pid(), f"{boot}:4026599999:12345"))
    with pytest.raises(LockHeld):
        daemon_lock.acquire(engine)
    age(engine, minutes=6)
    assert daemon_lock.acquire(engine).pid == os.getpid()


def test_same_host_name_after_a_reboot_is_taken_over(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    _boot, ns = my_scope()
    daemon_lock.acquire(engine, who=keyed(os.getppid(), f"an-earlier-boot:{ns}:12345"))
    with caplog.at_level(logging.WARNING, "agent.daemon_lock"):
        daemon_lock.acquire(engine)
    assert "was rebooted since" in caplog.text


def age(engine: Engine, minutes: int) -> None:
    """Make the lock's heartbeat ``minutes`` old on the database's clock."""
    with engine.begin() as conn:
        now = conn.execute(select(daemon_lock.db_now())).scalar_one()
        conn.execute(update(DaemonLock).values(heartbeat_at=now - timedelta(minutes=minutes)))


def test_heartbeats_are_aged_on_the_database_clock_not_the_callers(engine: Engine) -> None:
    remote = other(1, host="other-host.example")
    daemon_lock.acquire(engine, who=remote)  # its heartbeat: now, by the database
    # A host whose clock is a day fast must not see a fresh heartbeat as a day old ...
    with time_machine.travel(datetime.now(UTC) + timedelta(days=1)):
        with pytest.raises(LockHeld):
            daemon_lock.acquire(engine)
        assert daemon_lock.heartbeat(engine, remote) is True
    # ... and one a day slow must still see a stale heartbeat as stale.
    age(engine, minutes=6)
    with time_machine.travel(datetime.now(UTC) - timedelta(days=1)):
        held = daemon_lock.read(engine)
        assert held is not None and held.age_seconds is not None
        assert 360 <= held.age_seconds < 420  # 6 min, by the database
        assert daemon_lock.acquire(engine).pid == os.getpid()


def test_second_daemon_names_the_holder_while_the_database_is_write_locked(
    sqlite_url: str,
) -> None:
    engine = open_store(sqlite_url)
    blocker = sqlite3.connect(str(make_url(sqlite_url).database), isolation_level=None)
    held_by = f"pid {os.getppid()} "
    try:
        daemon_lock.acquire(engine, who=other(os.getppid()))
        blocker.execute("BEGIN IMMEDIATE")  # the first daemon is inside a long write
        # The row is read first (WAL readers do not wait): refused at once, naming the holder.
        with pytest.raises(LockHeld, match=held_by):
            daemon_lock.acquire(engine)
        blocker.execute("ROLLBACK")
        # A stale holder is taken over by a write; when that write times out on the locked
        # database, the refusal still names the holder (not "database is locked").
        age(engine, minutes=10)
        blocker.execute("BEGIN IMMEDIATE")
        with pytest.raises(LockHeld, match=held_by):
            daemon_lock.acquire(short_timeout_engine(engine, 0.2), who=other(12345, host="h2"))
    finally:
        blocker.close()
        engine.dispose()


def test_a_postgresql_restart_does_not_fail_the_next_use(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL connection pool")
    with engine.connect() as conn:
        backend = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    # What a server restart does to the pooled connection: the server side goes away.
    admin = create_engine(engine.url, poolclass=NullPool)
    with admin.begin() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": backend}).scalar_one()
    admin.dispose()
    with engine.connect() as conn:  # pool_pre_ping notices and reconnects
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != backend
    assert daemon_lock.read(engine) is None


# -- the daemon's heartbeat ----------------------------------------------------------------
def test_a_beat_in_flight_at_release_is_not_a_lost_lock(engine: Engine) -> None:
    daemon = Daemon(engine, Settings(), Shutdown(limit=10**6))
    daemon.who = daemon_lock.acquire(engine)
    daemon.stop.set()  # stopping: the lock is released while a beat is on its way
    daemon_lock.release(engine, daemon.who)
    daemon._beat()
    assert (daemon.lost_lock, daemon.shutdown.code) == (False, 0)
    # not stopping, the same finding is a take-over: stop with exit code 1
    daemon = Daemon(engine, Settings(), Shutdown(limit=10**6))
    daemon.who = daemon_lock.me()
    daemon._beat()
    assert (daemon.lost_lock, daemon.shutdown.code, daemon.stop.is_set()) == (True, 1, True)


def test_failing_heartbeats_are_logged_once_until_they_work_again(
    engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    daemon = Daemon(engine, Settings(), Shutdown(limit=10**6))
    daemon.who = daemon_lock.acquire(engine)
    working = daemon._beat_engine  # the short-timeout engine on the same database
    daemon._beat_engine = create_engine(f"sqlite:///{tmp_path}/no/such/dir/x.db")
    with caplog.at_level(logging.INFO, "agent.scheduler"):
        for _ in range(3):
            daemon._beat()
        daemon._beat_engine = working
        daemon._beat()
    messages = [r.getMessage() for r in caplog.records]
    assert [m for m in messages if m.startswith("heartbeat")] == [
        "heartbeat failed (OperationalError); retrying every beat, logged again once it works",
        "heartbeat works again",
    ]
    assert not daemon.lost_lock
