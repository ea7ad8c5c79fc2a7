"""The renderers: escaping of hostile store values, Block Kit limits, money formats, the subject,
and the report week across DST changes in Europe/Berlin (167 and 169 hours)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import time_machine
from sqlalchemy import Engine, insert

from agent.config import ReportConfig, Settings
from agent.report import build_report, render
from agent.report.fmt import change, money, subject
from agent.report.markdown import render_markdown
from agent.report.model import change_pct
from agent.report.period import last_full_week, week_of
from agent.report.slack import MAX_BLOCKS, MAX_FIELDS, MAX_TEXT, render_blocks
from agent.store.schema import Finding, LlmRequest, UsageMetric
from tests.test_report_build import NOW, W47, add_costs, cost, finding, seed

EVIL = '<script>alert("x")</script>'


def settings(**report: object) -> Settings:
    return Settings(report=ReportConfig(**report))  # type: ignore[arg-type]


def seed_evil(engine: Engine) -> None:
    seed(engine)
    add_costs(
        engine,
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
    with engine.begin() as conn:
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

    with_image = render_blocks(report, chart_url="https://example.com/chart.png")
    assert {"type": "image", "image_url": "https://example.com/chart.png"}.items() <= next(
        b for b in with_image if b["type"] == "image"
    ).items()
    # one bold heading, not "**Savings:* …*"
    savings = next(t for t in _texts(rendered.slack_blocks) if "open findings" in t)
    assert savings.startswith("*Savings: ") and "**" not in text


def _texts(blocks: list[dict[str, Any]]) -> list[str]:
    out = []
    for b in blocks:
        if "text" in b:
            out.append(b["text"]["text"])
        out += [f["text"] for f in b.get("fields", [])]
        out += [e["text"] for e in b.get("elements", [])]
    return out


def test_slack_cuts_notes_and_lists_never_the_figures(engine: Engine) -> None:
    seed_evil(engine)
    report = build_report(engine, settings(), now=NOW)
    line = report.top_services[0]
    huge = dataclasses.replace(
        report,
        title="T" * 400,
        notes=tuple(f"note {i}: " + "n" * 200 for i in range(80)),
        top_services=tuple(
            dataclasses.replace(line, key=f"svc-{i} " + "s" * 100) for i in range(50)
        ),
        top_findings=tuple(
            dataclasses.replace(f, recommendation="x" * 5000) for f in report.top_findings
        ),
        new_findings=report.top_findings * 40,
        anomalies=report.anomalies * 60,
    )
    blocks = render_blocks(huge, chart_url="https://example.com/chart.png")
    assert len(blocks) <= MAX_BLOCKS
    for b in blocks:
        if b["type"] == "section":
            assert len(b.get("text", {}).get("text", "")) <= MAX_TEXT
            assert len(b.get("fields", [])) <= MAX_FIELDS
        if b["type"] == "header":
            assert len(b["text"]["text"]) <= 150
    texts = _texts(blocks)
    # every headline figure survives: AI and all spend per currency, savings per currency
    # (AI USD 386.151 + evil 5,000 = 5,386.15; savings USD 170 + 500 = 670)
    fields = [f["text"] for b in blocks for f in b.get("fields", [])]
    assert "*AI spend (USD)*\n$5,386.15 (▲ 926%)" in fields
    assert "*Open savings (USD)*\n$670.00/month" in fields
    assert any(t.startswith("*By workload*") for t in texts)
    assert any(t.startswith("*Savings: ") for t in texts)
    # the notes are one section, cut with a count of the rest
    (notes,) = [t for t in texts if t.startswith("*:warning: Notes*")]
    assert "note 0:" in notes and "note 79:" not in notes and "more" in notes
    services = next(t for t in texts if t.startswith("*Top services*"))
    assert "… and 40 more" in services  # 10 listed of 50


def test_markdown_tables_survive_pipes_and_newlines(engine: Engine) -> None:
    seed_evil(engine)
    md = render_markdown(build_report(engine, settings(), now=NOW))
    row = next(line for line in md.splitlines() if "pipe" in line)
    assert "\\| pipe" in row and row.count(" | ") == 5  # 6 cells: the name's pipe is escaped
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
    # AI USD 386.151 vs 525: ▼ 26 %; savings 170 USD; EUR exists, reported separately.
    assert subject(r) == (
        "costagent weekly: $386.15 AI spend (▼ 26%) + other currencies"
        " · $170/mo savings open — 2026-W47"
    )
    # ISO 4217 minor units: none for JPY and KRW, three for BHD
    assert money(Decimal("200000.4"), "JPY") == "200,000 JPY"
    assert money(Decimal("1234.5"), "KRW") == "1,235 KRW"
    assert money(Decimal("1.2345"), "BHD") == "1.235 BHD"
    # a negative week before (credits): −100 → −50 went up
    assert change_pct(Decimal(-50), Decimal(-100)) == Decimal(50)
    assert change(change_pct(Decimal(-50), Decimal(-100))) == "▲ 50%"
    assert change(change_pct(Decimal(-150), Decimal(-100))) == "▼ 50%"


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
    add_costs(
        engine,
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


FT = "arn:aws:sagemaker:us-east-1:111122223333:training-job/"


def seed_twins(engine: Engine) -> None:
    """Two new findings with the same title on different jobs, and one with a | in its id."""
    seed(engine)
    same = "Fine-tuning without LoRA / PEFT on 16 GPUs"
    with engine.begin() as conn:
        conn.execute(
            insert(Finding),
            [
                finding(
                    f"lora:{FT}ft-a",
                    "900",
                    f"{FT}ft-a",
                    title=same,
                    first_seen=W47 + timedelta(days=4),
                    confidence="high",
                ),
                finding(
                    f"lora:{FT}ft-b",
                    "800",
                    f"{FT}ft-b",
                    title=same,
                    first_seen=W47 + timedelta(days=4),
                    confidence="high",
                ),
                finding(
                    "plan:AWS|1111|Savings Plan", "700", "AWS|1111|Savings Plan", confidence="high"
                ),
            ],
        )


def test_findings_name_their_subject_in_every_renderer(engine: Engine) -> None:
    seed_twins(engine)
    report = build_report(engine, settings(), now=NOW)
    rendered = render(report, settings())
    md = rendered.markdown
    rows = [line for line in md.splitlines() if line.startswith("| Fine-tuning")]
    assert len(rows) == 2
    assert "| ft-a |" in rows[0] and f"`lora:{FT}ft-a`" in rows[0]  # short name + fingerprint
    assert "| ft-b |" in rows[1] and f"`lora:{FT}ft-b`" in rows[1]
    # the top three (the certain first): the subject and a command to paste into a shell
    assert "on ft-a — $900.00/month" in md and f"`costagent findings ack lora:{FT}ft-a`" in md
    assert "`costagent findings ack 'plan:AWS|1111|Savings Plan'`" in md
    html = rendered.html
    assert "on <b>ft-a</b>" in html and "on <b>ft-b</b>" in html
    assert f'<span style="font-size:11px;color:#777;">{FT}ft-a</span>' in html  # full id, small
    slack = json.dumps(rendered.slack_blocks, ensure_ascii=False)
    assert "on `ft-a`" in slack and "on `ft-b`" in slack


def test_html_stays_below_gmail_clipping(engine: Engine) -> None:
    seed(engine)
    long_arn = "arn:aws:sagemaker:us-east-1:111122223333:endpoint/a-rather-long-endpoint-name-"
    add_costs(
        engine,
        [
            cost(
                W47 + timedelta(hours=i),
                str(100 + i),
                "inference",
                f"{long_arn}{i:03d}",
                service=f"Service number {i:03d} with a long name",
                tags={"team": "platform"},
            )
            for i in range(60)
        ]
        + [
            cost(
                W47 + timedelta(days=1),
                "500",
                "inference",
                service="Amazon Bedrock",
                usage_type="USE1-Claude3Haiku-input-tokens",
                unit="1K tokens",
            )
        ],
    )
    with engine.begin() as conn:
        conn.execute(
            insert(LlmRequest),
            [
                {
                    "x_request_key": f"big-{i}",
                    "ts": W47 + timedelta(hours=i % 160),
                    "provider": "bedrock",
                    "model": "anthropic.claude-3-haiku-20240307-v1:0",
                    "operation": "chat",
                    "app": f"application-with-a-long-name-{i:03d}",
                    "input_tokens": 1000 + i,
                    "output_tokens": 100,
                    "x_source": "gw",
                }
                for i in range(200)
            ],
        )
        conn.execute(
            insert(UsageMetric),
            [
                {
                    "resource_id": f"{long_arn}{i:03d}",
                    "metric": "invocations",
                    "ts": W47 + timedelta(hours=i),
                    "period_s": 3600,
                    "value": 1000.0 + i,
                    "stat": "Sum",
                    "x_source": "cw",
                }
                for i in range(60)
            ],
        )
        conn.execute(
            insert(Finding),
            [
                finding(
                    f"idle-endpoint:{long_arn}{i:03d}",
                    str(1000 + i),
                    f"{long_arn}{i:03d}",
                    title="Endpoint idle for 7 days: delete it or scale it to zero " * 2,
                    recommendation="Delete the endpoint; its model artifact stays in S3. " * 4,
                    first_seen=W47 + timedelta(days=4),
                )
                for i in range(40)
            ],
        )
    report = build_report(engine, settings(top_n=50), now=NOW)
    assert len(report.top_resources) == 50 + 1  # 50 USD + the EUR one
    # 200 apps + faq, search, summarizer and chatty of the seed
    assert len([u for u in report.llm_unit_costs if u.app]) == 204
    html = render(report, settings(top_n=50)).html
    size = len(html.encode("utf-8"))
    assert size < 90_000, size
    assert "… and 194 more apps" in html  # 10 of the 204 apps shown
    assert len(report.endpoint_unit_costs) == 50 + 1  # top_n USD + vertex-e (EUR)
    assert "… and 41 more endpoints" in html
    assert "… and 31 more new findings" in html  # 10 of the 41 new shown


def test_html_headline_shows_savings_in_a_currency_without_spend(engine: Engine) -> None:
    """A JPY finding while the week's spend was USD/EUR: its savings still get a headline card."""
    from agent.report.html import render_html

    seed(engine)
    with engine.begin() as conn:
        conn.execute(insert(Finding), [finding("idle-gpu:jp-1", "120000", "jp-1", currency="JPY")])
    html = render_html(build_report(engine, settings(), now=NOW), None)
    headline = html[: html.index("Spend by workload")]
    assert "open savings (JPY)" in headline and "120,000 JPY/month" in headline
