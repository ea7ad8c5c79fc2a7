"""The report as Slack Block Kit: a header, the headline figures as section fields, short lists
and a context line.

Slack rejects a whole message that breaks a limit (50 blocks, 3,000 characters of section text,
10 fields of 2,000 characters, 150 characters of header), so the message is built to fit rather
than cut afterwards: every list is one section filled item by item up to the text limit ("… and
N more"), all notes share one section, and the block count is bounded by the layout.  Should a
future layout still exceed 50 blocks, the lowest-priority blocks go first (notes, then the
lists), never the headline figures.  mrkdwn treats ``&``, ``<`` and ``>`` as control characters
(``<!channel>``, ``<url|text>``), so every store value is escaped by :func:`esc`.
"""

from __future__ import annotations

from typing import Any

from agent.report.fmt import (
    ack_command,
    change,
    clip,
    count,
    label,
    line_change,
    money,
    savings_sentence,
    subject,
    unit_money,
    week_span,
    when,
    workload_name,
)
from agent.report.model import FindingItem, Report

MAX_BLOCKS = 50
MAX_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD = 2000
MAX_HEADER = 150
MAX_ITEM = 700  # one list item (a long recommendation) never fills a section alone

# priorities: lower survives longer
KEEP, FIGURES, FINDINGS, LISTS, NOTES = 0, 1, 2, 3, 4


def esc(value: object) -> str:
    text = clip(value)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clamp(text: str, limit: int) -> str:
    """At most ``limit`` characters, never ending inside an ``&amp;``-style escape."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clamp(text, MAX_TEXT)}}


def _list(title: str, items: list[str], limit: int = 10) -> dict[str, Any]:
    """``*title*`` and bullet items, as many as fit in one section; the rest counted."""
    text = f"*{title}*"
    shown = 0
    for item in items[:limit]:
        line = "\n• " + clamp(item, MAX_ITEM)
        if len(text) + len(line) > MAX_TEXT - 40:  # room for the "… and N more" line
            break
        text += line
        shown += 1
    if len(items) > shown:
        text += f"\n… and {len(items) - shown} more"
    return _section(text)


def _finding(f: FindingItem, full_id: bool) -> str:
    short = label(f.subject, f.name)[0]
    text = (
        f"*{esc(f.title)}* on `{esc(short)}` — {esc(money(f.monthly_savings, f.currency))}/month"
        f", {esc(f.confidence)} confidence"
    )
    if full_id:
        text += f". {clamp(esc(f.recommendation), 400)}\n   `{esc(ack_command(f.fingerprint))}`"
    return text


def slack_text(report: Report) -> str:
    """The notification / fallback text (plain, escaped)."""
    return esc(subject(report))


def _fields(r: Report) -> list[dict[str, Any]]:
    """Headline figures per currency as section fields (10 per section)."""
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
    return [
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": clamp(f, MAX_FIELD)} for f in fields[i : i + MAX_FIELDS]
            ],
        }
        for i in range(0, len(fields), MAX_FIELDS)
    ]


def _unit_costs(r: Report) -> list[str]:
    items = [
        f"`{esc(label(u.resource_id, u.resource_name)[0])}`: "
        f"{esc(unit_money(u.per_1k_invocations, u.currency))} per 1k invocations "
        f"({count(u.invocations)} invocations, {esc(money(u.cost, u.currency))})"
        for u in r.endpoint_unit_costs[:5]
    ]
    items += [
        f"LLM API ({esc(u.currency)}): {esc(unit_money(u.per_1k_requests, u.currency))} per 1k "
        f"requests, {esc(unit_money(u.per_1m_tokens, u.currency))} per 1M tokens "
        f"({count(u.requests)} requests, {count(u.tokens)} tokens, "  # n/a: not counted
        f"{esc(money(u.cost, u.currency or ''))})"
        for u in r.llm_unit_costs
        if u.app is None and u.cost is not None
    ]
    return items


def _prioritised(r: Report, chart_url: str | None) -> list[tuple[int, dict[str, Any]]]:
    blocks: list[tuple[int, dict[str, Any]]] = [
        (
            KEEP,
            {
                "type": "header",
                "text": {
                    "type": "plain_text",
                    "text": clamp(f"{r.title} — {r.week.label}", MAX_HEADER),
                    "emoji": True,
                },
            },
        ),
        (
            KEEP,
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": clamp(esc(week_span(r)), MAX_TEXT)}],
            },
        ),
    ]
    if r.notes:
        blocks.append((NOTES, _list(":warning: Notes", [esc(n) for n in r.notes], len(r.notes))))
    fields = _fields(r)
    if fields:
        blocks += [(KEEP, f) for f in fields]
    else:
        blocks.append((KEEP, _section("No cost data in this week or the week before.")))
    if r.by_workload:
        blocks.append(
            (
                FIGURES,
                _list(
                    "By workload",
                    [
                        f"{esc(workload_name(w.key))}: {esc(money(w.current, w.currency))} "
                        f"({esc(line_change(w))})"
                        for w in r.by_workload
                    ],
                    len(r.by_workload),
                ),
            )
        )
    if chart_url:
        blocks.append(
            (
                FIGURES,
                {
                    "type": "image",
                    "image_url": chart_url,
                    "alt_text": "Daily spend by workload, 8 weeks",
                },
            )
        )
    blocks.append((KEEP, {"type": "divider"}))
    if r.savings:
        head = "Savings: " + savings_sentence(r, lambda s: s, esc)  # _list bolds the title
        blocks.append((FINDINGS, _list(head, [_finding(f, True) for f in r.top_findings], 3)))
    if r.new_findings:
        blocks.append(
            (
                LISTS,
                _list(
                    f"New findings ({len(r.new_findings)})",
                    [_finding(f, False) for f in r.new_findings],
                    5,
                ),
            )
        )
    units = _unit_costs(r)
    if units:
        blocks.append((FIGURES, _list("AI unit costs", units, len(units))))
    if r.top_services:
        blocks.append(
            (
                LISTS,
                _list(
                    "Top services",
                    [
                        f"{esc(s.key)}: {esc(money(s.current, s.currency))} ({esc(line_change(s))})"
                        for s in r.top_services
                    ],
                ),
            )
        )
    if r.top_resources:
        blocks.append(
            (
                LISTS,
                _list(
                    "Top resources",
                    [
                        f"`{esc(label(x.resource_id, x.resource_name)[0])}` ({esc(x.service)}, "
                        f"{esc(workload_name(x.workload))}): {esc(money(x.current, x.currency))} "
                        f"({esc(change(x.change, x.current))})"
                        for x in r.top_resources
                    ],
                ),
            )
        )
    if r.anomalies:
        blocks.append(
            (
                FINDINGS,
                _list(
                    "Anomalies",
                    [
                        f"{esc(a.day)}: {esc(a.title)} — expected "
                        f"{esc(money(a.expected, a.currency))}, actual "
                        f"{esc(money(a.actual, a.currency))}"
                        for a in r.anomalies
                    ],
                    5,
                ),
            )
        )
    stale = [s for s in r.freshness if s.problems]
    if stale:
        blocks.append(
            (
                FIGURES,
                _list(
                    ":warning: Data freshness",
                    [f"`{esc(s.source)}`: {esc('; '.join(s.problems))}" for s in stale],
                ),
            )
        )
    if r.failed_deliveries:
        blocks.append(
            (
                FIGURES,
                _list(
                    ":warning: Failed deliveries",
                    [
                        f"{esc(d.channel)} → {esc(d.target)}: {esc(d.error)}"
                        for d in r.failed_deliveries
                    ],
                    5,
                ),
            )
        )
    blocks.append(
        (
            KEEP,
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
            },
        )
    )
    return blocks


def render_blocks(report: Report, chart_url: str | None = None) -> list[dict[str, Any]]:
    blocks = _prioritised(report, chart_url)
    while len(blocks) > MAX_BLOCKS:
        # drop the last block of the lowest priority present (never a KEEP block)
        worst = max(p for p, _ in blocks)
        if worst == KEEP:
            break
        index = max(i for i, (p, _) in enumerate(blocks) if p == worst)
        del blocks[index]
    return [b for _, b in blocks[:MAX_BLOCKS]]
