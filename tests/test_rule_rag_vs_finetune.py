"""``rag-vs-finetune`` and ``costagent compare rag-vs-finetune``: the cost model on measured
traffic, with every figure worked by hand."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from agent.config import load_settings
from agent.store.findings import list_findings
from agent.store.llm_prices import PRICE_TABLE
from collectors.load import load, table
from rules.base import configured_rules
from rules.engine import analyze
from rules.rag_cost import Comparison, Design
from tests.helpers import cli

STORE = "arn:aws:aoss:us-east-1:111122223333:collection/rag-docs"


def seed(engine: Engine, end: datetime) -> None:
    """300 chat requests of support-bot in the 30 days before ``end`` (3,000 input / 400 output
    tokens each), 100 embedding calls (not counted as chat), and $10/day of vector store."""
    start = end - timedelta(days=30)
    requests: list[dict[str, Any]] = [
        {
            "x_request_key": f"c{i}",
            "ts": start + timedelta(hours=2 * i + 1),
            "provider": "aws",
            "model": "acme.frontier-llm",
            "operation": "chat",
            "app": "support-bot",
            "input_tokens": 3000,
            "output_tokens": 400,
        }
        for i in range(300)
    ] + [
        {
            "x_request_key": f"e{i}",
            "ts": start + timedelta(hours=i + 1),
            "model": "amazon.titan-embed-text-v2",
            "operation": "embeddings",
            "app": "support-bot",
            "input_tokens": 300,
        }
        for i in range(100)
    ]
    costs = [
        {
            "provider_name": "AWS",
            "billing_account_id": "111122223333",
            "billing_period_start": (start + timedelta(days=d)).replace(day=1),
            "charge_period_start": start + timedelta(days=d),
            "charge_period_end": start + timedelta(days=d + 1),
            "charge_category": "Usage",
            "billed_cost": Decimal("10"),
            "effective_cost": Decimal("10"),
            "billing_currency": "USD",
            "service_name": "Amazon OpenSearch Service",
            "x_usage_type": "USE1-SearchOCU",
            "resource_id": STORE,
        }
        for d in range(30)
    ]
    settings = load_settings(None)
    load(
        engine,
        settings,
        "seed",
        [("llm_requests", table("llm_requests", requests)), ("cost", table("cost", costs))],
    )


APP = {
    "input_price_per_mtok": "3",
    "output_price_per_mtok": "15",
    "prompt_tokens": 600,
    "vector_store_resources": [STORE],
    "training_cost": "1800",
    "retrain_days": 30,
}
#: the same app run as a fine-tuned model: RAG would add this much retrieved context
FINETUNED_APP = {**APP, "current": "finetune", "context_tokens": 2000}
NOW = datetime(2026, 11, 20, 9)
END = datetime(2026, 11, 20)


def analyze_app(engine: Engine, app: dict[str, Any]) -> Any:
    """``analyze`` with rag-vs-finetune reviewing ``app`` as support-bot."""
    rules = configured_rules({"rag-vs-finetune": {"apps": {"support-bot": app}}})
    return analyze(engine, rules, window_days=30, now=NOW)


def test_the_model_by_hand() -> None:
    rag = Design("rag", Decimal("0.015001"), Decimal("304"), Decimal("0.9"))
    ft = Design("finetune", Decimal("0.0078"), Decimal("1800"), Decimal("0.8"))
    c = Comparison(rag, ft, Decimal(300_000))
    # V* = (1800 − 304) / (0.015001 − 0.0078) = 1496 / 0.007201 = 207,749.0…
    assert c.break_even == Decimal("207749")
    # At 300k/month: RAG 4,500.30 + 304 = 4,804.30; FT 2,340 + 1,800 = 4,140 → FT cheaper…
    assert rag.monthly(c.volume) == Decimal("4804.300") and ft.monthly(c.volume) == 4140
    # Per correct answer: RAG 4,804.30 / (300k × 0.9) = 0.017794, FT 4,140 / (300k × 0.8)
    # = 0.01725: fine-tuning still wins although it answers correctly less often.
    assert rag.cost_of_pass(c.volume).quantize(Decimal("0.000001")) == Decimal("0.017794")
    assert ft.cost_of_pass(c.volume) == Decimal("0.01725")
    assert c.cheaper() is ft
    assert c.cheaper(by_cost_of_pass=False) is ft


def test_finding_when_the_current_design_costs_more(engine: Engine) -> None:
    seed(engine, END)
    rules = configured_rules({"rag-vs-finetune": {"apps": {"support-bot": {**FINETUNED_APP}}}})
    analyze(engine, rules, window_days=30, now=NOW)
    [f] = [f for f in list_findings(engine) if f["rule_id"] == "rag-vs-finetune"]
    # The app runs a tuned model: its logged request (3,000 in / 400 out) is the fine-tuned
    # design's; RAG adds context_tokens = 2,000 retrieved tokens to it.
    # V = 300 × 730 / 720 = 304.1667 requests/month.
    # RAG per request = ((3000 + 2000) × 3 + 400 × 15 + 50 × 0.02) / 1e6 = 0.021001;
    #   fixed = vector store $300 in 720 h × 730/720 = 304.1667 → monthly 310.5545
    # FT per request = (3000 × 3 + 400 × 15) / 1e6 = 0.015; fixed = 1800 × (730 / 24) / 30
    #   = 1825 (a 730-hour month, as the volume) → monthly 1829.5625
    # saving = 1829.5625 − 310.5545 = 1519.01
    assert f["subject"] == "app:support-bot"
    assert f["monthly_savings"] == Decimal("1519.01")
    ev = f["evidence"]
    assert ev["rag"]["per_request"] == "0.021001" and ev["finetune"]["per_request"] == "0.015000"
    # break-even (1825 − 304.1667) / 0.006001 = 253,430.0 requests a month
    assert ev["break_even_requests_per_month"] == "253430"
    assert ev["measured_requests"] == 300  # embedding calls are not chat requests


def test_no_finding_when_the_current_design_is_cheaper(engine: Engine) -> None:
    seed(engine, END)
    rules = configured_rules({"rag-vs-finetune": {"apps": {"support-bot": APP}}})
    result = analyze(engine, rules, window_days=30, now=NOW)
    assert result.produced["rag-vs-finetune"] == 0


def test_compare_command(engine: Engine, db_url: str, tmp_path: Path) -> None:
    seed(engine, datetime.now(UTC).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0))
    config = tmp_path / "c.toml"
    config.write_text(
        "[rules.rag-vs-finetune.apps.support-bot]\n"
        "input_price_per_mtok = 3\noutput_price_per_mtok = 15\ntraining_cost = 1800\n"
    )
    result = cli(
        "--config",
        str(config),
        "--db",
        db_url,
        "compare",
        "rag-vs-finetune",
        "--app",
        "support-bot",
        "--set",
        "prompt_tokens=600",
        "--set",
        "accuracy_rag=0.9",
        "--set",
        "accuracy_finetune=0.8",
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["rag"]["per_request"] == "0.015001"
    assert data["rag"]["fixed_monthly"] == "0.00"  # no vector store named here
    assert data["rag"]["accuracy"] == "0.9" and data["finetune"]["cost_per_correct_answer"]
    assert data["cheaper_above_break_even"] == "finetune"
    assert data["price_sources"] == {
        "generation": ["generation model: config: apps.support-bot.input/output_price_per_mtok"],
        "finetuned": ["generation model: config: apps.support-bot.input/output_price_per_mtok"],
        "embedding": ["query embedding: config: default (0.02 per million tokens)"],
    }
    missing = cli("--db", db_url, "compare", "rag-vs-finetune", "--app", "support-bot")
    assert missing.exit_code == 2
    assert "training_cost" in missing.output and "--set" in missing.output
    assert "[rules.rag-vs-finetune.apps.support-bot]" in missing.output
    # Without prices the logged model is looked up in the price table, which does not know
    # this vendor's model: a usage error naming it and what to set, never $0.
    unpriced = cli(
        "--db",
        db_url,
        "compare",
        "rag-vs-finetune",
        "--app",
        "support-bot",
        "--set",
        "training_cost=1800",
    )
    assert unpriced.exit_code == 2
    assert "'acme.frontier-llm'" in unpriced.output
    assert "input_price_per_mtok" in unpriced.output


def test_break_even_when_the_cheaper_request_has_the_larger_fixed_cost() -> None:
    # RAG: $0.002 a request + $900 a month; fine-tuned: $0.01 a request + $100 a month.  Both
    # differences are negative and the lines still cross: V* = (100 − 900) / (0.002 − 0.01) =
    # −800 / −0.008 = 100,000 (RAG 200 + 900 = FT 1,000 + 100 = $1,100); above it RAG wins.
    c = Comparison(
        Design("rag", Decimal("0.002"), Decimal(900)),
        Design("finetune", Decimal("0.01"), Decimal(100)),
        Decimal(50_000),
    )
    assert c.break_even == Decimal(100_000)
    assert c.cheaper_above_break_even is c.rag
    assert c.as_evidence()["cheaper_above_break_even"] == "rag"
    # One design cheaper both per request and per month: no crossing at a positive volume.
    never = Comparison(
        Design("rag", Decimal("0.002"), Decimal(100)),
        Design("finetune", Decimal("0.01"), Decimal(900)),
        Decimal(50_000),
    )
    assert never.break_even is None and never.cheaper_above_break_even is None
    same = Comparison(Design("rag", Decimal(1), Decimal(1)), Design("finetune", Decimal(1), 0), 1)
    assert same.break_even is None


def test_prices_from_the_price_table_with_retrieval_and_store_share(engine: Engine) -> None:
    seed(engine, END)
    app = {
        "current": "finetune",
        "context_tokens": 2000,
        "model": "gemini-2.5-flash",  # table: $0.30 in / $2.50 out per million
        "provider": "google",
        "finetuned_model": "gemini-2.5-flash-lite",  # table: $0.10 in / $0.40 out
        "prompt_tokens": 600,
        "retrieval_cost_per_request": "0.0004",
        "vector_store_resources": [STORE],
        "vector_store_share": "0.5",
        "training_cost": "1800",
    }
    result = analyze_app(engine, app)
    assert "rag-vs-finetune" not in result.warnings  # (prompt-caching warns of this log)
    [f] = [f for f in list_findings(engine) if f["rule_id"] == "rag-vs-finetune"]
    # V = 300 × 730 / 720 = 304.1667 a month.
    # RAG per request = ((3000 + 2000) × 0.30 + 400 × 2.50) / 1e6 + 50 × 0.02 / 1e6 + 0.0004
    #   retrieval = 0.0015 + 0.001 + 0.000001 + 0.0004 = 0.002901; fixed = half the store's
    #   $300 × 730 / 720 = 152.0833 → monthly 152.9657
    # FT per request = (3000 × 0.10 + 400 × 0.40) / 1e6 = 0.00046; fixed 1825 → 1825.1399
    # saving = 1825.1399 − 152.9657 = 1672.17; V* = 1672.9167 / 0.002441 = 685,341
    assert f["monthly_savings"] == Decimal("1672.17")
    ev = f["evidence"]
    assert ev["rag"]["per_request"] == "0.002901" and ev["finetune"]["per_request"] == "0.000460"
    assert ev["rag"]["fixed_monthly"] == "152.08" and ev["vector_store_monthly_total"] == "304.17"
    assert ev["break_even_requests_per_month"] == "685341"
    assert ev["price_sources"]["generation"] == [
        f"gemini-2.5-flash: {PRICE_TABLE}: google/gemini-2.5-flash"
    ]
    assert ev["price_sources"]["finetuned"][0].startswith("gemini-2.5-flash-lite: genai-prices")


def test_an_unpriced_model_is_a_warning_not_a_zero(engine: Engine) -> None:
    seed(engine, END)
    app = {"current": "finetune", "training_cost": "1800", "context_tokens": 2000}
    result = analyze_app(engine, app)
    assert result.produced["rag-vs-finetune"] == 0
    [warning] = result.warnings["rag-vs-finetune"]
    assert "'support-bot'" in warning and "'acme.frontier-llm'" in warning
    assert "[rules.rag-vs-finetune.apps.support-bot]" in warning


def test_sampled_log_and_shared_private_prices_from_llm_requests(engine: Engine) -> None:
    """``[llm_requests]`` declares the 1 % sample and the private price once; the rule gets both
    through ``Settings.rule_settings()`` (no price in the app's own table)."""
    from agent.config import Settings

    seed(engine, END)
    app = {k: v for k, v in APP.items() if not k.endswith("_price_per_mtok")}
    settings = Settings(
        llm_requests={
            "sample_rate": "0.01",
            "prices": {"acme.frontier-llm": {"input": "3", "output": "15"}},
        },
        rules={
            "rag-vs-finetune": {
                "apps": {"support-bot": {**app, "current": "finetune", "context_tokens": 2000}}
            }
        },
    )
    rules = configured_rules(settings.rule_settings())
    analyze(engine, rules, window_days=30, now=NOW)
    [f] = [f for f in list_findings(engine) if f["rule_id"] == "rag-vs-finetune"]
    # V = 300 × 730 / 720 / 0.01 = 30,416.67 requests/month (the log holds 1 % of them).
    # RAG = 30,416.67 × 0.021001 + 304.1667 = 942.9471; FT = 30,416.67 × 0.015 + 1825
    # = 2,281.25; saving = 2,281.25 − 942.9471 = 1,338.30
    assert f["monthly_savings"] == Decimal("1338.30")
    ev = f["evidence"]
    assert ev["rag"]["per_request"] == "0.021001"  # 3/15 per Mtok: the shared private price
    assert "config" in json.dumps(ev["price_sources"])  # priced by the override, not the table


def test_a_finetuned_app_must_say_how_much_context_rag_would_add() -> None:
    import pytest

    from rules.rag_vs_finetune import RagApp

    with pytest.raises(ValueError, match="context_tokens is required when current = finetune"):
        RagApp.model_validate({"current": "finetune", "training_cost": "1800"})


def test_a_vector_store_billed_in_another_currency_is_a_warning(engine: Engine) -> None:
    """$ store, € app amounts: never added, never a silent 0 — the app is not compared."""
    seed(engine, END)
    app = {**APP, "currency": "EUR"}
    result = analyze_app(engine, app)
    assert result.produced["rag-vs-finetune"] == 0
    [warning] = result.warnings["rag-vs-finetune"]
    assert "billed in USD" in warning and "vector_store_monthly in EUR" in warning
