"""Build the weekly :class:`Report` from the store with a handful of grouped queries.

Every money figure is an exact sum computed by the database, grouped by currency; the Python
side only sorts, picks and adds already-aggregated ``Decimal`` values of one currency.  The
report never recomputes a finding: savings come from ``findings`` as ``analyze`` left them.
Costs are read from the ``cost_daily`` rollup when whole UTC days answer the question exactly,
else from the line items (:mod:`agent.report.grain` says when and why).

Which week: the last whole ISO week before ``now`` in ``report.timezone`` (the daemon passes its
clock), or the week containing ``week`` (``--week-ending``), or — ``latest`` — the last whole week
before the end of the store's data, for a store whose data ends in the past (the demo).  Only
the choice of week follows the data: the report is still generated, and freshness judged, at
the real ``now``.

Amounts in different currencies are never compared: the main currency (``[report] currency``,
else the one with the most cost rows) comes first in every ranked list, and each list is ranked
within its currency.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, func, select

from agent.config import Settings
from agent.report.grain import Grain, as_datetime
from agent.report.model import (
    Anomaly,
    DailyCost,
    EndpointUnitCost,
    FailedDelivery,
    FindingItem,
    Freshness,
    Line,
    Report,
    ResourceLine,
)
from agent.report.period import Week, last_full_week, week_of
from agent.report.units import ENDPOINT_BASIS, endpoint_unit_costs, llm_unit_costs
from agent.store.findings import (
    FindingRow,
    anomaly_of,
    certainty_rank,
    end_of_data,
    list_findings,
    resource_of,
    savings_by_confidence,
    total_savings,
)
from agent.store.schema import CollectionRun, CostDaily, Delivery, LlmRequest, Resource, UsageMetric

Named = TypeVar("Named", ResourceLine, EndpointUnitCost)
WORKLOAD_ORDER = ("inference", "vector_storage", "training", "other")
CHART_WEEKS = 8
#: inventory attributes that hold a resource's human name, most specific first
NAME_KEYS = (
    "endpoint_name",
    "job_name",
    "notebook_name",
    "collection_name",
    "instance_name",
    "display_name",
    "name",
)


def choose_week(
    engine: Engine,
    settings: Settings,
    now: datetime | None = None,
    week: date | None = None,
    latest: bool = False,
) -> tuple[Week, datetime, datetime]:
    """(the reported week, the real ``now`` it is reported at, and the moment it is reported
    *as of*), naive UTC.  ``as of`` is ``now`` except with ``latest``: the end of the stored
    data, as if the report had gone out when the data ended (the demo, an old export)."""
    tz = settings.report.timezone
    clock = now if now is not None else datetime.now(UTC)
    if clock.tzinfo is not None:
        clock = clock.astimezone(UTC).replace(tzinfo=None)
    clock = clock.replace(microsecond=0)
    if week is not None:
        return week_of(week, tz), clock, clock
    if latest:
        as_of = end_of_data(engine)
        return last_full_week(as_of, tz), clock, as_of
    return last_full_week(clock, tz), clock, clock


def new_findings_window(week: Week, as_of: datetime) -> tuple[datetime, datetime]:
    """(after, up to) — findings first seen in it are "new" in this report.

    A weekly report counts what appeared since the report before it: the 7 days up to the
    moment it is made (Monday 09:00 counts from last Monday 09:00, so the Monday-morning
    analysis belongs to exactly one report, never to two).  A week reported long after it
    ended (``--week-ending`` an old week) counts that week's own days.
    """
    if as_of - week.end < timedelta(days=7):
        return as_of - timedelta(days=7), as_of
    return week.start - timedelta(microseconds=1), week.end - timedelta(microseconds=1)


def build_report(
    engine: Engine,
    settings: Settings,
    now: datetime | None = None,
    *,
    week: date | None = None,
    latest: bool = False,
) -> Report:
    """The report for one week (see the module docstring for which one)."""
    chosen, clock, as_of = choose_week(engine, settings, now, week, latest)
    prev = chosen.previous()
    cfg = settings.report
    chart_start = week_of(chosen.first_day - timedelta(weeks=CHART_WEEKS - 1), cfg.timezone).start
    grain = Grain.for_range(cfg.timezone, chart_start, chosen.end)
    findings = list_findings(engine, "open")
    with engine.connect() as conn:
        by_workload, rows = _by_workload(conn, grain, chosen, prev)
        main = cfg.currency or _main_currency(rows)
        services = _ranked_lines(conn, grain, "service_name", chosen, prev, cfg.top_n, main)
        resources = _top_resources(conn, grain, chosen, prev, cfg.top_n, main)
        endpoints = endpoint_unit_costs(conn, grain, chosen, main, cfg.top_n)
        llm = llm_unit_costs(conn, grain, chosen, settings, main)
        daily = _daily(conn, grain, chart_start, chosen.end)
        newest = _newest_billing(conn)
        fresh = _freshness(conn, settings, clock, newest)
        failed = _failed_deliveries(conn)
        names = _names(
            conn,
            [r.resource_id for r in resources if not r.resource_name]
            + [u.resource_id for u in endpoints if not u.resource_name]
            + [resource_of(f) for f in findings],
        )
    by_workload.sort(key=lambda x: x.currency != main)  # stable: main currency first
    totals = _sum_lines("total", by_workload)
    ai = _sum_lines("AI", [w for w in by_workload if w.key != "other"])
    totals.sort(key=lambda x: x.currency != main)
    ai.sort(key=lambda x: x.currency != main)
    items = _rank([_finding(f, names) for f in findings], main)
    new_after, new_until = new_findings_window(chosen, as_of)
    new = tuple(f for f in items if new_after < f.first_seen <= new_until)
    notes = []
    if chosen.end > as_of:
        notes.append(f"{chosen.label} is not over yet: its figures are partial.")
    else:
        notes += _missing_data(newest, chosen, prev)
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
        top_resources=tuple(_named(r, names) for r in resources),
        endpoint_unit_costs=tuple(_named(u, names) for u in endpoints),
        endpoint_unit_cost_basis=ENDPOINT_BASIS,
        llm_unit_costs=tuple(llm.rows),
        llm_unit_cost_basis=llm.basis,
        new_findings=new,
        new_since=new_after,
        open_findings=len(items),
        savings=tuple(
            sorted(total_savings(findings).items(), key=lambda kv: (kv[0] != main, kv[0]))
        ),
        top_findings=tuple(items[:3]),
        anomalies=tuple(_anomalies(findings)),
        freshness=tuple(fresh),
        failed_deliveries=tuple(failed),
        daily=tuple(daily),
        notes=tuple(notes),
        savings_by_confidence=tuple(
            (currency, level, amount)
            for currency, split in sorted(
                savings_by_confidence(findings).items(), key=lambda kv: (kv[0] != main, kv[0])
            )
            for level, amount in split.items()
        ),
    )


# -- spend -------------------------------------------------------------------------------------
def _week_sums(grain: Grain, week: Week, prev: Week) -> tuple[Any, Any, Any]:
    current = grain.money(grain.since(week.start))
    previous = grain.money(grain.before(week.start))
    return current, previous, grain.between(prev.start, week.end)


def _line(key: Any, currency: Any, current: Any, previous: Any) -> Line:
    return Line(
        key=str(key) if key is not None else "(none)",
        currency=str(currency or "?"),
        current=current or Decimal(0),
        previous=previous or Decimal(0),
    )


def _by_workload(
    conn: Connection, grain: Grain, week: Week, prev: Week
) -> tuple[list[Line], dict[str, int]]:
    """Workload lines of both weeks, and how many cost rows each currency has in them."""
    current, previous, in_range = _week_sums(grain, week, prev)
    workload, cur = grain.c("x_workload"), grain.c("billing_currency")
    result = conn.execute(
        select(workload, cur, current, previous, grain.rows())
        .where(in_range)
        .group_by(workload, cur)
    ).all()
    lines: list[Line] = []
    rows: dict[str, int] = {}
    for key, currency, this, before, n in result:
        line = _line(key, currency, this, before)
        lines.append(line)
        rows[line.currency] = rows.get(line.currency, 0) + int(n or 0)
    rank = {w: i for i, w in enumerate(WORKLOAD_ORDER)}
    return sorted(lines, key=lambda x: (x.currency, rank.get(x.key, 99), x.key)), rows


def _main_currency(rows: dict[str, int]) -> str:
    """The currency with the most cost rows; USD among equals, else the first by code."""
    if not rows:
        return "USD"
    most = max(rows.values())
    tied = sorted(c for c, n in rows.items() if n == most)
    return "USD" if "USD" in tied else tied[0]


def _per_currency_top(
    conn: Connection,
    grain: Grain,
    keys: list[Any],
    extra: list[Any],
    week: Week,
    prev: Week,
    limit: int,
    *where: Any,
    positive_only: bool = False,
) -> list[Any]:
    """The ``limit`` biggest groups of the week *in each currency* (ROW_NUMBER per currency:
    a ranking across currencies would compare yen with dollars); ``positive_only`` drops the
    groups that cost nothing (or were credited) this week."""
    current, previous, in_range = _week_sums(grain, week, prev)
    this_week = grain.rank(grain.since(week.start))
    cur = grain.c("billing_currency")
    rank = func.row_number().over(partition_by=cur, order_by=(this_week.desc(), *keys))
    query = (
        select(
            *keys,
            cur.label("currency"),
            *extra,
            current.label("current"),
            previous.label("previous"),
            rank.label("rn"),
        )
        .where(in_range, *where)
        .group_by(*keys, cur)
    )
    if positive_only:
        query = query.having(this_week > 0)
    sub = query.subquery()
    return list(conn.execute(select(sub).where(sub.c.rn <= limit)).all())


def _ranked_lines(
    conn: Connection, grain: Grain, key: str, week: Week, prev: Week, limit: int, main: str
) -> list[Line]:
    rows = _per_currency_top(conn, grain, [grain.c(key)], [], week, prev, limit)
    lines = [_line(k, cur, this, before) for k, cur, this, before, _ in rows]
    return sorted(lines, key=lambda x: (x.currency != main, x.currency, -x.current, x.key))


def _top_resources(
    conn: Connection, grain: Grain, week: Week, prev: Week, limit: int, main: str
) -> list[ResourceLine]:
    rid = grain.c("resource_id")
    extra = [
        func.max(grain.c("resource_name")),
        func.max(grain.c("service_name")),
        func.max(grain.c("x_workload")),
    ]
    rows = _per_currency_top(
        conn,
        grain,
        [rid],
        extra,
        week,
        prev,
        limit,
        rid.is_not(None),
        rid != "",
        positive_only=True,
    )
    out = [
        ResourceLine(
            resource_id=str(resource_id),
            resource_name=name,
            service=service,
            workload=str(workload),
            currency=str(cur or "?"),
            current=cost or Decimal(0),
            previous=old or Decimal(0),
        )
        for resource_id, cur, name, service, workload, cost, old, _ in rows
    ]
    return sorted(out, key=lambda x: (x.currency != main, x.currency, -x.current, x.resource_id))


def _named(line: Named, names: dict[str, str]) -> Named:
    """``line`` with the inventory's name where billing had none."""
    if line.resource_name or line.resource_id not in names:
        return line
    return dataclasses.replace(line, resource_name=names[line.resource_id])


def _sum_lines(key: str, lines: Iterable[Line]) -> list[Line]:
    """Per-currency totals of already-aggregated rows (exact Decimal; currencies kept apart)."""
    acc: dict[str, tuple[Decimal, Decimal]] = {}
    for line in lines:
        cur, old = acc.get(line.currency, (Decimal(0), Decimal(0)))
        acc[line.currency] = (cur + line.current, old + line.previous)
    return [Line(key=key, currency=c, current=v[0], previous=v[1]) for c, v in sorted(acc.items())]


# -- chart data --------------------------------------------------------------------------------
def _daily(conn: Connection, grain: Grain, start: datetime, end: datetime) -> list[DailyCost]:
    """Cost per local day (report.timezone), workload and currency over the chart's 8 weeks:
    grouped per UTC day, hour or start in SQL (see :class:`Grain`), bucketed here."""
    bucket = grain.chart_bucket()
    workload, cur = grain.c("x_workload"), grain.c("billing_currency")
    rows = conn.execute(
        select(bucket, workload, cur, grain.money())
        .where(grain.between(start, end))
        .group_by(bucket, workload, cur)
    ).all()
    acc: dict[tuple[date, str, str], Decimal] = {}
    for at, w, c, v in rows:
        key = (grain.local_day(at), str(w), str(c or "?"))
        acc[key] = acc.get(key, Decimal(0)) + (v or Decimal(0))
    return [DailyCost(d, w, c, v) for (d, w, c), v in sorted(acc.items())]


# -- findings ----------------------------------------------------------------------------------
def _finding(f: FindingRow, names: dict[str, str]) -> FindingItem:
    evidence = f["evidence"] or {}
    job = evidence.get("job_name")
    return FindingItem(
        fingerprint=f["fingerprint"],
        rule_id=f["rule_id"],
        subject=f["subject"],
        name=names.get(resource_of(f)) or (str(job) if job else None),
        title=f["title"],
        recommendation=f["recommendation"],
        monthly_savings=f["monthly_savings"] or Decimal(0),
        currency=f["currency"] or "USD",
        confidence=f["confidence"],
        first_seen=f["first_seen"],
    )


def _rank(items: list[FindingItem], main: str) -> list[FindingItem]:
    """Main currency first, then each other currency; within each what is certain first (high,
    medium, low), biggest savings first within a confidence: the report leads with what a
    manager can bank, not with the largest hunch."""
    return sorted(
        items,
        key=lambda f: (
            f.currency != main,
            f.currency,
            certainty_rank(f.confidence),
            -f.monthly_savings,
            f.fingerprint,
        ),
    )


def _names(conn: Connection, ids: Iterable[str]) -> dict[str, str]:
    """Human names of resources: the billing ``resource_name``, else the inventory's."""
    wanted = sorted({i for i in ids if i})
    out: dict[str, str] = {}
    d = CostDaily
    for i in range(0, len(wanted), 500):
        chunk = wanted[i : i + 500]
        for rid, attributes in conn.execute(
            select(Resource.resource_id, Resource.attributes).where(Resource.resource_id.in_(chunk))
        ).all():
            attrs = attributes if isinstance(attributes, dict) else {}
            name = next((attrs[k] for k in NAME_KEYS if isinstance(attrs.get(k), str)), None)
            if name:
                out[str(rid)] = str(name)
        for rid, name in conn.execute(
            select(d.resource_id, func.max(d.resource_name))
            .where(d.resource_id.in_(chunk), d.resource_name.is_not(None), d.resource_name != "")
            .group_by(d.resource_id)
        ).all():
            out[str(rid)] = str(name)  # billing wins: it is the name the top-resources table shows
    return out


def _anomalies(findings: list[FindingRow]) -> list[Anomaly]:
    out = [
        Anomaly(
            day=facts.day.isoformat(),
            title=f["title"],
            service=facts.service,
            usage_type=facts.usage_type,
            currency=f["currency"] or "USD",
            expected=facts.expected,
            actual=facts.actual,
        )
        for f in findings
        if (facts := anomaly_of(f)) is not None
    ]
    out.sort(key=lambda a: (a.day or "", a.title), reverse=True)
    return out[:10]


# -- freshness ---------------------------------------------------------------------------------
def _newest_billing(conn: Connection) -> dict[str, tuple[datetime | None, datetime | None]]:
    """Per source: (newest charge start, newest charge end), from the rollup (which keeps both
    as MAX over the line items, so this is exact without scanning them)."""
    d = CostDaily
    return {
        src: (as_datetime(start), as_datetime(end))
        for src, start, end in conn.execute(
            select(d.x_source, func.max(d.last_start), func.max(d.charge_period_end)).group_by(
                d.x_source
            )
        ).all()
    }


def _missing_data(
    newest: dict[str, tuple[datetime | None, datetime | None]], week: Week, prev: Week
) -> list[str]:
    """A note per billing source that delivered into the compared weeks but stops before the
    reported week ends (CUR lags a day or more): its week, and the change, are short by so
    many hours.  A source silent for longer is flagged in the freshness table instead."""
    notes = []
    for source, (_, end) in sorted(newest.items()):
        if end is None or not prev.start < end < week.end:
            continue
        hours = math.ceil((week.end - end).total_seconds() / 3600)
        whole = " (all of it)" if end <= week.start else ""
        notes.append(
            f"{source}: billing data ends {end:%a %d %b %H:%M} UTC, so the last {hours} h of "
            f"{week.label}{whole} are missing; its figures and the change are understated."
        )
    return notes


def _freshness(
    conn: Connection,
    settings: Settings,
    now: datetime,
    newest: dict[str, tuple[datetime | None, datetime | None]],
) -> list[Freshness]:
    """Per source: newest data and last run; problems when it failed or went quiet."""
    billing = {src: start for src, (start, _) in newest.items()}
    usage: dict[str, datetime] = {}
    for table in (UsageMetric, LlmRequest):
        for src, latest in conn.execute(
            select(table.x_source, func.max(table.ts)).group_by(table.x_source)
        ).all():
            ts = as_datetime(latest)
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
        newest_bill = as_datetime(billing.get(name))
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
                last_run_at=as_datetime(at),
                last_run_status=status,
                last_error=error,
                problems=tuple(problems),
            )
        )
    return out


def _failed_deliveries(conn: Connection) -> list[FailedDelivery]:
    """Channels whose most recent delivery failed or arrived incomplete (a later success
    clears it)."""
    d = Delivery
    last = select(func.max(d.id)).group_by(d.channel, d.target).scalar_subquery()
    rows = conn.execute(
        select(d.channel, d.target, d.report_period, d.error, d.finished_at, d.started_at)
        .where(d.id.in_(last), d.status.in_(("failed", "partial")))
        .order_by(d.id.desc())
    ).all()
    return [
        FailedDelivery(ch, target, period, error, as_datetime(fin or started))
        for ch, target, period, error, fin, started in rows
    ]
