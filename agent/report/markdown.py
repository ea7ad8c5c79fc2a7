"""The report as Markdown: the terminal view, ``--out report.md`` and the email's text part.

Values from the store (resource names, tags, finding text) can contain ``|``, newlines or
backticks; :func:`cell` flattens them so a hostile name cannot break a table.
"""

from __future__ import annotations

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
from agent.report.model import FindingItem, Line, Report

#: rows of per-app unit costs and new findings shown; the rest is counted ("… and N more")
MAX_ROWS = 10


def cell(value: object) -> str:
    text = " ".join(clip(value).split())  # newlines and tabs would end the row
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("`", "'")


def _cell(value: object) -> str:
    if isinstance(value, Code):
        return f"`{cell(value)}`" if value else ""
    return cell(value)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(_cell(v) for v in r) + " |" for r in rows]
    return [*out, ""]


def _lines(label: str, lines: tuple[Line, ...], name: bool = False) -> list[str]:
    return _table(
        [label, "this week", "week before", "change"],
        [
            [
                workload_name(x.key) if name else x.key,
                money(x.current, x.currency),
                money(x.previous, x.currency),
                line_change(x),
            ]
            for x in lines
        ],
    )


class Code(str):
    """A table cell shown as inline code: ids people copy (fingerprints, ARNs)."""


def _code(value: str | None) -> Code:
    return Code(value or "")


def _inline_code(value: str) -> str:
    """Inline code outside a table: one line, no backtick inside (no pipe escaping needed)."""
    return "`" + " ".join(clip(value).split()).replace("`", "'") + "`"


def _subject(f: FindingItem) -> str:
    return label(f.subject, f.name)[0]


def render_markdown(report: Report) -> str:
    r = report
    out = [f"# {cell(subject(r))}", "", f"Week {r.week.label}: {week_span(r)}.", ""]
    out += [f"> {cell(n)}" for n in r.notes] + ([""] if r.notes else [])

    out += ["## Spend", ""]
    if not r.total:
        out += ["No cost data in this week or the week before.", ""]
    else:
        rows = [*r.total, *r.ai_total]
        out += _lines("", tuple(rows))
        out += ["### By workload", "", *_lines("workload", r.by_workload, name=True)]
        out += ["### Top services", "", *_lines("service", r.top_services)]

    out += ["## Top resources", ""]
    if r.top_resources:
        out += _table(
            ["resource", "service", "workload", "this week", "change", "id"],
            [
                [
                    label(x.resource_id, x.resource_name)[0],
                    x.service or "",
                    workload_name(x.workload),
                    money(x.current, x.currency),
                    change(x.change, x.current),
                    _code(label(x.resource_id, x.resource_name)[1]),
                ]
                for x in r.top_resources
            ],
        )
    else:
        out += ["No resource-level costs this week.", ""]

    if r.endpoint_unit_costs or r.llm_unit_costs:
        out += ["## AI unit costs", ""]
    if r.endpoint_unit_costs:
        out += ["### Endpoints", "", f"Cost base: {r.endpoint_unit_cost_basis}.", ""]
        out += _table(
            ["endpoint", "invocations", "cost", "per 1k invocations", "id"],
            [
                [
                    label(u.resource_id, u.resource_name)[0],
                    count(u.invocations),
                    money(u.cost, u.currency),
                    unit_money(u.per_1k_invocations, u.currency),
                    _code(label(u.resource_id, u.resource_name)[1]),
                ]
                for u in r.endpoint_unit_costs[:MAX_ROWS]
            ],
        )
        if len(r.endpoint_unit_costs) > MAX_ROWS:
            more = len(r.endpoint_unit_costs) - MAX_ROWS
            out += [f"… and {more} more endpoints (`--format json` lists all).", ""]
    if r.llm_unit_costs:
        overall = [u for u in r.llm_unit_costs if u.app is None]
        apps = [u for u in r.llm_unit_costs if u.app is not None]
        shown = apps[:MAX_ROWS]
        out += ["### LLM API traffic", "", f"Cost base: {r.llm_unit_cost_basis}.", ""]
        out += _table(
            ["", "requests", "tokens", "cost", "per 1k requests", "per 1M tokens"],
            [
                [
                    f"all apps ({u.currency})" if u.app is None else u.app,
                    count(u.requests),
                    count(u.tokens),
                    money(u.cost, u.currency or ""),
                    unit_money(u.per_1k_requests, u.currency),
                    unit_money(u.per_1m_tokens, u.currency),
                ]
                for u in [*overall, *shown]
            ],
        )
        if len(apps) > len(shown):
            out += [f"… and {len(apps) - len(shown)} more apps (`--format json` lists all).", ""]

    out += ["## Savings findings", ""]
    if r.savings:
        out.append(savings_sentence(r, lambda s: f"**{s}**"))
    else:
        out.append("No open findings.")
    out.append("")
    for i, f in enumerate(r.top_findings, 1):
        out += [  # two trailing spaces: a line break inside the list item
            f"{i}. **{cell(f.title)}** on {cell(_subject(f))} — "
            f"{money(f.monthly_savings, f.currency)}/month, {cell(f.confidence)} confidence. "
            f"{cell(f.recommendation)}  ",
            f"   {_inline_code(ack_command(f.fingerprint))}",
        ]
    if r.top_findings:
        out.append("")
    if r.new_findings:
        shown_new = r.new_findings[:MAX_ROWS]
        out += ["### New findings", ""]
        out += _table(
            ["finding", "resource", "savings/month", "confidence", "fingerprint"],
            [
                [
                    f.title,
                    _subject(f),
                    money(f.monthly_savings, f.currency),
                    f.confidence,
                    _code(f.fingerprint),
                ]
                for f in shown_new
            ],
        )
        if len(r.new_findings) > len(shown_new):
            more = len(r.new_findings) - len(shown_new)
            out += [f"… and {more} more (`costagent findings`).", ""]

    out += ["## Anomalies", ""]
    if r.anomalies:
        out += _table(
            ["day", "what", "expected", "actual"],
            [
                [
                    a.day or "",
                    a.title,
                    money(a.expected, a.currency),
                    money(a.actual, a.currency),
                ]
                for a in r.anomalies
            ],
        )
    else:
        out += ["No open cost anomalies.", ""]

    out += ["## Data freshness", ""]
    out += _table(
        ["source", "newest billing", "newest usage", "last run", "status"],
        [
            [
                s.source,
                when(s.newest_billing) if s.newest_billing else "–",
                when(s.newest_usage) if s.newest_usage else "–",
                f"{when(s.last_run_at)} {s.last_run_status or ''}".strip(),
                "⚠ " + "; ".join(s.problems) if s.problems else "ok",
            ]
            for s in r.freshness
        ],
    )
    for s in r.freshness:
        if s.last_error and s.last_run_status == "failed":
            out.append(f"- {cell(s.source)}: {cell(s.last_error)}")
    if r.failed_deliveries:
        out += ["", "Failed deliveries:", ""]
        out += [
            f"- {cell(d.channel)} → {cell(d.target)} ({cell(d.report_period)}, {when(d.at)}): "
            f"{cell(d.error)}"
            for d in r.failed_deliveries
        ]
    out += ["", f"_Generated by costagent for {r.week.label} at {when(r.generated_at)}._", ""]
    return "\n".join(out)
