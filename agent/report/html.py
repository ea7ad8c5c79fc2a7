"""The report as an HTML email that Gmail and Outlook display as intended.

Mail clients drop ``<style>`` blocks, scripts and remote images, so the layout is nested tables
with inline ``style`` attributes only, and the chart is an inline attachment referenced as
``cid:``.  (``--out`` passes a ``data:`` URI instead so a browser shows it.)  Every value that
comes from the store goes through :func:`e` (``html.escape``): tag values, resource names and
finding text are user- or provider-controlled and may contain markup.
"""

from __future__ import annotations

import html
from decimal import Decimal

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
from agent.report.model import Line, Report

FONT = "font-family:Arial,Helvetica,sans-serif;"
TH = f"{FONT}font-size:12px;color:#555;text-align:left;padding:6px 8px;"
TH += "border-bottom:2px solid #ddd;"
TD = f"{FONT}font-size:13px;color:#222;padding:6px 8px;border-bottom:1px solid #eee;"
NUM = "text-align:right;white-space:nowrap;"
H2 = f"{FONT}font-size:17px;color:#1a1a2e;margin:24px 0 8px 0;"
P = f"{FONT}font-size:13px;color:#333;margin:4px 0 8px 0;line-height:1.4;"
WARN = "color:#b45309;font-weight:bold;"
UP, DOWN = "color:#b91c1c;", "color:#15803d;"  # spend up is bad news


def e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _table(header: list[str], rows: list[list[str]], numeric: set[int] | None = None) -> str:
    """``rows`` hold already-escaped cell HTML."""
    numeric = numeric or set()
    head = "".join(
        f'<th style="{TH}{NUM if i in numeric else ""}">{e(h)}</th>' for i, h in enumerate(header)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td style="{TD}{NUM if i in numeric else ""}">{c}</td>' for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return (
        '<table role="presentation" cellpadding="0" cellspacing="0" border="0" width="100%" '
        f'style="border-collapse:collapse;margin:0 0 8px 0;"><tr>{head}</tr>{body}</table>'
    )


def _change(text: str) -> str:
    style = UP if text.startswith("▲") else DOWN if text.startswith("▼") else ""
    return f'<span style="{style}">{e(text)}</span>'


def _lines(label: str, lines: tuple[Line, ...], name: bool = False) -> str:
    return _table(
        [label, "this week", "week before", "change"],
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


def render_html(report: Report, chart_src: str | None) -> str:
    """The whole email body; ``chart_src`` is ``cid:…`` for mail or a ``data:`` URI for files."""
    r = report
    parts = [
        f'<h1 style="{FONT}font-size:20px;color:#1a1a2e;margin:0 0 4px 0;">{e(subject(r))}</h1>',
        _p(e(f"Week {r.week.label}: {week_span(r)}.")),
    ]
    parts += [_p(f'<span style="{WARN}">{e(n)}</span>') for n in r.notes]

    # headline figures, one block per currency
    cards = []
    for t in r.total:
        ai = r.ai_in(t.currency)
        saving = r.savings_in(t.currency)
        cards.append(
            f'<td style="{TD}border:1px solid #e5e7eb;padding:12px;">'
            f'<div style="font-size:12px;color:#555;">AI spend ({e(t.currency)})</div>'
            f'<div style="font-size:22px;font-weight:bold;">'
            f"{e(money(ai.current if ai else Decimal(0), t.currency))}</div>"
            f"<div>{_change(line_change(ai)) if ai else ''} vs week before</div>"
            f'<div style="font-size:12px;color:#555;margin-top:6px;">all spend '
            f"{e(money(t.current, t.currency))} ({_change(line_change(t))})</div>"
            + (
                f'<div style="font-size:12px;color:#555;">open savings '
                f"{e(money(saving, t.currency))}/month</div>"
                if saving
                else ""
            )
            + "</td>"
        )
    if cards:
        parts.append(
            '<table role="presentation" cellpadding="0" cellspacing="8" border="0" '
            f'style="border-collapse:separate;"><tr>{"".join(cards)}</tr></table>'
        )

    if chart_src:
        parts.append(
            f'<img src="{e(chart_src)}" width="900" alt="Daily spend by workload, 8 weeks" '
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
                        e(x.resource_name or x.resource_id)
                        + (
                            f'<br><span style="font-size:11px;color:#777;">{e(x.resource_id)}'
                            "</span>"
                            if x.resource_name and x.resource_name != x.resource_id
                            else ""
                        ),
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

    if r.unit_costs:
        parts.append(_h2("AI unit costs"))
        rows = []
        for u in r.unit_costs:
            rows.append(
                [
                    e(u.app or "all apps"),
                    e(f"{u.requests:,}"),
                    e(f"{u.tokens:,}"),
                    e(money(u.cost, u.currency or "")) if u.cost is not None else "",
                    e(unit_money(u.per_1k_requests, u.currency)) if u.app is None else "",
                    e(unit_money(u.per_1m_tokens, u.currency)) if u.app is None else "",
                ]
            )
        parts.append(
            _table(
                ["", "requests", "tokens", "cost", "per 1k requests", "per 1M tokens"],
                rows,
                {1, 2, 3, 4, 5},
            )
        )
        parts.append(
            _p(
                f'<span style="font-size:11px;color:#777;">Cost base: '
                f"{e(r.unit_cost_basis)}.</span>"
            )
        )

    parts.append(_h2("Savings findings"))
    if r.savings:
        total = ", ".join(money(v, c) for c, v in r.savings)
        parts.append(
            _p(
                f"{r.open_findings} open findings would save <b>{e(total)} a month</b> "
                f"(each resource counted once); {len(r.new_findings)} new since "
                f"{e(r.week.first_day)}."
            )
        )
    else:
        parts.append(_p("No open findings."))
    for f in r.top_findings:
        parts.append(
            f'<div style="{P}border-left:3px solid #2563eb;padding:4px 0 4px 10px;margin:8px 0;">'
            f"<b>{e(f.title)}</b> — {e(money(f.monthly_savings, f.currency))}/month, "
            f"{e(f.confidence)} confidence<br>{e(f.recommendation)}</div>"
        )
    if r.new_findings:
        parts.append(
            _table(
                ["new finding", "savings/month", "confidence"],
                [
                    [e(f.title), e(money(f.monthly_savings, f.currency)), e(f.confidence)]
                    for f in r.new_findings[:10]
                ],
                {1},
            )
        )

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
            f'<span style="font-size:11px;color:#777;">Generated by costagent for '
            f"{e(r.week.label)} at {e(when(r.generated_at))}. Amounts are effective (amortized) "
            "cost; currencies are never added together.</span>"
        )
    )
    body = "\n".join(parts)
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
        f'<td style="padding:24px;{FONT}">\n{body}\n</td></tr></table>'
        "</td></tr></table></body></html>\n"
    )
