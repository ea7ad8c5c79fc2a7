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
from collectors.load import load, table
from rules.base import configured_rules
from rules.engine import analyze, list_findings
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
            "model": "anthropic.claude-3-5-sonnet",
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
NOW = datetime(2026, 11, 20, 9)
END = datetime(2026, 11, 20)


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
    rules = configured_rules(
        {"rag-vs-finetune": {"apps": {"support-bot": {**APP, "current": "finetune"}}}}
    )
    analyze(engine, rules, window_days=30, now=NOW)
    [f] = [f for f in list_findings(engine) if f["rule_id"] == "rag-vs-finetune"]
    # V = 300 × 730 / 720 = 304.1667 requests/month.
    # RAG per request = (3000 × 3 + 400 × 15 + 50 × 0.02) / 1e6 = 0.015001;
    #   fixed = vector store $300 in 720 h × 730/720 = 304.1667 → monthly 308.7294
    # FT per request = (600 × 3 + 400 × 15) / 1e6 = 0.0078; fixed = 1800 → monthly 1802.3725
    # saving = 1802.3725 − 308.7294 = 1493.64
    assert f["subject"] == "app:support-bot"
    assert f["monthly_savings"] == Decimal("1493.64")
    ev = f["evidence"]
    assert ev["rag"]["per_request"] == "0.015001" and ev["finetune"]["per_request"] == "0.007800"
    # break-even (1800 − 304.1667) / 0.007201 = 207,725.8 requests a month
    assert ev["break_even_requests_per_month"] == "207726"
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
    missing = cli("--db", db_url, "compare", "rag-vs-finetune", "--app", "support-bot")
    assert missing.exit_code == 2
    assert "input_price_per_mtok" in missing.output and "--set" in missing.output
