"""``costagent run`` as a real process on a SQLite file, observed through the database.

``[daemon] run_on_start`` makes jobs run right after start, so no test waits for a cron minute.
Every wait polls the database (or the process) with a deadline; nothing sleeps for a fixed time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select

from agent import daemon_lock
from agent.demo import DATA_DIR
from agent.store.engine import open_store
from agent.store.schema import DaemonLock, JobRun
from tests.helpers import cli

SECRET = "hunter2-smtp-password-value"


def write_config(path: Path, db: Path, sources: str, daemon: str, stop_timeout: float = 8) -> Path:
    path.write_text(
        f"""
[database]
url = "sqlite:///{db}"

{sources}

[schedule]
collect = "0 0 1 1 *"
collect_metrics = "off"
analyze = "0 0 1 1 *"
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


def start(config: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "COSTAGENT_SMTP_PASSWORD": SECRET}
    env.pop("COSTAGENT_DATABASE_URL", None)
    return subprocess.Popen(
        [sys.executable, "-m", "agent", "--config", str(config), "run", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


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
    out, err = proc.communicate(timeout=10)
    return proc.returncode, out, err, time.monotonic() - began


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


@pytest.mark.parametrize(
    ("stop_timeout", "expected_error"),
    [
        (8, "stopped before source demo-2"),  # the job reaches its next step boundary
        (0.01, "did not reach a step boundary within 0.01 s"),  # cut off mid-step
    ],
)
def test_sigterm_during_a_job_abandons_it_and_exits_0(
    db: tuple[Path, Engine], tmp_path: Path, stop_timeout: float, expected_error: str
) -> None:
    path, engine = db
    # Two sources importing the demo data: SIGTERM during the first stops before the second.
    sources = "\n".join(
        f'[[sources]]\nname = "demo-{i}"\ntype = "local_files"\npaths = ["{DATA_DIR}"]\n'
        for i in (1, 2)
    )
    config = write_config(
        tmp_path / "c.toml", path, sources, 'run_on_start = ["collect"]', stop_timeout
    )
    proc = start(config)
    try:
        wait_for("collect to start", lambda: ("collect", "running", None) in runs(engine), proc)
    finally:
        code, _out, err, seconds = stop(proc)
    assert code == 0, err
    assert seconds < 10
    ((job, status, error),) = runs(engine)
    assert (job, status) == ("collect", "abandoned")
    assert expected_error in (error or "")
    assert daemon_lock.read(engine) is None


def test_stale_lock_of_a_dead_daemon_is_taken_over(db: tuple[Path, Engine], tmp_path: Path) -> None:
    path, engine = db
    ghost = subprocess.Popen([sys.executable, "-c", "pass"])
    ghost.wait()
    now = daemon_lock.utcnow()
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
