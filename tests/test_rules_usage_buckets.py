"""The LLM rules on usage buckets (``llm_usage``, the admin APIs), figures worked by hand.

A team paying OpenAI directly may have only the usage API's hourly buckets.  Prices (genai-prices
bundled snapshot, per million tokens): gpt-4o-2024-08-06 input 2.50, cached input 1.25,
output 10; gpt-4o-mini input 0.15, output 0.60.  The window is the 30 days before NOW (720 h):
monthly = window × 730 / 720.  Buckets are complete counts: nothing is scaled by a sample rate.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine

from agent.config import load_settings
from agent.store.findings import list_findings
from collectors.load import load, table
from rules.base import configured_rules
from rules.engine import analyze
from tests.test_rules_llm import call, seed

NOW = datetime(2026, 11, 20, 12, 0)
GPT4O = "gpt-4o-2024-08-06"


def bucket(start: datetime, project: str | None, model: str, **kw: Any) -> dict[str, Any]:
    row = {
        "x_slice": f"openai:{start.date()}",
        "bucket_start": start,
        "bucket_end": start + timedelta(hours=1),
        "provider": "openai",
        "operation": "chat",
        "model": model,
        "project_id": project,
        "api_key_id": None,
        "batch": False,
        "service_tier": "default",
        "requests": 100,
        "input_tokens": 400_000,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "output_tokens": 10_000,
    }
    row.update(kw)
    return row


def seed_buckets(engine: Engine, rows: list[dict[str, Any]], source: str = "openai") -> None:
    slices = sorted({r["x_slice"] for r in rows})
    load(
        engine,
        load_settings(None),
        source,
        [("llm_usage", table("llm_usage", rows))],
        replace_usage_slices=slices,
    )


def hours(days: int, hours_of_day: range = range(24)) -> list[datetime]:
    first = (NOW - timedelta(days=days)).replace(hour=0, minute=0)
    return [first + timedelta(days=d, hours=h) for d in range(days) for h in hours_of_day]


def analyse(engine: Engine, rule_id: str, config: dict[str, Any] | None = None) -> Any:
    rules = [r for r in configured_rules({rule_id: config or {}}) if r.rule_id == rule_id]
    result = analyze(engine, rules, window_days=30, now=NOW)
    assert result.errors == {}
    found = [f for f in list_findings(engine, status="open") if f["rule_id"] == rule_id]
    return found, result.warnings.get(rule_id, [])


def test_prompt_caching_from_hourly_buckets(engine: Engine) -> None:
    """10 days × 24 hourly buckets of 100 requests of 4,000 input tokens, no cache reads.
    Evenly spread, 100 requests an hour keep a 300 s cache warm: one cold start per bucket,
    k = 240 of n = 24,000.  Prefix P = 0.5 × 96,000,000 = 48,000,000 tokens; warm reads
    48,000,000 × 23,760 / 24,000 = 47,520,000 move from 2.50 to 1.25: $59.40 in the window
    (OpenAI bills cache writes at the input price), × 730 / 720 = $60.225 → $60.22 a month."""
    seed_buckets(engine, [bucket(t, "proj_a", GPT4O) for t in hours(10)])
    [finding], warnings = analyse(engine, "prompt-caching")
    assert warnings == []
    assert finding["monthly_savings"] == Decimal("60.22")
    evidence = finding["evidence"]
    assert evidence["app"] == "proj_a" and evidence["requests"] == 24_000
    assert evidence["cold_starts"] == 240 and evidence["moved_tokens"] == "47520000"
    assert evidence["data"].startswith("usage buckets") and evidence["log_sample_rate"] == "1"


def test_buckets_without_request_counts_are_named_not_guessed(engine: Engine) -> None:
    """Anthropic's usage report counts no requests: the rule says which app it could not judge."""
    rows = [
        bucket(t, "wrkspc_1", "claude-sonnet-4-20250514", provider="anthropic", requests=None)
        for t in hours(3)
    ]
    seed_buckets(engine, rows, "anthropic")
    for rule_id in ("prompt-caching", "batch-inference", "model-distillation"):
        found, warnings = analyse(engine, rule_id)
        assert found == []
        named = "wrkspc_1 (anthropic claude-sonnet-4-20250514): not judged"
        assert any(w.startswith(named) and "counts no requests" in w for w in warnings), (
            rule_id,
            warnings,
        )


def test_a_provider_with_a_request_log_is_read_from_the_log_only(engine: Engine) -> None:
    """The same traffic in a gateway log and in buckets is judged once, from the log."""
    seed_buckets(engine, [bucket(t, "proj_a", GPT4O) for t in hours(10)])
    seed(engine, [call(f"r{i}", NOW - timedelta(days=1, minutes=i), "chat-app", GPT4O,
                       provider="openai") for i in range(5)])  # fmt: skip
    found, _ = analyse(engine, "prompt-caching")
    assert [f["evidence"]["app"] for f in found] == []  # 5 short logged calls: nothing to find


def test_batch_inference_from_hourly_buckets(engine: Engine) -> None:
    """A nightly job: 10 days of buckets at 01:00–04:59 UTC only, 100 real-time requests each.
    4,000 requests, all inside a 4-hour window.  Per request 4,000 input + 100 output tokens of
    gpt-4o: 4,000 × 2.50 + 100 × 10 = 11,000 µ$ = $0.011; batch at half: $0.0055.
    4,000 × $0.0055 = $22.00 in the window, × 730 / 720 = $22.305… → $22.31."""
    seed_buckets(engine, [bucket(t, "nightly", GPT4O) for t in hours(10, range(1, 5))])
    [finding], warnings = analyse(engine, "batch-inference")
    assert warnings == []
    assert finding["monthly_savings"] == Decimal("22.31")
    assert finding["evidence"]["window_start_hour_utc"] == 1
    assert finding["evidence"]["requests"] == 4000


def test_daily_buckets_cannot_show_a_schedule(engine: Engine) -> None:
    first = (NOW - timedelta(days=5)).replace(hour=0, minute=0)
    rows = [
        bucket(first + timedelta(days=d), "nightly", GPT4O, requests=1000,
               input_tokens=4_000_000, output_tokens=100_000,
               bucket_end=first + timedelta(days=d + 1))
        for d in range(5)
    ]  # fmt: skip
    seed_buckets(engine, rows)
    found, warnings = analyse(engine, "batch-inference")
    assert found == []
    assert any("daily usage buckets hide the hour of day" in w for w in warnings), warnings
    declared, _ = analyse(engine, "batch-inference", {"latency_insensitive_apps": ["nightly"]})
    assert declared[0]["monthly_savings"] == Decimal("27.88")  # 5,000 × $0.0055 × 730 / 720


def test_model_distillation_from_buckets(engine: Engine) -> None:
    """10 days of hourly buckets of 130 requests (1,040 a day over the 30-day window) with a
    100-token mean output on gpt-4o: a large model on a short-answer task, judged by each
    bucket's mean output."""
    rows = [
        bucket(t, "classifier", GPT4O, requests=130, input_tokens=130_000, output_tokens=13_000)
        for t in hours(10)
    ]
    seed_buckets(engine, rows)
    [finding], _ = analyse(engine, "model-distillation", {"distillation_cost": 100})
    assert finding["evidence"]["smaller_model"] == "gpt-4o-mini"
    assert finding["evidence"]["short_output_share"] == "1.0000"
    assert finding["evidence"]["requests"] == 31_200
    assert finding["monthly_savings"] > 0
