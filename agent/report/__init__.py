"""The weekly report: one :class:`Report` built from the store, rendered once for every channel.

``build_report(engine, settings, now=...)`` queries the store; ``render(report, settings)`` turns
it into the :class:`RenderedReport` hand-over that ``agent.notify`` delivers (Markdown, HTML with
the chart as ``cid:``, Slack Block Kit, the chart PNG).
"""

from __future__ import annotations

from agent.config import Settings
from agent.report.build import build_report
from agent.report.model import Report, as_json
from agent.report.rendered import RenderedReport

__all__ = ["RenderedReport", "Report", "as_json", "build_report", "render"]


def render(report: Report, settings: Settings) -> RenderedReport:
    """Every rendering of ``report`` (the chart is drawn once and shared)."""
    from agent.report.chart import render_chart
    from agent.report.fmt import subject
    from agent.report.html import render_html
    from agent.report.markdown import render_markdown
    from agent.report.slack import render_blocks, slack_text

    chart = render_chart(report)
    base = RenderedReport(period=report.week.label, subject="", markdown="", html="", slack_text="")
    return RenderedReport(
        period=report.week.label,
        subject=subject(report),
        markdown=render_markdown(report),
        html=render_html(report, f"cid:{base.chart_cid}" if chart else None),
        slack_text=slack_text(report),
        slack_blocks=render_blocks(report, settings.report.chart_url),
        chart_png=chart,
    )
