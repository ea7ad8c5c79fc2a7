"""The demo's LLM providers billed directly: saved pages of the OpenAI and Anthropic admin APIs.

A team that calls OpenAI and Anthropic directly (not through Bedrock or Vertex) sees that spend
only in the providers' admin APIs.  The demo ships a month of it as a user without network access
would save it (``curl … > page.json``): OpenAI's Usage API (completions and embeddings, daily
buckets grouped by model, project, API key, batch and service tier) and Costs API (daily, by line
item and project) as pretty-printed pages, the way OpenAI answers; Anthropic's usage report
(messages) and cost report as compact pages, one per line, seven days a page.

The traffic: OpenAI project ``web-chat`` serves a customer chat on gpt-4o with a long, mostly
uncached prompt and embeds with text-embedding-3-small; ``evals`` runs gpt-4o-mini evaluations
every night outside the Batch API.  Anthropic workspace ``coding-agent`` runs Claude Sonnet 4 on
weekdays with a little prompt caching, the default workspace Claude Haiku 4.5 for triage.  Costs are
the list prices below applied to those tokens: OpenAI's amounts are float dollars (with the
float noise its API has), Anthropic's decimal strings in cents, as each documents.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from agent.demo._common import Ledger, Month, growth, hex_id, rng

OPENAI = "OpenAI"
ANTHROPIC = "Anthropic"
PROVIDERS = (OPENAI, ANTHROPIC)
ORG = "org-SyntheticDemo0000000000"
WEB_CHAT = "proj_SyntheticWebChat0001"
EVALS = "proj_SyntheticEvals00002"
CODING = "wrkspc_01SyntheticCodingAgent"
PAGE_DAYS = 7  # Anthropic's default page: 7 daily buckets

#: list prices per million tokens (USD), rounded public prices; may be out of date
GPT_4O = "gpt-4o-2024-08-06"
GPT_4O_MINI = "gpt-4o-mini-2024-07-18"
EMBED = "text-embedding-3-small"
SONNET = "claude-sonnet-4-20250514"
HAIKU = "claude-haiku-4-5-20251001"
PRICES: dict[str, dict[str, Decimal]] = {
    GPT_4O: {"input": Decimal("2.50"), "cached input": Decimal("1.25"), "output": Decimal("10")},
    GPT_4O_MINI: {"input": Decimal("0.15"), "output": Decimal("0.60")},
    EMBED: {"input": Decimal("0.02")},
    SONNET: {
        "uncached_input_tokens": Decimal("3"),
        "cache_read_input_tokens": Decimal("0.30"),
        "cache_creation.ephemeral_5m_input_tokens": Decimal("3.75"),
        "output_tokens": Decimal("15"),
    },
    HAIKU: {"uncached_input_tokens": Decimal("1"), "output_tokens": Decimal("5")},
}
_NAMES = {SONNET: "Claude Sonnet 4", HAIKU: "Claude Haiku 4.5"}
_TOKEN_LABEL = {
    "uncached_input_tokens": "Input Tokens",
    "cache_read_input_tokens": "Prompt Caching Read",
    "cache_creation.ephemeral_5m_input_tokens": "Prompt Caching Write",
    "output_tokens": "Output Tokens",
}
MILLION = Decimal(1_000_000)


@dataclass(frozen=True)
class SavedPages:
    """Each file's text and the number of result rows it holds."""

    openai_completions: tuple[str, int]
    openai_embeddings: tuple[str, int]
    openai_costs: tuple[str, int]
    anthropic_messages: tuple[str, int]
    anthropic_costs: tuple[str, int]


def build(month: Month, seed: int, ledger: Ledger) -> SavedPages:
    """The month's pages; every cost also goes to ``ledger`` (provider, inference)."""
    completions, embeddings, costs = [], [], []
    messages, cost_report = [], []
    for n in range(month.days):
        day = month.day(n + 1)
        r = rng(seed, f"llm-apis-{day:%Y%m%d}")
        weekday = day.weekday() < 5
        demand = growth(day, month, 1.03) * (1.0 if weekday else 0.4)
        c_rows, e_rows, oai_cost = _openai_day(r, demand)
        m_rows, ant_cost = _anthropic_day(r, demand if weekday else 0.05)
        completions.append((day, c_rows))
        embeddings.append((day, e_rows))
        costs.append((day, oai_cost))
        messages.append((day, m_rows))
        cost_report.append((day, ant_cost))
        for result in oai_cost:
            ledger.add(
                OPENAI, "inference", result["amount"]["value"], result["amount"]["value"], day
            )
        for result in ant_cost:
            dollars = float(Decimal(result["amount"]) / 100)
            ledger.add(ANTHROPIC, "inference", dollars, dollars, day)
    return SavedPages(
        openai_completions=_openai_page(completions),
        openai_embeddings=_openai_page(embeddings),
        openai_costs=_openai_page(costs),
        anthropic_messages=_anthropic_pages(messages),
        anthropic_costs=_anthropic_pages(cost_report),
    )


# --- OpenAI ----------------------------------------------------------------------------------
def _openai_day(
    r: Any, demand: float
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    chat_requests = int(9000 * demand * r.uniform(0.93, 1.07))
    chat_in = chat_requests * int(r.uniform(2500, 2700))
    chat_cached = int(chat_in * r.uniform(0.08, 0.14))
    chat_out = chat_requests * int(r.uniform(330, 370))
    eval_requests = int(4000 * r.uniform(0.97, 1.03))  # nightly, weekends too
    eval_in, eval_out = eval_requests * 1200, eval_requests * int(r.uniform(280, 320))
    embed_requests = int(52000 * demand * r.uniform(0.9, 1.1))
    embed_in = embed_requests * 760
    key_chat, key_evals = f"key_{hex_id('web-chat', length=16)}", f"key_{hex_id('evals')}"
    completions = [
        _oai_usage("completions", GPT_4O, WEB_CHAT, key_chat, chat_requests, chat_in,
                   chat_out, cached=chat_cached, batch=False),
        _oai_usage("completions", GPT_4O_MINI, EVALS, key_evals, eval_requests, eval_in,
                   eval_out, cached=0, batch=False),
    ]  # fmt: skip
    embeddings = [_oai_usage("embeddings", EMBED, WEB_CHAT, key_chat, embed_requests, embed_in)]
    costs = [
        _oai_cost(GPT_4O, "input", WEB_CHAT, chat_in - chat_cached),
        _oai_cost(GPT_4O, "cached input", WEB_CHAT, chat_cached),
        _oai_cost(GPT_4O, "output", WEB_CHAT, chat_out),
        _oai_cost(GPT_4O_MINI, "input", EVALS, eval_in),
        _oai_cost(GPT_4O_MINI, "output", EVALS, eval_out),
        _oai_cost(EMBED, "input", WEB_CHAT, embed_in),
    ]
    return completions, embeddings, costs


def _oai_usage(
    kind: str,
    model: str,
    project: str,
    key: str,
    requests: int,
    tokens_in: int,
    tokens_out: int = 0,
    *,
    cached: int = 0,
    batch: bool | None = None,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "object": f"organization.usage.{kind}.result",
        "input_tokens": tokens_in,
        "num_model_requests": requests,
        "project_id": project,
        "user_id": None,
        "api_key_id": key,
        "model": model,
    }
    if kind == "completions":
        row |= {
            "output_tokens": tokens_out,
            "input_cached_tokens": cached,
            "input_audio_tokens": 0,
            "output_audio_tokens": 0,
            "batch": batch,
            "service_tier": "default",
        }
    return row


def _oai_cost(model: str, kind: str, project: str, tokens: int) -> dict[str, Any]:
    # float dollars, as the Costs API sends them (0.00012073404268330895-style noise)
    value = tokens * float(PRICES[model][kind]) / 1e6
    return {
        "object": "organization.costs.result",
        "amount": {"value": value, "currency": "usd"},
        "line_item": f"{model}, {kind}",
        "project_id": project,
        "organization_id": ORG,
    }


def _openai_page(days: list[tuple[datetime, list[dict[str, Any]]]]) -> tuple[str, int]:
    data = [
        {
            "object": "bucket",
            "start_time": _unix(day),
            "end_time": _unix(day + timedelta(days=1)),
            "results": rows,
        }
        for day, rows in days
    ]
    page = {"object": "page", "data": data, "has_more": False, "next_page": None}
    return json.dumps(page, indent=2) + "\n", sum(len(rows) for _, rows in days)


def _unix(ts: datetime) -> int:
    return int(ts.replace(tzinfo=UTC).timestamp())


# --- Anthropic -------------------------------------------------------------------------------
def _anthropic_day(r: Any, demand: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    sonnet_requests = int(2500 * demand * r.uniform(0.9, 1.1))
    uncached = sonnet_requests * int(r.uniform(5600, 6400))
    reads = int(uncached * r.uniform(0.04, 0.07))
    writes = int(reads * 0.2)
    out = sonnet_requests * int(r.uniform(450, 550))
    haiku_requests = int(20000 * r.uniform(0.95, 1.05))
    haiku_in, haiku_out = haiku_requests * 800, haiku_requests * 50
    key = f"apikey_01{hex_id('coding-agent', length=20)}"
    usage = [
        {
            "uncached_input_tokens": uncached,
            "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": writes},
            "cache_read_input_tokens": reads,
            "output_tokens": out,
            "server_tool_use": {"web_search_requests": 0},
            "api_key_id": key,
            "workspace_id": CODING,
            "model": SONNET,
            "service_tier": "standard",
            "context_window": "0-200k",
        },
        {
            "uncached_input_tokens": haiku_in,
            "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 0},
            "cache_read_input_tokens": 0,
            "output_tokens": haiku_out,
            "server_tool_use": {"web_search_requests": 0},
            "api_key_id": None,
            "workspace_id": None,
            "model": HAIKU,
            "service_tier": "standard",
            "context_window": "0-200k",
        },
    ]
    costs = [
        _ant_cost(SONNET, CODING, "uncached_input_tokens", uncached),
        _ant_cost(SONNET, CODING, "cache_read_input_tokens", reads),
        _ant_cost(SONNET, CODING, "cache_creation.ephemeral_5m_input_tokens", writes),
        _ant_cost(SONNET, CODING, "output_tokens", out),
        _ant_cost(HAIKU, None, "uncached_input_tokens", haiku_in),
        _ant_cost(HAIKU, None, "output_tokens", haiku_out),
    ]
    return usage, costs


def _ant_cost(model: str, workspace: str | None, token_type: str, tokens: int) -> dict[str, Any]:
    cents = (tokens * PRICES[model][token_type] * 100 / MILLION).quantize(Decimal("0.00001"))
    return {
        "currency": "USD",
        "amount": str(cents),
        "workspace_id": workspace,
        "description": f"{_NAMES[model]} Usage - {_TOKEN_LABEL[token_type]}",
        "cost_type": "tokens",
        "context_window": "0-200k",
        "model": model,
        "service_tier": "standard",
        "token_type": token_type,
    }


def _anthropic_pages(days: list[tuple[datetime, list[dict[str, Any]]]]) -> tuple[str, int]:
    lines = []
    for first in range(0, len(days), PAGE_DAYS):
        chunk = days[first : first + PAGE_DAYS]
        more = first + PAGE_DAYS < len(days)
        data = [
            {"starting_at": _rfc(day), "ending_at": _rfc(day + timedelta(days=1)), "results": rows}
            for day, rows in chunk
        ]
        token = f"page_{hex_id('anthropic-page', first, length=24)}" if more else None
        page = {"data": data, "has_more": more, "next_page": token}
        lines.append(json.dumps(page, separators=(",", ":")))
    return "\n".join(lines) + "\n", sum(len(rows) for _, rows in days)


def _rfc(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")
