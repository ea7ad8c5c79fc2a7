"""The BigQuery emulator (``bqemulator``: DuckDB + SQLGlot behind BigQuery's REST API), offline.

bqemulator loads DuckDB's ``spatial`` and ``avro`` extensions at start and would download them;
the test extra pins ``duckdb`` and ships both as PyPI packages (``duckdb-extension-*``), so this
module copies their files into a private ``$HOME/.duckdb/extensions/<version>/<platform>/`` that
only the emulator child process sees: nothing touches the developer's home or the network.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.aws_servers import _wait, free_port

PROJECT = "costagent-test"


def _extension_home() -> Path:
    import duckdb

    version = f"v{duckdb.__version__}"
    platform = duckdb.sql("PRAGMA platform").fetchone()[0]  # type: ignore[index]
    home = Path(tempfile.mkdtemp(prefix="bqemu-home-"))
    target = home / ".duckdb" / "extensions" / version / platform
    target.mkdir(parents=True)
    for name in ("duckdb_extension_spatial", "duckdb_extension_avro"):
        pkg = Path(importlib.import_module(name).__file__ or "").parent
        for f in pkg.rglob(f"{version}/*.duckdb_extension"):
            shutil.copy2(f, target / f.name)
    return home


@contextmanager
def bq_emulator() -> Iterator[str]:
    """An ephemeral emulator on a free loopback port; yields its REST endpoint."""
    home = _extension_home()
    port = free_port()
    exe = shutil.which("bqemulator", path=str(Path(sys.executable).parent)) or "bqemulator"
    log = home / "bqemulator.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                exe,
                "start",
                "--rest-port",
                str(port),
                "--grpc-port",
                "0",
                "--project",
                PROJECT,
                "--log-level",
                "warning",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "HOME": str(home)},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            _wait(f"{url}/bigquery/v2/projects/{PROJECT}/datasets", timeout=60, proc=proc)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}: {log.read_text()[-2000:]}") from None
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(home, ignore_errors=True)
