"""``litellm_db`` against a real PostgreSQL holding LiteLLM's ``LiteLLM_SpendLogs`` table.

The table is created as LiteLLM's Prisma schema makes it (quoted camelCase columns, JSONB
metadata, TIMESTAMP(3)), in a schema of its own on this machine's server, and filled with rows
shaped like the proxy's: an OpenAI call with cached tokens (``prompt_tokens`` includes them), an
Anthropic call from a LiteLLM version that left cache reads and writes out of
``prompt_tokens``, an embedding, a failed call and an image generation (skipped).  The source
runs through the pipeline into SQLite and PostgreSQL stores.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text

from agent.config import load_settings
from agent.pipeline import SourceOutcome, collect_all
from agent.store.engine import normalise_url
from collectors.base import validate_source
from tests.conftest import pg_base_url
from tests.helpers import llm_request_rows

NOW = datetime.now().replace(microsecond=0) - timedelta(hours=1)

DDL = """
CREATE TABLE "{schema}"."LiteLLM_SpendLogs" (
    "request_id" TEXT NOT NULL,
    "call_type" TEXT NOT NULL,
    "api_key" TEXT NOT NULL DEFAULT '',
    "spend" DOUBLE PRECISION NOT NULL DEFAULT 0.0,
    "total_tokens" INTEGER NOT NULL DEFAULT 0,
    "prompt_tokens" INTEGER NOT NULL DEFAULT 0,
    "completion_tokens" INTEGER NOT NULL DEFAULT 0,
    "startTime" TIMESTAMP(3) NOT NULL,
    "endTime" TIMESTAMP(3) NOT NULL,
    "request_duration_ms" INTEGER,
    "completionStartTime" TIMESTAMP(3),
    "model" TEXT NOT NULL DEFAULT '',
    "model_id" TEXT DEFAULT '',
    "model_group" TEXT DEFAULT '',
    "custom_llm_provider" TEXT DEFAULT '',
    "api_base" TEXT DEFAULT '',
    "user" TEXT DEFAULT '',
    "metadata" JSONB DEFAULT '{{}}',
    "cache_hit" TEXT DEFAULT '',
    "cache_key" TEXT DEFAULT '',
    "request_tags" JSONB DEFAULT '[]',
    "team_id" TEXT,
    "organization_id" TEXT,
    "end_user" TEXT,
    "requester_ip_address" TEXT,
    "messages" JSONB DEFAULT '{{}}',
    "response" JSONB DEFAULT '{{}}',
    "session_id" TEXT,
    "status" TEXT,
    "mcp_namespaced_tool_name" TEXT,
    "agent_id" TEXT,
    "proxy_server_request" JSONB DEFAULT '{{}}',
    CONSTRAINT "LiteLLM_SpendLogs_pkey" PRIMARY KEY ("request_id")
);
CREATE INDEX "LiteLLM_SpendLogs_startTime_idx" ON "{schema}"."LiteLLM_SpendLogs"("startTime");
CREATE INDEX "LiteLLM_SpendLogs_startTime_request_id_idx"
    ON "{schema}"."LiteLLM_SpendLogs"("startTime", "request_id");
"""


@pytest.fixture
def litellm(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Engine, str]]:
    """(an engine on LiteLLM's database, its schema); the DSN is in LITELLM_DATABASE_URL."""
    base = pg_base_url()
    if base is None:
        pytest.skip("LiteLLM's database is PostgreSQL: needs COSTAGENT_TEST_POSTGRES_URL")
    schema = f"litellm_{uuid.uuid4().hex[:10]}"
    db = create_engine(normalise_url(base), isolation_level="AUTOCOMMIT")
    with db.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        for statement in DDL.format(schema=schema).split(";"):
            if statement.strip():
                conn.execute(text(statement))
    monkeypatch.setenv("LITELLM_DATABASE_URL", base)
    try:
        yield db, schema
    finally:
        with db.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        db.dispose()


def spend_log(request_id: str, start: datetime, **kw: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "request_id": request_id,
        "call_type": "acompletion",
        "startTime": start,
        "endTime": start + timedelta(milliseconds=850),
        "request_duration_ms": 850,
        "model": "gpt-4o",
        "custom_llm_provider": "openai",
        "prompt_tokens": 1200,
        "completion_tokens": 80,
        "metadata": {"user_api_key_team_alias": "support-bot", "usage_object": {}},
        "cache_key": "",
        "team_id": "team-1",
        "request_tags": ["app=support"],
        "status": "success",
        "spend": 0.0042,
    }
    row.update(kw)
    return row


def insert(db: Engine, schema: str, rows: list[dict[str, Any]]) -> None:
    with db.connect() as conn:
        for r in rows:
            r = {**r, "metadata": json.dumps(r["metadata"]),
                 "request_tags": json.dumps(r["request_tags"])}  # fmt: skip
            conn.execute(
                text(
                    f'INSERT INTO "{schema}"."LiteLLM_SpendLogs" (request_id, call_type, '
                    '"startTime", "endTime", request_duration_ms, model, custom_llm_provider, '
                    "prompt_tokens, completion_tokens, metadata, cache_key, team_id, "
                    "request_tags, status, spend) VALUES (:request_id, :call_type, :startTime, "
                    ":endTime, :request_duration_ms, :model, :custom_llm_provider, "
                    ":prompt_tokens, :completion_tokens, CAST(:metadata AS JSONB), :cache_key, "
                    ":team_id, CAST(:request_tags AS JSONB), :status, :spend)"
                ),
                r,
            )


def run(engine: Engine, schema: str, **extra: Any) -> SourceOutcome:
    raw = {"name": "gateway", "type": "litellm_db", "db_schema": schema, **extra}
    settings = load_settings(None).model_copy(update={"sources": [validate_source(raw)]})
    [outcome] = collect_all(engine, settings)
    return outcome


def stored(engine: Engine) -> list[tuple[Any, ...]]:
    return llm_request_rows(engine)


def test_spend_logs_are_stored_in_the_store_convention(
    engine: Engine, litellm: tuple[Engine, str]
) -> None:
    db, schema = litellm
    t = NOW - timedelta(hours=5)
    insert(db, schema, [
        spend_log("r1", t, metadata={"user_api_key_team_alias": "support-bot", "usage_object": {
            "prompt_tokens": 1200, "prompt_tokens_details": {"cached_tokens": 1024}}},
            cache_key="9f86d081884c7d65"),
        # an Anthropic call as older LiteLLM stored it: cache tokens outside prompt_tokens
        spend_log("r2", t + timedelta(minutes=1), model="claude-sonnet-4-20250514",
                  custom_llm_provider="anthropic", prompt_tokens=50, metadata={"usage_object": {
                      "cache_read_input_tokens": 3000, "cache_creation_input_tokens": 500}}),
        spend_log("r3", t + timedelta(minutes=2), call_type="aembedding",
                  model="text-embedding-3-small", prompt_tokens=30, completion_tokens=0),
        spend_log("r4", t + timedelta(minutes=3), status="failure"),
        spend_log("r5", t + timedelta(minutes=4), call_type="aimage_generation"),
    ])  # fmt: skip
    outcome = run(engine, schema)
    assert outcome.status == "ok", outcome.error
    assert stored(engine) == [
        (t, "openai", "gpt-4o", "chat", "support-bot", 1200, 80, 1024, "9f86d081884c7d65",
         850.0, "gateway"),
        (t + timedelta(minutes=1), "anthropic", "claude-sonnet-4-20250514", "chat", "team-1",
         3550, 80, 3000, None, 850.0, "gateway"),
        (t + timedelta(minutes=2), "openai", "text-embedding-3-small", "embeddings",
         "support-bot", 30, 0, None, None, 850.0, "gateway"),
    ]  # fmt: skip


def test_runs_are_incremental_and_add_nothing_twice(
    engine: Engine, litellm: tuple[Engine, str]
) -> None:
    db, schema = litellm
    t = NOW - timedelta(hours=3)
    insert(db, schema, [spend_log(f"a{i}", t + timedelta(seconds=i)) for i in range(250)])
    assert run(engine, schema, page_rows=100).status == "ok"  # three pages
    assert len(stored(engine)) == 250
    again = run(engine, schema, page_rows=100)
    assert again.status == "ok" and len(stored(engine)) == 250
    # a row committed late, inside the overlap, and a new one
    insert(db, schema, [spend_log("late", t + timedelta(seconds=100, milliseconds=500)),
                        spend_log("new", NOW)])  # fmt: skip
    later = run(engine, schema, page_rows=100)
    assert later.status == "ok" and len(stored(engine)) == 252


def test_app_from_a_request_tag(engine: Engine, litellm: tuple[Engine, str]) -> None:
    db, schema = litellm
    insert(db, schema, [spend_log("t1", NOW - timedelta(hours=1))])
    assert run(engine, schema, app_from=["tag:app="]).status == "ok"
    assert stored(engine)[0][4] == "support"


def test_a_bad_count_fails_the_run_naming_the_request(
    engine: Engine, litellm: tuple[Engine, str]
) -> None:
    db, schema = litellm
    bad = spend_log("bad", NOW - timedelta(hours=1), completion_tokens=-4)
    insert(db, schema, [spend_log("ok", NOW - timedelta(hours=2)), bad])
    outcome = run(engine, schema)
    assert outcome.status == "failed"
    assert "request 'bad': completion_tokens = -4" in (outcome.error or "")
    assert stored(engine) == []


def test_the_dsn_is_a_secret(
    engine: Engine, litellm: tuple[Engine, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, schema = litellm
    monkeypatch.setenv("LITELLM_DATABASE_URL", "postgresql://reader:hunter2secretpw@127.0.0.1:1/x")
    outcome = run(engine, schema)
    assert outcome.status == "failed" and "hunter2secretpw" not in (outcome.error or "")
    monkeypatch.delenv("LITELLM_DATABASE_URL")
    missing = run(engine, schema)
    assert missing.status == "failed" and "LITELLM_DATABASE_URL" in (missing.error or "")
