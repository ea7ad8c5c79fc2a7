"""``aws_cost_explorer``: daily costs from Cost Explorer, for accounts without a Data Export.

Cost Explorer bills $0.01 per request, so the collector is frugal and says what it spent: one
``GetCostAndUsage`` per window (DAILY, grouped by service and usage type, metrics
UnblendedCost / AmortizedCost / UsageQuantity), following ``NextPageToken``.  A run re-pulls a
trailing window (default 3 days; on the first run also the whole current month) because recent
days are *estimated* and change until AWS finalises them; each day is a slice
(``source:account:YYYY-MM-DD``) replaced as a whole, so nothing is doubled and a day that
dropped to zero is emptied.  A per-run request budget (default 20) stops the run cleanly: the
window being paged when the budget ran out is not loaded (its old rows stay) and a warning says
so; earlier windows are committed.

Cost Explorer accepts at most two group-bys.  With ``group_by_tag`` the cost query is grouped
by usage type and the tag, and one extra query (service × usage type) names each usage type's
service; a usage type billed under several services keeps the service with the most cost.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import pyarrow as pa
from pydantic import Field
from sqlalchemy import Connection, Engine

from agent.settings import CoreSettings
from agent.store.state import get_state, put_state
from collectors.aws.session import AwsContext, AwsSourceConfig, call
from collectors.base import Collector, CollectorMeta, CollectResult, Day
from collectors.load import load, table
from collectors.window import days, months

log = logging.getLogger(__name__)
REQUEST_PRICE = Decimal("0.01")
METRICS = ["UnblendedCost", "AmortizedCost", "UsageQuantity"]


class BudgetExhausted(Exception):
    """The per-run request budget ran out."""


class AwsCostExplorerConfig(AwsSourceConfig):
    type: Literal["aws_cost_explorer"] = "aws_cost_explorer"
    trailing_days: int = Field(3, ge=1, le=90, description="days re-pulled on every run")
    group_by_tag: str | None = Field(
        None, description="a cost allocation tag key to keep", examples=["workload"]
    )
    request_budget: int = Field(20, ge=1, description="max Cost Explorer requests per run")


class AwsCostExplorerCollector(Collector[AwsCostExplorerConfig]):
    meta = CollectorMeta(
        summary="AWS Cost Explorer, for accounts without an export ($0.01 per request, budgeted)",
    )

    def collect(
        self, engine: Engine, settings: CoreSettings, since: Day = None, until: Day = None
    ) -> CollectResult:
        ctx = AwsContext(self.config)
        today = datetime.now(UTC).date()
        with engine.connect() as conn:
            state = get_state(conn, self.config.name, "window")
        start, end = self._window(today, state, since, until)
        slices: list[str] = []
        rows = 0
        warnings: list[str] = []
        for account in ctx.accounts():
            sts = ctx.client("sts", self.config.region, account.session)
            account_id = str(call(ctx, sts.get_caller_identity)["Account"])
            ce = ctx.client("ce", "us-east-1", account.session)
            for lo, hi in months(start, end):
                try:
                    records = self._fetch(ctx, ce, lo, hi)
                except BudgetExhausted:
                    warnings.append(
                        f"request budget of {self.config.request_budget} reached; "
                        f"{lo}..{hi - timedelta(days=1)} not refreshed (raise request_budget "
                        "or narrow --since/--until)"
                    )
                    break
                day_slices = [
                    f"{self.config.name}:{account_id}:{d.isoformat()}" for d in days(lo, hi)
                ]
                tbl = self._table(records, account_id)
                tbl_slices = [
                    f"{self.config.name}:{account_id}:{r['charge_period_start'].date()}"
                    for r in records
                ]

                def remember(conn: Connection, hi: date = hi) -> None:
                    put_state(conn, self.config.name, "window", {"end": hi.isoformat()})

                stats = load(
                    engine,
                    settings,
                    self.config.name,
                    [("cost", tbl)],
                    before_commit=remember,
                    replace_cost_slices=day_slices,
                    cost_slices=pa.array(tbl_slices, pa.string()),
                )
                slices.extend(day_slices)
                rows += stats.rows["cost"]
            if warnings:
                break
        ce_requests = ctx.requests.get("ce", 0)
        return CollectResult(
            slices=tuple(slices),
            rows=rows,
            api_requests=ce_requests,
            api_cost=str(REQUEST_PRICE * ce_requests),
            warnings=tuple(warnings),
            details={"requests": dict(ctx.requests), "window": [str(start), str(end)]},
            window=(
                datetime.combine(start, datetime.min.time()),
                datetime.combine(end, datetime.min.time()),
            ),
        )

    # -- window ----------------------------------------------------------------------------------
    def _window(
        self, today: date, state: dict[str, Any] | None, since: date | None, until: date | None
    ) -> tuple[date, date]:
        """[start, end) to pull: trailing days, plus the month so far on the first run."""
        end = (until + timedelta(days=1)) if until else today + timedelta(days=1)
        trailing = today - timedelta(days=self.config.trailing_days)
        if since:
            start = since
        elif state is None:
            start = min(today.replace(day=1), trailing)
        else:
            last_end = date.fromisoformat(str(state["end"]))
            start = min(trailing, last_end)  # a gap since the last run is filled too
        return start, max(end, start + timedelta(days=1))

    # -- requests --------------------------------------------------------------------------------
    def _query(
        self, ctx: AwsContext, ce: Any, lo: date, hi: date, group_by: list[dict[str, str]]
    ) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            if ctx.requests.get("ce", 0) >= self.config.request_budget:
                raise BudgetExhausted
            params: dict[str, Any] = {
                "TimePeriod": {"Start": lo.isoformat(), "End": hi.isoformat()},
                "Granularity": "DAILY",
                "Metrics": METRICS,
                "GroupBy": group_by,
            }
            if token:
                params["NextPageToken"] = token
            page = call(ctx, ce.get_cost_and_usage, **params)
            yield from page.get("ResultsByTime", [])
            token = page.get("NextPageToken")
            if not token:
                return

    def _fetch(self, ctx: AwsContext, ce: Any, lo: date, hi: date) -> list[dict[str, Any]]:
        """Every (day, service, usage type[, tag]) group of [lo, hi) as a row dict."""
        tag = self.config.group_by_tag
        service_usage = [
            {"Type": "DIMENSION", "Key": "SERVICE"},
            {"Type": "DIMENSION", "Key": "USAGE_TYPE"},
        ]
        if not tag:
            return [
                r
                for day in self._query(ctx, ce, lo, hi, service_usage)
                for r in _rows(day, ("service", "usage_type"))
            ]
        service_of: dict[str, tuple[Decimal, str]] = {}
        for day in self._query(ctx, ce, lo, hi, service_usage):
            for r in _rows(day, ("service", "usage_type")):
                best = service_of.get(r["usage_type"])
                if best is None or abs(r["billed"]) > best[0]:
                    service_of[r["usage_type"]] = (abs(r["billed"]), r["service"])
        by_tag = [{"Type": "DIMENSION", "Key": "USAGE_TYPE"}, {"Type": "TAG", "Key": tag}]
        out = []
        for day in self._query(ctx, ce, lo, hi, by_tag):
            for r in _rows(day, ("usage_type", "tag")):
                r["service"] = service_of.get(r["usage_type"], (Decimal(0), None))[1]
                value = r.pop("tag").split("$", 1)[-1]
                if value:
                    r["tags"] = {f"user_{tag}": value}
                out.append(r)
        return out

    # -- rows ------------------------------------------------------------------------------------
    def _table(self, records: list[dict[str, Any]], account_id: str) -> Any:
        rows = []
        for r in records:
            start: datetime = r["charge_period_start"]
            month = start.replace(day=1)
            rows.append(
                {
                    "provider_name": "AWS",
                    "publisher_name": "AWS",
                    "invoice_issuer_name": "Amazon Web Services",
                    "billing_account_id": account_id,
                    "sub_account_id": account_id,
                    "billing_period_start": month,
                    "billing_period_end": (month + timedelta(days=32)).replace(day=1),
                    "charge_period_start": start,
                    "charge_period_end": start + timedelta(days=1),
                    "charge_category": "Usage",
                    "charge_frequency": "Usage-Based",
                    "billed_cost": r["billed"],
                    "effective_cost": r["effective"],
                    "billing_currency": r["currency"],
                    "service_name": r.get("service"),
                    "x_usage_type": r.get("usage_type"),
                    "pricing_quantity": r["quantity"],
                    "tags": json.dumps(r["tags"], sort_keys=True) if r.get("tags") else None,
                    "x_raw": json.dumps({"estimated": r["estimated"], "source": "cost_explorer"}),
                }
            )
        return table("cost", rows)


def _rows(day: dict[str, Any], names: tuple[str, str]) -> Iterator[dict[str, Any]]:
    start = datetime.fromisoformat(day["TimePeriod"]["Start"])
    estimated = bool(day.get("Estimated", False))
    for group in day.get("Groups", []):
        m = group["Metrics"]
        unblended = m.get("UnblendedCost", {})
        amortized = m.get("AmortizedCost", unblended)
        yield {
            "charge_period_start": start,
            names[0]: group["Keys"][0],
            names[1]: group["Keys"][1] if len(group["Keys"]) > 1 else None,
            "billed": _money(unblended.get("Amount")),
            "effective": _money(amortized.get("Amount")),
            "currency": str(unblended.get("Unit") or "USD").upper(),
            "quantity": float(m.get("UsageQuantity", {}).get("Amount", 0) or 0),
            "estimated": estimated,
        }


def _money(amount: Any) -> Decimal:
    """Cost Explorer amounts are decimal strings, sometimes with more than 12 decimals."""
    return Decimal(str(amount or "0")).quantize(Decimal("1e-12"))
