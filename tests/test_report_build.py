"""``build_report`` on SQLite and PostgreSQL: exact figures from a small store with known rows.

The reported week is 2026-W47 (Mon 16 – Sun 22 Nov 2026, UTC); the week before is W46.  Rows
are inserted directly (the report reads the store, whoever wrote it); every expected figure is
worked by hand in the test that checks it.  ``seed`` is reused by the renderer tests.
"""

from __future__ import annotations

import json
import struct
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, insert

from agent.config import ReportConfig, Settings
from agent.report import Report, as_json, build_report, render
from agent.report.chart import render_chart
from agent.report.grain import Grain
from agent.report.period import week_of
from agent.store.daily import rebuild
from agent.store.schema import (
    CollectionRun,
    CostLineItem,
    Delivery,
    Finding,
    LlmRequest,
    LlmUsage,
    Resource,
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
    usage_type: str | None = None,
    unit: str | None = None,
    provider: str | None = None,
) -> dict[str, Any]:
    return {
        "x_source": source,
        "x_slice": f"{source}:2026-11",
        "provider_name": provider or ("Google Cloud" if source == "gcp" else "AWS"),
        "x_usage_type": usage_type,
        "pricing_unit": unit,
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


HAIKU_IN: dict[str, Any] = {"usage_type": "USE1-Claude3Haiku-input-tokens", "unit": "1K tokens"}
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"

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
    # token-billed LLM usage: Bedrock 16 + 10 USD, Vertex 6 EUR (no resource id)
    cost(W47 + timedelta(days=2), "16", "inference", service="Amazon Bedrock", **HAIKU_IN),
    cost(
        W47 + timedelta(days=2, hours=1),
        "10",
        "inference",
        service="Amazon Bedrock",
        usage_type="USE1-Claude3Haiku-output-tokens",
        unit="1K tokens",
    ),
    cost(
        W47 + timedelta(days=3),
        "6",
        "inference",
        None,
        "Vertex AI",
        "EUR",
        "gcp",
        usage_type="Gemini 2.5 Flash Text Input Tokens",
        unit="count",
    ),
    # W46 (the week before)
    cost(W46 + timedelta(days=1), "100", "inference", "ep-a", name="chat-prod"),
    cost(W46 + timedelta(days=2), "400", "training", "job-t"),
    cost(W46 + timedelta(days=3), "25", "inference", service="Amazon Bedrock", **HAIKU_IN),
    # outside both weeks: never counted in the totals
    cost(W46 - timedelta(days=1), "999", "inference", "ep-a"),
    cost(W47 + timedelta(days=7), "777", "inference", "ep-a"),
    # a silent source: newest billing row 9 days before NOW
    cost(W47, "1", "other", None, service="EC2", source="old-src"),
]


def llm(
    key: str,
    at: datetime,
    app: str | None,
    inp: int,
    out: int,
    provider: str = "bedrock",
    model: str = HAIKU,
) -> dict[str, Any]:
    return {
        "x_request_key": key,
        "ts": at,
        "provider": provider,
        "model": model,
        "operation": "chat",
        "app": app,
        "input_tokens": inp,
        "output_tokens": out,
        "x_source": "gw",
    }


REQUESTS = [
    llm("r1", W47 + timedelta(hours=3), "faq", 1000, 500),
    llm("r2", W47 + timedelta(days=2), "faq", 3000, 500),
    llm("r3", W47 + timedelta(days=6, hours=1), "search", 900, 100),  # newest: 2026-11-22 01:00
    llm("r4", W46 + timedelta(days=1), "faq", 9999, 9999),  # the week before: not counted
    llm("r5", W47 + timedelta(days=1), "summarizer", 2000, 0, "vertex_ai", "gemini-2.5-flash"),
    llm("r6", W47 + timedelta(days=2), "chatty", 100, 50, "openai", "gpt-4o-mini"),  # not billed
]


def metric(
    resource: str, at: datetime, value: float, period: int = 3600, stat: str = "Sum"
) -> dict[str, Any]:
    return {
        "resource_id": resource,
        "metric": "invocations",
        "ts": at,
        "period_s": period,
        "value": value,
        "stat": stat,
        "x_source": "cw",
    }


METRICS = [
    metric("ep-a", NOW - timedelta(hours=1), 1.0),  # W48: not counted
    metric("ep-a", W47 + timedelta(hours=1), 1000),
    metric("ep-a", W47 + timedelta(days=3), 2003),
    metric("ep-a", W47 + timedelta(hours=1), 17, period=60),  # a finer copy: not added again
    metric("ep-a", W47 + timedelta(hours=2), 3.5, stat="Average"),  # not a count
    metric("ep-a", W46 + timedelta(days=1), 5000),  # the week before
    metric("vertex-e", W47 + timedelta(days=1), 600),
    metric("ep-free", W47 + timedelta(days=1), 100),  # no billed cost: no unit cost
]


def finding(
    fp: str, savings: str, resource: str, status: str = "open", **extra: Any
) -> dict[str, Any]:
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
        "evidence": extra.pop("evidence", {}),
        "resource_id": resource,
    }


FINDINGS = [
    # first seen Fri 20 Nov: after the previous weekly report (7 days before NOW, Wed 18 Nov)
    finding("idle-endpoint:ep-a", "100", "ep-a", first_seen=W47 + timedelta(days=4)),
    finding("overprovisioned-endpoint:ep-a", "60", "ep-a"),  # same resource: counted once
    finding(
        "spot-training:job-t",
        "40",
        "job-t",
        confidence="high",
        evidence={"job_name": "llama-ft"},
    ),
    finding("idle-gpu:i-1", "1000", "i-1", status="suppressed"),
    finding("idle-gpu:i-2", "2000", "i-2", status="resolved"),
    finding("idle-endpoint:vertex-e", "25", "vertex-e", currency="EUR"),
    finding(
        "cost-anomaly:SageMaker|Hosting|us-east-1|2026-11-18",
        "30",
        "SageMaker|Hosting|us-east-1",
        confidence="low",
        title="Cost spike on Wed 18 Nov: SageMaker Hosting",
        evidence={"anomaly": {"day": "2026-11-18", "actual": "300", "expected": "100"}},
    ),
]


def add_costs(engine: Engine, rows: list[dict[str, Any]]) -> None:
    """Insert line items and rebuild the rollup, as the loader does in its transaction."""
    with engine.begin() as conn:
        conn.execute(insert(CostLineItem), rows)
        rebuild(conn)


def seed(engine: Engine) -> None:
    add_costs(engine, COSTS)
    with engine.begin() as conn:
        conn.execute(insert(LlmRequest), REQUESTS)
        conn.execute(insert(UsageMetric), METRICS)
        conn.execute(
            insert(Resource),
            [
                {
                    "resource_id": "vertex-e",
                    "provider_name": "Google Cloud",
                    "resource_type": "vertex_endpoint",
                    "attributes": {"display_name": "gemma-chat"},
                    "first_seen": W46,
                    "last_seen": NOW,
                    "x_source": "gcp",
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
    # USD: inference 100.10 + 50.05 + Bedrock tokens 16 + 10 = 176.15 (W46: 100 + 25);
    # other 0.1 + 0.2 + 5 + 1 (old-src) = 6.3 exactly; EUR inference 30 + 6.
    assert by_key(r.by_workload) == {
        ("inference", "USD"): (Decimal("176.15"), Decimal("125")),
        ("training", "USD"): (Decimal("200"), Decimal("400")),
        ("vector_storage", "USD"): (Decimal("10.001"), Decimal("0")),
        ("other", "USD"): (Decimal("6.3"), Decimal("0")),
        ("inference", "EUR"): (Decimal("36"), Decimal("0")),
    }
    # Currencies never added: one total per currency; 999 (W45) and 777 (W48) are outside.
    assert by_key(r.total) == {
        ("total", "USD"): (Decimal("392.451"), Decimal("525")),
        ("total", "EUR"): (Decimal("36"), Decimal("0")),
    }
    assert by_key(r.ai_total) == {
        ("AI", "USD"): (Decimal("386.151"), Decimal("525")),
        ("AI", "EUR"): (Decimal("36"), Decimal("0")),
    }
    ai_usd = r.ai_in("USD")
    # (386.151 − 525) / 525 × 100 = −26.4474…
    assert ai_usd is not None and ai_usd.change is not None
    assert ai_usd.change.quantize(Decimal("0.0001")) == Decimal("-26.4474")
    assert r.ai_in("EUR") is not None and r.ai_in("EUR").change is None  # type: ignore[union-attr]
    assert r.main_currency == "USD"
    # the main currency leads every per-currency list (EUR would sort first by code)
    assert [t.currency for t in r.total] == [t.currency for t in r.ai_total] == ["USD", "EUR"]
    assert [w.currency for w in r.by_workload] == ["USD"] * 4 + ["EUR"]
    assert [w.key for w in r.by_workload][:4] == [
        "inference",
        "vector_storage",
        "training",
        "other",
    ]
    assert any("EUR" in n and "separately" in n for n in r.notes)
    # ranked within each currency, the main one first (never dollars against euros)
    services = [(s.key, s.currency, s.current) for s in r.top_services]
    assert services == [
        ("Amazon SageMaker", "USD", Decimal("350.15")),
        ("Amazon Bedrock", "USD", Decimal("26")),
        ("OpenSearch", "USD", Decimal("10.001")),
        ("S3", "USD", Decimal("5.3")),
        ("EC2", "USD", Decimal("1")),
        ("Vertex AI", "EUR", Decimal("36")),
    ]
    # top_n applies per currency
    two = build_report(engine, settings(top_n=2), now=NOW).top_services
    assert [(s.key, s.currency) for s in two] == [
        ("Amazon SageMaker", "USD"),
        ("Amazon Bedrock", "USD"),
        ("Vertex AI", "EUR"),
    ]


def test_top_resources_ordered_with_change(engine: Engine) -> None:
    r = build(engine)
    got = [(x.resource_id, x.currency, x.current, x.previous) for x in r.top_resources]
    assert got == [
        ("job-t", "USD", Decimal("200"), Decimal("400")),
        ("ep-a", "USD", Decimal("150.15"), Decimal("100")),
        ("vec-1", "USD", Decimal("10.001"), Decimal("0")),
        ("bucket", "USD", Decimal("5"), Decimal("0")),
        ("vertex-e", "EUR", Decimal("30"), Decimal("0")),
    ]
    ep = r.top_resources[1]
    assert (ep.resource_name, ep.service, ep.workload) == (
        "chat-prod",
        "Amazon SageMaker",
        "inference",
    )
    assert ep.change == Decimal("50.15")
    assert r.top_resources[0].change == Decimal("-50")
    assert r.top_resources[-1].resource_name == "gemma-chat"  # from the inventory


def test_endpoint_unit_costs(engine: Engine) -> None:
    r = build(engine)
    got = [
        (u.resource_id, u.resource_name, u.currency, u.cost, u.invocations, u.per_1k_invocations)
        for u in r.endpoint_unit_costs
    ]
    # ep-a: 100.10 + 50.05 = 150.15 USD over 1,000 + 2,003 invocations (the 60 s copy, the
    # Average and the W46/W48 points are not counted): 150.15 / 3,003 × 1,000 = 50.
    # vertex-e: 30 EUR / 600 × 1,000 = 50 EUR.  ep-free has invocations but no billed cost.
    assert got == [
        ("ep-a", "chat-prod", "USD", Decimal("150.15"), 3003, Decimal(50)),
        ("vertex-e", "gemma-chat", "EUR", Decimal("30"), 600, Decimal(50)),  # inventory name
    ]
    assert "invocations" in r.endpoint_unit_cost_basis


def test_llm_unit_costs_use_only_token_billing_of_the_logged_providers(engine: Engine) -> None:
    r = build(engine)
    rows = {(u.app, u.currency): u for u in r.llm_unit_costs}
    # Numerators are only the token-billed rows: AWS 16 + 10 = 26 USD (not SageMaker's
    # 150.15, not W46's 25), Google 6 EUR (not the Vertex endpoint's 30).
    # USD: 3 Bedrock calls, 1,500 + 3,500 + 1,000 = 6,000 tokens.
    usd = rows[(None, "USD")]
    assert (usd.logged_requests, usd.requests, usd.tokens, usd.cost) == (3, 3, 6000, Decimal(26))
    assert usd.per_1k_requests is not None and usd.per_1m_tokens is not None
    assert usd.per_1k_requests.quantize(Decimal("0.0001")) == Decimal("8666.6667")  # 26000 / 3
    assert usd.per_1m_tokens.quantize(Decimal("0.0001")) == Decimal("4333.3333")  # 26e6 / 6000
    # EUR: 1 Vertex call of 2,000 tokens: 6 EUR → 6,000 per 1k requests, 3,000 per 1M tokens
    eur = rows[(None, "EUR")]
    assert (eur.requests, eur.tokens, eur.cost, eur.per_1k_requests, eur.per_1m_tokens) == (
        1,
        2000,
        Decimal(6),
        Decimal(6000),
        Decimal(3000),
    )
    # Per app, the AWS 26 USD is split by list price (Claude 3 Haiku $0.25 / $1.25 per M):
    # faq 2 × (2,000 × 0.25 + 500 × 1.25) = 2,250 µ$, search 900 × 0.25 + 100 × 1.25 = 350 µ$;
    # faq 26 × 2,250 / 2,600 = 22.5 (per 1k: 22.5 × 1000 / 2 = 11,250; per 1M: 22.5e6 / 5,000 =
    # 4,500), search 3.5 (3,500 per 1k requests and per 1M tokens).
    faq, search = rows[("faq", "USD")], rows[("search", "USD")]
    assert (faq.cost, faq.per_1k_requests, faq.per_1m_tokens) == (
        Decimal("22.5"),
        Decimal(11250),
        Decimal(4500),
    )
    assert (search.cost, search.per_1k_requests, search.per_1m_tokens) == (
        Decimal("3.5"),
        Decimal(3500),
        Decimal(3500),
    )
    assert rows[("summarizer", "EUR")].cost == Decimal(6)
    # OpenAI calls: no OpenAI rows in the bill, so volumes only
    chatty = rows[("chatty", None)]
    assert (chatty.requests, chatty.tokens, chatty.cost, chatty.per_1k_requests) == (
        1,
        150,
        None,
        None,
    )
    # order: all apps (main currency first), then apps by cost within currency, unbilled last
    assert [(u.app, u.currency) for u in r.llm_unit_costs] == [
        (None, "USD"),
        (None, "EUR"),
        ("faq", "USD"),
        ("search", "USD"),
        ("summarizer", "EUR"),
        ("chatty", None),
    ]
    basis = r.llm_unit_cost_basis
    assert "token-billed" in basis and "list-price" in basis and "openai" in basis
    assert "sample" not in basis


def test_llm_volumes_scale_by_the_sample_rate(engine: Engine) -> None:
    seed(engine)
    sampled = Settings(llm_requests={"sample_rate": Decimal("0.25")})
    r = build_report(engine, sampled, now=NOW)
    usd = next(u for u in r.llm_unit_costs if u.app is None and u.currency == "USD")
    # 3 logged calls / 0.25 = 12 requests, 6,000 / 0.25 = 24,000 tokens; 26 USD unchanged:
    # 26,000 / 12 = 2,166.67 per 1k requests, 26e6 / 24,000 = 1,083.33 per 1M tokens
    assert (usd.logged_requests, usd.requests, usd.tokens, usd.cost) == (3, 12, 24000, Decimal(26))
    assert usd.per_1k_requests is not None and usd.per_1m_tokens is not None
    assert usd.per_1k_requests.quantize(Decimal("0.01")) == Decimal("2166.67")
    assert usd.per_1m_tokens.quantize(Decimal("0.01")) == Decimal("1083.33")
    faq = next(u for u in r.llm_unit_costs if u.app == "faq")
    assert (faq.requests, faq.per_1k_requests) == (8, Decimal("2812.5"))  # 22.5e3 / 8
    assert "25 % sample" in r.llm_unit_cost_basis and "= 4" in r.llm_unit_cost_basis


def test_findings_savings_once_per_resource(engine: Engine) -> None:
    r = build(engine)
    # USD: ep-a counted once at its largest (100, not 100 + 60), job-t 40, the anomaly 30;
    # suppressed (1000) and resolved (2000) left out; EUR separately.
    assert dict(r.savings) == {"USD": Decimal("170"), "EUR": Decimal("25")}
    assert r.open_findings == 5
    # what is certain leads: job-t (high) before ep-a's medium findings, however large
    assert [f.monthly_savings for f in r.top_findings] == [
        Decimal("40"),
        Decimal("100"),
        Decimal("60"),
    ]
    # the total split by confidence, each resource under its largest finding's: 40 + 100 + 30
    assert r.savings_by_confidence == (
        ("USD", "high", Decimal("40")),
        ("USD", "medium", Decimal("100")),
        ("USD", "low", Decimal("30")),
        ("EUR", "medium", Decimal("25")),
    )
    md = render(r, settings()).markdown
    assert "(each resource counted once: high $40.00 · medium $100.00 · low $30.00; " in md
    # the subject's name: billing resource_name, the job name in the evidence, the inventory
    names = {f.fingerprint: f.name for f in [*r.top_findings, *r.new_findings]}
    assert names["idle-endpoint:ep-a"] == "chat-prod"
    assert names["spot-training:job-t"] == "llama-ft"
    assert [f.fingerprint for f in r.new_findings] == ["idle-endpoint:ep-a"]
    (a,) = r.anomalies
    assert (a.day, a.expected, a.actual, a.currency) == (
        "2026-11-18",
        Decimal("100"),
        Decimal("300"),
        "USD",
    )


def test_findings_are_ranked_within_currencies(engine: Engine) -> None:
    seed(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(Finding),
            [
                finding("idle-gpu:jp-1", "200000", "jp-1", currency="JPY"),
                finding("idle-gpu:vertex-2", "90", "vertex-2", currency="EUR"),
            ],
        )
    r = build_report(engine, settings(), now=NOW)
    # ¥200,000 and €90 are not "bigger" than $100: the main currency (USD) comes first
    assert [(f.currency, f.monthly_savings) for f in r.top_findings] == [
        ("USD", Decimal(40)),  # high confidence first
        ("USD", Decimal(100)),
        ("USD", Decimal(60)),
    ]
    jpy = build_report(engine, settings(currency="JPY"), now=NOW)
    assert jpy.main_currency == "JPY"
    assert [f.currency for f in jpy.top_findings] == ["JPY", "EUR", "EUR"]  # then EUR 90, 25
    assert [c for c, _ in jpy.savings] == ["JPY", "EUR", "USD"]


def test_main_currency_is_the_one_with_most_rows(engine: Engine) -> None:
    # three ¥200,000 rows against five $10 rows: USD is the main currency, not JPY
    add_costs(
        engine,
        [cost(W47 + timedelta(hours=h), "200000", "inference", currency="JPY") for h in range(3)]
        + [cost(W47 + timedelta(hours=h), "10", "inference") for h in range(5)],
    )
    assert build_report(engine, settings(), now=NOW).main_currency == "USD"
    add_costs(
        engine, [cost(W47 + timedelta(hours=h), "1", "other", currency="EUR") for h in range(5)]
    )
    assert build_report(engine, settings(), now=NOW).main_currency == "USD"  # tie: USD
    add_costs(engine, [cost(W47 + timedelta(hours=9), "1", "other", currency="EUR")])
    assert build_report(engine, settings(), now=NOW).main_currency == "EUR"


def test_freshness_flags_failed_and_silent_sources(engine: Engine) -> None:
    r = build(engine)
    problems = {s.source: s.problems for s in r.freshness}
    assert problems == {
        "aws-cur": ("last run failed",),  # data 2 days old: fresh, but the last run failed
        "cw": (),
        "gcp": ("billing data 6 days old",),  # newest row Thu 19 Nov 00:00
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


def test_missing_data_in_the_week_is_noted(engine: Engine) -> None:
    r = build(engine)
    missing = [n for n in r.notes if "missing" in n]
    # gcp's newest row ends Thu 19 Nov 01:00: 23 Nov 00:00 − 19 Nov 01:00 = 95 h;
    # old-src's only row ends Mon 16 Nov 01:00: 167 h; aws-cur reaches into W48: no note
    assert missing == [
        "gcp: billing data ends Thu 19 Nov 01:00 UTC, so the last 95 h of 2026-W47 are missing; "
        "its figures and the change are understated.",
        "old-src: billing data ends Mon 16 Nov 01:00 UTC, so the last 167 h of 2026-W47 are "
        "missing; its figures and the change are understated.",
    ]


def test_latest_picks_the_week_from_the_data_but_reports_the_real_time(engine: Engine) -> None:
    seed(engine)
    # the newest charge starts Mon 23 Nov: the last full week before its midnight is W47
    r = build_report(engine, settings(), now=NOW + timedelta(days=30), latest=True)
    assert r.week.label == "2026-W47"
    assert r.generated_at == NOW + timedelta(days=30)


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
    # (176.15 − 125) / 125 × 100 = 40.92
    assert (inference["current"], inference["change_pct"]) == ("176.150000000000", "40.9")
    assert data["new_findings"][0]["fingerprint"] == "idle-endpoint:ep-a"
    assert data["new_findings"][0]["name"] == "chat-prod"


def test_chart_days_add_up_to_the_week_in_utc(engine: Engine) -> None:
    r = build(engine)
    week = [d for d in r.daily if d.currency == "USD" and r.week.first_day <= d.day]
    total = next(t for t in r.total if t.currency == "USD")
    assert sum((d.cost for d in week), Decimal(0)) == total.current == Decimal("392.451")


def test_empty_store(engine: Engine) -> None:
    r = build_report(engine, settings(), now=NOW)
    assert (r.total, r.top_resources, r.endpoint_unit_costs, r.llm_unit_costs, r.savings) == (
        (),
        (),
        (),
        (),
        (),
    )
    assert render_chart(r) is None
    rendered = render(r, settings())
    assert rendered.chart_png is None and "cid:" not in rendered.html
    assert rendered.period == "2026-W47"


@pytest.mark.parametrize(
    ("tz", "day"),
    [
        ("UTC", date(2026, 11, 18)),
        ("Europe/Berlin", date(2026, 10, 21)),  # W43: clocks go back Sun 25 Oct (169 h)
        ("America/Los_Angeles", date(2026, 10, 28)),  # W44: clocks go back Sun 1 Nov (169 h)
        ("Asia/Kolkata", date(2026, 11, 18)),  # +05:30: local midnight is 18:30 UTC
    ],
)
def test_chart_buckets_local_days_so_the_week_adds_up(engine: Engine, tz: str, day: date) -> None:
    week = week_of(day, tz)
    # hourly rows of rising amounts from 36 h before to 36 h after the week, and every fifth
    # hour a row starting at :45 (18:45 UTC is already the next day in Kolkata)
    starts = [week.start + timedelta(hours=h) for h in range(-36, week.hours + 36)]
    rows = [(t, Decimal(i) + Decimal("0.5"), "inference") for i, t in enumerate(starts)]
    rows += [(t + timedelta(minutes=45), Decimal("0.25"), "training") for t in starts[::5]]
    add_costs(engine, [cost(t, str(v), w) for t, v, w in rows])
    r = build_report(engine, settings(timezone=tz), now=week.end + timedelta(days=3), week=day)
    (total,) = r.total
    # the week's total: every row starting in [start, end), summed here by hand
    expected = sum((v for t, v, _ in rows if week.start <= t < week.end), Decimal(0))
    assert total.current == expected
    in_week = [d for d in r.daily if week.first_day <= d.day <= week.last_day]
    assert {d.day for d in in_week} == {week.first_day + timedelta(days=i) for i in range(7)}
    assert sum((d.cost for d in in_week), Decimal(0)) == expected
    # the day before the week holds exactly the rows of the local day before
    eve = week.first_day - timedelta(days=1)
    eve_start = datetime.combine(eve, time(), ZoneInfo(tz)).astimezone(UTC).replace(tzinfo=None)
    eve_rows = [v for t, v, _ in rows if eve_start <= t < week.start]
    assert sum((d.cost for d in r.daily if d.day == eve), Decimal(0)) == sum(eve_rows, Decimal(0))


def test_grain_reads_the_rollup_only_where_local_days_are_utc_days() -> None:
    start, end = datetime(2026, 9, 27, 23), datetime(2026, 11, 23)
    assert Grain.for_range("UTC", start, end).daily
    assert Grain.for_range("Europe/London", datetime(2026, 11, 2), end).daily  # GMT: UTC days
    london = Grain.for_range("Europe/London", start, end)  # BST until 25 Oct
    assert not london.daily and london.whole_hours
    kolkata = Grain.for_range("Asia/Kolkata", start, end)
    assert not kolkata.daily and not kolkata.whole_hours  # grouped by exact start


def test_a_finding_is_new_in_exactly_one_weekly_report(engine: Engine) -> None:
    """The daemon analyses Monday 06:30 and reports Monday 09:00: a finding first seen at
    06:30 is new in that morning's report only, not again in next Monday's."""
    from agent.report.build import new_findings_window
    from agent.report.period import last_full_week

    seed(engine)
    monday = datetime(2026, 11, 23, 9)
    first_seen = datetime(2026, 11, 23, 6, 30)
    with engine.begin() as conn:
        conn.execute(insert(Finding), [finding("idle-gpu:i-9", "5", "i-9", first_seen=first_seen)])
    news = []
    for report_at in (monday, monday + timedelta(days=7)):
        r = build_report(engine, settings(), now=report_at)
        news.append([f.fingerprint for f in r.new_findings if f.fingerprint == "idle-gpu:i-9"])
        after, until = new_findings_window(last_full_week(report_at, "UTC"), report_at)
        assert (after, until) == (report_at - timedelta(days=7), report_at)
        assert r.new_since == after
    assert news == [["idle-gpu:i-9"], []]
    # a week reported long after it ended counts that week's own days
    old = build_report(engine, settings(), now=monday + timedelta(days=60), week=date(2026, 11, 18))
    assert old.new_since == datetime(2026, 11, 16) - timedelta(microseconds=1)
    assert [f.fingerprint for f in old.new_findings if f.fingerprint == "idle-gpu:i-9"] == []


def test_embedding_bill_goes_to_embedding_calls_only(engine: Engine) -> None:
    """One provider, two kinds: the Titan embedding bill goes to the app that logged embedding
    calls, the Claude chat bill to the chat apps — never mixed by list-price share."""
    seed(engine)
    embed = cost(
        W47 + timedelta(days=2, hours=2),
        "4",
        "inference",
        service="Amazon Bedrock",
        usage_type="USE1-TitanEmbedTextV2-input-tokens",
        unit="1K tokens",
    )
    add_costs(engine, [embed])
    call = {**llm("e1", W47 + timedelta(days=2), "indexer", 8000, 0), "operation": "embeddings"}
    call["model"] = "amazon.titan-embed-text-v2:0"
    with engine.begin() as conn:
        conn.execute(insert(LlmRequest), [call])
    r = build_report(engine, settings(), now=NOW)
    rows = {(u.app, u.currency): u for u in r.llm_unit_costs}
    # chat: the same 26 USD over faq and search as before; embeddings: all 4 USD to indexer
    assert rows[("faq", "USD")].cost == Decimal("22.5")
    assert rows[("search", "USD")].cost == Decimal("3.5")
    assert rows[("indexer", "USD")].cost == Decimal(4)
    # all apps: 26 + 4 = 30 USD over 4 calls
    assert (rows[(None, "USD")].cost, rows[(None, "USD")].logged_requests) == (Decimal(30), 4)
    assert "aws embeddings" in r.llm_unit_cost_basis


def usage(at: datetime, provider: str, project: str | None, requests: int | None,
          inp: int, out: int) -> dict[str, Any]:  # fmt: skip
    return {
        "x_source": provider, "x_slice": f"{provider}:{at.date()}", "bucket_start": at,
        "bucket_end": at + timedelta(days=1), "provider": provider, "operation": "chat",
        "model": "m", "project_id": project, "requests": requests, "input_tokens": inp,
        "output_tokens": out,
    }  # fmt: skip


def test_llm_unit_costs_of_providers_billed_directly_come_from_their_usage_reports(
    engine: Engine,
) -> None:
    """No request log: the admin APIs' buckets are the volumes, per project / workspace, each
    costed by that provider's cost rows of that project (``sub_account_id``)."""
    day = W47 + timedelta(days=2)

    def direct(amount: str, provider: str, project: str | None, at: datetime = day) -> Any:
        row = cost(at, amount, "inference", service="API", source=provider.lower(),
                   provider=provider)  # fmt: skip
        return row | {"sub_account_id": project}

    add_costs(engine, [
        direct("4", "OpenAI", "proj_x"), direct("2.5", "Anthropic", "wrk_a"),
        direct("0.5", "Anthropic", None), direct("99", "Anthropic", "wrk_a", W46),
        cost(day, "50", "inference", "ep-a") | {"sub_account_id": None},  # hosting: not LLM API
    ])  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(LlmUsage), [
            usage(day, "openai", "proj_x", 10, 30_000, 10_000),
            usage(day, "anthropic", "wrk_a", None, 9_000, 1_000),
            usage(day, "anthropic", None, None, 400, 100),
            usage(W46, "anthropic", "wrk_a", None, 1, 1),  # the week before
        ])  # fmt: skip
    r = build_report(engine, settings(), now=NOW)
    rows = {u.app: u for u in r.llm_unit_costs}
    # OpenAI proj_x: $4 / 10 requests = $400 per 1k; $4 / 40,000 tokens = $100 per 1M
    x = rows["proj_x"]
    assert (x.logged_requests, x.requests, x.tokens, x.cost) == (0, 10, 40_000, Decimal(4))
    assert (x.per_1k_requests, x.per_1m_tokens) == (Decimal(400), Decimal(100))
    # Anthropic counts no requests: no per-request figure; $2.5 / 10,000 tokens = $250 per 1M
    a = rows["wrk_a"]
    assert (a.requests, a.tokens, a.cost, a.per_1k_requests) == (None, 10_000, Decimal("2.5"), None)
    assert a.per_1m_tokens == Decimal(250)
    assert rows["(default project)"].cost == Decimal("0.5")
    # all apps: $7 over 50,500 tokens; per request only over the counted part ($4 / 10)
    total = rows[None]
    assert (total.requests, total.tokens, total.cost) == (10, 50_500, Decimal(7))
    assert total.per_1k_requests == Decimal(400)
    assert "usage reports" in r.llm_unit_cost_basis
    assert "anthropic counts no requests" in r.llm_unit_cost_basis
    assert "no logged calls" not in r.llm_unit_cost_basis


def test_usage_buckets_of_a_logged_provider_are_left_to_the_log(engine: Engine) -> None:
    seed(engine)  # the log holds an OpenAI call (app chatty)
    with engine.begin() as conn:
        conn.execute(insert(LlmUsage), [usage(W47 + timedelta(days=1), "openai", "p", 5, 9, 9)])
    r = build_report(engine, settings(), now=NOW)
    assert "p" not in {u.app for u in r.llm_unit_costs}
    assert ("chatty", None) in {(u.app, u.currency) for u in r.llm_unit_costs}
