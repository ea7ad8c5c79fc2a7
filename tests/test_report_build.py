"""``build_report`` on SQLite and PostgreSQL: exact figures from a small store with known rows.

The reported week is 2026-W47 (Mon 16 – Sun 22 Nov 2026, UTC); the week before is W46.  Rows
are inserted directly (the report reads the store, whoever wrote it); every expected figure is
worked by hand in the test that checks it.  ``seed`` is reused by the renderer tests.
"""

from __future__ import annotations

import json
import struct
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, insert

from agent.config import ReportConfig, Settings
from agent.report import Report, as_json, build_report, render
from agent.report.chart import render_chart
from agent.store.schema import (
    CollectionRun,
    CostLineItem,
    Delivery,
    Finding,
    LlmRequest,
    UsageMetric,
)

NOW = datetime(2026, 11, 25)  # a Wednesday: the last full week is W47
W47 = datetime(2026, 11, 16)
W46 = datetime(2026, 11, 9)


def cost(
    at: datetime,
    amount: str,
    workload: str,
    resource: str | None = None,
    service: str = "Amazon SageMaker",
    currency: str = "USD",
    source: str = "aws-cur",
    name: str | None = None,
    tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "x_source": source,
        "x_slice": f"{source}:2026-11",
        "provider_name": "AWS",
        "charge_period_start": at,
        "charge_period_end": at + timedelta(hours=1),
        "charge_category": "Usage",
        "billed_cost": Decimal(amount),
        "effective_cost": Decimal(amount),
        "billing_currency": currency,
        "service_name": service,
        "resource_id": resource,
        "resource_name": name,
        "x_workload": workload,
        "tags": tags,
    }


COSTS = [
    # W47 (reported week)
    cost(W47 + timedelta(hours=1), "100.10", "inference", "ep-a", name="chat-prod"),
    cost(W47 + timedelta(days=3), "50.05", "inference", "ep-a", name="chat-prod"),
    cost(W47 + timedelta(days=2), "200", "training", "job-t"),
    cost(W47 + timedelta(days=4), "10.001", "vector_storage", "vec-1", service="OpenSearch"),
    cost(W47 + timedelta(days=6, hours=12), "0.1", "other", None, service="S3"),
    cost(W47 + timedelta(days=5), "0.2", "other", None, service="S3"),
    cost(W47 + timedelta(days=5), "5", "other", "bucket", service="S3"),
    cost(W47 + timedelta(days=1), "30", "inference", "vertex-e", "Vertex AI", "EUR", "gcp"),
    # W46 (the week before)
    cost(W46 + timedelta(days=1), "100", "inference", "ep-a", name="chat-prod"),
    cost(W46 + timedelta(days=2), "400", "training", "job-t"),
    # outside both weeks: never counted in the totals
    cost(W46 - timedelta(days=1), "999", "inference", "ep-a"),
    cost(W47 + timedelta(days=7), "777", "inference", "ep-a"),
    # a silent source: newest billing row 9 days before NOW
    cost(W47, "1", "other", None, service="EC2", source="old-src"),
]


def llm(key: str, at: datetime, app: str | None, inp: int, out: int) -> dict[str, Any]:
    return {
        "x_request_key": key,
        "ts": at,
        "model": "claude",
        "operation": "chat",
        "app": app,
        "input_tokens": inp,
        "output_tokens": out,
        "x_source": "gw",
    }


REQUESTS = [
    llm("r1", W47 + timedelta(hours=3), "faq", 1000, 500),
    llm("r2", W47 + timedelta(days=2), "faq", 3000, 500),
    llm("r3", W47 + timedelta(days=6, hours=1), "search", 400, 100),  # newest: 2026-11-22 01:00
    llm("r4", W46 + timedelta(days=1), "faq", 9999, 9999),  # the week before: not counted
]


def finding(
    fp: str, savings: str, resource: str, status: str = "open", **extra: Any
) -> dict[str, Any]:
    evidence = {"resource_id": resource, **extra.pop("evidence", {})}
    return {
        "fingerprint": fp,
        "rule_id": extra.pop("rule_id", fp.split(":")[0]),
        "subject": fp.split(":", 1)[1],
        "status": status,
        "first_seen": extra.pop("first_seen", datetime(2026, 10, 1)),
        "last_seen": NOW,
        "monthly_savings": Decimal(savings),
        "currency": extra.pop("currency", "USD"),
        "confidence": extra.pop("confidence", "medium"),
        "title": extra.pop("title", f"Finding {fp}"),
        "recommendation": extra.pop("recommendation", "Do something."),
        "evidence": evidence,
    }


FINDINGS = [
    finding("idle-endpoint:ep-a", "100", "ep-a", first_seen=W47 + timedelta(days=1)),
    finding("overprovisioned-endpoint:ep-a", "60", "ep-a"),  # same resource: counted once
    finding("spot-training:job-t", "40", "job-t", confidence="high"),
    finding("idle-gpu:i-1", "1000", "i-1", status="suppressed"),
    finding("idle-gpu:i-2", "2000", "i-2", status="resolved"),
    finding("idle-endpoint:vertex-e", "25", "vertex-e", currency="EUR"),
    finding(
        "cost-anomaly:SageMaker|Hosting|us-east-1|2026-11-18",
        "30",
        "SageMaker|Hosting|us-east-1",
        confidence="low",
        title="Cost spike on Wed 18 Nov: SageMaker Hosting",
        evidence={"day": "2026-11-18", "actual": "300", "expected_median": "100"},
    ),
]


def seed(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(insert(CostLineItem), COSTS)
        conn.execute(insert(LlmRequest), REQUESTS)
        conn.execute(
            insert(UsageMetric),
            [
                {
                    "resource_id": "ep-a",
                    "metric": "invocations",
                    "ts": NOW - timedelta(hours=1),
                    "period_s": 3600,
                    "value": 1.0,
                    "stat": "Sum",
                    "x_source": "cw",
                }
            ],
        )
        conn.execute(insert(Finding), FINDINGS)
        runs = [
            ("aws-cur", "ok", None, NOW - timedelta(days=2)),
            ("aws-cur", "failed", "AccessDenied: s3:GetObject", NOW - timedelta(days=1)),
            ("gcp", "ok", None, NOW - timedelta(hours=6)),
        ]
        conn.execute(
            insert(CollectionRun),
            [
                {
                    "source": s,
                    "kind": "collect",
                    "status": st,
                    "error": er,
                    "rows": 0,
                    "started_at": at,
                    "finished_at": at,
                    "api_requests": 0,
                }
                for s, st, er, at in runs
            ],
        )
        deliveries = [
            ("email", "ops@example.com", "failed", "SMTP 451", NOW - timedelta(days=7)),
            ("email", "ops@example.com", "ok", None, NOW - timedelta(days=1)),
            ("slack-webhook", "webhook", "ok", None, NOW - timedelta(days=7)),
            ("slack-webhook", "webhook", "failed", "HTTP 404 no_service", NOW - timedelta(days=1)),
        ]
        conn.execute(
            insert(Delivery),
            [
                {
                    "channel": ch,
                    "target": t,
                    "report_period": "2026-W46",
                    "status": st,
                    "attempts": 3,
                    "error": er,
                    "started_at": at,
                    "finished_at": at,
                }
                for ch, t, st, er, at in deliveries
            ],
        )


def settings(**report: Any) -> Settings:
    return Settings(report=ReportConfig(**report))


def build(engine: Engine, **report: Any) -> Report:
    seed(engine)
    return build_report(engine, settings(**report), now=NOW)


def by_key(lines: Any) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    return {(x.key, x.currency): (x.current, x.previous) for x in lines}


def test_week_totals_and_workloads_are_exact_and_per_currency(engine: Engine) -> None:
    r = build(engine)
    assert (r.week.label, r.week.start, r.week.end, r.week.hours) == (
        "2026-W47",
        datetime(2026, 11, 16),
        datetime(2026, 11, 23),
        168,
    )
    assert r.previous_week.label == "2026-W46"
    # USD: inference 100.10 + 50.05; other 0.1 + 0.2 + 5 + 1 (old-src) = 6.3 exactly.
    assert by_key(r.by_workload) == {
        ("inference", "USD"): (Decimal("150.15"), Decimal("100")),
        ("training", "USD"): (Decimal("200"), Decimal("400")),
        ("vector_storage", "USD"): (Decimal("10.001"), Decimal("0")),
        ("other", "USD"): (Decimal("6.3"), Decimal("0")),
        ("inference", "EUR"): (Decimal("30"), Decimal("0")),
    }
    # Currencies never added: one total per currency; 999 (W45) and 777 (W48) are outside.
    assert by_key(r.total) == {
        ("total", "USD"): (Decimal("366.451"), Decimal("500")),
        ("total", "EUR"): (Decimal("30"), Decimal("0")),
    }
    assert by_key(r.ai_total) == {
        ("AI", "USD"): (Decimal("360.151"), Decimal("500")),
        ("AI", "EUR"): (Decimal("30"), Decimal("0")),
    }
    ai_usd = r.ai_in("USD")
    assert ai_usd is not None and ai_usd.change == Decimal("-27.9698")
    assert r.ai_in("EUR") is not None and r.ai_in("EUR").change is None  # type: ignore[union-attr]
    assert r.main_currency == "USD"
    assert any("EUR" in n and "separately" in n for n in r.notes)
    services = [(s.key, s.currency, s.current) for s in r.top_services]
    assert services[:3] == [
        ("Amazon SageMaker", "USD", Decimal("350.15")),
        ("Vertex AI", "EUR", Decimal("30")),
        ("OpenSearch", "USD", Decimal("10.001")),
    ]
    assert len(build_report(engine, settings(top_n=2), now=NOW).top_services) == 2


def test_top_resources_ordered_with_change(engine: Engine) -> None:
    r = build(engine)
    got = [(x.resource_id, x.currency, x.current, x.previous) for x in r.top_resources]
    assert got == [
        ("job-t", "USD", Decimal("200"), Decimal("400")),
        ("ep-a", "USD", Decimal("150.15"), Decimal("100")),
        ("vertex-e", "EUR", Decimal("30"), Decimal("0")),
        ("vec-1", "USD", Decimal("10.001"), Decimal("0")),
        ("bucket", "USD", Decimal("5"), Decimal("0")),
    ]
    ep = r.top_resources[1]
    assert (ep.resource_name, ep.service, ep.workload) == (
        "chat-prod",
        "Amazon SageMaker",
        "inference",
    )
    assert ep.change == Decimal("50.15")
    assert r.top_resources[0].change == Decimal("-50")


def test_unit_costs(engine: Engine) -> None:
    r = build(engine)
    overall = {u.currency: u for u in r.unit_costs if u.app is None}
    # 3 requests in W47 with 1,500 + 3,500 + 500 tokens; inference cost 150.15 USD, 30 EUR.
    usd = overall["USD"]
    assert (usd.requests, usd.tokens, usd.cost) == (3, 5500, Decimal("150.15"))
    assert usd.per_1k_requests == Decimal("50050")
    assert usd.per_1m_tokens == Decimal("27300")
    assert overall["EUR"].per_1k_requests == Decimal("10000")
    apps = {u.app: (u.requests, u.tokens) for u in r.unit_costs if u.app is not None}
    assert apps == {"faq": (2, 5000), "search": (1, 500)}
    assert "inference" in r.unit_cost_basis


def test_findings_savings_once_per_resource(engine: Engine) -> None:
    r = build(engine)
    # USD: ep-a counted once at its largest (100, not 100 + 60), job-t 40, the anomaly 30;
    # suppressed (1000) and resolved (2000) left out; EUR separately.
    assert dict(r.savings) == {"USD": Decimal("170"), "EUR": Decimal("25")}
    assert r.open_findings == 5
    assert [f.monthly_savings for f in r.top_findings] == [
        Decimal("100"),
        Decimal("60"),
        Decimal("40"),
    ]
    assert [f.fingerprint for f in r.new_findings] == ["idle-endpoint:ep-a"]
    (a,) = r.anomalies
    assert (a.day, a.expected, a.actual, a.currency) == (
        "2026-11-18",
        Decimal("100"),
        Decimal("300"),
        "USD",
    )


def test_freshness_flags_failed_and_silent_sources(engine: Engine) -> None:
    r = build(engine)
    problems = {s.source: s.problems for s in r.freshness}
    assert problems == {
        "aws-cur": ("last run failed",),  # data 2 days old: fresh, but the last run failed
        "cw": (),
        "gcp": ("billing data 8 days old",),
        "gw": ("usage data 2 days old",),  # newest request 2 d 23 h before NOW > 2 days
        "old-src": ("billing data 9 days old",),
    }
    aws = next(s for s in r.freshness if s.source == "aws-cur")
    assert aws.last_error == "AccessDenied: s3:GetObject"
    assert aws.newest_billing == datetime(2026, 11, 23)  # the W48 row
    # only channels whose *latest* delivery failed
    assert [(d.channel, d.error) for d in r.failed_deliveries] == [
        ("slack-webhook", "HTTP 404 no_service")
    ]
    relaxed = build_report(engine, settings(stale_billing_days=10, stale_usage_days=3), now=NOW)
    assert {s.source: s.problems for s in relaxed.freshness}["old-src"] == ()


def test_chart_and_json(engine: Engine) -> None:
    r = build(engine)
    png = render_chart(r)
    assert png is not None and png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (900, 400)
    data = json.loads(as_json(r))
    assert data["week"]["label"] == "2026-W47" and data["week"]["hours"] == 168
    assert data["savings"] == {"EUR": "25.000000000000", "USD": "170.000000000000"}
    inference = next(
        w for w in data["by_workload"] if w["key"] == "inference" and w["currency"] == "USD"
    )
    assert (inference["current"], inference["change_pct"]) == ("150.150000000000", "50.2")


def test_empty_store(engine: Engine) -> None:
    r = build_report(engine, settings(), now=NOW)
    assert (r.total, r.top_resources, r.unit_costs, r.savings) == ((), (), (), ())
    assert render_chart(r) is None
    rendered = render(r, settings())
    assert rendered.chart_png is None and "cid:" not in rendered.html
    assert rendered.period == "2026-W47"
