"""Shared fixtures: real SQLite files and the real PostgreSQL server, never mocks.

Every store test that takes ``db_url`` runs twice, on SQLite and on PostgreSQL.  PostgreSQL is
found through ``COSTAGENT_TEST_POSTGRES_URL``; without it those runs are skipped with the reason.
Each PostgreSQL test gets a schema of its own (via ``search_path``), dropped afterwards.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from agent.store.engine import normalise_url, open_store
from tests.llm_api_fakes import ANTHROPIC_KEY, OPENAI_KEY, FakeLlmAdmin, serve


@pytest.fixture(autouse=True)
def _logging_as_it_was() -> Iterator[None]:
    """Each test starts with the logging the one before found: a command run in-process
    (``costagent run`` sets up the daemon's logging) must not route later tests' records into
    their output."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    named = {name: logging.getLogger(name).level for name in logging.root.manager.loggerDict}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, was in named.items():
        logging.getLogger(name).setLevel(was)


ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("COSTAGENT_SHARED_DIR", ROOT.parent / "shared"))
FOCUS_SAMPLE = SHARED / "data" / "focus-1.0" / "focus_sample.csv"
PG_ENV = "COSTAGENT_TEST_POSTGRES_URL"


def pg_base_url() -> str | None:
    return os.environ.get(PG_ENV) or None


@pytest.fixture
def focus_sample() -> Path:
    if not FOCUS_SAMPLE.exists():
        pytest.skip(f"shared sample data not found at {FOCUS_SAMPLE} (set COSTAGENT_SHARED_DIR)")
    return FOCUS_SAMPLE


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'costagent.db'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    base = pg_base_url()
    if base is None:
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (e.g. postgresql://postgres@127.0.0.1/test)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalise_url(base))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(normalise_url(base)).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = open_store(db_url)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """moto in server mode on loopback, for the whole session (reset per test by ``aws``)."""
    from tests.aws_servers import moto_server

    with moto_server() as url:
        yield url


@pytest.fixture
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A clean moto and fake credentials in the environment (the standard boto3 chain)."""
    from tests.aws_servers import FAKE_CREDENTIALS, reset_moto

    reset_moto(moto_url)
    for k, v in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(k, v)
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    return moto_url


@pytest.fixture(scope="session")
def bq_url() -> Iterator[str]:
    """The BigQuery emulator on loopback for the whole session (tests use their own datasets)."""
    from tests.bq_emulator import bq_emulator

    with bq_emulator() as url:
        yield url


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLlmAdmin]:
    """OpenAI's and Anthropic's admin APIs on loopback, the admin keys in the environment."""
    monkeypatch.setenv("OPENAI_ADMIN_KEY", OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", ANTHROPIC_KEY)
    with serve() as running:
        yield running
