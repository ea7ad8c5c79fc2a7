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

Each row is mapped by :func:`collectors.llm.litellm_rows.spend_log_request` (tokens in the
store's convention, the app from ``app_from``), as the spend-log export files are.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from pydantic import Field, field_validator
from sqlalchemy import Engine, create_engine, text

from agent.secrets import MissingSecret, env_secret
from agent.settings import CoreSettings
from agent.store.engine import normalise_url
from agent.store.state import get_state, put_state
from collectors.base import Collector, CollectorMeta, CollectResult, Day, SourceConfig
from collectors.llm.litellm_rows import (
    APP_FIELDS,
    DEFAULT_APP_FROM,
    BadSpendLog,
    spend_log_request,
)
from collectors.load import load, table

log = logging.getLogger(__name__)


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
        default_factory=lambda: list(DEFAULT_APP_FROM),
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
        try:
            return spend_log_request(r, self.config.name, self.config.app_from)
        except BadSpendLog as exc:
            raise ValueError(f"{self.config.table}, request {r['request_id']!r}: {exc}") from None
