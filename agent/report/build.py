"""Build the weekly :class:`Report` from the store with a handful of grouped queries.

Every money figure is an exact ``money_sum`` computed by the database, grouped by currency; the
Python side only sorts, picks and adds already-aggregated ``Decimal`` values of one currency.
The report never recomputes a finding: savings come from ``findings`` as ``analyze`` left them.

Which week: the last whole ISO week before ``now`` in ``report.timezone`` (the daemon passes its
clock), or the week containing ``week`` (``--week-ending``), or — ``latest`` — the last whole week
before the end of the store's data, for a store whose data ends in the past (the demo).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, and_, case, func, select

from agent.config import Settings
from agent.report.model import (
    Anomaly,
    DailyCost,
    FailedDelivery,
    FindingItem,
    Freshness,
    Line,
    Report,
    ResourceLine,
    UnitCost,
)
from agent.report.period import Week, last_full_week, week_of
from agent.store.money import money_sum, to_decimal
from agent.store.schema import CollectionRun, Delivery, LlmRequest, UsageMetric
from agent.store.schema import CostLineItem as C
from rules.engine import end_of_data, list_findings, total_savings

WORKLOAD_ORDER = ("inference", "vector_storage", "training", "other")
CHART_WEEKS = 8
UNIT_COST_BASIS = (
    "effective (amortized) cost of the inference workload in the week ÷ LLM requests and "
    "tokens (input + output) logged in the same week"
)


def choose_week(
    engine: Engine,
    settings: Settings,
    now: datetime | None = None,
    week: date | None = None,
    latest: bool = False,
) -> tuple[Week, datetime]:
    """(the reported week, the ``now`` it is reported at, naive UTC)."""
    tz = settings.report.timezone
    clock = now if now is not None else datetime.now(UTC)
    if clock.tzinfo is not None:
        clock = clock.astimezone(UTC).replace(tzinfo=None)
    clock = clock.replace(microsecond=0)
    if week is not None:
        return week_of(week, tz), clock
    if latest:
        clock = end_of_data(engine)
    return last_full_week(clock, tz), clock


def build_report(
    engine: Engine,
    settings: Settings,
    now: datetime | None = None,
    *,
    week: date | None = None,
    latest: bool = False,
) -> Report:
    """The report for one week (see the module docstring for which one)."""
    chosen, clock = choose_week(engine, settings, now, week, latest)
    prev = chosen.previous()
    cfg = settings.report
    with engine.connect() as conn:
        by_workload = _by_workload(conn, chosen, prev)
        services = _grouped(conn, C.service_name, chosen, prev, cfg.top_n)
        resources = _top_resources(conn, chosen, prev, cfg.top_n)
        unit_costs = _unit_costs(conn, chosen, by_workload)
        daily = _daily(conn, chosen)
        fresh = _freshness(conn, settings, clock)
        failed = _failed_deliveries(conn)
    totals = _sum_lines("total", by_workload)
    ai = _sum_lines("AI", [w for w in by_workload if w.key != "other"])
    main = _main_currency(totals)
    findings = list_findings(engine, "open")
    items = [_finding(f) for f in findings]
    new = tuple(f for f in items if chosen.start <= f.first_seen <= clock)
    savings = total_savings(findings)
    notes = []
    if chosen.end > clock:
        notes.append(f"{chosen.label} is not over yet: its figures are partial.")
    others = sorted({t.currency for t in totals} - {main})
    if others:
        notes.append(
            f"Spend in {', '.join(others)} is reported separately; the chart shows {main} only."
        )
    return Report(
        title=cfg.title,
        week=chosen,
        previous_week=prev,
        generated_at=clock,
        main_currency=main,
        total=tuple(totals),
        ai_total=tuple(ai),
        by_workload=tuple(by_workload),
        top_services=tuple(services),
        top_resources=tuple(resources),
        unit_cost_basis=UNIT_COST_BASIS,
        unit_costs=tuple(unit_costs),
        new_findings=new,
        open_findings=len(items),
        savings=tuple(sorted(savings.items())),
        top_findings=tuple(items[:3]),
        anomalies=tuple(_anomalies(findings)),
        freshness=tuple(fresh),
        failed_deliveries=tuple(failed),
        daily=tuple(daily),
        notes=tuple(notes),
    )


# -- spend -------------------------------------------------------------------------------------
def _week_sums(week: Week, prev: Week) -> tuple[Any, Any, Any]:
    ts, cost = C.charge_period_start, C.effective_cost
    current = money_sum(case((ts >= week.start, cost), else_=0))
    previous = money_sum(case((ts < week.start, cost), else_=0))
    in_range = and_(ts >= prev.start, ts < week.end)
    return current, previous, in_range


def _line(key: Any, currency: Any, current: Any, previous: Any) -> Line:
    return Line(
        key=str(key) if key is not None else "(none)",
        currency=str(currency or "?"),
        current=current or Decimal(0),
        previous=previous or Decimal(0),
    )


def _by_workload(conn: Connection, week: Week, prev: Week) -> list[Line]:
    current, previous, in_range = _week_sums(week, prev)
    rows = conn.execute(
        select(C.x_workload, C.billing_currency, current, previous)
        .where(in_range)
        .group_by(C.x_workload, C.billing_currency)
    ).all()
    lines = [_line(*r) for r in rows]
    rank = {w: i for i, w in enumerate(WORKLOAD_ORDER)}
    return sorted(lines, key=lambda x: (x.currency, rank.get(x.key, 99), x.key))


def _grouped(conn: Connection, key: Any, week: Week, prev: Week, limit: int) -> list[Line]:
    """The ``limit`` biggest keys of the week (by a plain SUM: money_sum is text on SQLite)."""
    current, previous, in_range = _week_sums(week, prev)
    order = func.sum(case((C.charge_period_start >= week.start, C.effective_cost), else_=0))
    rows = conn.execute(
        select(key, C.billing_currency, current, previous)
        .where(in_range)
        .group_by(key, C.billing_currency)
        .order_by(order.desc(), key)
        .limit(limit)
    ).all()
    return [_line(*r) for r in rows]


def _top_resources(conn: Connection, week: Week, prev: Week, limit: int) -> list[ResourceLine]:
    current, previous, in_range = _week_sums(week, prev)
    this_week = case((C.charge_period_start >= week.start, C.effective_cost), else_=0)
    rows = conn.execute(
        select(
            C.resource_id,
            C.billing_currency,
            func.max(C.resource_name),
            func.max(C.service_name),
            func.max(C.x_workload),
            current,
            previous,
        )
        .where(in_range, C.resource_id.is_not(None), C.resource_id != "")
        .group_by(C.resource_id, C.billing_currency)
        .having(func.sum(this_week) > 0)
        .order_by(func.sum(this_week).desc(), C.resource_id)
        .limit(limit)
    ).all()
    return [
        ResourceLine(
            resource_id=str(rid),
            resource_name=name,
            service=service,
            workload=str(workload),
            currency=str(cur),
            current=cost or Decimal(0),
            previous=old or Decimal(0),
        )
        for rid, cur, name, service, workload, cost, old in rows
    ]


def _sum_lines(key: str, lines: Iterable[Line]) -> list[Line]:
    """Per-currency totals of already-aggregated rows (exact Decimal; currencies kept apart)."""
    acc: dict[str, tuple[Decimal, Decimal]] = {}
    for line in lines:
        cur, old = acc.get(line.currency, (Decimal(0), Decimal(0)))
        acc[line.currency] = (cur + line.current, old + line.previous)
    return [Line(key=key, currency=c, current=v[0], previous=v[1]) for c, v in sorted(acc.items())]


def _main_currency(totals: list[Line]) -> str:
    if not totals:
        return "USD"
    return max(totals, key=lambda t: (t.current, t.previous, t.currency == "USD")).currency


# -- unit costs --------------------------------------------------------------------------------
def _unit_costs(conn: Connection, week: Week, by_workload: list[Line]) -> list[UnitCost]:
    r = LlmRequest
    tokens = func.coalesce(r.input_tokens, 0) + func.coalesce(r.output_tokens, 0)
    rows = conn.execute(
        select(r.app, func.count(), func.coalesce(func.sum(tokens), 0))
        .where(r.ts >= week.start, r.ts < week.end)
        .group_by(r.app)
        .order_by(func.count().desc(), r.app)
    ).all()
    if not rows:
        return []
    requests = sum(int(n) for _, n, _ in rows)
    total_tokens = sum(int(t) for _, _, t in rows)
    inference = [w for w in by_workload if w.key == "inference" and w.current]
    overall: list[UnitCost] = []
    for line in inference:  # one per currency; usually one
        cost = line.current
        overall.append(
            UnitCost(
                app=None,
                requests=requests,
                tokens=total_tokens,
                currency=line.currency,
                cost=cost,
                per_1k_requests=cost * 1000 / requests if requests else None,
                per_1m_tokens=cost * 1_000_000 / total_tokens if total_tokens else None,
            )
        )
    if not overall:
        overall.append(UnitCost(app=None, requests=requests, tokens=total_tokens))
    per_app = [
        UnitCost(app=str(app) if app is not None else "(no app)", requests=int(n), tokens=int(t))
        for app, n, t in rows
    ]
    return overall + per_app


# -- chart data --------------------------------------------------------------------------------
def _daily(conn: Connection, week: Week) -> list[DailyCost]:
    """Cost per UTC day, workload and currency over the 8 weeks ending with ``week``."""
    since = week.start - timedelta(weeks=CHART_WEEKS - 1)
    day = func.date(C.charge_period_start)
    rows = conn.execute(
        select(day, C.x_workload, C.billing_currency, money_sum(C.effective_cost))
        .where(C.charge_period_start >= since, C.charge_period_start < week.end)
        .group_by(day, C.x_workload, C.billing_currency)
        .order_by(day)
    ).all()
    return [DailyCost(_as_date(d), str(w), str(c or "?"), v or Decimal(0)) for d, w, c, v in rows]


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _as_datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


# -- findings ----------------------------------------------------------------------------------
def _finding(f: dict[str, Any]) -> FindingItem:
    return FindingItem(
        fingerprint=f["fingerprint"],
        rule_id=f["rule_id"],
        subject=f["subject"],
        title=f["title"],
        recommendation=f["recommendation"],
        monthly_savings=f["monthly_savings"] or Decimal(0),
        currency=f["currency"] or "USD",
        confidence=f["confidence"],
        first_seen=f["first_seen"],
    )


def _anomalies(findings: list[dict[str, Any]]) -> list[Anomaly]:
    out = []
    for f in findings:
        if f["rule_id"] != "cost-anomaly":
            continue
        ev = f.get("evidence") or {}
        out.append(
            Anomaly(
                day=ev.get("day"),
                title=f["title"],
                service=ev.get("service"),
                usage_type=ev.get("usage_type"),
                currency=f["currency"] or "USD",
                expected=to_decimal(ev["expected_median"]) if "expected_median" in ev else None,
                actual=to_decimal(ev["actual"]) if "actual" in ev else None,
            )
        )
    out.sort(key=lambda a: (a.day or "", a.title), reverse=True)
    return out[:10]


# -- freshness ---------------------------------------------------------------------------------
def _freshness(conn: Connection, settings: Settings, now: datetime) -> list[Freshness]:
    """Per source: newest data and last run; problems when it failed or went quiet."""
    billing = dict(
        conn.execute(select(C.x_source, func.max(C.charge_period_start)).group_by(C.x_source)).all()
    )
    usage: dict[str, datetime] = {}
    for table in (UsageMetric, LlmRequest):
        for src, newest in conn.execute(
            select(table.x_source, func.max(table.ts)).group_by(table.x_source)
        ).all():
            ts = _as_datetime(newest)
            if ts is not None and (src not in usage or ts > usage[src]):
                usage[src] = ts
    last_ids = (
        select(func.max(CollectionRun.id).label("id"))
        .group_by(CollectionRun.source)
        .scalar_subquery()
    )
    runs = {
        src: (at, status, error)
        for src, at, status, error in conn.execute(
            select(
                CollectionRun.source,
                func.coalesce(CollectionRun.finished_at, CollectionRun.started_at),
                CollectionRun.status,
                CollectionRun.error,
            ).where(CollectionRun.id.in_(last_ids))
        ).all()
    }
    configured = {s.name for s in settings.sources}
    names = sorted(configured | set(billing) | set(usage) | set(runs))
    cfg = settings.report
    out = []
    for name in names:
        newest_bill = _as_datetime(billing.get(name))
        newest_use = usage.get(name)
        at, status, error = runs.get(name, (None, None, None))
        problems = []
        if status == "failed":
            problems.append("last run failed")
        if newest_bill is not None and now - newest_bill > timedelta(days=cfg.stale_billing_days):
            problems.append(f"billing data {(now - newest_bill).days} days old")
        if newest_use is not None and now - newest_use > timedelta(days=cfg.stale_usage_days):
            problems.append(f"usage data {(now - newest_use).days} days old")
        if name in configured and newest_bill is None and newest_use is None and status != "ok":
            problems.append("no data yet")
        out.append(
            Freshness(
                source=name,
                newest_billing=newest_bill,
                newest_usage=newest_use,
                last_run_at=_as_datetime(at),
                last_run_status=status,
                last_error=error,
                problems=tuple(problems),
            )
        )
    return out


def _failed_deliveries(conn: Connection) -> list[FailedDelivery]:
    """Channels whose most recent delivery failed (a later success clears it)."""
    d = Delivery
    last = select(func.max(d.id)).group_by(d.channel, d.target).scalar_subquery()
    rows = conn.execute(
        select(d.channel, d.target, d.report_period, d.error, d.finished_at, d.started_at)
        .where(d.id.in_(last), d.status == "failed")
        .order_by(d.id.desc())
    ).all()
    return [
        FailedDelivery(ch, target, period, error, _as_datetime(fin or started))
        for ch, target, period, error, fin, started in rows
    ]
