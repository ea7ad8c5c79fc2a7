"""``kill -9`` in the middle of an import leaves the database exactly as it was before."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from sqlalchemy import Engine, text

from agent.config import load_settings
from collectors.importer import import_paths
from tests.helpers import cost_snapshot


def _big_restatement(sample: Path, out: Path, copies: int) -> Path:
    """The sample's rows many times over: one big restatement of the same slices."""
    table = pacsv.read_csv(
        sample,
        convert_options=pacsv.ConvertOptions(
            null_values=["NULL"], strings_can_be_null=True, column_types={"Tags": pa.string()}
        ),
    )
    pq.write_table(pa.concat_tables([table] * copies), out, row_group_size=50_000)
    return out


def _wait_until_loading(db_url: str, engine: Engine, proc: subprocess.Popen[bytes]) -> None:
    """Until the child is inside its write transaction (WAL growing / COPY running)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "import finished before it could be killed"
        if db_url.startswith("sqlite"):
            wal = Path(db_url.removeprefix("sqlite:///") + "-wal")
            if wal.exists() and wal.stat().st_size > 4 << 20:
                return
        else:
            with engine.connect() as conn:
                busy = conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY cost_line%'"
                        " AND pid <> pg_backend_pid()"
                    )
                ).scalar_one()
            if busy:
                time.sleep(0.3)
                return
        time.sleep(0.02)
    raise AssertionError("import never started writing")


def test_kill_9_keeps_previous_state(
    db_url: str, engine: Engine, focus_sample: Path, tmp_path: Path
) -> None:
    import_paths(engine, [focus_sample], load_settings(None))
    before = cost_snapshot(engine)
    big = _big_restatement(focus_sample, tmp_path / "big.parquet", 400)
    env = {**os.environ, "COSTAGENT_DATABASE_URL": db_url}
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent", "import", str(big)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_until_loading(db_url, engine, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    engine.dispose()  # a fresh connection sees what is on disk / committed
    assert cost_snapshot(engine) == before
