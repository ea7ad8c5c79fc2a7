"""The compose deployment's database roles, run for real: the daemon is no superuser.

``deploy/postgres-init/10-costagent-roles.sh`` is what the postgres image runs on a new volume.
Here it runs with the real ``psql`` against this machine's server, into a new database, as the
image would; then the daemon's role migrates the store, ``costagent sql`` works through the
reader role and still refuses writes and server files, and the daemon warns at start-up only
when it is connected as a superuser.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from agent.store.engine import normalise_url, open_store, superuser
from tests.conftest import ROOT, pg_base_url
from tests.helpers import cli

SCRIPT = ROOT / "deploy" / "postgres-init" / "10-costagent-roles.sh"


def _init_script(database: str, role: str, password: str) -> subprocess.CompletedProcess[str]:
    """The shipped init script, run as the postgres image runs it (its environment)."""
    admin = make_url(normalise_url(pg_base_url() or ""))
    env = {
        **os.environ,
        "POSTGRES_USER": admin.username or "postgres",
        "POSTGRES_DB": database,
        "COSTAGENT_DB_USER": role,
        "COSTAGENT_DB_PASSWORD": password,
        "PGHOST": admin.host or "127.0.0.1",
        "PGPORT": str(admin.port or 5432),
    }
    return subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True)


@pytest.fixture
def deployed() -> Iterator[tuple[str, str]]:
    """(the daemon's URL, its role) in a new database set up by the shipped init script."""
    base = pg_base_url()
    if base is None:
        pytest.skip("PostgreSQL tests need COSTAGENT_TEST_POSTGRES_URL")
    if shutil.which("psql") is None:
        pytest.skip("the init script needs psql, which is not installed")
    admin_url = make_url(normalise_url(base))
    suffix = uuid.uuid4().hex[:10]
    database, role = f"deploy_{suffix}", f"app_{suffix}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {database}"))
    done = _init_script(database, role, "s3cret-" + suffix)
    try:
        assert done.returncode == 0, done.stderr
        assert "s3cret" not in done.stdout + done.stderr
        url = admin_url.set(username=role, database=database)
        yield url.render_as_string(hide_password=False), role
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
            conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
        admin.dispose()


def test_the_daemon_role_migrates_and_queries_but_is_no_superuser(
    deployed: tuple[str, str],
) -> None:
    url, _ = deployed
    engine = open_store(url)  # the migrations, as the daemon runs them at start-up
    try:
        assert superuser(engine) is None
        with engine.connect() as conn:
            rights = conn.execute(
                text(
                    "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls "
                    "FROM pg_roles WHERE rolname = current_user"
                )
            ).one()
        assert tuple(rights) == (False, False, False, False)
    finally:
        engine.dispose()

    ok = cli("--db", url, "sql", "SELECT count(*) AS n FROM cost_line_items", "--format", "json")
    assert ok.exit_code == 0, ok.output
    for query in (
        "DELETE FROM findings",
        "SELECT pg_read_file('/etc/hostname')",
        "COPY (SELECT 1) TO PROGRAM 'id'",
    ):
        refused = cli("--db", url, "sql", query)
        assert refused.exit_code == 1, (query, refused.output)


def test_the_init_script_runs_again_without_harm(deployed: tuple[str, str]) -> None:
    """A second run (by hand, on an older volume) changes nothing and fails nothing."""
    url, role = deployed
    again = _init_script(make_url(url).database or "", role, "again")
    assert again.returncode == 0, again.stderr


def test_the_daemon_warns_when_it_runs_as_a_superuser(
    deployed: tuple[str, str], pg_url: str, tmp_path: Path
) -> None:
    url, _ = deployed
    config = tmp_path / "costagent.toml"
    config.write_text('[schedule]\ncollect = "off"\ncollect_metrics = "off"\nreport = "off"\n')

    def start_log(db: str) -> str:
        result = cli("--config", str(config), "--db", db, "run", "--once", "analyze")
        assert result.exit_code == 0, result.output
        return str(result.output)

    assert "superuser" not in start_log(url)
    assert "as the superuser" in start_log(pg_url)


def test_compose_runs_the_daemon_as_the_application_role() -> None:
    yaml = pytest.importorskip("yaml")  # pyyaml: installed with moto[server] (responses)
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text(encoding="utf-8"))
    db, agent = compose["services"]["db"], compose["services"]["costagent"]
    url = make_url(
        agent["environment"]["COSTAGENT_DATABASE_URL"].replace("${", "").replace("}", "")
    )
    assert url.username != db["environment"]["POSTGRES_USER"]  # not the image's superuser
    assert "COSTAGENT_DB_PASSWORD" in str(url.password)
    assert "POSTGRES_PASSWORD" not in agent["environment"]["COSTAGENT_DATABASE_URL"]
    assert f"./{SCRIPT.parent.name}:/docker-entrypoint-initdb.d:ro" in db["volumes"]
    assert os.access(SCRIPT, os.X_OK)
