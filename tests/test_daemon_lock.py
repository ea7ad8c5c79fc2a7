"""The one-daemon-per-database lock on SQLite and PostgreSQL (``engine`` runs both)."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select, update

from agent import daemon_lock
from agent.daemon_lock import Holder, LockHeld
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
        conn.execute(
            update(DaemonLock).values(heartbeat_at=daemon_lock.utcnow() - timedelta(minutes=6))
        )
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
        conn.execute(update(DaemonLock).values(heartbeat_at=daemon_lock.utcnow() - timedelta(1)))
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
