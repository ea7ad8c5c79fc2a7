"""``gcp_billing_export``: the Cloud Billing export in BigQuery, pushed down and streamed.

The export table holds every line item of a billing account: millions of rows a month, billed by
bytes scanned.  So the work is done where the data is:

* **Only the needed columns** are selected (the table's schema is read first, so the standard
  table ``gcp_billing_export_v1_*``, the detailed ``gcp_billing_export_resource_v1_*`` and
  older schemas without ``cost_at_list`` / ``transaction_type`` all work).
* **Partition pruning**: the tables are day-partitioned on ``_PARTITIONTIME``, and a row lands in
  a partition no earlier than its usage (exports only run later), so ``_PARTITIONTIME >=
  start − partition_slack_days`` bounds the scan from below; there is no upper bound because a
  restated row for an old day lands in a *new* partition.  Column-partitioned copies are pruned
  on their partitioning column instead.
* **Hourly aggregation** per (project, service, SKU, region, resource, labels, cost type…):
  several export rows for one hour (credits, restatement rows) become one.  Labels are grouped as
  a canonical JSON text (sorted by key), so ``{a, b}`` and ``{b, a}`` are one group.
  ``granularity = "raw"`` keeps every export row.
* **Money stays exact**: the export's ``cost`` and credit amounts are FLOAT64; each is cast to
  NUMERIC (9 decimals, BigQuery's exact type) *before* summing, and the net cost
  ``cost + Σ credits.amount`` is computed in SQL.  The query returns NUMERIC, which arrives as
  decimal strings, never through a float sum.
* **Streaming**: result pages become Arrow batches, mapped by the same
  :class:`~collectors.formats.gcp_billing.GcpBillingReader` as exported files and written to the
  loader page by page, inside one transaction per month: memory stays bounded and a failure
  leaves the previous state.
* **Trailing window**: Google restates recent days for up to a few days, so every run re-pulls
  the last ``trailing_days`` (default 3) and replaces those **day slices**
  (``source:YYYY-MM-DD``, UTC) whole: a restated day replaces the old one, never doubles.  The
  first run backfills from ``backfill_start`` (default: the first day of the previous month).
  A gap since the last run is filled too.
* **Bytes are money**: each query is dry-run first (free) and refused, before it costs
  anything, when it would scan more than ``maximum_bytes_billed``; the real job carries the same
  limit so BigQuery enforces it too.  Bytes processed / billed and their on-demand price are
  stored in the run record (``collection_runs.details`` / ``api_cost``).
* ``focus_view`` reads Google's FOCUS export (or any FOCUS view) instead, through the FOCUS
  reader, with the same window and guard.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator
from sqlalchemy import Connection, Engine

from agent.settings import CoreSettings
from agent.store.state import get_state, put_state
from collectors.base import Collector, CollectorMeta, CollectResult, Day
from collectors.formats.base import FormatReader, Target
from collectors.formats.common import Where
from collectors.formats.focus import FocusReader
from collectors.formats.gcp_billing import GcpBillingReader
from collectors.gcp.session import GcpContext, GcpSourceConfig
from collectors.load import load
from collectors.window import days, months

log = logging.getLogger(__name__)
TIB = Decimal(2**40)
# BigQuery's exact type, spelled with its precision: a bare NUMERIC is (38, 9) on BigQuery but
# (18, 3) on DuckDB-backed emulators, and the explicit form means the same on both.
NUMERIC = "NUMERIC(38, 9)"
_TABLE_RE = r"^[A-Za-z0-9_.:-]+\.[A-Za-z0-9_]+\.[A-Za-z0-9_$*-]+$"


class BytesLimitExceeded(RuntimeError):
    """A query would scan more than ``maximum_bytes_billed``."""


class GcpBillingExportConfig(GcpSourceConfig):
    type: Literal["gcp_billing_export"] = "gcp_billing_export"
    table: str | None = Field(
        None,
        pattern=_TABLE_RE,
        description="the export table, project.dataset.gcp_billing_export_resource_v1_… "
        "(or give focus_view instead)",
        examples=[
            "acme-billing.billing_export.gcp_billing_export_resource_v1_01A2B3_C4D5E6_F7A8B9"
        ],
    )
    focus_view: str | None = Field(
        None,
        pattern=_TABLE_RE,
        description="instead of table: Google's FOCUS view, project.dataset.view",
        examples=["acme-billing.billing_export.focus_v1"],
    )
    granularity: Literal["hourly", "raw"] = Field(
        "hourly", description="hourly aggregates in BigQuery; raw keeps every export row"
    )
    trailing_days: int = Field(3, ge=1, le=62, description="days re-pulled on every run")
    backfill_start: date | None = Field(
        None,
        description="first day of the first run; default: first day of last month",
        examples=[date(2026, 10, 1)],
    )
    partition_slack_days: int = Field(
        1, ge=0, le=31, description="partitions read before the window start"
    )
    maximum_bytes_billed: int | None = Field(
        50 * 2**30, ge=1, description="refuse a query scanning more (default 50 GiB)"
    )
    price_per_tib: Decimal = Field(Decimal("6.25"), ge=0, description="on-demand query price")
    location: str | None = Field(None, description="dataset location (US, EU, …)", examples=["US"])
    page_size: int = Field(20_000, ge=100, le=1_000_000, description="rows per result page")

    @model_validator(mode="after")
    def _one_table(self) -> GcpBillingExportConfig:
        if (self.table is None) == (self.focus_view is None):
            raise ValueError("give exactly one of table (the billing export table) or focus_view")
        return self

    @property
    def relation(self) -> str:
        return str(self.table or self.focus_view)


@dataclass(frozen=True)
class Query:
    """One window's SQL, its parameters and the reader for its rows."""

    sql: str
    start: datetime
    end: datetime
    reader: FormatReader


class GcpBillingExportCollector(Collector[GcpBillingExportConfig]):
    meta = CollectorMeta(summary="GCP billing export in BigQuery, aggregated where it lives")

    def collect(
        self, engine: Engine, settings: CoreSettings, since: Day = None, until: Day = None
    ) -> CollectResult:
        ctx = GcpContext(self.config)
        client = self._client(ctx)
        today = datetime.now(UTC).date()
        with engine.connect() as conn:
            state = get_state(conn, self.config.name, "window")
        start, end = window(self.config, today, state, since, until)
        table = client.get_table(self.config.relation, retry=ctx.retry())
        ctx.count("bigquery")
        build = _focus_query if self.config.focus_view else _export_query
        stats = _Bytes()
        slices: list[str] = []
        rows = 0
        for lo, hi in months(start, end):
            query = build(self.config, table, lo, hi)
            result = self._run(ctx, client, query, stats)
            day_slices = [self._slice(d) for d in days(lo, hi)]

            def remember(conn: Connection, hi: date = hi) -> None:
                put_state(conn, self.config.name, "window", {"end": hi.isoformat()})

            loaded = load(
                engine,
                settings,
                self.config.name,
                self._tables(ctx, result, query),
                before_commit=remember,
                replace_cost_slices=day_slices,
                slice_of=self._slices_of,
            )
            slices.extend(day_slices)
            rows += loaded.rows["cost"]
        return CollectResult(
            slices=tuple(slices),
            rows=rows,
            api_requests=ctx.total_requests,
            api_cost=str(stats.cost(self.config.price_per_tib)),
            details={
                "requests": dict(ctx.requests),
                "bytes_processed": stats.processed,
                "bytes_billed": stats.billed,
                "jobs": stats.jobs,
                "relation": self.config.relation,
                "granularity": "raw" if self.config.focus_view else self.config.granularity,
            },
            window=(
                datetime.combine(start, datetime.min.time()),
                datetime.combine(end, datetime.min.time()),
            ),
        )

    # -- BigQuery --------------------------------------------------------------------------------
    def _client(self, ctx: GcpContext) -> Any:
        from google.cloud import bigquery

        return bigquery.Client(
            project=ctx.project or _project_of(self.config.relation),
            credentials=ctx.credentials(),
            client_options=ctx.client_options("bigquery"),
            location=self.config.location,
        )

    def _run(self, ctx: GcpContext, client: Any, query: Query, stats: _Bytes) -> Any:
        """Dry-run (free) against the guard, then run with the same limit."""
        from google.cloud import bigquery

        params = [
            bigquery.ScalarQueryParameter("start", "TIMESTAMP", query.start),
            bigquery.ScalarQueryParameter("end", "TIMESTAMP", query.end),
        ]
        limit = self.config.maximum_bytes_billed
        dry = client.query(
            query.sql,
            job_config=bigquery.QueryJobConfig(
                dry_run=True, use_query_cache=False, query_parameters=params
            ),
            retry=ctx.retry(),
        )
        ctx.count("bigquery")
        estimate = int(dry.total_bytes_processed or 0)
        if limit is not None and estimate > limit:
            raise BytesLimitExceeded(
                f"the query for {query.start.date()}..{query.end.date()} would scan "
                f"{_gib(estimate)} of {self.config.relation}, above maximum_bytes_billed "
                f"({_gib(limit)}); raise maximum_bytes_billed or narrow --since"
            )
        job = client.query(
            query.sql,
            job_config=bigquery.QueryJobConfig(
                query_parameters=params,
                maximum_bytes_billed=limit,
                labels={"costagent-source": _label(self.config.name)},
            ),
            retry=ctx.retry(),
        )
        ctx.count("bigquery")
        rows = job.result(page_size=self.config.page_size, retry=ctx.retry())
        stats.add(job, estimate)
        return rows

    def _tables(
        self, ctx: GcpContext, rows: Any, query: Query
    ) -> Iterator[tuple[Target, pa.Table]]:
        """Result pages as canonical cost tables, one page at a time (fetched as consumed)."""
        offset = 0
        where_name = f"bigquery:{self.config.relation}"
        for batch in rows.to_arrow_iterable():
            ctx.count("bigquery")
            if batch.num_rows == 0:
                continue
            yield "cost", query.reader.convert(batch, Where(where_name, offset))
            offset += batch.num_rows

    # -- slices ----------------------------------------------------------------------------------
    def _slice(self, day: date) -> str:
        return f"{self.config.name}:{day.isoformat()}"

    def _slices_of(self, tbl: pa.Table) -> pa.Array:
        day = pc.strftime(tbl.column("charge_period_start"), format="%Y-%m-%d")
        return pc.binary_join_element_wise(f"{self.config.name}:", day, "")


@dataclass
class _Bytes:
    """What the run's queries scanned and were billed for."""

    processed: int = 0
    billed: int = 0
    jobs: list[str] = field(default_factory=list)

    def add(self, job: Any, estimate: int) -> None:
        self.processed += int(job.total_bytes_processed or estimate)
        self.billed += int(job.total_bytes_billed or job.total_bytes_processed or estimate)
        self.jobs.append(str(job.job_id))

    def cost(self, per_tib: Decimal) -> Decimal:
        return (Decimal(self.billed) / TIB * per_tib).quantize(Decimal("0.000001"))


# -- the window ----------------------------------------------------------------------------------
def window(
    config: GcpBillingExportConfig,
    today: date,
    state: dict[str, Any] | None,
    since: date | None,
    until: date | None,
) -> tuple[date, date]:
    """[start, end) in days: trailing days, a gap since the last run, or the first backfill."""
    end = (until + timedelta(days=1)) if until else today + timedelta(days=1)
    trailing = today - timedelta(days=config.trailing_days - 1)
    if since:
        start = since
    elif state is None:
        first = config.backfill_start or (today.replace(day=1) - timedelta(days=1)).replace(day=1)
        start = min(first, trailing)
    else:
        start = min(trailing, date.fromisoformat(str(state["end"])))
    return start, max(end, start + timedelta(days=1))


# -- SQL -----------------------------------------------------------------------------------------
def _columns(table: Any) -> dict[str, Any]:
    """Top-level field name → SchemaField (with ``fields`` for records)."""
    return {f.name: f for f in table.schema}


def _has(cols: dict[str, Any], top: str, sub: str | None = None) -> bool:
    if top not in cols:
        return False
    return sub is None or any(f.name == sub for f in cols[top].fields)


def _partition_filter(config: GcpBillingExportConfig, table: Any, column: str) -> str:
    """A lower bound on the partitioning column, so BigQuery prunes old partitions."""
    tp = getattr(table, "time_partitioning", None)
    slack = config.partition_slack_days
    if tp is None:
        return ""
    field = tp.field or "_PARTITIONTIME"
    if field == column:
        return ""  # the window's own bound prunes
    return f"\n  AND {field} >= TIMESTAMP_SUB(@start, INTERVAL {slack + 1} DAY)"


def _select(
    config: GcpBillingExportConfig, table: Any, columns: list[str], time_column: str
) -> str:
    """``SELECT columns FROM relation`` over the window [@start, @end), partitions pruned."""
    return (
        "SELECT\n  "
        + ",\n  ".join(columns)
        + f"\nFROM `{config.relation}`"
        + f"\nWHERE {time_column} >= @start AND {time_column} < @end"
        + _partition_filter(config, table, time_column)
    )


def _export_query(config: GcpBillingExportConfig, table: Any, lo: date, hi: date) -> Query:
    """The pushed-down query over a standard or detailed export table."""
    cols = _columns(table)
    hourly = config.granularity == "hourly"
    keys: list[tuple[str, str]] = [("billing_account_id", "billing_account_id")]

    def key(top: str, sub: str | None = None, alias: str | None = None) -> None:
        if _has(cols, top, sub):
            expr = f"{top}.{sub}" if sub else top
            keys.append((alias or expr.replace(".", "_"), expr))

    key("project", "id")
    key("project", "name")
    key("service", "id")
    key("service", "description")
    key("sku", "id")
    key("sku", "description")
    key("location", "location")
    key("location", "region")
    key("resource", "name")
    key("resource", "global_name")
    key("cost_type")
    key("currency")
    key("invoice", "month")
    key("usage", "unit")
    key("usage", "pricing_unit")
    key("transaction_type")
    key("seller_name")
    start = "TIMESTAMP_TRUNC(usage_start_time, HOUR)" if hourly else "usage_start_time"
    keys.append(("usage_start_time", start))
    if _has(cols, "labels"):
        keys.append(
            (
                "labels",
                "TO_JSON_STRING(ARRAY(SELECT AS STRUCT l.key, l.value "
                "FROM UNNEST(labels) l ORDER BY l.key, l.value))",
            )
        )
    credits = (
        f"(SELECT IFNULL(SUM(CAST(c.amount AS {NUMERIC})), 0) FROM UNNEST(credits) c)"
        if _has(cols, "credits")
        else f"CAST(0 AS {NUMERIC})"
    )
    cud = (
        "EXISTS(SELECT 1 FROM UNNEST(credits) c "
        "WHERE STARTS_WITH(IFNULL(c.type, ''), 'COMMITTED_USAGE_DISCOUNT'))"
        if _has(cols, "credits")
        else "FALSE"
    )
    cost = f"CAST(cost AS {NUMERIC})"
    values: list[tuple[str, str, str]] = [  # alias, per-row expression, aggregate
        ("usage_end_time", "usage_end_time", "MAX"),
        ("cost", cost, "SUM"),
        ("credits_total", credits, "SUM"),
        ("net_cost", f"{cost} + {credits}", "SUM"),
        ("has_cud_credit", cud, "LOGICAL_OR"),
    ]
    if _has(cols, "cost_at_list"):
        values.append(("cost_at_list", f"CAST(cost_at_list AS {NUMERIC})", "SUM"))
    if _has(cols, "usage", "amount"):
        values.append(("usage_amount", "usage.amount", "SUM"))
    if _has(cols, "usage", "amount_in_pricing_units"):
        values.append(("usage_amount_in_pricing_units", "usage.amount_in_pricing_units", "SUM"))
    select = [f"{expr} AS {alias}" for alias, expr in keys]
    if hourly:
        select += [f"{agg}({expr}) AS {alias}" for alias, expr, agg in values]
    else:
        select += [f"{expr} AS {alias}" for alias, expr, _ in values]
    sql = _select(config, table, select, "usage_start_time")
    if hourly:
        sql += "\nGROUP BY " + ", ".join(str(i + 1) for i in range(len(keys)))
    return Query(sql, _utc(lo), _utc(hi), GcpBillingReader())


_FOCUS_MONEY = (
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "ContractedCost",
    "ListUnitPrice",
    "ContractedUnitPrice",
)


def _focus_query(config: GcpBillingExportConfig, table: Any, lo: date, hi: date) -> Query:
    """FOCUS rows are already one per charge period: select, cast money, filter the window."""
    select = []
    for f in table.schema:
        if f.field_type in ("RECORD", "STRUCT") or f.mode == "REPEATED":
            select.append(f"TO_JSON_STRING({f.name}) AS {f.name}")
        elif f.name in _FOCUS_MONEY and f.field_type in ("FLOAT", "FLOAT64"):
            select.append(f"CAST({f.name} AS {NUMERIC}) AS {f.name}")
        else:
            select.append(f.name)
    sql = _select(config, table, select, "ChargePeriodStart")
    return Query(sql, _utc(lo), _utc(hi), FocusReader())


# -- small helpers -------------------------------------------------------------------------------
def _utc(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def _project_of(relation: str) -> str | None:
    parts = relation.split(".")
    return parts[0] if len(parts) == 3 else None


def _label(name: str) -> str:
    """BigQuery label values: lowercase letters, digits, ``_`` and ``-``, ≤ 63 characters."""
    return "".join(c if c.isalnum() or c in "_-" else "-" for c in name.lower())[:63]


def _gib(n: int) -> str:
    return f"{n / 2**30:,.2f} GiB"
