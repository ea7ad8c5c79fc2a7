"""The report as an HTML email that Gmail and Outlook display as intended.

Mail clients drop ``<style>`` blocks, scripts and remote images, so the layout is nested tables
with inline ``style`` attributes only, and the chart is an inline attachment referenced as
``cid:``.  (``--out`` passes a ``data:`` URI instead so a browser shows it.)  Every value that
comes from the store goes through :func:`e` (``html.escape``): tag values, resource names and
finding text are user- or provider-controlled and may contain markup.

Size matters: Gmail clips a message above 102 KB behind "[Message clipped]", and the reader
never sees the findings at the bottom.  So the font is set once per table (on ``<table>`` and
its header ``<tr>``, which Gmail and Outlook both apply to the cells), padding is the table's
``cellpadding``, alignment the cells' ``align``/``nowrap`` attributes, so a cell carries only its
border; and long lists are cut ("… and N more"): per-app unit costs and new findings show
:data:`MAX_ROWS` rows.
"""

from __future__ import annotations

import html
from decimal import Decimal

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

MAX_ROWS = 10
FONT = "font-family:Arial,Helvetica,sans-serif;"
TABLE = f"border-collapse:collapse;margin:0 0 8px 0;{FONT}font-size:13px;color:#222;"
HEAD = "font-size:12px;color:#555;"
TH = "border-bottom:2px solid #ddd"
TD = "border-bottom:1px solid #eee"
NUM = ' align="right" nowrap'  # attributes: shorter than CSS, and every client honours them
LEFT = ' align="left"'
H2 = f"{FONT}font-size:17px;color:#1a1a2e;margin:24px 0 8px 0;"
P = f"{FONT}font-size:13px;color:#333;margin:4px 0 8px 0;line-height:1.4;"
SMALL = "font-size:11px;color:#777;"
WARN = "color:#b45309;font-weight:bold;"
UP, DOWN = "color:#b91c1c;", "color:#15803d;"  # spend up is bad news


def e(value: object) -> str:
    return html.escape(clip(value), quote=True)


def _small(text: object) -> str:
    return f'<span style="{SMALL}">{e(text)}</span>'


def _table(header: list[str], rows: list[list[str]], numeric: set[int] | None = None) -> str:
    """``rows`` hold already-escaped cell HTML; the font lives on the table, not the cells."""
    numeric = numeric or set()
    head = "".join(
        f'<th{NUM if i in numeric else LEFT} style="{TH}">{e(h)}</th>' for i, h in enumerate(header)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td{NUM if i in numeric else ""} style="{TD}">{c}</td>' for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return (
        '<table role="presentation" cellpadding="6" cellspacing="0" border="0" width="100%" '
        f'style="{TABLE}"><tr style="{HEAD}">{head}</tr>{body}</table>'
    )


def _change(text: str) -> str:
    style = UP if text.startswith("▲") else DOWN if text.startswith("▼") else ""
    return f'<span style="{style}">{e(text)}</span>' if style else e(text)


def _lines(label_: str, lines: tuple[Line, ...], name: bool = False) -> str:
    return _table(
        [label_, "this week", "week before", "change"],
        [
            [
                e(workload_name(x.key) if name else x.key),
                e(money(x.current, x.currency)),
                e(money(x.previous, x.currency)),
                _change(line_change(x)),
            ]
            for x in lines
        ],
        {1, 2, 3},
    )


def _h2(text: str) -> str:
    return f'<h2 style="{H2}">{e(text)}</h2>'


def _p(inner_html: str) -> str:
    return f'<p style="{P}">{inner_html}</p>'


def _resource(resource_id: str, name: str | None) -> str:
    """The short name, and the full id on a second line in small text when it differs."""
    short, full = label(resource_id, name)
    return e(short) + (f"<br>{_small(full)}" if full else "")


def _more(shown: int, total: int, what: str) -> str:
    return _p(_small(f"… and {total - shown} more {what}.")) if total > shown else ""


def _top_finding(f: FindingItem) -> str:
    short, full = label(f.subject, f.name)
    return (
        f'<div style="{P}border-left:3px solid #2563eb;padding:4px 0 4px 10px;margin:8px 0;">'
        f"<b>{e(f.title)}</b> on <b>{e(short)}</b> — "
        f"{e(money(f.monthly_savings, f.currency))}/month, {e(f.confidence)} confidence<br>"
        f"{e(f.recommendation)}<br>"
        + (f"{_small(full)}<br>" if full else "")
        + _small(ack_command(f.fingerprint))
        + "</div>"
    )


def _headline(r: Report) -> str:
    """One card per currency: AI spend, all spend, open savings."""
    cards = []
    for t in r.total:
        ai = r.ai_in(t.currency)
        saving = r.savings_in(t.currency)
        cards.append(
            f'<td style="{FONT}color:#222;border:1px solid #e5e7eb;padding:12px;">'
            f'<div style="{HEAD}">AI spend ({e(t.currency)})</div>'
            f'<div style="font-size:22px;font-weight:bold;">'
            f"{e(money(ai.current if ai else Decimal(0), t.currency))}</div>"
            f'<div style="font-size:13px;">{_change(line_change(ai)) if ai else ""} '
            "vs week before</div>"
            f'<div style="{HEAD}margin-top:6px;">all spend '
            f"{e(money(t.current, t.currency))} ({_change(line_change(t))})</div>"
            + (
                f'<div style="{HEAD}">open savings {e(money(saving, t.currency))}/month</div>'
                if saving
                else ""
            )
            + "</td>"
        )
    spent = {t.currency for t in r.total}
    for currency, saving in r.savings:  # savings in a currency the week had no spend in
        if currency not in spent and saving:
            cards.append(
                f'<td style="{FONT}color:#222;border:1px solid #e5e7eb;padding:12px;">'
                f'<div style="{HEAD}">open savings ({e(currency)})</div>'
                f'<div style="font-size:22px;font-weight:bold;">'
                f"{e(money(saving, currency))}/month</div></td>"
            )
    if not cards:
        return ""
    return (
        '<table role="presentation" cellpadding="0" cellspacing="8" border="0" '
        f'style="border-collapse:separate;"><tr>{"".join(cards)}</tr></table>'
    )


def _unit_costs(r: Report) -> list[str]:
    parts: list[str] = []
    if not (r.endpoint_unit_costs or r.llm_unit_costs):
        return parts
    parts.append(_h2("AI unit costs"))
    if r.endpoint_unit_costs:
        endpoints = r.endpoint_unit_costs[:MAX_ROWS]
        parts.append(
            _table(
                ["endpoint", "invocations", "cost", "per 1k invocations"],
                [
                    [
                        _resource(u.resource_id, u.resource_name),
                        e(count(u.invocations)),
                        e(money(u.cost, u.currency)),
                        e(unit_money(u.per_1k_invocations, u.currency)),
                    ]
                    for u in endpoints
                ],
                {1, 2, 3},
            )
        )
        parts.append(_more(len(endpoints), len(r.endpoint_unit_costs), "endpoints"))
        parts.append(_p(_small(f"Endpoints: {r.endpoint_unit_cost_basis}.")))
    if r.llm_unit_costs:
        overall = [u for u in r.llm_unit_costs if u.app is None]
        apps = [u for u in r.llm_unit_costs if u.app is not None]
        shown = apps[:MAX_ROWS]
        rows = [
            [
                f"<b>all apps ({e(u.currency)})</b>" if u.app is None else e(u.app),
                e(count(u.requests)),
                e(count(u.tokens)),
                e(money(u.cost, u.currency or "")),
                e(unit_money(u.per_1k_requests, u.currency)),
                e(unit_money(u.per_1m_tokens, u.currency)),
            ]
            for u in [*overall, *shown]
        ]
        parts.append(
            _table(
                [
                    "LLM API traffic",
                    "requests",
                    "tokens",
                    "cost",
                    "per 1k requests",
                    "per 1M tokens",
                ],
                rows,
                {1, 2, 3, 4, 5},
            )
        )
        parts.append(_more(len(shown), len(apps), "apps (--format json lists all)"))
        parts.append(_p(_small(f"LLM API traffic: {r.llm_unit_cost_basis}.")))
    return parts


def _findings(r: Report) -> list[str]:
    parts = [_h2("Savings findings")]
    if r.savings:
        parts.append(_p(savings_sentence(r, lambda s: f"<b>{s}</b>", e)))
    else:
        parts.append(_p("No open findings."))
    parts += [_top_finding(f) for f in r.top_findings]
    if r.new_findings:
        shown = r.new_findings[:MAX_ROWS]
        parts.append(
            _table(
                ["new finding", "resource", "savings/month", "confidence"],
                [
                    [
                        e(f.title),
                        _resource(f.subject, f.name),
                        e(money(f.monthly_savings, f.currency)),
                        e(f.confidence),
                    ]
                    for f in shown
                ],
                {2},
            )
        )
        parts.append(_more(len(shown), len(r.new_findings), "new findings (costagent findings)"))
    return parts


def render_html(report: Report, chart_src: str | None) -> str:
    """The whole email body; ``chart_src`` is ``cid:…`` for mail or a ``data:`` URI for files."""
    r = report
    parts = [
        f'<h1 style="{FONT}font-size:20px;color:#1a1a2e;margin:0 0 4px 0;">{e(subject(r))}</h1>',
        _p(e(f"Week {r.week.label}: {week_span(r)}.")),
    ]
    parts += [_p(f'<span style="{WARN}">{e(n)}</span>') for n in r.notes]
    parts.append(_headline(r))

    if chart_src:
        parts.append(
            f'<img src="{html.escape(chart_src, quote=True)}" width="900" '
            'alt="Daily spend by workload, 8 weeks" '
            'style="display:block;width:100%;max-width:900px;height:auto;border:0;">'
        )

    parts.append(_h2("Spend by workload"))
    parts.append(_lines("workload", r.by_workload, name=True) if r.by_workload else _p("No data."))
    parts.append(_h2("Top services"))
    parts.append(_lines("service", r.top_services) if r.top_services else _p("No data."))

    parts.append(_h2("Top resources"))
    if r.top_resources:
        parts.append(
            _table(
                ["resource", "service", "workload", "this week", "change"],
                [
                    [
                        _resource(x.resource_id, x.resource_name),
                        e(x.service),
                        e(workload_name(x.workload)),
                        e(money(x.current, x.currency)),
                        _change(change(x.change, x.current)),
                    ]
                    for x in r.top_resources
                ],
                {3, 4},
            )
        )
    else:
        parts.append(_p("No resource-level costs this week."))

    parts += _unit_costs(r)
    parts += _findings(r)

    parts.append(_h2("Anomalies"))
    if r.anomalies:
        parts.append(
            _table(
                ["day", "what", "expected", "actual"],
                [
                    [
                        e(a.day),
                        e(a.title),
                        e(money(a.expected, a.currency)),
                        e(money(a.actual, a.currency)),
                    ]
                    for a in r.anomalies
                ],
                {2, 3},
            )
        )
    else:
        parts.append(_p("No open cost anomalies."))

    parts.append(_h2("Data freshness"))
    parts.append(
        _table(
            ["source", "newest billing", "newest usage", "last run", "status"],
            [
                [
                    e(s.source),
                    e(when(s.newest_billing) if s.newest_billing else "–"),
                    e(when(s.newest_usage) if s.newest_usage else "–"),
                    e(f"{when(s.last_run_at)} {s.last_run_status or ''}".strip()),
                    (
                        f'<span style="{WARN}">⚠ {e("; ".join(s.problems))}</span>'
                        + (f"<br>{e(s.last_error)}" if s.last_error else "")
                        if s.problems
                        else "ok"
                    ),
                ]
                for s in r.freshness
            ],
        )
    )
    if r.failed_deliveries:
        parts.append(
            _table(
                ["failed delivery", "target", "report", "when", "error"],
                [
                    [e(d.channel), e(d.target), e(d.report_period), e(when(d.at)), e(d.error)]
                    for d in r.failed_deliveries
                ],
            )
        )
    parts.append(
        _p(
            _small(
                f"Generated by costagent for {r.week.label} at {when(r.generated_at)}. Amounts "
                "are effective (amortized) cost; currencies are never added together."
            )
        )
    )
    body = "\n".join(p for p in parts if p)
    return (
        "<!DOCTYPE html>\n"
        '<html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(subject(r))}</title></head>"
        '<body style="margin:0;padding:0;background:#f4f5f7;">'
        '<table role="presentation" cellpadding="0" cellspacing="0" border="0" width="100%" '
        'style="background:#f4f5f7;"><tr><td align="center" style="padding:16px;">'
        '<table role="presentation" cellpadding="0" cellspacing="0" border="0" width="960" '
        'style="max-width:960px;width:100%;background:#ffffff;"><tr>'
        f'<td align="left" style="padding:24px;{FONT}">\n{body}\n</td></tr></table>'
        "</td></tr></table></body></html>\n"
    )
