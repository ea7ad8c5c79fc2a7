"""The store's tables (DESIGN.md §3).

Cost rows use FOCUS 1.2 column names in snake_case so any FinOps user can query them; columns
the project adds start with ``x_``.  Times are naive UTC everywhere (SQLite has no time zones and
one convention for both databases keeps comparisons right).  Money is :class:`Money`.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine

from agent.store.money import Money

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}

Json = JSON().with_variant(JSONB(), "postgresql")


def Name(length: int) -> TypeEngine[str]:
    """Text of up to ``length`` characters on SQLite, where the length is documentation only,
    and ``TEXT`` on PostgreSQL: a provider value one character longer than we guessed (a SKU
    description, a region name) must not fail a load.  Identifiers that index keys hold are
    bounded at import instead (:mod:`agent.store.bounds`)."""
    return String(length).with_variant(Text(), "postgresql")


Id = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class CostLineItem(Base):
    """One provider line item (or one pre-aggregated row, e.g. from Cost Explorer)."""

    __tablename__ = "cost_line_items"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    x_source: Mapped[str] = mapped_column(Name(128))
    x_slice: Mapped[str] = mapped_column(Name(256))
    x_line_key: Mapped[str | None] = mapped_column(Name(256))
    provider_name: Mapped[str | None] = mapped_column(Name(64))
    publisher_name: Mapped[str | None] = mapped_column(Name(128))
    invoice_issuer_name: Mapped[str | None] = mapped_column(Name(128))
    billing_account_id: Mapped[str | None] = mapped_column(Name(128))
    billing_account_name: Mapped[str | None] = mapped_column(Name(256))
    sub_account_id: Mapped[str | None] = mapped_column(Name(128))
    sub_account_name: Mapped[str | None] = mapped_column(Name(256))
    billing_period_start: Mapped[datetime | None] = mapped_column(DateTime())
    billing_period_end: Mapped[datetime | None] = mapped_column(DateTime())
    charge_period_start: Mapped[datetime | None] = mapped_column(DateTime())
    charge_period_end: Mapped[datetime | None] = mapped_column(DateTime())
    charge_category: Mapped[str | None] = mapped_column(Name(32))
    charge_class: Mapped[str | None] = mapped_column(Name(32))
    charge_description: Mapped[str | None] = mapped_column(Text)
    charge_frequency: Mapped[str | None] = mapped_column(Name(32))
    billed_cost: Mapped[Decimal | None] = mapped_column(Money)
    effective_cost: Mapped[Decimal | None] = mapped_column(Money)
    list_cost: Mapped[Decimal | None] = mapped_column(Money)
    contracted_cost: Mapped[Decimal | None] = mapped_column(Money)
    list_unit_price: Mapped[Decimal | None] = mapped_column(Money)
    contracted_unit_price: Mapped[Decimal | None] = mapped_column(Money)
    billing_currency: Mapped[str | None] = mapped_column(String(3))
    service_name: Mapped[str | None] = mapped_column(Name(256))
    service_category: Mapped[str | None] = mapped_column(Name(64))
    service_subcategory: Mapped[str | None] = mapped_column(Name(128))
    sku_id: Mapped[str | None] = mapped_column(Name(256))
    sku_price_id: Mapped[str | None] = mapped_column(Name(256))
    sku_meter: Mapped[str | None] = mapped_column(Name(256))
    region_id: Mapped[str | None] = mapped_column(Name(64))
    region_name: Mapped[str | None] = mapped_column(Name(128))
    availability_zone: Mapped[str | None] = mapped_column(Name(64))
    resource_id: Mapped[str | None] = mapped_column(Text)
    resource_name: Mapped[str | None] = mapped_column(Text)
    resource_type: Mapped[str | None] = mapped_column(Name(128))
    pricing_quantity: Mapped[float | None] = mapped_column(Float)
    pricing_unit: Mapped[str | None] = mapped_column(Name(64))
    consumed_quantity: Mapped[float | None] = mapped_column(Float)
    consumed_unit: Mapped[str | None] = mapped_column(Name(64))
    pricing_category: Mapped[str | None] = mapped_column(Name(32))
    commitment_discount_id: Mapped[str | None] = mapped_column(Text)
    commitment_discount_name: Mapped[str | None] = mapped_column(Text)
    commitment_discount_category: Mapped[str | None] = mapped_column(Name(32))
    commitment_discount_type: Mapped[str | None] = mapped_column(Name(64))
    commitment_discount_status: Mapped[str | None] = mapped_column(Name(32))
    capacity_reservation_id: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[dict[str, Any] | None] = mapped_column(Json)
    x_usage_type: Mapped[str | None] = mapped_column(Name(256))
    x_operation: Mapped[str | None] = mapped_column(Name(256))
    x_workload: Mapped[str] = mapped_column(Name(16))
    x_model: Mapped[str | None] = mapped_column(Name(128))
    x_raw: Mapped[dict[str, Any] | None] = mapped_column(Json)
    # FOCUS 1.2 (migration 0007)
    invoice_id: Mapped[str | None] = mapped_column(Text)
    billing_account_type: Mapped[str | None] = mapped_column(Name(64))
    sub_account_type: Mapped[str | None] = mapped_column(Name(64))
    pricing_currency: Mapped[str | None] = mapped_column(String(3))
    pricing_currency_contracted_unit_price: Mapped[Decimal | None] = mapped_column(Money)
    pricing_currency_effective_cost: Mapped[Decimal | None] = mapped_column(Money)
    pricing_currency_list_unit_price: Mapped[Decimal | None] = mapped_column(Money)
    sku_price_details: Mapped[dict[str, Any] | None] = mapped_column(Json)
    commitment_discount_quantity: Mapped[float | None] = mapped_column(Float)
    commitment_discount_unit: Mapped[str | None] = mapped_column(Name(64))
    capacity_reservation_status: Mapped[str | None] = mapped_column(Name(32))
    # FOCUS 1.3: who sold the service / whose platform hosts it; split cost allocation
    service_provider_name: Mapped[str | None] = mapped_column(Name(64))
    host_provider_name: Mapped[str | None] = mapped_column(Name(64))
    allocated_method_id: Mapped[str | None] = mapped_column(Name(128))
    allocated_method_details: Mapped[dict[str, Any] | None] = mapped_column(Json)
    allocated_resource_id: Mapped[str | None] = mapped_column(Text)
    allocated_resource_name: Mapped[str | None] = mapped_column(Text)
    allocated_tags: Mapped[dict[str, Any] | None] = mapped_column(Json)
    contract_applied: Mapped[dict[str, Any] | None] = mapped_column(Json)
    # A split row's share of its parent's cost (CUR 2.0 split cost allocation: EKS pods, ECS
    # tasks).  Apart from billed/effective cost, which stay as AWS bills them (0 on split rows:
    # the node's own line carries the cost), so totals never count a node twice.
    x_allocated_cost: Mapped[Decimal | None] = mapped_column(Money)
    x_allocated_unused_cost: Mapped[Decimal | None] = mapped_column(Money)

    __table_args__ = (
        Index(None, "x_slice"),
        Index(None, "charge_period_start"),
    )


class UsageMetric(Base):
    """A time series point: CloudWatch / Cloud Monitoring datapoints or imported metrics."""

    __tablename__ = "usage_metrics"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    resource_id: Mapped[str] = mapped_column(Text)
    metric: Mapped[str] = mapped_column(Name(128))
    ts: Mapped[datetime] = mapped_column(DateTime())
    period_s: Mapped[int] = mapped_column(Integer)
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str | None] = mapped_column(Name(32))
    stat: Mapped[str] = mapped_column(Name(32))
    x_source: Mapped[str] = mapped_column(Name(128))
    dimensions: Mapped[dict[str, Any] | None] = mapped_column(Json)

    __table_args__ = (
        UniqueConstraint("resource_id", "metric", "stat", "ts", "period_s"),
        Index(None, "x_source", "ts"),  # `status` freshness: newest point per source
    )


class Resource(Base):
    """The latest inventory snapshot of one resource, with when it was first and last seen."""

    __tablename__ = "resources"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    resource_id: Mapped[str] = mapped_column(Text, unique=True)
    provider_name: Mapped[str | None] = mapped_column(Name(64))
    resource_type: Mapped[str] = mapped_column(Name(64))
    region_id: Mapped[str | None] = mapped_column(Name(64))
    attributes: Mapped[dict[str, Any] | None] = mapped_column(Json)
    first_seen: Mapped[datetime] = mapped_column(DateTime())
    last_seen: Mapped[datetime] = mapped_column(DateTime())
    x_source: Mapped[str] = mapped_column(Name(128))


class LlmRequest(Base):
    """One LLM or embedding call from a gateway log: what billing data cannot show."""

    __tablename__ = "llm_requests"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    x_request_key: Mapped[str] = mapped_column(Name(80), unique=True)
    ts: Mapped[datetime] = mapped_column(DateTime(), index=True)
    provider: Mapped[str | None] = mapped_column(Name(64))
    model: Mapped[str] = mapped_column(Name(128))
    operation: Mapped[str] = mapped_column(Name(16))
    app: Mapped[str | None] = mapped_column(Name(128))
    input_tokens: Mapped[int | None] = mapped_column(BigInteger)
    output_tokens: Mapped[int | None] = mapped_column(BigInteger)
    cache_read_tokens: Mapped[int | None] = mapped_column(BigInteger)
    prompt_hash: Mapped[str | None] = mapped_column(Name(128))
    latency_ms: Mapped[float | None] = mapped_column(Float)
    batch: Mapped[bool | None] = mapped_column(Boolean)
    x_source: Mapped[str] = mapped_column(Name(128))

    __table_args__ = (Index(None, "x_source", "ts"),)  # `status` freshness per source


class LlmUsage(Base):
    """LLM usage as a provider's admin API reports it: one row per time bucket and group.

    OpenAI's and Anthropic's usage APIs give totals per bucket (an hour or a day) × model ×
    project / workspace × API key × batch / service tier, not single requests.  Token counts
    follow the store's one convention (the same as ``llm_requests``): ``input_tokens`` is every
    input token — uncached, read from the cache and written to it — and ``cache_read_tokens`` /
    ``cache_write_tokens`` are parts of it.  ``requests`` is NULL where the provider does not
    count them (Anthropic).  ``x_slice`` (source and UTC day) is replaced as a whole, so a
    bucket the API restates replaces the old one.
    """

    __tablename__ = "llm_usage"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    x_source: Mapped[str] = mapped_column(Name(128))
    x_slice: Mapped[str] = mapped_column(Name(256), index=True)
    bucket_start: Mapped[datetime] = mapped_column(DateTime())
    bucket_end: Mapped[datetime] = mapped_column(DateTime())
    provider: Mapped[str] = mapped_column(Name(64))
    operation: Mapped[str] = mapped_column(Name(16))
    model: Mapped[str | None] = mapped_column(Name(256))
    project_id: Mapped[str | None] = mapped_column(Name(256))
    api_key_id: Mapped[str | None] = mapped_column(Name(256))
    batch: Mapped[bool | None] = mapped_column(Boolean)
    service_tier: Mapped[str | None] = mapped_column(Name(64))
    requests: Mapped[int | None] = mapped_column(BigInteger)
    input_tokens: Mapped[int] = mapped_column(BigInteger)
    cache_read_tokens: Mapped[int | None] = mapped_column(BigInteger)
    cache_write_tokens: Mapped[int | None] = mapped_column(BigInteger)
    output_tokens: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (Index(None, "x_source", "bucket_start"),)  # `status` freshness


class Finding(Base):
    """A savings finding; its fingerprint (rule id + subject) is stable across runs."""

    __tablename__ = "findings"

    fingerprint: Mapped[str] = mapped_column(Name(512), primary_key=True)
    rule_id: Mapped[str] = mapped_column(Name(64), index=True)
    subject: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Name(16), index=True)
    status_until: Mapped[datetime | None] = mapped_column(DateTime())
    status_reason: Mapped[str | None] = mapped_column(Text)
    first_seen: Mapped[datetime] = mapped_column(DateTime())
    last_seen: Mapped[datetime] = mapped_column(DateTime())
    monthly_savings: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str | None] = mapped_column(String(3))
    confidence: Mapped[str] = mapped_column(Name(8))
    title: Mapped[str] = mapped_column(Text)
    recommendation: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any] | None] = mapped_column(Json)
    # the resource the savings come from: a total counts each once (default: the subject)
    resource_id: Mapped[str | None] = mapped_column(Text)


class CollectionRun(Base):
    """One run of one collector or import: what it replaced, how much, and how it ended."""

    __tablename__ = "collection_runs"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(Name(128), index=True)
    kind: Mapped[str] = mapped_column(Name(64))
    window_start: Mapped[datetime | None] = mapped_column(DateTime())
    window_end: Mapped[datetime | None] = mapped_column(DateTime())
    slices: Mapped[list[str] | None] = mapped_column(Json)
    rows: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(Name(16))
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime())
    api_requests: Mapped[int] = mapped_column(Integer, default=0)
    api_cost: Mapped[Decimal | None] = mapped_column(Money)
    details: Mapped[dict[str, Any] | None] = mapped_column(Json)


COST_COLUMNS: tuple[str, ...] = tuple(
    c.name for c in CostLineItem.__table__.columns if c.name != "id"
)


class SourceState(Base):
    """What a collector remembers between runs (S3 ETags per period, last metric timestamp…).

    Written in the same transaction as the data it describes, so a crash can never record a
    period as loaded when its rows were rolled back.
    """

    __tablename__ = "source_state"
    __table_args__ = (UniqueConstraint("source", "key", name="uq_source_state"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(Name(128))
    key: Mapped[str] = mapped_column(Name(512))
    value: Mapped[dict[str, Any] | None] = mapped_column(Json)
    updated_at: Mapped[datetime] = mapped_column(DateTime())


class SkuPrice(Base):
    """One tiered list-price rate of one provider SKU (the Cloud Billing Catalog for GCP).

    Rules price what-ifs ("this A100 on Spot", "this endpoint one size smaller") with the
    provider's own list prices instead of guesses; see :mod:`agent.store.prices`.  A source's
    rows are replaced as a whole, in one transaction, on every run.
    """

    __tablename__ = "sku_prices"
    __table_args__ = (UniqueConstraint("provider_name", "sku_id", "tier_start"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    provider_name: Mapped[str] = mapped_column(Name(64))
    x_source: Mapped[str] = mapped_column(Name(128), index=True)
    service_id: Mapped[str | None] = mapped_column(Name(64))
    service_name: Mapped[str | None] = mapped_column(Name(256))
    sku_id: Mapped[str] = mapped_column(Name(64), index=True)
    description: Mapped[str] = mapped_column(Text)
    resource_family: Mapped[str | None] = mapped_column(Name(64))
    resource_group: Mapped[str | None] = mapped_column(Name(64))
    usage_type: Mapped[str | None] = mapped_column(Name(64))
    regions: Mapped[list[str] | None] = mapped_column(Json)
    pricing_unit: Mapped[str | None] = mapped_column(Name(64))
    pricing_unit_description: Mapped[str | None] = mapped_column(Name(256))
    currency: Mapped[str] = mapped_column(String(3))
    tier_start: Mapped[Decimal] = mapped_column(Money)
    unit_price: Mapped[Decimal] = mapped_column(Money)
    effective_time: Mapped[datetime | None] = mapped_column(DateTime())
    fetched_at: Mapped[datetime] = mapped_column(DateTime())


class JobRun(Base):
    """One run of one scheduled daemon job (collect, analyze, report): when, how it ended.

    ``costagent status`` reads it so a job that keeps failing on an unattended ops host is
    visible without reading the daemon's logs.
    """

    __tablename__ = "job_runs"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(Name(64), index=True)
    status: Mapped[str] = mapped_column(Name(16))  # running, ok, failed, abandoned
    started_at: Mapped[datetime] = mapped_column(DateTime())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime())
    error: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None] = mapped_column(Json)


class Delivery(Base):
    """One attempt series to deliver one report to one channel (email, slack-webhook, slack-bot).

    A failed delivery is recorded, not raised: the daemon keeps running and ``status`` shows it.
    ``target`` is a recipient list or channel name, never a secret (no webhook URL, no token).
    """

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(Name(32), index=True)
    target: Mapped[str | None] = mapped_column(Text)
    report_period: Mapped[str | None] = mapped_column(Name(64))
    status: Mapped[str] = mapped_column(Name(16))  # ok, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime())
    details: Mapped[dict[str, Any] | None] = mapped_column(Json)


class DaemonLock(Base):
    """The one-daemon-per-database lock: who holds it and when it last proved it was alive.

    A row per lock name; a holder whose process is gone (same host, dead pid) or whose heartbeat
    is older than the stale timeout is taken over by the next ``costagent run``.  Times are the
    database's clock, so hosts with skewed clocks agree on a heartbeat's age.  ``process_key``
    (``boot id:pid namespace:start time``, NULL without Linux ``/proc``) tells a live holder
    from a recycled pid; see :mod:`agent.daemon_lock`.
    """

    __tablename__ = "daemon_lock"

    name: Mapped[str] = mapped_column(Name(64), primary_key=True)
    holder: Mapped[str] = mapped_column(Name(256))  # "user@host pid 1234"
    host: Mapped[str] = mapped_column(Name(256))
    pid: Mapped[int] = mapped_column(Integer)
    acquired_at: Mapped[datetime] = mapped_column(DateTime())
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime())
    process_key: Mapped[str | None] = mapped_column(Name(128))


class CostDaily(Base):
    """``cost_line_items`` rolled up per UTC day, kept by the loader in the load's transaction.

    The rules (and anything else asking "how much per resource/service/day") read this instead
    of the line items: hourly billing data is ~24× smaller here, and a rule no longer costs a
    pass over the biggest table.  Rows are keyed by the line items' ``x_slice``, so replacing a
    slice replaces its rollup in the same transaction (see :mod:`agent.store.daily`).

    ``charge_period_start`` is the day's first charge start, ``last_start`` its last and
    ``charge_period_end`` its last end, so MIN/MAX over days equal MIN/MAX over line items.
    ``usage_label`` is ``COALESCE(x_usage_type, charge_description)``.  ``resource_name`` and
    ``tags`` are the day's MAX.  On SQLite each cost is also kept as the exact integer parts
    (whole, micro-, pico-units) that :func:`agent.store.money.money_sum` adds, so sums over the
    rollup stay exact there too (PostgreSQL's NUMERIC is exact by itself; the parts stay NULL).
    """

    __tablename__ = "cost_daily"
    __table_args__ = (
        Index(None, "x_slice"),
        Index(None, "day"),
        Index(None, "x_source", "last_start"),  # `status` billing freshness per source
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    x_source: Mapped[str] = mapped_column(Name(128))
    x_slice: Mapped[str] = mapped_column(Name(256))
    day: Mapped[date] = mapped_column(Date)
    resource_id: Mapped[str | None] = mapped_column(Text)
    provider_name: Mapped[str | None] = mapped_column(Name(64))
    service_name: Mapped[str | None] = mapped_column(Name(256))
    usage_label: Mapped[str | None] = mapped_column(Text)
    sku_id: Mapped[str | None] = mapped_column(Name(256))
    region_id: Mapped[str | None] = mapped_column(Name(64))
    charge_category: Mapped[str | None] = mapped_column(Name(32))
    pricing_category: Mapped[str | None] = mapped_column(Name(32))
    pricing_unit: Mapped[str | None] = mapped_column(Name(128))
    billing_currency: Mapped[str | None] = mapped_column(String(3))
    x_workload: Mapped[str | None] = mapped_column(Name(32))
    resource_name: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[dict[str, Any] | None] = mapped_column(Json)
    charge_period_start: Mapped[datetime] = mapped_column(DateTime())
    last_start: Mapped[datetime] = mapped_column(DateTime())
    charge_period_end: Mapped[datetime] = mapped_column(DateTime())
    effective_cost: Mapped[Decimal | None] = mapped_column(Money)
    billed_cost: Mapped[Decimal | None] = mapped_column(Money)
    effective_cost_w: Mapped[int | None] = mapped_column(BigInteger)
    effective_cost_m: Mapped[int | None] = mapped_column(BigInteger)
    effective_cost_p: Mapped[int | None] = mapped_column(BigInteger)
    billed_cost_w: Mapped[int | None] = mapped_column(BigInteger)
    billed_cost_m: Mapped[int | None] = mapped_column(BigInteger)
    billed_cost_p: Mapped[int | None] = mapped_column(BigInteger)
    pricing_quantity: Mapped[float | None] = mapped_column(Float)
    line_items: Mapped[int] = mapped_column(BigInteger)
