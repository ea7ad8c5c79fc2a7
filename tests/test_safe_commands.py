"""Commands that neither destroy what they did not create nor mislead about what is there.

Real processes against real stores: ``demo`` never deletes a user's store or config; commands
that only read refuse a store that is not there (a typo in ``--db`` under cron must not mail a
$0 report); a plain path is SQLite and an unsupported scheme is named; a daemon whose database
was dropped and created again stops so that its supervisor restarts it on the new one; and a
daemon busy in a long SQLite write is healthy to ``status --check``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from agent import daemon_lock
from agent.store.engine import normalise_url, open_store
from tests.conftest import ROOT, pg_base_url
from tests.helpers import cli
from tests.test_daemon import exited, start, stop, wait_for


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("COSTAGENT_DATABASE_URL", None)
    env.pop("COSTAGENT_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "agent", *args], cwd=cwd, env=env, capture_output=True, text=True
    )


# -- demo ----------------------------------------------------------------------------------------
def test_demo_never_replaces_a_users_store_or_config(tmp_path: Path) -> None:
    store = tmp_path / "costagent.db"
    imported = _run("--db", str(store), "import", str(_tiny_focus(tmp_path)), cwd=tmp_path)
    assert imported.returncode == 0
    (tmp_path / "costagent.toml").write_text("[report]\ntimezone = 'Europe/Berlin'\n")
    before = store.read_bytes(), (tmp_path / "costagent.toml").read_text()

    refused = _run("demo", "--path", "costagent.db", cwd=tmp_path)

    assert refused.returncode == 2, refused.stderr
    assert "not created by `costagent demo`" in refused.stderr
    assert (store.read_bytes(), (tmp_path / "costagent.toml").read_text()) == before

    text_file = tmp_path / "notadb.txt"
    text_file.write_text("my notes\n")
    assert _run("demo", "--path", "notadb.txt", cwd=tmp_path).returncode == 2
    assert text_file.read_text() == "my notes\n"


def test_demo_replaces_its_own_files_and_force_replaces_others(tmp_path: Path) -> None:
    assert _run("demo", cwd=tmp_path).returncode == 0
    again = _run("demo", cwd=tmp_path)
    assert again.returncode == 0, again.stderr  # its own database and config: replaced
    other = tmp_path / "mine.db"
    other.write_text("x")
    forced = _run("demo", "--path", str(other), "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr


def _tiny_focus(tmp: Path) -> Path:
    path = tmp / "focus.csv"
    path.write_text(
        "BilledCost,EffectiveCost,BillingAccountId,BillingCurrency,BillingPeriodStart,"
        "ChargePeriodStart,ProviderName,ServiceName\n"
        "1.5,1.5,a,USD,2026-10-01T00:00:00Z,2026-10-02T00:00:00Z,AWS,Amazon EC2\n"
    )
    return path


# -- a mistyped --db -----------------------------------------------------------------------------
READ_COMMANDS = [
    ("report",),
    ("report", "--send"),
    ("sql", "SELECT 1"),
    ("summary",),
    ("findings",),
    ("status",),
    ("status", "--check"),
    ("analyze",),
    ("findings", "ack", "deadbeef"),
    ("db", "rollup"),
]


@pytest.mark.parametrize("command", READ_COMMANDS, ids=" ".join)
def test_read_commands_refuse_a_store_that_is_not_there(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    typo = tmp_path / "dmeo.db"
    result = _run("--db", f"sqlite:///{typo}", *command, cwd=tmp_path)
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert str(typo) in result.stderr and "no costagent store" in result.stderr
    assert not typo.exists()


def test_a_plain_path_is_sqlite_and_an_unknown_scheme_is_named(tmp_path: Path) -> None:
    made = _run("--db", "plain.db", "import", str(_tiny_focus(tmp_path)), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "plain.db").exists()
    summary = _run(
        "--db",
        "plain.db",
        "sql",
        "SELECT COUNT(*) AS n FROM cost_line_items",
        "--format",
        "csv",
        cwd=tmp_path,
    )
    assert summary.returncode == 0 and summary.stdout.splitlines()[1] == "1"

    bad = _run("--db", "mysql://root@localhost/x", "status", cwd=tmp_path)
    assert bad.returncode == 2
    assert "sqlite" in bad.stderr and "postgresql" in bad.stderr and "mysql" in bad.stderr
    assert "costagent[postgres]" not in bad.stderr


def test_an_empty_postgresql_database_is_not_a_store_for_reading(pg_url: str) -> None:
    result = cli("--db", pg_url, "report")
    assert result.exit_code == 2 and "no costagent store" in result.stderr


# -- the daemon ----------------------------------------------------------------------------------
def _daemon_config(path: Path, url: str, extra: str = "") -> Path:
    path.write_text(
        f"""
[database]
url = "{url}"

[schedule]
collect = "0 0 1 1 *"
collect_metrics = "off"
analyze = "0 0 1 1 *"
report = "off"

[daemon]
heartbeat_seconds = 1
lock_stale_seconds = 5
stop_timeout_seconds = 3
{extra}
""",
        encoding="utf-8",
    )
    return path


def test_daemon_stops_for_a_restart_when_its_database_is_recreated(
    pg_url: str, tmp_path: Path
) -> None:
    engine = open_store(pg_url)
    schema = str(make_url(normalise_url(pg_url)).query["options"]).split("search_path=")[-1]
    proc = start(_daemon_config(tmp_path / "c.toml", pg_url))
    try:
        wait_for("the lock", lambda: (h := daemon_lock.read(engine)) and h.pid == proc.pid, proc)
        admin = create_engine(normalise_url(pg_base_url() or ""), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:  # dropped and created again, empty
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        code, err = exited(proc, timeout=30)
    finally:
        if proc.poll() is None:
            stop(proc)
        engine.dispose()
    assert code == 1, err
    restarted = start(_daemon_config(tmp_path / "c.toml", pg_url), "--once", "analyze")
    code, err = exited(restarted, timeout=60)
    assert code == 0, err  # the supervisor's restart migrates the new database and runs


def test_a_daemon_busy_in_a_long_sqlite_write_is_healthy(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    open_store(f"sqlite:///{store}").dispose()
    mark = tmp_path / "mark"
    config = _daemon_config(tmp_path / "c.toml", f"sqlite:///{store}", 'run_on_start = ["collect"]')
    proc = start(config, bodies="collect=hold_write", mark=mark)
    try:
        wait_for("the job to hold its write", mark.exists, proc)
        time.sleep(7)  # past the stale period: the heartbeat cannot be written meanwhile
        check = _run("--config", str(config), "status", "--check", cwd=tmp_path)
    finally:
        stop(proc)
    assert check.returncode == 0, (check.stdout, check.stderr)
