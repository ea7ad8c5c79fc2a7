"""Which sources have data in a window, and which source a finding's resource came from.

A finding a rule no longer produces is *fixed* only if the rule could see the resource: its
source delivered data in the analysis window.  When the source is silent there (the window is
past the end of a backfilled export, a collector is broken, a provider was disconnected), the
rule's silence says nothing, and the finding must keep the status it had — above all an
acknowledged one, which a person is acting on.  These questions are the store's: the engine asks
them once per analysis, in a few grouped queries (the daily rollup, not the line items).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from agent.store.schema import CostDaily, LlmRequest, LlmUsage, Resource, UsageMetric

#: the prefix of the LLM rules' overlap keys: ``llm-app:<app>``
LLM_APP = "llm-app:"
DEFAULT_PROJECT = "(default project)"  # the app of an admin-API bucket without project
NO_APP = "(no app)"  # the app of a logged request without one


def llm_app_key(app: str | None) -> str:
    """The resource an LLM app's findings are about (:func:`sources_of` reads it back)."""
    return f"{LLM_APP}{app or NO_APP}"


_CHUNK = 500


def live_sources(conn: Connection, start: datetime, end: datetime) -> frozenset[str]:
    """Sources with at least one cost, metric, request or usage row in [start, end)."""
    queries = [
        select(CostDaily.x_source).where(CostDaily.day >= start.date(), CostDaily.day < end.date()),
        select(UsageMetric.x_source).where(UsageMetric.ts >= start, UsageMetric.ts < end),
        select(LlmRequest.x_source).where(LlmRequest.ts >= start, LlmRequest.ts < end),
        select(LlmUsage.x_source).where(
            LlmUsage.bucket_start >= start, LlmUsage.bucket_start < end
        ),
    ]
    found: set[str] = set()
    for query in queries:
        found.update(conn.execute(query.distinct()).scalars())
    return frozenset(found)


def sources_of(conn: Connection, keys: Collection[str]) -> dict[str, set[str]]:
    """Every source that ever delivered a row of each key: a resource id (cost, metrics,
    inventory) or an LLM app (``llm-app:<app>``: request log, usage buckets).  A key no source
    knows maps to an empty set."""
    out: dict[str, set[str]] = defaultdict(set)
    resources = sorted(k for k in keys if not k.startswith(LLM_APP))
    apps = {k.removeprefix(LLM_APP): k for k in keys if k.startswith(LLM_APP)}
    for chunk in _chunks(resources):
        for query in (
            select(CostDaily.resource_id, CostDaily.x_source).where(
                CostDaily.resource_id.in_(chunk)
            ),
            select(UsageMetric.resource_id, UsageMetric.x_source).where(
                UsageMetric.resource_id.in_(chunk)
            ),
            select(Resource.resource_id, Resource.x_source).where(Resource.resource_id.in_(chunk)),
        ):
            _collect(conn, query, out, {r: r for r in chunk})
    for chunk in _chunks(sorted(apps)):
        names = {a: apps[a] for a in chunk}
        _collect(
            conn,
            select(LlmRequest.app, LlmRequest.x_source).where(LlmRequest.app.in_(chunk)),
            out,
            names,
        )
        _collect(
            conn,
            select(LlmUsage.project_id, LlmUsage.x_source).where(LlmUsage.project_id.in_(chunk)),
            out,
            names,
        )
        if NO_APP in names:  # log rows without an app
            query = select(LlmRequest.app, LlmRequest.x_source).where(LlmRequest.app.is_(None))
            _collect(conn, query, out, {None: names[NO_APP]})
        if DEFAULT_PROJECT in names:  # buckets without a project are the default project's
            query = select(LlmUsage.project_id, LlmUsage.x_source).where(
                LlmUsage.project_id.is_(None)
            )
            _collect(conn, query, out, {None: names[DEFAULT_PROJECT]})
    return {k: set(out.get(k, ())) for k in keys}


def _collect(
    conn: Connection,
    query: Any,  # a SELECT of (value, x_source)
    out: dict[str, set[str]],
    names: Mapping[Any, str],
) -> None:
    """Add each (value, source) row under the key ``names`` gives the value."""
    for value, source in conn.execute(query.distinct()):
        key = names.get(value)
        if key is not None:
            out[key].add(source)


def _chunks(items: list[str]) -> list[list[str]]:
    return [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]
