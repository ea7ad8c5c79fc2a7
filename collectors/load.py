"""Writing what a collector fetched: canonical Arrow tables → the loader, in one transaction.

API collectors (CloudWatch, inventories, Cost Explorer) produce tables in the canonical shapes
of :mod:`collectors.formats.canonical` and hand them here, so they share the file importer's
slice replacement, fast paths and atomicity without touching the loader.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pyarrow as pa
from sqlalchemy import Connection, Engine

from agent.store.loader import Loader, LoadStats
from agent.workloads import Classifier
from collectors.formats.base import Target
from collectors.formats.canonical import SCHEMAS, conform


def table(target: Target, rows: list[dict[str, Any]]) -> pa.Table:
    """A canonical table from row dicts (missing columns become nulls)."""
    schema = SCHEMAS[target]
    columns = {
        name: pa.array([r.get(name) for r in rows], type=schema.field(name).type)
        for name in schema.names
        if any(name in r for r in rows)
    }
    return conform(columns, schema, len(rows))


def load(
    engine: Engine,
    settings: Any,
    source: str,
    tables: Iterable[tuple[Target, pa.Table]],
    before_commit: Callable[[Connection], None] | None = None,
    replace_cost_slices: Iterable[str] = (),
    replace_usage_slices: Iterable[str] = (),
    cost_slices: pa.Array | None = None,
    slice_of: Callable[[pa.Table], pa.Array] | None = None,
) -> LoadStats:
    """Write every table in one transaction; ``before_commit`` saves collector state in it.

    ``replace_cost_slices`` (and ``replace_usage_slices``, of ``llm_usage``) are emptied even
    when no new row arrives for them (a day that
    Cost Explorer now reports as zero must not keep its old rows); ``cost_slices`` gives each
    cost row its slice when it is not the default (source, account, month); ``slice_of`` computes
    them per table instead, for a stream of pages (BigQuery results) that is never whole in memory.
    ``tables`` may be a generator: it is consumed inside the transaction.
    """
    with engine.connect() as conn, conn.begin():
        loader = Loader(conn, Classifier(settings.classification))
        loader.replace_slices(replace_cost_slices)
        loader.replace_usage_slices(replace_usage_slices)
        writers: dict[str, Callable[[pa.Table, str], None]] = {
            "cost": loader.write_cost,
            "metrics": loader.write_metrics,
            "llm_requests": loader.write_llm_requests,
            "llm_usage": loader.write_llm_usage,
            "resources": loader.write_resources,
        }
        for target, tbl in tables:
            if target == "cost" and slice_of is not None:
                loader.write_cost(tbl, source, slices=slice_of(tbl))
            elif target == "cost" and cost_slices is not None:
                loader.write_cost(tbl, source, slices=cost_slices)
            else:
                writers[target](tbl, source)
        stats = loader.finish()
        if before_commit is not None:
            before_commit(conn)
    return stats
