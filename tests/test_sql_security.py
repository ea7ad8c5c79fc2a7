"""``costagent sql`` is read-only against a superuser too, and times out.

PostgreSQL: the daemon's user in a careless deployment is a superuser, and a read-only
transaction does not stop one (``COPY … TO PROGRAM``, ``pg_read_file``, ``dblink_exec``,
``pg_terminate_backend``), nor does ``SET ROLE``, which a statement can undo with
``set_config``.  Queries run as the ``costagent_reader`` role inside its security-definer
function; these tests try every escape against a real server, as the superuser and as an
application role.  SQLite: a runaway recursive CTE is cancelled, and the describing pragmas the
allow-list means to allow work.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from agent.store.engine import normalise_url, open_store
from agent.store.reader import READER
from tests.conftest import pg_base_url
from tests.helpers import cli


def _sql(url: str, query: str, *extra: str) -> object:
    return cli("--db", url, "sql", query, "--format", "json", *extra)


@pytest.fixture
def pg_store(pg_url: str) -> str:
    open_store(pg_url).dispose()
    return pg_url


def _admin() -> object:
    base = pg_base_url()
    assert base
    return create_engine(normalise_url(base), isolation_level="AUTOCOMMIT")


def test_superuser_store_cannot_run_programs(pg_store: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for query in (
        f"COPY (SELECT 1) TO PROGRAM 'id > {marker}'",
        f"SELECT * FROM (SELECT 1) x; COPY (SELECT 1) TO PROGRAM 'id > {marker}'",
        f"COPY (SELECT 1) TO '{marker}'",
    ):
        result = _sql(pg_store, query)
        assert result.exit_code == 1, (query, result.output)
    assert not marker.exists()


@pytest.mark.parametrize(
    "query",
    [
        "SELECT pg_read_file('/etc/hostname')",
        "SELECT pg_ls_dir('/')",
        "SELECT lo_import('/etc/hostname')",
        # SET ROLE can be undone by a statement; inside the security-definer function it cannot
        "SELECT set_config('role', 'postgres', true), pg_read_file('/etc/hostname')",
        "SELECT set_config('session_authorization', 'postgres', true)",
        "WITH r AS (SELECT set_config('role', 'postgres', true)) SELECT * FROM r",
        "SELECT set_config('transaction_read_only', 'off', true)",
    ],
)
def test_superuser_store_cannot_read_files_or_change_role(pg_store: str, query: str) -> None:
    result = _sql(pg_store, query)
    assert result.exit_code == 1, result.output
    assert "refused" in result.stderr or "query failed" in result.stderr


def test_other_backends_cannot_be_terminated(pg_store: str) -> None:
    victim = create_engine(normalise_url(pg_base_url() or ""))
    with victim.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        result = _sql(pg_store, f"SELECT pg_terminate_backend({pid})")
        assert result.exit_code == 1, result.output
        assert conn.execute(text("SELECT 1")).scalar_one() == 1  # still alive
    victim.dispose()


def test_dblink_cannot_write_through_a_second_connection(pg_store: str) -> None:
    engine = create_engine(normalise_url(pg_store))
    with engine.begin() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS dblink SCHEMA " + _schema(pg_store)))
        conn.execute(
            text(
                "INSERT INTO findings (fingerprint, rule_id, subject, status, first_seen, "
                "last_seen, confidence, title, recommendation) VALUES ('f', 'r', 's', 'open', "
                "now(), now(), 'high', 't', 'r')"
            )
        )
    target = make_url(normalise_url(pg_store))
    dsn = f"host=127.0.0.1 dbname={target.database} user=postgres"
    query = f"SELECT dblink_exec('{dsn}', 'DELETE FROM {_schema(pg_store)}.findings')"
    result = _sql(pg_store, query)
    assert result.exit_code == 1, result.output
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM findings")).scalar_one() == 1
    engine.dispose()


def test_reads_still_work_with_exact_types(pg_store: str) -> None:
    result = _sql(
        pg_store,
        "SELECT 1 AS a, 2 AS a, 12.345678901234::numeric AS m, now()::timestamp AS t,"
        ' \'{"k": [1, {"x": 2}]}\'::jsonb AS j, NULL::text AS n',
    )
    assert result.exit_code == 0, result.output
    import json

    (row,) = json.loads(result.stdout)
    assert row["m"] == "12.345678901234"
    assert row["j"] == {"k": [1, {"x": 2}]}
    assert row["n"] is None
    empty = _sql(pg_store, "SELECT fingerprint FROM findings WHERE false")
    assert empty.exit_code == 0 and json.loads(empty.stdout) == []
    table = cli("--db", pg_store, "sql", "SELECT 1 AS a, 2 AS a")
    assert table.exit_code == 0 and table.stdout.count(" a ") >= 2  # duplicate names kept


@pytest.mark.parametrize(
    "query",
    ["SELECT pg_sleep(5)", "SELECT set_config('statement_timeout', '0', true), pg_sleep(5)"],
)
def test_postgresql_queries_time_out(pg_store: str, query: str) -> None:
    result = _sql(pg_store, query, "--timeout", "1")
    assert result.exit_code == 1
    assert "cancelled after 1 s" in result.stderr


# -- an application role, as the shipped deployment runs the daemon ------------------------------
@pytest.fixture
def app_role() -> Iterator[tuple[str, str]]:
    """A LOGIN role that owns a schema and may not create roles; (url, role)."""
    if pg_base_url() is None:
        pytest.skip("PostgreSQL tests need COSTAGENT_TEST_POSTGRES_URL")
    role = f"app_{uuid.uuid4().hex[:10]}"
    admin = _admin()
    with admin.connect() as conn:  # type: ignore[attr-defined]
        conn.execute(text(f"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEROLE"))
        conn.execute(text(f"CREATE SCHEMA {role} AUTHORIZATION {role}"))
        conn.execute(
            text(
                f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{READER}') "
                f"THEN CREATE ROLE {READER} NOLOGIN; END IF; END $$"
            )
        )
    url = make_url(normalise_url(pg_base_url() or "")).set(username=role)
    url = url.update_query_dict({"options": f"-csearch_path={role}"})
    try:
        yield url.render_as_string(hide_password=False), role
    finally:
        with admin.connect() as conn:  # type: ignore[attr-defined]
            conn.execute(text(f"DROP SCHEMA {role} CASCADE"))
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))
        admin.dispose()  # type: ignore[attr-defined]


def test_application_role_without_the_reader_is_refused_until_set_up(
    app_role: tuple[str, str],
) -> None:
    url, role = app_role
    open_store(url).dispose()  # migrations run; the reader cannot be set up (no membership)

    refused = _sql(url, "SELECT count(*) AS n FROM cost_line_items")
    assert refused.exit_code == 1
    assert READER in refused.stderr and "GRANT" in refused.stderr

    with _admin().connect() as conn:  # type: ignore[attr-defined]
        conn.execute(text(f"GRANT {READER} TO {role}"))
    done = cli("--db", url, "db", "reader")
    assert done.exit_code == 0, done.output

    ok = _sql(url, "SELECT count(*) AS n FROM cost_line_items")
    assert ok.exit_code == 0, ok.output
    for query in ("DELETE FROM cost_line_items", "SELECT pg_read_file('/etc/hostname')"):
        assert _sql(url, query).exit_code == 1


def _schema(url: str) -> str:
    options = make_url(normalise_url(url)).query.get("options", "")
    return str(options).split("search_path=")[-1]


# -- SQLite ------------------------------------------------------------------------------------
@pytest.fixture
def sqlite_store(sqlite_url: str) -> str:
    open_store(sqlite_url).dispose()
    return sqlite_url


def test_sqlite_runaway_query_times_out(sqlite_store: str) -> None:
    result = _sql(
        sqlite_store,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT max(i) FROM n",
        "--timeout",
        "1",
    )
    assert result.exit_code == 1
    assert "cancelled after 1 s" in result.stderr


@pytest.mark.parametrize(
    "query",
    [
        "PRAGMA table_info(cost_line_items)",
        "PRAGMA index_list(cost_line_items)",
        "PRAGMA index_info(ix_cost_line_items_x_slice)",
        "SELECT name FROM pragma_table_info('findings')",
        "PRAGMA user_version",
    ],
)
def test_sqlite_describing_pragmas_work(sqlite_store: str, query: str) -> None:
    result = _sql(sqlite_store, query)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "query",
    [
        "PRAGMA user_version = 5",
        "PRAGMA schema_version = 1",
        "UPDATE sqlite_master SET sql = 'x' WHERE name = 'findings'",
    ],
)
def test_sqlite_setting_pragmas_are_refused(sqlite_store: str, query: str) -> None:
    assert _sql(sqlite_store, query).exit_code == 1
