"""``openai_usage`` and ``anthropic_usage`` through real HTTP against documented-API fakes.

Each source is configured as in ``costagent.toml`` and run through the pipeline on SQLite and
PostgreSQL.  The stored token figures follow the store's one convention (``input_tokens`` is
every input token; cache reads and writes are parts of it): OpenAI's ``input_tokens`` already
includes its cached tokens, Anthropic's kinds are disjoint and are summed.  Costs are exact
(OpenAI's float-noise dollars rounded to 12 places, Anthropic's cents as decimal strings divided
by 100).  Re-running changes nothing; a restated or emptied day replaces the old one; pages,
429s with ``retry-after`` and 5xx are followed; an answer the store cannot hold fails the run
naming the bucket and field and writes nothing; the admin key never reaches a log, a table or
an error.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from agent.config import load_settings
from agent.pipeline import SourceOutcome, collect_all
from agent.status import freshness
from agent.store.schema import CollectionRun, CostLineItem, LlmUsage
from collectors.base import validate_source
from collectors.http_api import JsonApi
from tests.llm_api_fakes import OPENAI_KEY, FakeLlmAdmin

TODAY = datetime.now(UTC).date()
DAY0 = datetime.combine(TODAY - timedelta(days=2), datetime.min.time())
DAY1 = DAY0 + timedelta(days=1)
COMPLETIONS = "/v1/organization/usage/completions"
EMBEDDINGS = "/v1/organization/usage/embeddings"
OAI_COSTS = "/v1/organization/costs"
MESSAGES = "/v1/organizations/usage_report/messages"
ANT_COSTS = "/v1/organizations/cost_report"


def run(engine: Engine, fake: FakeLlmAdmin, kind: str, **extra: Any) -> SourceOutcome:
    raw = {"name": kind.split("_")[0], "type": kind, "base_url": fake.url + "/v1",
           "trailing_days": 3, "initial_days": 3, **extra}  # fmt: skip
    settings = load_settings(None).model_copy(update={"sources": [validate_source(raw)]})
    [outcome] = collect_all(engine, settings)
    return outcome


def _usage(engine: Engine) -> list[tuple[Any, ...]]:
    u = LlmUsage
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                select(
                    u.x_slice, u.bucket_start, u.provider, u.operation, u.model, u.project_id,
                    u.api_key_id, u.batch, u.service_tier, u.requests, u.input_tokens,
                    u.cache_read_tokens, u.cache_write_tokens, u.output_tokens,
                ).order_by(u.bucket_start, u.operation, u.model, u.project_id)
            )
        ]  # fmt: skip


def _costs(engine: Engine) -> list[tuple[Any, ...]]:
    c = CostLineItem
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                select(
                    c.x_slice, c.charge_period_start, c.provider_name, c.billed_cost,
                    c.billing_currency, c.x_model, c.sub_account_id, c.charge_description,
                    c.x_workload,
                ).order_by(c.charge_period_start, c.charge_description, c.sub_account_id)
            )
        ]  # fmt: skip


def _openai_day(fake: FakeLlmAdmin, start: datetime, input_tokens: int = 5000) -> None:
    fake.put(COMPLETIONS, start, {
        "object": "organization.usage.completions.result", "input_tokens": input_tokens,
        "input_cached_tokens": 1800, "input_cache_write_tokens": 200,
        "input_uncached_tokens": input_tokens - 2000, "output_tokens": 700,
        "num_model_requests": 12, "project_id": "proj_a", "api_key_id": "key_a",
        "model": "gpt-4o-2024-08-06", "batch": False, "service_tier": "default",
        "user_id": None,
    }, {
        "object": "organization.usage.completions.result", "input_tokens": 900,
        "output_tokens": 100, "num_model_requests": 3, "project_id": "proj_b",
        "api_key_id": "key_b", "model": "gpt-4o-mini-2024-07-18", "batch": True,
    })  # fmt: skip
    fake.put(EMBEDDINGS, start, {
        "object": "organization.usage.embeddings.result", "input_tokens": 20,
        "num_model_requests": 2, "project_id": "proj_a", "api_key_id": "key_a",
        "model": "text-embedding-3-small",
    })  # fmt: skip
    fake.put(OAI_COSTS, start, {
        "object": "organization.costs.result",
        "amount": {"value": Decimal("0.00012073404268330895"), "currency": "usd"},
        "line_item": "gpt-4o-2024-08-06, input", "project_id": "proj_a",
        "organization_id": "org-1",
    }, {
        "object": "organization.costs.result",
        "amount": {"value": Decimal("52.41558761812793"), "currency": "usd"},
        "line_item": "evals | gpt-4o-mini-2024-07-18, output", "project_id": "proj_b",
        "quantity": 1000, "quantity_unit": "tokens",
    }, {
        "object": "organization.costs.result", "amount": {"value": 0.5, "currency": "usd"},
        "line_item": "assistants api | file search", "project_id": None,
    })  # fmt: skip


def test_openai_usage_and_costs_are_stored_exactly(engine: Engine, fake: FakeLlmAdmin) -> None:
    _openai_day(fake, DAY0)
    outcome = run(engine, fake, "openai_usage")
    assert outcome.status == "ok", outcome.error
    day = f"openai:{DAY0.date()}"
    assert _usage(engine) == [
        (day, DAY0, "openai", "chat", "gpt-4o-2024-08-06", "proj_a", "key_a", False, "default",
         12, 5000, 1800, 200, 700),  # input_tokens as OpenAI counts them: cached included
        (day, DAY0, "openai", "chat", "gpt-4o-mini-2024-07-18", "proj_b", "key_b", True, None,
         3, 900, None, None, 100),
        (day, DAY0, "openai", "embeddings", "text-embedding-3-small", "proj_a", "key_a", None,
         None, 2, 20, None, None, None),
    ]  # fmt: skip
    assert _costs(engine) == [
        (day, DAY0, "OpenAI", Decimal("0.5"), "USD", None, None, "assistants api | file search",
         "inference"),
        (day, DAY0, "OpenAI", Decimal("52.415587618128"), "USD", "gpt-4o-mini-2024-07-18",
         "proj_b", "evals | gpt-4o-mini-2024-07-18, output", "inference"),
        (day, DAY0, "OpenAI", Decimal("0.000120734043"), "USD", "gpt-4o-2024-08-06", "proj_a",
         "gpt-4o-2024-08-06, input", "inference"),
    ]  # fmt: skip
    # the documented parameters: Unix seconds, repeated group_by, the page maximum
    _, query = next(c for c in fake.calls if c[0] == COMPLETIONS)
    assert set(query["group_by"]) == {"model", "project_id", "api_key_id", "batch",
                                      "service_tier"}  # fmt: skip
    assert query["limit"] == ["31"] and query["bucket_width"] == ["1d"]
    assert int(query["start_time"][0]) == int(DAY0.replace(tzinfo=UTC).timestamp())


def _anthropic_day(fake: FakeLlmAdmin, start: datetime, uncached: int = 1500) -> None:
    fake.put(MESSAGES, start, {
        "uncached_input_tokens": uncached,
        "cache_creation": {"ephemeral_1h_input_tokens": 1000, "ephemeral_5m_input_tokens": 500},
        "cache_read_input_tokens": 200, "output_tokens": 500,
        "server_tool_use": {"web_search_requests": 10},
        "api_key_id": "apikey_01", "workspace_id": "wrkspc_01",
        "model": "claude-sonnet-4-20250514", "service_tier": "standard",
        "context_window": "0-200k",
    }, {
        "uncached_input_tokens": 40, "cache_creation": None, "cache_read_input_tokens": 0,
        "output_tokens": 7, "api_key_id": None, "workspace_id": None,
        "model": "claude-haiku-4-5", "service_tier": "batch",
    })  # fmt: skip
    fake.put(ANT_COSTS, start, {
        "amount": "123.78912", "currency": "USD", "cost_type": "tokens",
        "description": "Claude Sonnet 4 Usage - Input Tokens",
        "model": "claude-sonnet-4-20250514", "service_tier": "standard",
        "token_type": "uncached_input_tokens", "workspace_id": "wrkspc_01",
        "context_window": "0-200k",
    }, {
        "amount": "5", "currency": "USD", "cost_type": "web_search",
        "description": "Web Search Usage", "model": None, "token_type": None,
        "workspace_id": None,
    })  # fmt: skip


def test_anthropic_usage_and_costs_follow_the_store_convention(
    engine: Engine, fake: FakeLlmAdmin
) -> None:
    _anthropic_day(fake, DAY0)
    outcome = run(engine, fake, "anthropic_usage")
    assert outcome.status == "ok", outcome.error
    day = f"anthropic:{DAY0.date()}"
    assert _usage(engine) == [
        # every input token: 1500 uncached + 200 read + 500 + 1000 written; no request count
        (day, DAY0, "anthropic", "chat", "claude-haiku-4-5", None, None, True, "batch", None,
         40, 0, None, 7),
        (day, DAY0, "anthropic", "chat", "claude-sonnet-4-20250514", "wrkspc_01", "apikey_01",
         False, "standard", None, 3200, 200, 1500, 500),
    ]  # fmt: skip
    assert _costs(engine) == [
        (day, DAY0, "Anthropic", Decimal("1.2378912"), "USD", "claude-sonnet-4-20250514",
         "wrkspc_01", "Claude Sonnet 4 Usage - Input Tokens", "inference"),
        (day, DAY0, "Anthropic", Decimal("0.05"), "USD", None, None, "Web Search Usage",
         "inference"),
    ]  # fmt: skip
    _, query = next(c for c in fake.calls if c[0] == MESSAGES)
    assert set(query["group_by[]"]) == {"model", "workspace_id", "api_key_id", "service_tier"}
    assert query["starting_at"] == [DAY0.strftime("%Y-%m-%dT%H:%M:%SZ")]


@pytest.mark.parametrize("kind", ["openai_usage", "anthropic_usage"])
def test_rerun_changes_nothing_and_a_restated_day_replaces_the_old(
    engine: Engine, fake: FakeLlmAdmin, kind: str
) -> None:
    fill = _openai_day if kind == "openai_usage" else _anthropic_day
    fill(fake, DAY0)
    fill(fake, DAY1)
    assert run(engine, fake, kind).status == "ok"
    first = (_usage(engine), _costs(engine))
    assert run(engine, fake, kind).status == "ok"
    assert (_usage(engine), _costs(engine)) == first  # nothing doubled

    fill(fake, DAY1, 9999)  # the API restates the second day
    for path in (OAI_COSTS, ANT_COSTS):
        fake.results.pop((path, DAY0), None)  # and now reports no cost on the first
    assert run(engine, fake, kind).status == "ok"
    usage, costs = _usage(engine), _costs(engine)
    assert len(usage) == len(first[0])
    restated = 9999 if kind == "openai_usage" else 9999 + 200 + 500 + 1000
    assert [r[10] for r in usage if r[1] == DAY1 and r[10] > 1000] == [restated]
    assert {r[1] for r in costs} == {DAY1}


def test_pages_are_followed(engine: Engine, fake: FakeLlmAdmin) -> None:
    """45 days of 1-day buckets: two pages of at most 31 buckets each."""
    start = datetime.combine(TODAY - timedelta(days=44), datetime.min.time())
    for n in range(45):
        _openai_day(fake, start + timedelta(days=n))
    outcome = run(engine, fake, "openai_usage", initial_days=45, costs=False)
    assert outcome.status == "ok", outcome.error
    with engine.connect() as conn:
        days = conn.execute(text("SELECT COUNT(DISTINCT x_slice) FROM llm_usage")).scalar_one()
    assert days == 45
    pages = [q.get("page") for p, q in fake.calls if p == COMPLETIONS]
    assert len(pages) == 2 and pages[0] is None and pages[1]


@pytest.mark.parametrize("kind", ["openai_usage", "anthropic_usage"])
def test_rate_limits_and_server_errors_are_retried(
    engine: Engine, fake: FakeLlmAdmin, kind: str
) -> None:
    (_openai_day if kind == "openai_usage" else _anthropic_day)(fake, DAY0)
    fake.fail(429, {"retry-after-ms": "20", "retry-after": "1"})
    fake.fail(503, times=2)
    outcome = run(engine, fake, kind)
    assert outcome.status == "ok", outcome.error
    assert outcome.api_requests == len(fake.calls)  # every attempt counted
    assert len(_usage(engine)) == (3 if kind == "openai_usage" else 2)


def test_a_long_rate_limit_fails_the_run_and_keeps_the_store(
    engine: Engine, fake: FakeLlmAdmin
) -> None:
    _openai_day(fake, DAY0)
    assert run(engine, fake, "openai_usage").status == "ok"
    before = (_usage(engine), _costs(engine))
    _openai_day(fake, DAY0, 7777)
    fake.fail(429, {"retry-after": "3600"}, times=99)
    outcome = run(engine, fake, "openai_usage", max_wait_seconds=5)
    assert outcome.status == "failed"
    assert "HTTP 429" in (outcome.error or "")
    assert (_usage(engine), _costs(engine)) == before


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("input_tokens", -5, "-5 is not a count"),
        ("input_tokens", 10**20, "is not a count"),
        ("output_tokens", "12", "'12' is not a whole number"),
        ("num_model_requests", Decimal("1.5"), "is not a whole number"),
        ("batch", "yes", "is not true, false or null"),
    ],
)
def test_an_answer_the_store_cannot_hold_fails_naming_bucket_and_field(
    engine: Engine, fake: FakeLlmAdmin, field: str, value: Any, shown: str
) -> None:
    _openai_day(fake, DAY0)
    _openai_day(fake, DAY1)
    fake.results[(COMPLETIONS, DAY1)][0][field] = value
    outcome = run(engine, fake, "openai_usage")
    assert outcome.status == "failed"
    error = outcome.error or ""
    assert f"bucket {DAY1:%Y-%m-%d} 00:00, {field}:" in error and shown in error, error
    assert _usage(engine) == [] and _costs(engine) == []  # nothing of the run written


def test_bad_money_fails_the_run(engine: Engine, fake: FakeLlmAdmin) -> None:
    _anthropic_day(fake, DAY0)
    fake.results[(ANT_COSTS, DAY0)][0]["amount"] = "1e400"
    outcome = run(engine, fake, "anthropic_usage")
    assert outcome.status == "failed" and "amount: '1e400' is not an amount" in (
        outcome.error or ""
    )
    assert _usage(engine) == []


def test_the_admin_key_never_leaks(
    engine: Engine, fake: FakeLlmAdmin, caplog: pytest.LogCaptureFixture, monkeypatch: Any
) -> None:
    """A proxy that echoes the key in its 401 (and -v logging of every library): the key is in
    no log record, no stored error and no outcome."""
    caplog.set_level(logging.DEBUG)
    wrong = "sk-admin-WRONGkeyZZZ9876543210abcdefLEAK"
    monkeypatch.setenv("OPENAI_ADMIN_KEY", wrong)
    fake.echo_key_on_401 = True
    outcome = run(engine, fake, "openai_usage")
    assert outcome.status == "failed" and "HTTP 401" in (outcome.error or "")
    assert "check the admin key" in (outcome.error or "")
    with engine.connect() as conn:
        stored = conn.execute(select(CollectionRun.error, CollectionRun.details)).all()
    everything = caplog.text + repr(outcome) + repr(stored)
    for part in (wrong, wrong[9:], OPENAI_KEY):
        assert part not in everything


def test_a_missing_key_names_the_variable(
    engine: Engine, fake: FakeLlmAdmin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_ADMIN_KEY")
    outcome = run(engine, fake, "anthropic_usage")
    assert outcome.status == "failed"
    assert "ANTHROPIC_ADMIN_KEY" in (outcome.error or "")
    assert fake.calls == []


def test_a_second_run_starts_where_the_last_ended(engine: Engine, fake: FakeLlmAdmin) -> None:
    """The window: the trailing days, from the last run's end when that is earlier."""
    assert run(engine, fake, "openai_usage", trailing_days=1, initial_days=10).status == "ok"
    first = [q for p, q in fake.calls if p == COMPLETIONS][-1]
    start = datetime.fromtimestamp(int(first["start_time"][0]), UTC).date()
    assert start == TODAY - timedelta(days=9)
    assert run(engine, fake, "openai_usage", trailing_days=1, initial_days=10).status == "ok"
    second = [q for p, q in fake.calls if p == COMPLETIONS][-1]
    again = datetime.fromtimestamp(int(second["start_time"][0]), UTC).date()
    assert again == TODAY  # the last run ended tomorrow (exclusive): only today is re-pulled


def test_two_runs_at_once_store_each_day_once(engine: Engine, fake: FakeLlmAdmin) -> None:
    """Two daemons (or a daemon and a hand run) collecting the same source at the same time:
    on PostgreSQL the per-slice lock makes the second replace what the first wrote."""
    _openai_day(fake, DAY0)
    _openai_day(fake, DAY1)
    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(lambda _: run(engine, fake, "openai_usage"), range(2)))
    assert [o.status for o in outcomes] == ["ok", "ok"], [o.error for o in outcomes]
    assert len(_usage(engine)) == 6 and len(_costs(engine)) == 6


def test_status_shows_the_newest_usage_bucket(engine: Engine, fake: FakeLlmAdmin) -> None:
    _openai_day(fake, DAY1)
    assert run(engine, fake, "openai_usage").status == "ok"
    [row] = [r for r in freshness(engine) if r["source"] == "openai"]
    assert row["llm_usage"] == row["cost"] == DAY1.isoformat()


def test_pagination_that_does_not_advance_fails_the_run(engine: Engine, fake: FakeLlmAdmin) -> None:
    fake.stuck_pages = True
    outcome = run(engine, fake, "openai_usage")
    assert outcome.status == "failed" and "pagination does not advance" in (outcome.error or "")
    assert len(fake.calls) == 2  # the second answer repeats the cursor: stop there


def test_a_huge_count_is_refused_at_once(engine: Engine, fake: FakeLlmAdmin) -> None:
    """``1e100000000`` parsed as a Decimal: refused by its size, never turned into an int."""
    _openai_day(fake, DAY0)
    fake.results[(COMPLETIONS, DAY0)][0]["input_tokens"] = Decimal("1e100000000")
    outcome = run(engine, fake, "openai_usage")
    assert outcome.status == "failed" and "a count between 0 and 10^15" in (outcome.error or "")


def test_a_bad_cost_quantity_names_its_field(engine: Engine, fake: FakeLlmAdmin) -> None:
    _openai_day(fake, DAY0)
    fake.results[(OAI_COSTS, DAY0)][1]["quantity"] = "lots"
    outcome = run(engine, fake, "openai_usage")
    assert outcome.status == "failed"
    assert f"bucket {DAY0:%Y-%m-%d} 00:00, quantity: 'lots' is not a number" in (
        outcome.error or ""
    )


def test_retry_after_zero_backs_off(fake: FakeLlmAdmin) -> None:
    """The client on its own, against the fake: ``retry-after: 0`` is no reason to hammer."""
    waits: list[float] = []
    api = JsonApi("OpenAI Admin API", fake.url + "/v1", {"Authorization": f"Bearer {OPENAI_KEY}"},
                  sleep=waits.append)  # fmt: skip
    fake.fail(429, {"retry-after": "0"}, times=2)
    page = api.get(COMPLETIONS.removeprefix("/v1"), [("start_time", "0"), ("end_time", "0")])
    assert page["object"] == "page" and waits == [0.5, 1.0] and api.requests == 3


def test_a_backfill_does_not_rewind_where_runs_resume(engine: Engine, fake: FakeLlmAdmin) -> None:
    assert run(engine, fake, "openai_usage").status == "ok"
    raw = {"name": "openai", "type": "openai_usage", "base_url": fake.url + "/v1"}
    settings = load_settings(None).model_copy(update={"sources": [validate_source(raw)]})
    old = TODAY - timedelta(days=400)
    [backfill] = collect_all(engine, settings, since=old, until=old + timedelta(days=2))
    assert backfill.status == "ok", backfill.error
    [alone] = collect_all(engine, settings, until=old)  # --until alone: a window before it
    assert alone.status == "ok", alone.error
    fake.calls.clear()
    assert run(engine, fake, "openai_usage", trailing_days=1).status == "ok"
    [(_, query)] = [c for c in fake.calls if c[0] == COMPLETIONS]
    start = datetime.fromtimestamp(int(query["start_time"][0]), UTC).date()
    assert start == TODAY  # resumes from the scheduled runs' end, not the backfill's


def test_a_provider_in_both_a_log_and_buckets_is_read_once_and_said(
    engine: Engine, fake: FakeLlmAdmin
) -> None:
    from rules.base import configured_rules
    from rules.engine import analyze
    from tests.test_rules_llm import call, seed

    _openai_day(fake, DAY0)
    assert run(engine, fake, "openai_usage").status == "ok"
    seed(engine, [call("r1", DAY0 + timedelta(hours=3), "bot", "gpt-4o", provider="openai")])
    rules = [r for r in configured_rules({}) if r.rule_id == "prompt-caching"]
    result = analyze(engine, rules, window_days=30)
    assert any("usage buckets of openai are left out" in w
               for w in result.warnings["prompt-caching"])  # fmt: skip
