"""The request-log rules (prompt-caching, response-cache, batch-inference, reembedding,
model-distillation) and their price table, every savings figure worked by hand.

Prices used (genai-prices 0.2.x bundled snapshot, per million tokens; pyproject pins the
minor version so these figures stay the worked ones):
Claude 3.5 Sonnet on Bedrock input 3, output 15, cache read 0.30, cache write 3.75;
Claude 3 Haiku on Bedrock input 0.25, output 1.25 (no caching);
Gemini 2.5 Flash input 0.30, output 2.50 (batch 0.15 / 1.25);
Gemini 2.5 Pro input 1.25 (2.50 above 200k input tokens).
The window is the 30 whole days before NOW: 720 hours, so monthly = window × 730 / 720.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

import agent.demo
from agent.config import load_settings
from agent.store.engine import open_store
from agent.store.findings import list_findings
from agent.store.llm_prices import ModelPrice, Pricer, grouped, normalise, tier_starts
from agent.store.schema import LlmRequest
from collectors.importer import import_paths
from collectors.load import load, table
from rules.base import RuleContext, configured_rules
from rules.engine import analyze
from rules.llm_prices import totals
from rules.model_distillation import DEFAULT_SMALLER, smaller_tier
from tests.helpers import cli

NOW = datetime(2026, 11, 20, 12, 0)
END = NOW.replace(hour=0, minute=0)
START = END - timedelta(days=30)
SONNET = "anthropic.claude-3-5-sonnet-20240620-v1:0"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
TITAN = "amazon.titan-embed-text-v2:0"
LLM_RULES = ("prompt-caching", "response-cache", "batch-inference", "reembedding")
LLM_RULES += ("model-distillation",)


def call(key: str, ts: datetime, app: str, model: str, **kw: Any) -> dict[str, Any]:
    provider = "vertex_ai" if model.startswith("gemini") else "bedrock"
    row = {
        "x_request_key": key,
        "ts": ts,
        "provider": provider,
        "model": model,
        "operation": "chat",
        "app": app,
        "input_tokens": 1000,
        "output_tokens": 100,
        "cache_read_tokens": 0,
        "prompt_hash": key,
        "batch": False,
    }
    row.update(kw)
    return row


def seed(engine: Engine, rows: list[dict[str, Any]]) -> None:
    load(engine, load_settings(None), "seed", [("llm_requests", table("llm_requests", rows))])


def run(engine: Engine, rule_id: str, config: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    rules = [r for r in configured_rules({rule_id: config or {}}) if r.rule_id == rule_id]
    result = analyze(engine, rules, window_days=30, now=NOW)
    assert result.errors == {}
    return [f for f in list_findings(engine, status="open") if f["rule_id"] == rule_id]


# --- the price table -----------------------------------------------------------------------------
def test_model_names_are_normalised_for_the_price_table() -> None:
    assert normalise("bedrock", SONNET) == ("aws", SONNET)
    assert normalise("vertex_ai", "publishers/google/models/gemini-2.5-flash") == (
        "google",
        "gemini-2.5-flash",
    )
    assert normalise("Vertex_AI", "gemini-1.5-pro@002") == ("google", "gemini-1.5-pro")
    assert normalise("bedrock", f"arn:aws:bedrock:us-east-1::foundation-model/{HAIKU}") == (
        "aws",
        HAIKU,
    )
    pricer = Pricer({}, END.replace(tzinfo=UTC))
    for provider, model in [
        ("bedrock", SONNET),
        ("bedrock", f"us.{SONNET}"),
        ("vertex_ai", "publishers/google/models/gemini-2.5-flash"),
        ("vertex_ai", "claude-3-5-sonnet-v2@20241022"),
        ("openai", "gpt-4o-mini"),
    ]:
        assert pricer.lookup(provider, model) is not None, model
    assert pricer.unknown == {}


@pytest.mark.parametrize(
    ("provider", "model", "listed_as"),
    [
        # Bedrock ids without date or version: the vendor's own listing
        ("bedrock", "anthropic.claude-sonnet-4-5", "anthropic/claude-sonnet-4-5 (the vendor's"),
        ("aws", "anthropic.claude-3-5-sonnet", "anthropic/claude-3-5-sonnet (the vendor's"),
        ("bedrock", "mistral.mistral-large-2407-v1:0", "mistral/mistral-large (the vendor's"),
        # a gateway's provider prefix (LiteLLM's model names)
        ("openai", "openai/gpt-4o-mini", "openai/gpt-4o-mini (without the gateway prefix"),
        ("litellm", "bedrock/converse/us.anthropic.claude-3-7-sonnet-20250219-v1:0",
         "aws/regional.anthropic.claude-3-7-sonnet-20250219-v1:0"),
        ("azure", "azure/gpt-4o", "azure/gpt-4o"),
        # inference profiles and dated ids stay with Bedrock's own (regional) price
        ("bedrock", "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
         "aws/global.anthropic.claude-sonnet-4-5-20250929-v1:0"),
    ],
)  # fmt: skip
def test_model_spellings_fall_back_across_the_vendors_listing(
    provider: str, model: str, listed_as: str
) -> None:
    """Real logs spell one model many ways; each was unpriced (three rules skipped its app)."""
    price = Pricer({}, END.replace(tzinfo=UTC)).lookup(provider, model)
    assert price is not None, model
    assert price.source.split(": ", 1)[1].startswith(listed_as), price.source


def test_an_application_inference_profile_says_what_to_do() -> None:
    pricer = Pricer({}, END.replace(tzinfo=UTC))
    arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3"
    assert pricer.lookup("bedrock", arn) is None
    assert "an application inference profile names no model: price it" in pricer.unknown[arn]
    # the distillation map: longest key wins, a model never maps to itself
    assert smaller_tier(SONNET, "bedrock", DEFAULT_SMALLER) == HAIKU
    assert smaller_tier("gemini-2.5-pro", "vertex_ai", DEFAULT_SMALLER) == "gemini-2.5-flash"
    assert smaller_tier("gpt-4o-mini", "openai", DEFAULT_SMALLER) is None
    assert smaller_tier("gemini-2.5-flash-lite", "vertex_ai", DEFAULT_SMALLER) is None
    assert smaller_tier(HAIKU, "bedrock", DEFAULT_SMALLER) is None


def test_unknown_model_is_named_never_priced_at_zero(caplog: pytest.LogCaptureFixture) -> None:
    pricer = Pricer({"acme-llm": ModelPrice(input=Decimal(2))}, END.replace(tzinfo=UTC))
    with caplog.at_level(logging.WARNING):
        assert pricer.lookup("vertex_ai", "text-embedding-005") is None
    assert "text-embedding-005" in caplog.text
    assert pricer.warning(["text-embedding-005", SONNET])["unpriced_models"] == [
        "text-embedding-005"
    ]
    override = pricer.lookup("acme", "ACME-LLM")  # config keys match case-insensitively
    assert override is not None and override.source == "config: prices.acme-llm"
    assert not override.caches


def test_long_context_tiers_are_priced_per_request(engine: Engine) -> None:
    """Gemini 2.5 Pro: a 100k-token request at $1.25/M = $0.125 and a 300k-token one at the
    above-200k rate $2.50/M = $0.75; total $0.875 (one 400k total would say $1.00, base $0.50)."""
    assert 200_000 in tier_starts()
    seed(
        engine,
        [
            call(
                "t1",
                START + timedelta(hours=1),
                "long",
                "gemini-2.5-pro",
                input_tokens=100_000,
                output_tokens=0,
            ),
            call(
                "t2",
                START + timedelta(hours=2),
                "long",
                "gemini-2.5-pro",
                input_tokens=300_000,
                output_tokens=0,
            ),
        ],
    )
    with engine.connect() as conn:
        ctx = RuleContext(conn, START, END)
        groups = grouped(ctx, [LlmRequest.app])
        assert len(groups) == 2  # two tier bands
        assert totals(Pricer({}, END.replace(tzinfo=UTC)), groups) == {"USD": Decimal("0.875")}


# --- response-cache ------------------------------------------------------------------------------
def test_response_cache(engine: Engine) -> None:
    """faq-bot: 1,200 Sonnet requests 36 min apart (10,000 in / 1,000 out = $0.045 each, $54 in
    the window), every 4th repeating the previous prompt 36 min later: 300 duplicates; 400
    requests of an unpriced model with 100 duplicates; 400 Haiku requests (1,000 in / 100 out =
    $0.000375 each, $0.15), none repeated.  Share = 400 / 2,000 = 20 % ≥ 10 %.  Savings are
    per model: Sonnet 300 / 1,200 × $54 = $13.50, Haiku 0, the unpriced model left out →
    × 730 / 720 = $13.6875 → $13.69 a month (20 % × $54.15 would say $10.98).
    late-bot: the same, but each repeat comes 25.2 h after its first: no duplicate within 24 h."""
    rows = []
    for app, lag in (("faq-bot", 1), ("late-bot", 42)):
        for i in range(1200):
            first = i % 4 != 3 or i < lag
            rows.append(
                call(
                    f"{app}{i}",
                    START + timedelta(minutes=36 * i + 5),
                    app,
                    SONNET,
                    input_tokens=10_000,
                    output_tokens=1_000,
                    prompt_hash=f"{app}{i if first else i - lag}",
                )
            )
    for i in range(400):
        rows.append(
            call(
                f"acme{i}",
                START + timedelta(minutes=90 * i + 7),
                "faq-bot",
                "acme-llm",
                prompt_hash=f"acme{i - 1 if i % 4 == 3 else i}",
            )
        )
        rows.append(call(f"haiku{i}", START + timedelta(minutes=90 * i + 9), "faq-bot", HAIKU))
    seed(engine, rows)
    found = run(engine, "response-cache")
    assert [f["subject"] for f in found] == ["app:faq-bot"]
    f = found[0]
    assert f["monthly_savings"] == Decimal("13.69")
    assert f["confidence"] == "medium"
    ev = f["evidence"]
    assert (ev["requests"], ev["duplicate_requests"], ev["duplicate_share"]) == (
        2000,
        400,
        "0.2000",
    )
    assert ev["llm_cost_in_window"] == "54.15"
    assert ev["duplicate_cost_in_window"] == "13.50"
    assert ev["unpriced_models"] == ["acme-llm"]
    assert f["resource_id"] == "llm-app:faq-bot"
    # a 26-hour TTL catches late-bot's repeats too (every 4th from i = 43 on: 290 of 1,200):
    # 290 / 1,200 × $54 = $13.05 → × 730 / 720 = $13.23125 → $13.23
    longer = run(engine, "response-cache", {"ttl_hours": 26})
    assert {f["subject"]: f["monthly_savings"] for f in longer} == {
        "app:faq-bot": Decimal("13.69"),
        "app:late-bot": Decimal("13.23"),
    }


# --- batch-inference -----------------------------------------------------------------------------
def test_batch_inference(engine: Engine) -> None:
    """nightly: 30 nights × (20 Gemini 2.5 Flash + 20 Sonnet) requests between 01:00 and 03:00 UTC.
    Flash 100,000 in / 2,000 out: real time $0.03 + $0.005 = $0.035, table batch price
    $0.015 + $0.0025 = $0.0175; 600 requests save $10.50.  Sonnet 10,000 in / 1,000 out: $0.045,
    no batch price in the table → batch_discount 50 %: 600 requests save $13.50.  $24.00 in the
    window → × 730 / 720 = $24.33.
    chatty: the same traffic spread over all 24 hours (4 h hold 1/6): interactive.
    done: nightly but already batch = true: nothing on real-time pricing."""
    rows = []
    for day in range(30):
        night = START + timedelta(days=day, hours=1)
        for j in range(20):
            at = night + timedelta(minutes=6 * j)
            rows.append(
                call(
                    f"nf{day}-{j}",
                    at,
                    "nightly",
                    "gemini-2.5-flash",
                    input_tokens=100_000,
                    output_tokens=2_000,
                )
            )
            rows.append(
                call(
                    f"ns{day}-{j}", at, "nightly", SONNET, input_tokens=10_000, output_tokens=1_000
                )
            )
            rows.append(
                call(
                    f"c{day}-{j}",
                    START + timedelta(days=day, hours=j * 1.2),
                    "chatty",
                    SONNET,
                    input_tokens=10_000,
                    output_tokens=1_000,
                )
            )
            rows.append(
                call(
                    f"d{day}-{j}",
                    at,
                    "done",
                    SONNET,
                    input_tokens=10_000,
                    output_tokens=1_000,
                    batch=True,
                )
            )
    seed(engine, rows)
    found = run(engine, "batch-inference")
    assert [f["subject"] for f in found] == ["app:nightly"]
    f = found[0]
    assert f["monthly_savings"] == Decimal("24.33")
    ev = f["evidence"]
    assert ev["realtime_cost_in_window"] == "48.00"
    assert ev["batch_cost_in_window"] == "24.00"
    assert ev["window_start_hour_utc"] == 1 and ev["window_share"] == "1.0000"
    assert ev["batch_price_source"] == [
        "anthropic.claude-3-5-sonnet-20240620-v1:0: batch_discount 0.5",
        "gemini-2.5-flash: price table batch price",
    ]
    # chatty declared latency-insensitive: 600 × $0.045 × 50 % = $13.50 → $13.69
    declared = run(engine, "batch-inference", {"latency_insensitive_apps": ["chatty"]})
    assert {f["subject"]: f["monthly_savings"] for f in declared} == {
        "app:chatty": Decimal("13.69"),
        "app:nightly": Decimal("24.33"),
    }


def test_batch_inference_counts_min_requests_of_a_sampled_log(engine: Engine) -> None:
    """cron: 60 logged Sonnet requests between 02:00 and 03:00 (100,000 in / 10,000 out = $0.45
    each, no table batch price → 50 %): 60 < min_requests 100 as logged, but a 50 % sample stands
    for 120 requests.  Savings = 60 × $0.45 × 50 % = $13.50 / 0.5 = $27.00 → × 730 / 720 =
    $27.375 → $27.38 a month."""
    rows = [
        call(
            f"cron{i}",
            START + timedelta(days=i // 2, hours=2, minutes=i % 2),
            "cron",
            SONNET,
            input_tokens=100_000,
            output_tokens=10_000,
        )
        for i in range(60)
    ]
    seed(engine, rows)
    assert run(engine, "batch-inference") == []  # 60 logged requests of a full log: too few
    [f] = run(engine, "batch-inference", {"log_sample_rate": "0.5"})
    assert f["monthly_savings"] == Decimal("27.38")
    assert (f["evidence"]["requests"], f["evidence"]["estimated_requests"]) == (60, "120")


# --- prompt-caching ------------------------------------------------------------------------------
def test_prompt_caching(engine: Engine) -> None:
    """rag-bot: 30 days × a burst of 24 Sonnet requests 1 min apart, 40,000 input / 100 output
    tokens, no cache reads.  n = 720, I = 28,800,000; the first request of each burst is cold
    (k = 30).  P = 50 % × I = 14,400,000; reads R = P × 690 / 720 = 13,800,000; writes
    W = P × 30 / 720 = 600,000.  Savings = 13.8 M × (3 − 0.30) − 0.6 M × (3.75 − 3) per million
    = $37.26 − $0.45 = $36.81 → × 730 / 720 = $37.32125 → $37.32.
    Near misses: cached-bot reads 30 % from cache; short-bot averages 800 input tokens;
    router uses Claude 3 Haiku, which Bedrock does not cache."""
    rows = []
    for day in range(30):
        for j in range(24):
            at = START + timedelta(days=day, hours=9, minutes=j)
            for app, model, tokens, cached in (
                ("rag-bot", SONNET, 40_000, 0),
                ("cached-bot", SONNET, 40_000, 12_000),
                ("short-bot", SONNET, 800, 0),
                ("router", HAIKU, 40_000, 0),
            ):
                rows.append(
                    call(
                        f"{app}{day}-{j}",
                        at,
                        app,
                        model,
                        input_tokens=tokens,
                        cache_read_tokens=cached,
                    )
                )
    seed(engine, rows)
    found = run(engine, "prompt-caching")
    assert [f["subject"] for f in found] == [f"app:rag-bot/{SONNET}"]
    f = found[0]
    assert f["monthly_savings"] == Decimal("37.32")
    assert f["confidence"] == "low"  # no cache reads at all: the prefix share is assumed
    ev = f["evidence"]
    assert (ev["requests"], ev["cold_starts"]) == (720, 30)
    assert (ev["moved_tokens"], ev["cache_write_tokens"]) == ("13800000", "600000")
    assert ev["savings_in_window"] == "36.81"
    assert ev["prices"][0]["per_million_tokens"] == {
        "input": "3",
        "output": "15",
        "cache_read": "0.3",
        "cache_write": "3.75",
    }


def test_an_unpriced_model_is_a_warning_of_analyze(engine: Engine, db_url: str) -> None:
    """Long prompts without cache reads on a model the price table does not know: no finding,
    and analyze (API, JSON and table output) names the model and the table that prices it."""
    today = datetime.now(UTC).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
    rows = [
        call(
            f"p{i}",
            today - timedelta(days=2, minutes=i),
            "rag-bot",
            "acme-llm",
            input_tokens=40_000,
        )
        for i in range(50)
    ]
    seed(engine, rows)
    rules = [r for r in configured_rules({}) if r.rule_id == "prompt-caching"]
    result = analyze(engine, rules, window_days=30)
    assert result.produced == {"prompt-caching": 0}
    [warning] = result.warnings["prompt-caching"]
    assert warning.startswith("no price for model 'acme-llm'")
    assert "[rules.prompt-caching.prices.acme-llm]" in warning
    payload = json.loads(cli("--db", db_url, "analyze", "--format", "json").output)
    assert payload["warnings"]["prompt-caching"] == [warning]
    assert "batch-inference" not in payload["warnings"]  # its schedule test never priced it
    table_out = cli("--db", db_url, "analyze").output
    assert f"warning: prompt-caching: {warning}" in table_out


# --- reembedding ---------------------------------------------------------------------------------
def test_reembedding(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    """indexer: 30 nights re-embed the same 100 chunks of 5,000 tokens with acme-embed, priced by
    config at $2 per million: 2,900 repeats × 5,000 = 14,500,000 tokens × $2/M = $29.00 →
    × 730 / 720 = $29.402… → $29.40.  Without the price the model is unknown: no finding, and a
    warning names it.  docs: Titan embeddings of always-new chunks: nothing repeated."""
    rows = []
    for day in range(30):
        night = START + timedelta(days=day, hours=2)
        for j in range(100):
            at = night + timedelta(seconds=20 * j)
            rows.append(
                call(
                    f"ix{day}-{j}",
                    at,
                    "indexer",
                    "acme-embed",
                    operation="embeddings",
                    input_tokens=5_000,
                    output_tokens=0,
                    prompt_hash=f"chunk{j}",
                )
            )
            rows.append(
                call(
                    f"dx{day}-{j}",
                    at,
                    "docs",
                    TITAN,
                    operation="embeddings",
                    input_tokens=5_000,
                    output_tokens=0,
                )
            )
    seed(engine, rows)
    with caplog.at_level(logging.WARNING):
        assert run(engine, "reembedding") == []
    assert "'acme-embed'" in caplog.text
    found = run(engine, "reembedding", {"prices": {"acme-embed": {"input": "2"}}})
    assert [f["subject"] for f in found] == ["app:indexer/acme-embed"]
    f = found[0]
    assert f["monthly_savings"] == Decimal("29.40")
    assert f["confidence"] == "high"
    ev = f["evidence"]
    assert (ev["embedding_calls"], ev["distinct_hashes"], ev["repeated_calls"]) == (3000, 100, 2900)
    assert ev["repeated_tokens"] == 14_500_000
    assert ev["prices"][0]["price_source"] == "config: prices.acme-embed"


# --- model-distillation --------------------------------------------------------------------------
def test_model_distillation(engine: Engine) -> None:
    """The log is a 2 % sample (log_sample_rate 0.02).  classifier: 600 logged Sonnet requests
    (1,000 a day), 8,000 in / 300 out (all short).  Sonnet: $0.024 + $0.0045 = $0.0285; Haiku:
    $0.002 + $0.000375 = $0.002375; Δ = $0.026125 a request.  N* = $2,000 / 0.026125 =
    76,555.02 → 76,556 requests (76.6 days).  Window: 600 × Δ = $15.675 / 0.02 = $783.75 →
    × 730 / 720 = $794.635… → $794.64.
    writer: same volume, 800-token outputs (not short).  rare: 300 logged requests (500 a day)."""
    rows = []
    for i in range(600):
        at = START + timedelta(minutes=72 * i + 1)
        rows.append(call(f"cl{i}", at, "classifier", SONNET, input_tokens=8_000, output_tokens=300))
        rows.append(call(f"wr{i}", at, "writer", SONNET, input_tokens=8_000, output_tokens=800))
        if i % 2:
            rows.append(call(f"ra{i}", at, "rare", SONNET, input_tokens=8_000, output_tokens=300))
    seed(engine, rows)
    found = run(engine, "model-distillation", {"log_sample_rate": "0.02"})
    assert [f["subject"] for f in found] == [f"app:classifier/{SONNET}"]
    f = found[0]
    assert f["monthly_savings"] == Decimal("794.64")
    assert f["confidence"] == "low"
    assert "evaluation gate" in f["recommendation"]
    ev = f["evidence"]
    assert ev["smaller_model"] == HAIKU
    assert ev["requests_per_day"] == "1000.0"
    assert (ev["cost_per_request_large"], ev["cost_per_request_small"]) == ("0.028500", "0.002375")
    assert ev["break_even_requests"] == 76_556
    # a costlier distillation pays back after 191 days: more than max_payback_days (180)
    assert (
        run(engine, "model-distillation", {"log_sample_rate": "0.02", "distillation_cost": "5000"})
        == []
    )


# --- the shipped demo ----------------------------------------------------------------------------
def test_llm_rules_on_the_demo(tmp_path: Path) -> None:
    """The demo's request log is a sample (~0.5 % of the Bedrock tokens billed): priced as is,
    every app's LLM savings stay under the $10 floor, so nothing fires by default.  Declared as
    a 0.5 % sample, the signals the generator planted come out."""
    engine = open_store(f"sqlite:///{tmp_path / 'demo.db'}")
    import_paths(engine, [agent.demo.DATA_DIR], load_settings(None))
    demo_now = datetime(2026, 11, 1)

    def findings(config: dict[str, Any]) -> dict[tuple[str, str], Decimal]:
        rules = [r for r in configured_rules(config) if r.rule_id in LLM_RULES]
        result = analyze(engine, rules, window_days=30, now=demo_now)
        assert result.errors == {}
        return {
            (f["rule_id"], f["subject"]): f["monthly_savings"]
            for f in list_findings(engine, status="open")
            if f["rule_id"] in LLM_RULES
        }

    # The OpenAI usage buckets are complete counts (never scaled): the web-chat project's
    # gpt-4o traffic is judged as is.  prompt-caching: half of its 620,945,702 input tokens
    # are cacheable, warm except 30 daily cold starts, minus the 65,937,624 already read from
    # cache → 244,496,218 moved × ($2.50 − $1.25) / 1M = $305.62 → × 730 / 720 = $309.86.
    # model-distillation: ($2,301.16 on gpt-4o − $138.07 on gpt-4o-mini) × 730 / 720.
    web_chat = "app:proj_SyntheticWebChat0001/gpt-4o-2024-08-06"
    buckets = {
        ("model-distillation", web_chat): Decimal("2193.14"),
        ("prompt-caching", web_chat): Decimal("309.86"),
    }
    assert findings({}) == buckets
    sampled = findings({rule: {"log_sample_rate": "0.005"} for rule in LLM_RULES})
    assert {k: sampled[k] for k in buckets} == buckets  # the sample rate is the log's only
    assert sorted(sampled) == [
        ("batch-inference", "app:summarizer"),
        ("model-distillation", web_chat),
        ("model-distillation", f"app:support-bot/{SONNET}"),
        ("prompt-caching", web_chat),
        ("prompt-caching", "app:summarizer/gemini-2.5-flash"),
        ("prompt-caching", "app:summarizer/gemini-2.5-pro"),
        ("prompt-caching", f"app:support-bot/{SONNET}"),
        ("response-cache", "app:support-bot"),
    ]
    # support-bot: 220 of its 1,250 logged Sonnet requests repeat a prompt within 24 h (Sonnet
    # cost $17.9321346), its 190 Haiku requests none: 220 / 1,250 × $17.9321346 = $3.1560557
    # → × 730 / 720 / 0.005 = $639.98 (per model; one share over both models said $556.44).
    assert sampled[("response-cache", "app:support-bot")] == Decimal("639.98")
    assert sampled[("batch-inference", "app:summarizer")] == Decimal("462.65")
    engine.dispose()
