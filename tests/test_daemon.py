"""``costagent run`` as a real process on a SQLite file, observed through the database.

``[daemon] run_on_start`` makes jobs run right after start, and six-field crons (a leading
seconds field) fire within a second or two, so no test waits for a cron minute.  Every wait polls
the database, the process or its log with a deadline; nothing sleeps for a fixed time.  Where a
test needs a job that misbehaves (raises, holds a write, ignores the stop), the daemon runs
through :mod:`tests.daemon_hooks` — the same CLI with that job's body replaced.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select, update

from agent import daemon_lock
from agent.demo import DATA_DIR
from agent.store import clock
from agent.store.engine import open_store
from agent.store.schema import DaemonLock, JobRun, SourceState
from tests.daemon_hooks import MARK_KEY
from tests.helpers import cli

SECRET = "hunter2-smtp-password-value"


def write_config(
    path: Path,
    db: Path,
    sources: str,
    daemon: str,
    stop_timeout: float = 8,
    collect: str = "0 0 1 1 *",
    analyze: str = "0 0 1 1 *",
) -> Path:
    path.write_text(
        f"""
[database]
url = "sqlite:///{db}"

{sources}

[schedule]
collect = "{collect}"
collect_metrics = "off"
analyze = "{analyze}"
report = "off"

[daemon]
heartbeat_seconds = 1
stop_timeout_seconds = {stop_timeout}
{daemon}
""",
        encoding="utf-8",
    )
    return path


BAD_SOURCE = """
[[sources]]
name = "broken-export"
type = "local_files"
paths = ["{bad}"]
"""


@pytest.fixture
def db(tmp_path: Path) -> Iterator[tuple[Path, Engine]]:
    path = tmp_path / "store.db"
    engine = open_store(f"sqlite:///{path}")
    yield path, engine
    engine.dispose()


def start(
    config: Path, *extra: str, bodies: str = "", mark: Path | None = None
) -> subprocess.Popen[str]:
    """``costagent --config CONFIG run EXTRA…``; ``bodies`` (``job=hook,…``) replaces job
    bodies with :mod:`tests.daemon_hooks`' test bodies, which write ``mark`` when ready."""
    env = {**os.environ, "COSTAGENT_SMTP_PASSWORD": SECRET, "COSTAGENT_TEST_BODIES": bodies}
    env.pop("COSTAGENT_DATABASE_URL", None)
    if mark is not None:
        env["COSTAGENT_TEST_MARK"] = str(mark)
    entry = "tests.daemon_hooks" if bodies else "agent"
    return subprocess.Popen(
        [sys.executable, "-m", entry, "--config", str(config), "run", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


class Output:
    """The process's stdout, read as it comes (a thread), so a test can wait for a log line."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert proc.stdout is not None
        self._thread = threading.Thread(target=self._read, args=(proc.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self.lines.append(line)

    def has(self, text: str) -> bool:
        return any(text in line for line in list(self.lines))

    def text(self) -> str:
        self._thread.join(timeout=10)
        return "".join(self.lines)


def wait_for(
    what: str, probe: Callable[[], Any], proc: subprocess.Popen[str], timeout: float = 20
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"daemon exited {proc.returncode} before {what}:\n{out}\n{err}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def runs(engine: Engine) -> list[tuple[str, str, str | None]]:
    with engine.connect() as conn:
        return [
            (r.job, r.status, r.error)
            for r in conn.execute(
                select(JobRun.job, JobRun.status, JobRun.error).order_by(JobRun.id)
            )
        ]


def stop(proc: subprocess.Popen[str]) -> tuple[int, str, str, float]:
    began = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=15)
    return proc.returncode, out, err, time.monotonic() - began


def exited(proc: subprocess.Popen[str], timeout: float = 20) -> tuple[int, str]:
    """Wait for the process to end by itself; its exit code and stderr."""
    _out, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def steal_lock(engine: Engine) -> None:
    """What a take-over by another daemon does to the row (fresh heartbeat, another holder)."""
    with engine.begin() as conn:
        conn.execute(
            update(DaemonLock).values(
                holder="thief@elsewhere pid 1",
                host="elsewhere",
                pid=1,
                process_key=None,
                heartbeat_at=daemon_lock.db_now(),
            )
        )


def held_rows(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(select(SourceState.key).where(SourceState.key == MARK_KEY)).scalars()
        )


def test_daemon_runs_jobs_survives_a_failure_refuses_a_second_and_stops_on_sigterm(
    db: tuple[Path, Engine], tmp_path: Path
) -> None:
    path, engine = db
    bad = tmp_path / "not-an-export.csv"
    bad.write_text("what,is,this\n1,2,3\n")
    config = write_config(
        tmp_path / "c.toml",
        path,
        BAD_SOURCE.format(bad=bad),
        'run_on_start = ["collect", "analyze"]\nlog_format = "json"',
    )
    proc = start(config)
    try:
        done = wait_for(
            "collect and analyze",
            lambda: (
                {j: s for j, s, _ in runs(engine) if s != "running"}.keys()
                >= {"collect", "analyze"}
            ),
            proc,
        )
        assert done
        by_job = {j: (s, e) for j, s, e in runs(engine)}
        assert by_job["collect"][0] == "failed"
        assert "broken-export" in (by_job["collect"][1] or "")
        assert by_job["analyze"] == ("ok", None)
        # still alive after the failed job, and still beating
        first_beat = daemon_lock.read(engine)
        assert first_beat is not None and first_beat.pid == proc.pid
        wait_for(
            "a heartbeat",
            lambda: (b := daemon_lock.read(engine)) and b.heartbeat_at > first_beat.heartbeat_at,
            proc,
        )

        status = cli("--config", str(config), "status", "--format", "json")
        assert status.exit_code == 0, status.output
        report = json.loads(status.stdout)
        assert report["daemon"]["running"] is True
        assert report["daemon"]["holder"].endswith(f" pid {proc.pid}")
        jobs = {j["job"]: j for j in report["jobs"]}
        assert jobs["collect"]["last_status"] == "failed"
        assert jobs["analyze"]["last_status"] == "ok"
        assert jobs["report"]["schedule"] == "off" and jobs["report"]["next_run"] is None
        assert cli("--config", str(config), "status", "--check").exit_code == 0

        second = start(config)
        out2, err2 = second.communicate(timeout=30)
        assert second.returncode == 1, (out2, err2)
        assert "error: another costagent daemon holds the lock: " in err2
        assert f"pid {proc.pid} (since " in err2
        assert proc.poll() is None
    finally:
        code, out, err, seconds = (
            stop(proc) if proc.poll() is None else (proc.returncode, "", "", 0)
        )
    assert code == 0, err
    assert seconds < 10
    assert daemon_lock.read(engine) is None  # released
    assert all(s != "running" for _, s, _ in runs(engine))
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert all({"ts", "level", "logger", "message", "job"} <= set(line) for line in lines)
    started = [x for x in lines if x["message"].startswith("job ") and "next run" in x["message"]]
    assert {x["job"] for x in started} == {"collect", "analyze"}  # report/metrics are off
    assert any(x["job"] == "collect" and x["level"] == "ERROR" for x in lines)
    assert SECRET not in out + err


def test_sigterm_during_a_job_stops_it_at_the_next_step_and_exits_0(
    db: tuple[Path, Engine], tmp_path: Path
) -> None:
    path, engine = db
    # Two sources importing the demo data: SIGTERM during the first stops before the second.
    sources = "\n".join(
        f'[[sources]]\nname = "demo-{i}"\ntype = "local_files"\npaths = ["{DATA_DIR}"]\n'
        for i in (1, 2)
    )
    config = write_config(tmp_path / "c.toml", path, sources, 'run_on_start = ["collect"]', 8)
    proc = start(config)
    try:
        wait_for("collect to start", lambda: ("collect", "running", None) in runs(engine), proc)
    finally:
        code, _out, err, seconds = stop(proc)
    assert code == 0, err
    assert seconds < 10
    ((job, status, error),) = runs(engine)
    assert (job, status) == ("collect", "abandoned")
    assert "stopped before source demo-2" in (error or "")
    assert daemon_lock.read(engine) is None


def test_a_job_stuck_in_a_step_is_abandoned_within_the_stop_timeout(
    db: tuple[Path, Engine], tmp_path: Path
) -> None:
    path, engine = db
    mark = tmp_path / "mark"
    config = write_config(tmp_path / "c.toml", path, "", 'run_on_start = ["collect"]', 0.5)
    proc = start(config, bodies="collect=sleep_in_step", mark=mark)
    try:
        wait_for("the job to be in its step", mark.exists, proc)
    finally:
        code, _out, err, seconds = stop(proc)
    assert code == 0, err
    assert seconds < 10
    # Outside a transaction, the stopping daemon can still record it and release the lock.
    assert runs(engine) == [
        (
            "collect",
            "abandoned",
            "daemon stopped; the job did not reach a step boundary within 0.5 s",
        )
    ]
    assert daemon_lock.read(engine) is None


def test_sigterm_while_a_job_holds_a_long_sqlite_write_exits_0_in_time_and_rolls_it_back(
    db: tuple[Path, Engine], tmp_path: Path
) -> None:
    path, engine = db
    mark = tmp_path / "mark"
    config = write_config(tmp_path / "c.toml", path, "", 'run_on_start = ["collect"]', 3)
    proc = start(config, bodies="collect=hold_write", mark=mark)
    try:
        wait_for("the job to hold its write", mark.exists, proc)
    finally:
        code, out, err, seconds = stop(proc)
    assert code == 0, err
    assert seconds < 10  # 3 s stop timeout + two 1 s best-effort writes, not 2 x 30 s
    assert "could not record job collect abandoned before exiting" in out
    assert held_rows(engine) == []  # the job's open transaction was rolled back
    # SQLite's only write lock was the job's: nothing could be written at exit, so the run
    # still says running and the lock row is left — the next start cleans both up.
    assert runs(engine) == [("collect", "running", None)]
    left = daemon_lock.read(engine)
    assert left is not None and left.pid == proc.pid

    again = start(config, "--once", "analyze")
    code, err = exited(again, timeout=60)
    assert code == 0, err
    assert runs(engine) == [
        ("collect", "abandoned", "the daemon stopped while it ran"),
        ("analyze", "ok", None),
    ]
    assert daemon_lock.read(engine) is None


def test_sigterm_before_the_lock_is_taken_exits_0(db: tuple[Path, Engine], tmp_path: Path) -> None:
    path, engine = db
    config = write_config(tmp_path / "c.toml", path, "", "")
    # Another process holds SQLite's write lock: the daemon waits at its lock INSERT.
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    proc = start(config)
    output = Output(proc)
    try:
        wait_for(
            "the daemon to wait for its lock", lambda: output.has("taking the daemon lock"), proc
        )
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        blocker.execute("ROLLBACK")
        code = proc.wait(timeout=15)  # not communicate(): Output reads stdout
        seconds = time.monotonic() - began
        assert proc.stderr is not None
        err = proc.stderr.read()
    finally:
        blocker.close()
        if proc.poll() is None:
            proc.kill()
    assert code == 0, err  # not 143: the signal was handled from the start
    assert seconds < 10
    assert "received SIGTERM; stopping" in output.text()
    assert daemon_lock.read(engine) is None
    assert runs(engine) == []


def test_a_six_field_cron_fires_and_status_shows_it(
    db: tuple[Path, Engine], tmp_path: Path
) -> None:
    path, engine = db
    config = write_config(tmp_path / "c.toml", path, "", "", collect="*/2 * * * * *")
    proc = start(config)
    try:
        # every 2 s; no run_on_start: the cron trigger itself runs the job (twice, to be sure
        # it is the schedule and not only the start-up catch-up of a missed run)
        wait_for(
            "two scheduled collect runs",
            lambda: [s for j, s, _ in runs(engine) if j == "collect"].count("ok") >= 2,
            proc,
        )
        report = json.loads(cli("--config", str(config), "status", "--format", "json").stdout)
        jobs = {j["job"]: j for j in report["jobs"]}
        assert jobs["collect"]["last_status"] == "ok"
        assert jobs["collect"]["schedule"] == "*/2 * * * * *"
        assert jobs["collect"]["next_run"] is not None
        assert report["daemon"]["running"] is True
    finally:
        code, _out, err, _seconds = stop(proc)
    assert code == 0, err


def test_a_job_that_raises_keeps_the_daemon_alive_and_is_retried_later(
    db: tuple[Path, Engine], tmp_path: Path
) -> None:
    path, engine = db
    config = write_config(tmp_path / "c.toml", path, "", "", analyze="* * * * * *")
    proc = start(config, bodies="analyze=boom")
    try:
        wait_for(
            "analyze to fail twice",
            lambda: [s for j, s, _ in runs(engine) if j == "analyze"].count("failed") >= 2,
            proc,
        )
        assert proc.poll() is None  # alive, and its scheduler still fires
        errors = {e for j, s, e in runs(engine) if s == "failed"}
        assert errors == {"RuntimeError: boom from the test hook"}
    finally:
        code, out, err, _seconds = stop(proc)
    assert code == 0, err
    assert "job analyze failed; retry 1 of 2 at " in out


def test_jobs_never_overlap(db: tuple[Path, Engine], tmp_path: Path) -> None:
    path, engine = db
    config = write_config(
        tmp_path / "c.toml", path, "", "", collect="* * * * * *", analyze="* * * * * *"
    )
    proc = start(config, bodies="collect=short,analyze=short")
    try:
        # Both fire every second and each takes 0.25 s: without the work lock they would run
        # side by side every second.
        wait_for(
            "three runs of each job",
            lambda: (
                min(
                    [j for j, s, _ in runs(engine) if s == "ok"].count(n)
                    for n in ("collect", "analyze")
                )
                >= 3
            ),
            proc,
        )
    finally:
        code, _out, err, _seconds = stop(proc)
    assert code == 0, err
    with engine.connect() as conn:
        spans = conn.execute(
            select(JobRun.started_at, JobRun.finished_at)
            .where(JobRun.status == "ok")
            .order_by(JobRun.started_at)
        ).all()
    assert len(spans) >= 6
    for (_s1, end), (begin, _e2) in pairwise(spans):
        assert end <= begin, "two jobs ran at the same time"


def test_a_daemon_that_lost_its_lock_stops_with_exit_1(
    db: tuple[Path, Engine], tmp_path: Path
) -> None:
    path, engine = db
    config = write_config(tmp_path / "c.toml", path, "", "")
    proc = start(config)
    wait_for("the lock", lambda: (h := daemon_lock.read(engine)) and h.pid == proc.pid, proc)
    steal_lock(engine)
    code, _err = exited(proc)
    assert code == 1
    held = daemon_lock.read(engine)
    assert held is not None and held.holder == "thief@elsewhere pid 1"  # not released by it


def test_run_once_that_lost_its_lock_stops_the_job_and_exits_1(
    db: tuple[Path, Engine], tmp_path: Path
) -> None:
    path, engine = db
    mark = tmp_path / "mark"
    config = write_config(tmp_path / "c.toml", path, "", "")
    proc = start(config, "--once", "analyze", bodies="analyze=many_steps", mark=mark)
    wait_for("the job to run", mark.exists, proc)
    steal_lock(engine)
    code, _err = exited(proc)
    assert code == 1
    ((job, status, error),) = runs(engine)
    assert (job, status) == ("analyze", "abandoned")
    assert (error or "").startswith("stopped before step ")


def test_stale_lock_of_a_dead_daemon_is_taken_over(db: tuple[Path, Engine], tmp_path: Path) -> None:
    path, engine = db
    ghost = subprocess.Popen([sys.executable, "-c", "pass"])
    ghost.wait()
    now = clock.utcnow()
    me = daemon_lock.me()
    with engine.begin() as conn:
        conn.execute(
            insert(DaemonLock).values(
                name="daemon",
                holder=f"ops@{me.host} pid {ghost.pid}",
                host=me.host,
                pid=ghost.pid,
                acquired_at=now,
                heartbeat_at=now,
            )
        )
        # the dead daemon left a job "running"
        conn.execute(insert(JobRun).values(job="report", status="running", started_at=now))
    config = write_config(tmp_path / "c.toml", path, "", "")
    proc = start(config, "--once", "analyze")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert f"took over a stale daemon lock from ops@{me.host} pid {ghost.pid}" in out
    assert runs(engine) == [
        ("report", "abandoned", "the daemon stopped while it ran"),
        ("analyze", "ok", None),
    ]
    assert daemon_lock.read(engine) is None
