"""``litellm_db``: LiteLLM proxy's ``LiteLLM_SpendLogs`` table, read from its PostgreSQL.

The LiteLLM proxy writes one row per request to ``"LiteLLM_SpendLogs"`` (its Prisma schema:
``request_id, call_type, startTime, endTime, request_duration_ms, model, custom_llm_provider,
prompt_tokens, completion_tokens, metadata (JSON, with usage_object), cache_hit, cache_key,
team_id, request_tags, status, spend …``).  The source reads it through a read-only DSN
(``dsn_env``: a secret), incrementally by ``"startTime"``: each run reads from the newest start
it stored minus ``overlap_minutes`` (rows commit out of order), in pages of ``page_rows``, and
inserts the requests not seen before (the key is the source and ``request_id``), so re-running
changes nothing.  Failed requests (``status = 'failure'``) and call types that are neither a
completion nor an embedding (image, audio, batches, MCP tools) are skipped and counted.

Tokens, in the store's convention (``input_tokens`` every input token, cache reads part of it):
LiteLLM's ``prompt_tokens`` follows OpenAI's usage and includes cached tokens; the cache reads
are ``usage_object.prompt_tokens_details.cached_tokens`` (or ``cache_read_input_tokens``) and
the writes ``usage_object.cache_creation_input_tokens``.  Some LiteLLM versions stored
Anthropic's ``prompt_tokens`` *without* its cache reads and writes (LiteLLM #11364, #14849):
where reads + writes exceed ``prompt_tokens``, they cannot be part of it, and are added.

The app is the first of ``app_from`` that the row has: ``team_alias`` (the key's team alias in
``metadata``), ``team_id``, ``key_alias``, ``end_user`` or ``tag:<prefix>`` (the first request tag
starting with the prefix, e.g. ``tag:app=``).  ``cache_key`` — a hash of the request that
LiteLLM's cache computes — is the prompt hash when present.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from pydantic import Field, field_validator
from sqlalchemy import Engine, create_engine, text

from agent.secrets import MissingSecret, env_secret
from agent.settings import CoreSettings
from agent.store.bounds import EARLIEST, LATEST, checked_count
from agent.store.engine import normalise_url
from agent.store.state import get_state, put_state
from collectors.base import Collector, CollectorMeta, CollectResult, Day, SourceConfig
from collectors.load import load, table

log = logging.getLogger(__name__)
EMBEDDING_CALLS = frozenset({"embedding", "aembedding"})
CHAT_CALLS = frozenset(
    {"completion", "acompletion", "text_completion", "atext_completion", "responses",
     "aresponses", "anthropic_messages", "generate_content", "agenerate_content"}
)  # fmt: skip
APP_FIELDS = ("team_alias", "team_id", "key_alias", "end_user")


class LiteLlmDbConfig(SourceConfig):
    type: Literal["litellm_db"] = "litellm_db"
    dsn_env: str = Field(
        "LITELLM_DATABASE_URL", description="environment variable with a read-only DSN"
    )
    table: str = Field(
        "LiteLLM_SpendLogs", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="spend log table"
    )
    db_schema: str = Field(
        "public", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="schema holding the table"
    )
    initial_days: int = Field(30, ge=1, le=366, description="days the first run reads")
    overlap_minutes: int = Field(60, ge=0, le=1440, description="re-read before the last start")
    page_rows: int = Field(50_000, ge=100, le=1_000_000, description="rows per query page")
    app_from: list[str] = Field(
        default_factory=lambda: ["team_alias", "team_id", "key_alias"],
        description="where the app name comes from, first match wins",
    )

    @field_validator("app_from")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        for item in value:
            if item not in APP_FIELDS and not item.startswith("tag:"):
                raise ValueError(f"app_from: {item!r} is none of {', '.join(APP_FIELDS)}, tag:…")
        return value


class LiteLlmDbCollector(Collector[LiteLlmDbConfig]):
    meta = CollectorMeta(
        summary="LiteLLM proxy spend logs, read from its PostgreSQL, incremental by startTime",
    )

    def collect(
        self, engine: Engine, settings: CoreSettings, since: Day = None, until: Day = None
    ) -> CollectResult:
        c = self.config
        dsn = env_secret(c.dsn_env)
        if dsn is None:
            raise MissingSecret(
                f"source {c.name!r}: no database: set the environment variable {c.dsn_env} "
                "(a read-only DSN of LiteLLM's PostgreSQL)"
            )
        with engine.connect() as conn:
            state = get_state(conn, c.name, "window")
        lo = self._start(state, since)
        hi = datetime.combine(until + timedelta(days=1), datetime.min.time()) if until else None
        source = create_engine(normalise_url(dsn.get_secret_value()), pool_pre_ping=True)
        newest: str | None = state.get("newest") if state else None
        stored = read = skipped = queries = 0
        try:
            with source.connect() as db:
                db.exec_driver_sql("SET TRANSACTION READ ONLY")
                cursor: tuple[datetime, str] | None = None
                while True:
                    page = self._page(db, lo, hi, cursor)
                    queries += 1
                    read += len(page)
                    rows = [q for q in map(self._request, page) if q is not None]
                    skipped += len(page) - len(rows)
                    if rows:
                        top = max(q["ts"] for q in rows).isoformat()
                        newest = max(newest, top) if newest else top
                    # one transaction per page: memory stays bounded, and the keys make a
                    # re-read page (after a crash, or the overlap) add nothing
                    stored += self._store(engine, settings, rows, newest)
                    if len(page) < c.page_rows:
                        break
                    cursor = (page[-1]["startTime"], page[-1]["request_id"])
        finally:
            source.dispose()
        return CollectResult(
            rows=stored,
            api_requests=queries,
            details={"read": read, "skipped": skipped, "from": lo.isoformat()},
            window=(lo, hi),
        )

    def _store(
        self, engine: Engine, settings: CoreSettings, rows: list[dict[str, Any]], newest: str | None
    ) -> int:
        def remember(conn: Any) -> None:
            if newest:
                put_state(conn, self.config.name, "window", {"newest": newest})

        stats = load(
            engine,
            settings,
            self.config.name,
            [("llm_requests", table("llm_requests", rows))],
            before_commit=remember,
        )
        return stats.rows["llm_requests"]

    def _start(self, state: dict[str, Any] | None, since: date | None) -> datetime:
        if since is not None:
            return datetime.combine(since, datetime.min.time())
        if state and state.get("newest"):
            newest = datetime.fromisoformat(state["newest"])
            return newest - timedelta(minutes=self.config.overlap_minutes)
        today = datetime.combine(datetime.now(UTC).date(), datetime.min.time())  # LiteLLM: UTC
        return today - timedelta(days=self.config.initial_days - 1)

    def _page(
        self, db: Any, lo: datetime, hi: datetime | None, cursor: tuple[datetime, str] | None
    ) -> list[dict[str, Any]]:
        """One page in (startTime, request_id) order — LiteLLM's own index on both columns."""
        c = self.config
        where = ['"startTime" >= :lo']
        params: dict[str, Any] = {"lo": lo, "n": c.page_rows}
        if hi is not None:
            where.append('"startTime" < :hi')
            params["hi"] = hi
        if cursor is not None:
            where.append('("startTime", request_id) > (:cur_ts, :cur_id)')
            params["cur_ts"], params["cur_id"] = cursor
        sql = (
            'SELECT request_id, call_type, "startTime", "endTime", request_duration_ms, model, '
            "custom_llm_provider, prompt_tokens, completion_tokens, metadata, cache_key, team_id, "
            f'end_user, request_tags, status FROM "{c.db_schema}"."{c.table}" '
            f'WHERE {" AND ".join(where)} ORDER BY "startTime", request_id LIMIT :n'
        )
        return [dict(r._mapping) for r in db.execute(text(sql), params)]

    def _request(self, r: dict[str, Any]) -> dict[str, Any] | None:
        """An ``llm_requests`` row, or None for a row that is not a completed LLM call."""
        call = str(r.get("call_type") or "")
        if (r.get("status") or "success") == "failure":
            return None
        if call in EMBEDDING_CALLS:
            operation = "embeddings"
        elif call in CHAT_CALLS:
            operation = "chat"
        else:
            return None
        where = f"{self.config.table}, request {r['request_id']!r}"
        ts = r["startTime"]
        if ts.tzinfo is not None:
            ts = ts.replace(tzinfo=None) - (ts.utcoffset() or timedelta(0))
        if not EARLIEST <= ts < LATEST:
            raise ValueError(f"{where}: startTime {ts} outside 2000..2099")
        metadata = _object(r.get("metadata"))
        usage = _object(metadata.get("usage_object"))
        details = _object(usage.get("prompt_tokens_details"))
        prompt = _count(r.get("prompt_tokens"), where, "prompt_tokens") or 0
        reads = _count(details.get("cached_tokens"), where, "cached_tokens")
        if reads is None:
            reads = _count(usage.get("cache_read_input_tokens"), where, "cache_read_input_tokens")
        writes = _count(
            usage.get("cache_creation_input_tokens"), where, "cache_creation_input_tokens"
        )
        if (reads or 0) + (writes or 0) > prompt:  # prompt_tokens left the cache out
            prompt += (reads or 0) + (writes or 0)
        latency = r.get("request_duration_ms")
        if latency is None and r.get("endTime") is not None:
            latency = (r["endTime"] - r["startTime"]).total_seconds() * 1000
        key = hashlib.sha256(f"{self.config.name}\0{r['request_id']}".encode()).hexdigest()
        return {
            "x_request_key": f"litellm:{key[:60]}",
            "ts": ts,
            "provider": r.get("custom_llm_provider") or None,
            "model": str(r.get("model") or "unknown"),
            "operation": operation,
            "app": self._app(r, metadata),
            "input_tokens": prompt,
            "output_tokens": _count(r.get("completion_tokens"), where, "completion_tokens"),
            "cache_read_tokens": reads,
            "prompt_hash": r.get("cache_key") or None,
            "latency_ms": float(latency) if latency is not None else None,
            "batch": "batch" in call or None,
        }

    def _app(self, r: dict[str, Any], metadata: dict[str, Any]) -> str | None:
        for item in self.config.app_from:
            if item == "team_alias":
                value = metadata.get("user_api_key_team_alias")
            elif item == "key_alias":
                value = metadata.get("user_api_key_alias")
            elif item in ("team_id", "end_user"):
                value = r.get(item)
            else:
                prefix = item.removeprefix("tag:")
                tags = r.get("request_tags")
                tags = json.loads(tags) if isinstance(tags, str) else tags
                value = next(
                    (t[len(prefix) :] for t in tags or [] if str(t).startswith(prefix)), None
                )
            if value:
                return str(value)[:128]
        return None


def _object(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


def _count(value: Any, where: str, field: str) -> int | None:
    """A token count as LiteLLM stored it (None when absent); anything else fails the run."""
    if value is None:
        return None
    try:
        return checked_count(value)
    except ValueError as exc:
        raise ValueError(f"{where}: {field} = {value!r} is not {exc}") from None
