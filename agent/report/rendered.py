"""The hand-over between the report (agent/report) and its delivery (agent/notify).

A report is built once from the store and rendered once; every channel sends the same rendering,
so the email, the Slack message and ``--out`` never disagree about a figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RenderedReport:
    """One weekly report in every form a channel needs.

    ``period`` is a stable label of the reported week (e.g. ``2026-W47``): deliveries are recorded
    under it, so ``status`` can show which week reached which channel.
    """

    period: str
    subject: str
    markdown: str  # also the plain-text part of the email
    html: str  # references the chart as ``cid:{chart_cid}``
    slack_text: str  # notification / fallback text for Slack
    slack_blocks: list[dict[str, Any]] = field(default_factory=list)
    chart_png: bytes | None = None
    chart_cid: str = "spend-chart"
    chart_filename: str = "costagent-spend.png"
