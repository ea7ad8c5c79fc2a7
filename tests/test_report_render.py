"""The renderers: escaping of hostile store values, Block Kit limits, money formats, the subject,
and the report week across DST changes in Europe/Berlin (167 and 169 hours)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import time_machine
from sqlalchemy import Engine, insert

from agent.config import ReportConfig, Settings
from agent.report import build_report, render
from agent.report.fmt import money, subject
from agent.report.markdown import render_markdown
from agent.report.period import last_full_week, week_of
from agent.report.slack import MAX_BLOCKS, MAX_FIELDS, MAX_TEXT, render_blocks
from agent.store.schema import CostLineItem, Finding
from tests.test_report_build import NOW, W47, cost, finding, seed

EVIL = '<script>alert("x")</script>'


def settings(**report: object) -> Settings:
    return Settings(report=ReportConfig(**report))  # type: ignore[arg-type]


def seed_evil(engine: Engine) -> None:
    seed(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(CostLineItem),
            [
                cost(
                    W47 + timedelta(days=1),
                    "5000",
                    "inference",
                    f"arn:{EVIL}",
                    service=f"Svc {EVIL} & co",
                    name=f"{EVIL} | pipe",
                    tags={"team": EVIL},
                )
            ],
        )
        conn.execute(
            insert(Finding),
            [
                finding(
                    "idle-endpoint:evil",
                    "500",
                    "evil",
                    title=f"Idle {EVIL}",
                    recommendation=f"Delete <@U123> & {EVIL}",
                )
            ],
        )


def test_html_escapes_every_store_value(engine: Engine) -> None:
    seed_evil(engine)
    rendered = render(build_report(engine, settings(), now=NOW), settings())
    html = rendered.html
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "Svc &lt;script&gt;" in html and "&amp; co" in html
    assert "&lt;@U123&gt; &amp;" in html
    # mail-client safe: inline styles, no style blocks, no scripts, no remote resources
    assert "<style" not in html and "http://" not in html and "https://" not in html
    assert f'<img src="cid:{rendered.chart_cid}"' in html
    assert rendered.chart_png is not None and rendered.chart_png.startswith(b"\x89PNG")


def test_slack_blocks_escape_and_respect_limits(engine: Engine) -> None:
    seed_evil(engine)
    report = build_report(engine, settings(), now=NOW)
    rendered = render(report, settings())
    text = json.dumps(rendered.slack_blocks)
    assert "<script" not in text and "<@U123>" not in text
    assert "&lt;script&gt;" in text and "&lt;@U123&gt; &amp;" in text
    assert not any(b["type"] == "image" for b in rendered.slack_blocks)  # no public URL
    assert rendered.slack_blocks[0]["type"] == "header"

    # A report far beyond Slack's limits is cut to fit, never rejected.
    huge = dataclasses.replace(
        report,
        notes=tuple(f"note {i}" for i in range(80)),
        top_findings=tuple(
            dataclasses.replace(f, recommendation="x" * 5000) for f in report.top_findings
        ),
    )
    blocks = render_blocks(huge, chart_url="https://example.com/chart.png")
    assert len(blocks) <= MAX_BLOCKS
    for b in blocks:
        if b["type"] == "section":
            assert len(b.get("text", {}).get("text", "")) <= MAX_TEXT
            assert len(b.get("fields", [])) <= MAX_FIELDS
        if b["type"] == "header":
            assert len(b["text"]["text"]) <= 150
    with_image = render_blocks(report, chart_url="https://example.com/chart.png")
    assert {"type": "image", "image_url": "https://example.com/chart.png"}.items() <= next(
        b for b in with_image if b["type"] == "image"
    ).items()


def test_markdown_tables_survive_pipes_and_newlines(engine: Engine) -> None:
    seed_evil(engine)
    md = render_markdown(build_report(engine, settings(), now=NOW))
    row = next(line for line in md.splitlines() if "pipe" in line)
    assert "\\| pipe" in row and row.count(" | ") == 4  # 5 cells: the name's pipe is escaped
    for heading in ("## Spend", "## Top resources", "## AI unit costs", "## Savings findings"):
        assert heading in md
    assert "## Anomalies" in md and "## Data freshness" in md


def test_money_formats_and_subject(engine: Engine) -> None:
    assert money(Decimal("1234.5"), "USD") == "$1,234.50"
    assert money(Decimal("1234.565"), "EUR") == "€1,234.57"
    assert money(Decimal("1234.5"), "GBP") == "1,234.50 GBP"
    assert money(Decimal("-3.2"), "USD") == "-$3.20"
    assert money(Decimal("3210.9"), "USD", cents=False) == "$3,211"
    seed(engine)
    r = build_report(engine, settings(), now=NOW)
    # AI USD 360.151 vs 500: ▼ 28 %; savings 170 USD; EUR exists, reported separately.
    assert subject(r) == (
        "costagent weekly: $360.15 AI spend (▼ 28%) + other currencies"
        " · $170/mo savings open — 2026-W47"
    )


def test_weeks_across_dst_in_berlin() -> None:
    spring = week_of(date(2026, 3, 25), "Europe/Berlin")  # clocks go forward Sun 29 Mar
    assert (spring.label, spring.hours) == ("2026-W13", 167)
    assert (spring.start, spring.end) == (datetime(2026, 3, 22, 23), datetime(2026, 3, 29, 22))
    autumn = week_of(date(2026, 10, 25), "Europe/Berlin")  # clocks go back Sun 25 Oct
    assert (autumn.label, autumn.hours) == ("2026-W43", 169)
    assert (autumn.start, autumn.end) == (datetime(2026, 10, 18, 22), datetime(2026, 10, 25, 23))
    # Monday 00:30 in Berlin is still Sunday in UTC: the week just ended is already complete.
    assert last_full_week(datetime(2026, 10, 25, 23, 30), "Europe/Berlin").label == "2026-W43"
    assert last_full_week(datetime(2026, 10, 25, 22, 30), "Europe/Berlin").label == "2026-W42"
    assert week_of(date(2026, 3, 25), "UTC").hours == 168


def test_report_week_follows_the_clock_across_dst(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(CostLineItem),
            [
                cost(datetime(2026, 3, 22, 22, 30), "1", "inference"),  # Sun 23:30 local: W12
                cost(datetime(2026, 3, 22, 23, 30), "10", "inference"),  # Mon 00:30 local: W13
                cost(datetime(2026, 3, 29, 21, 30), "100", "inference"),  # Sun 23:30 CEST: W13
                cost(datetime(2026, 3, 29, 22, 30), "1000", "inference"),  # Mon 00:30: W14
            ],
        )
    berlin = settings(timezone="Europe/Berlin")
    with time_machine.travel(datetime(2026, 3, 30, 9, 0, tzinfo=UTC), tick=False):
        r = build_report(engine, berlin)  # the daemon's call: now from the clock
    assert (r.week.label, r.week.hours) == ("2026-W13", 167)
    (total,) = r.total
    assert (total.current, total.previous) == (Decimal("110"), Decimal("1"))
    assert r.generated_at == datetime(2026, 3, 30, 9, 0)
