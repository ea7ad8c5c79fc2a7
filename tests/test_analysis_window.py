"""One analysis window: ``costagent analyze`` and the daemon's ``analyze`` job both look at the
``[analysis] window_days`` days before today, and ``--window-days`` overrides it for one run.

Real SQLite store, the real daemon job (``run --once analyze``), no mocks: the window each one
used is read back from what it reports (the command's JSON, the job's ``job_runs`` row).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from agent.store.engine import open_store
from agent.store.schema import JobRun
from tests.helpers import cli


def _config(tmp_path: Path, days: int) -> tuple[str, str]:
    db = f"sqlite:///{tmp_path / 'costagent.db'}"
    config = tmp_path / "c.toml"
    config.write_text(f'[database]\nurl = "{db}"\n\n[analysis]\nwindow_days = {days}\n')
    open_store(db).dispose()  # analyze reads a store, it does not create one
    return str(config), db


def _days(window: list[str]) -> int:
    start, end = map(datetime.fromisoformat, window)
    return (end - start) // timedelta(days=1)


def test_the_daemon_job_and_the_command_analyze_the_configured_window(tmp_path: Path) -> None:
    config, db = _config(tmp_path, 7)
    command = cli("--config", config, "analyze", "--format", "json")
    # an empty store: nothing to judge in the window, said with exit 1 (the window is still
    # the configured one)
    assert command.exit_code == 1 and json.loads(command.stdout)["no_data"], command.output
    command_window = json.loads(command.stdout)["window"]

    job = cli("--config", config, "run", "--once", "analyze")
    assert job.exit_code == 0, job.output
    engine = open_store(db)
    try:
        with engine.connect() as conn:
            status, details = conn.execute(
                select(JobRun.status, JobRun.details).where(JobRun.job == "analyze")
            ).one()
    finally:
        engine.dispose()

    assert status == "ok"
    assert details["window"] == command_window
    assert _days(command_window) == 7


def test_window_days_option_overrides_the_setting_for_one_run(tmp_path: Path) -> None:
    config, _ = _config(tmp_path, 7)
    once = cli("--config", config, "analyze", "--window-days", "3", "--format", "json")
    assert once.exit_code == 1, once.output  # an empty store: no data in the window
    assert _days(json.loads(once.stdout)["window"]) == 3
    again = cli("--config", config, "analyze", "--format", "json")
    assert _days(json.loads(again.stdout)["window"]) == 7
