"""The report's chart: daily spend by workload over 8 weeks, stacked bars, as PNG bytes.

The days are local days in ``report.timezone`` (bucketed by :mod:`agent.report.build`), the
same days the report's week is made of, so the highlighted week's bars add up to its total.

Drawn on a ``Figure`` with the Agg canvas directly (no ``pyplot``): no global figure state, so
the daemon can render reports forever without leaking figures or needing a display.  One
currency only — the report's main one — because stacking dollars on euros would be meaningless.
"""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from agent.report.fmt import money
from agent.report.model import Report

COLOURS = {
    "inference": "#2563eb",
    "vector_storage": "#16a34a",
    "training": "#d97706",
    "other": "#9ca3af",
}
ORDER = ("inference", "vector_storage", "training", "other")


def render_chart(report: Report) -> bytes | None:
    """PNG of about 900×400 px, or None when the 8 weeks hold no cost in the main currency."""
    cur = report.main_currency
    rows = [d for d in report.daily if d.currency == cur]
    if not rows:
        return None
    first = min(d.day for d in rows)  # start at the data, not at 8 empty weeks
    last = report.week.last_day
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    index = {d: i for i, d in enumerate(days)}
    series: dict[str, list[float]] = {}
    for d in rows:
        if d.day not in index:
            continue
        values = series.setdefault(d.workload, [0.0] * len(days))
        values[index[d.day]] += float(d.cost)  # plotting only; the report's figures are Decimal
    fig = Figure(figsize=(9, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    xs = list(range(len(days)))
    bottom = [0.0] * len(days)
    workloads = [w for w in ORDER if w in series] + sorted(set(series) - set(ORDER))
    for w in workloads:
        ax.bar(
            xs,
            series[w],
            bottom=bottom,
            width=0.85,
            color=COLOURS.get(w, "#6b7280"),
            label=w.replace("_", " "),
        )
        bottom = [b + v for b, v in zip(bottom, series[w], strict=True)]
    ax.axvspan(
        index.get(report.week.first_day, 0) - 0.5,
        index[last] + 0.5,
        color="#fde68a",
        alpha=0.35,
        zorder=0,
        label=f"reported week {report.week.label}",
    )
    ax.set_title(
        f"Daily spend by workload ({cur}, effective cost, days in {report.week.timezone})",
        fontsize=11,
    )
    ax.yaxis.set_major_formatter(lambda v, _pos: _axis_money(v, cur))
    mondays = [i for i, d in enumerate(days) if d.weekday() == 0]
    ax.set_xticks(mondays, [f"{days[i]:%d %b}" for i in mondays])
    ax.set_xlim(-0.6, len(days) - 0.4)
    ax.tick_params(labelsize=9)
    ax.grid(axis="y", color="#e5e7eb")
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(loc="upper left", fontsize=8, ncols=5, frameon=False)
    ax.set_ylim(0, max(bottom) * 1.18 if max(bottom) > 0 else 1)
    others = sorted({d.currency for d in report.daily} - {cur})
    if others:
        fig.text(0.99, 0.01, f"not shown: spend in {', '.join(others)}", ha="right", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _axis_money(value: float, currency: str) -> str:
    return money(Decimal(str(round(value))), currency, cents=False)
