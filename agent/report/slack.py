"""The report as Slack Block Kit: a header, the headline figures as section fields, short lists
and a context line.

Slack rejects a whole message that breaks a limit (50 blocks, 3,000 characters of section text,
10 fields of 2,000 characters, 150 characters of header), so every text goes through a clamp
and lists are cut with "… and N more".  mrkdwn treats ``&``, ``<`` and ``>`` as control
characters (``<!channel>``, ``<url|text>``), so every store value is escaped by :func:`esc`.
"""

from __future__ import annotations

from typing import Any

from agent.report.fmt import (
    change,
    line_change,
    money,
    subject,
    unit_money,
    week_span,
    when,
    workload_name,
)
from agent.report.model import Report

MAX_BLOCKS = 50
MAX_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD = 2000
MAX_HEADER = 150


def esc(value: object) -> str:
    text = "" if value is None else str(value)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clamp(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clamp(text, MAX_TEXT)}}


def _list(title: str, items: list[str], limit: int = 10) -> dict[str, Any]:
    shown = items[:limit]
    more = len(items) - len(shown)
    text = f"*{title}*\n" + "\n".join(f"• {i}" for i in shown)
    if more > 0:
        text += f"\n… and {more} more"
    return _section(text)


def slack_text(report: Report) -> str:
    """The notification / fallback text (plain, escaped)."""
    return esc(subject(report))


def render_blocks(report: Report, chart_url: str | None = None) -> list[dict[str, Any]]:
    r = report
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": clamp(f"{r.title} — {r.week.label}", MAX_HEADER),
                "emoji": True,
            },
        },
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": clamp(esc(week_span(r)), MAX_TEXT)}],
        },
    ]
    for note in r.notes:
        blocks.append(_section(f":warning: {esc(note)}"))
    fields: list[str] = []
    for t in r.total:
        ai = r.ai_in(t.currency)
        if ai is not None:
            fields.append(
                f"*AI spend ({esc(t.currency)})*\n{esc(money(ai.current, t.currency))} "
                f"({esc(line_change(ai))})"
            )
        fields.append(
            f"*All spend ({esc(t.currency)})*\n{esc(money(t.current, t.currency))} "
            f"({esc(line_change(t))})"
        )
    for c, v in r.savings:
        fields.append(f"*Open savings ({esc(c)})*\n{esc(money(v, c))}/month")
    for w in r.by_workload:
        fields.append(
            f"*{esc(workload_name(w.key))}*\n{esc(money(w.current, w.currency))} "
            f"({esc(line_change(w))})"
        )
    if fields:
        for i in range(0, min(len(fields), 20), MAX_FIELDS):
            blocks.append(
                {
                    "type": "section",
                    "fields": [
                        {"type": "mrkdwn", "text": clamp(f, MAX_FIELD)}
                        for f in fields[i : i + MAX_FIELDS]
                    ],
                }
            )
    else:
        blocks.append(_section("No cost data in this week or the week before."))
    if chart_url:
        blocks.append(
            {
                "type": "image",
                "image_url": chart_url,
                "alt_text": "Daily spend by workload, 8 weeks",
            }
        )
    blocks.append({"type": "divider"})
    if r.top_services:
        blocks.append(
            _list(
                "Top services",
                [
                    f"{esc(s.key)}: {esc(money(s.current, s.currency))} ({esc(line_change(s))})"
                    for s in r.top_services
                ],
            )
        )
    if r.top_resources:
        blocks.append(
            _list(
                "Top resources",
                [
                    f"`{esc(x.resource_name or x.resource_id)}` ({esc(x.service)}, "
                    f"{esc(workload_name(x.workload))}): {esc(money(x.current, x.currency))} "
                    f"({esc(change(x.change, x.current))})"
                    for x in r.top_resources
                ],
            )
        )
    overall = [u for u in r.unit_costs if u.app is None and u.cost is not None]
    if overall:
        blocks.append(
            _section(
                "*AI unit costs*\n"
                + "\n".join(
                    f"• {esc(unit_money(u.per_1k_requests, u.currency))} per 1k requests, "
                    f"{esc(unit_money(u.per_1m_tokens, u.currency))} per 1M tokens "
                    f"({u.requests:,} requests, {u.tokens:,} tokens)"
                    for u in overall
                )
            )
        )
    if r.savings:
        total = ", ".join(money(v, c) for c, v in r.savings)
        head = (
            f"*Savings:* {r.open_findings} open findings, {esc(total)}/month "
            f"(each resource once); {len(r.new_findings)} new"
        )
        blocks.append(
            _list(
                head,
                [
                    f"*{esc(f.title)}* — {esc(money(f.monthly_savings, f.currency))}/month, "
                    f"{esc(f.confidence)} confidence. {esc(f.recommendation)}"
                    for f in r.top_findings
                ],
                3,
            )
        )
    if r.anomalies:
        blocks.append(
            _list(
                "Anomalies",
                [
                    f"{esc(a.day)}: {esc(a.title)} — expected {esc(money(a.expected, a.currency))}"
                    f", actual {esc(money(a.actual, a.currency))}"
                    for a in r.anomalies
                ],
                5,
            )
        )
    stale = [s for s in r.freshness if s.problems]
    if stale:
        blocks.append(
            _list(
                ":warning: Data freshness",
                [f"`{esc(s.source)}`: {esc('; '.join(s.problems))}" for s in stale],
            )
        )
    if r.failed_deliveries:
        blocks.append(
            _list(
                ":warning: Failed deliveries",
                [
                    f"{esc(d.channel)} → {esc(d.target)}: {esc(d.error)}"
                    for d in r.failed_deliveries
                ],
                5,
            )
        )
    blocks = blocks[: MAX_BLOCKS - 1]
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": esc(
                        f"costagent · {r.week.label} · generated {when(r.generated_at)} · "
                        "effective (amortized) cost"
                    ),
                }
            ],
        }
    )
    return blocks
