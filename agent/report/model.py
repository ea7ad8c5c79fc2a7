"""The weekly report as data: frozen dataclasses with ``Decimal`` money, built once from the
store (:mod:`agent.report.build`) and rendered by every renderer without further queries.

Keeping the figures in one object is what makes the email, the Slack message, ``--out`` and
``--format json`` agree to the cent.  Every amount carries its currency: amounts in different
currencies live in different rows and are never added together.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from agent.report.period import Week


def change_pct(current: Decimal, previous: Decimal) -> Decimal | None:
    """Week-over-week change in percent; None when there was nothing to compare with.

    Divided by ``abs(previous)`` so the sign always says which way the amount moved: a week of
    credits (−100 → −50) is a rise, not a fall.
    """
    if previous == 0:
        return None
    return (current - previous) / abs(previous) * 100


@dataclass(frozen=True, kw_only=True)
class _WeekOverWeek:
    """This week's and last week's amount in one currency, and the change between them."""

    currency: str
    current: Decimal
    previous: Decimal

    @property
    def change(self) -> Decimal | None:
        return change_pct(self.current, self.previous)


@dataclass(frozen=True, kw_only=True)
class Line(_WeekOverWeek):
    """One row of a week-over-week table: a key (workload, service, "total"…) in one currency."""

    key: str


@dataclass(frozen=True, kw_only=True)
class ResourceLine(_WeekOverWeek):
    resource_id: str
    resource_name: str | None
    service: str | None
    workload: str


@dataclass(frozen=True)
class EndpointUnitCost:
    """One endpoint's week: its billed cost (rows with its resource id) ÷ its measured
    invocations — both figures of the same resource, so the ratio can be checked by hand."""

    resource_id: str
    resource_name: str | None
    currency: str
    cost: Decimal
    invocations: int
    per_1k_invocations: Decimal | None


@dataclass(frozen=True)
class LlmUnitCost:
    """LLM API traffic of one app (``app`` None: all apps) in one currency.

    ``requests`` / ``tokens`` are the logged counts scaled by 1 / ``[llm_requests] sample_rate``
    (``logged_requests`` is what the log holds) plus the usage reports' complete counts of
    providers billed directly (their apps are projects / workspaces); ``requests`` None when a
    part has no request count (Anthropic's report has none); tokens = input + output (cached
    reads are part of input).  ``currency`` None: the calls went to a provider with no
    token-billed rows in the week (e.g. a direct API billed elsewhere) — volumes only, no cost.
    """

    app: str | None
    currency: str | None
    logged_requests: int
    requests: int | None
    tokens: int
    cost: Decimal | None = None
    per_1k_requests: Decimal | None = None
    per_1m_tokens: Decimal | None = None


@dataclass(frozen=True)
class FindingItem:
    """An open finding; ``name`` is the subject's human name when the store knows one (billing
    ``resource_name``, the inventory's name, the job name in the evidence)."""

    fingerprint: str
    rule_id: str
    subject: str
    name: str | None
    title: str
    recommendation: str
    monthly_savings: Decimal
    currency: str
    confidence: str
    first_seen: datetime


@dataclass(frozen=True)
class Anomaly:
    day: str | None
    title: str
    service: str | None
    usage_type: str | None
    currency: str
    expected: Decimal | None
    actual: Decimal | None


@dataclass(frozen=True)
class Freshness:
    """What one source last delivered, and whether it looks silent."""

    source: str
    newest_billing: datetime | None
    newest_usage: datetime | None  # usage_metrics or llm_requests, whichever is newer
    last_run_at: datetime | None
    last_run_status: str | None
    last_error: str | None
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class FailedDelivery:
    channel: str
    target: str | None
    report_period: str | None
    error: str | None
    at: datetime | None


@dataclass(frozen=True)
class DailyCost:
    """Chart data: one local day (in ``report.timezone``), workload and currency."""

    day: date
    workload: str
    currency: str
    cost: Decimal


@dataclass(frozen=True)
class Report:
    title: str
    week: Week
    previous_week: Week
    generated_at: datetime  # naive UTC: when the report was built (the real clock)
    main_currency: str
    total: tuple[Line, ...]  # one per currency, key "total"
    ai_total: tuple[Line, ...]  # workloads other than "other", one per currency
    by_workload: tuple[Line, ...]
    top_services: tuple[Line, ...]
    top_resources: tuple[ResourceLine, ...]
    endpoint_unit_costs: tuple[EndpointUnitCost, ...]  # top N by cost, main currency first
    endpoint_unit_cost_basis: str
    llm_unit_costs: tuple[LlmUnitCost, ...]  # all apps (one per currency) first, then per app
    llm_unit_cost_basis: str
    new_findings: tuple[FindingItem, ...]  # main currency first, biggest first
    new_since: datetime  # naive UTC: new_findings were first seen after this (the last report)
    open_findings: int
    savings: tuple[tuple[str, Decimal], ...]  # per currency, each resource once
    top_findings: tuple[FindingItem, ...]  # three, main currency first, most certain first
    anomalies: tuple[Anomaly, ...]
    freshness: tuple[Freshness, ...]
    failed_deliveries: tuple[FailedDelivery, ...]
    daily: tuple[DailyCost, ...]  # chart data: 8 weeks ending with the reported week
    notes: tuple[str, ...] = ()
    #: ``savings`` split by confidence: (currency, confidence, amount), high first
    savings_by_confidence: tuple[tuple[str, str, Decimal], ...] = ()

    def ai_in(self, currency: str) -> Line | None:
        return next((line for line in self.ai_total if line.currency == currency), None)

    def savings_in(self, currency: str) -> Decimal | None:
        return next((v for c, v in self.savings if c == currency), None)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def as_json(report: Report) -> str:
    """The report as plain JSON: Decimal as strings (exact), times as ISO 8601 (naive = UTC)."""
    data = dataclasses.asdict(report)
    data["week"]["hours"] = report.week.hours
    data["previous_week"]["hours"] = report.previous_week.hours
    for name in ("total", "ai_total", "by_workload", "top_services", "top_resources"):
        for row, obj in zip(data[name], getattr(report, name), strict=True):
            row["change_pct"] = None if obj.change is None else obj.change.quantize(Decimal("0.1"))
    data["savings"] = {c: v for c, v in report.savings}
    return json.dumps(data, indent=2, default=_plain, ensure_ascii=False)
