"""The real weekly report, end to end: store → ``build_report`` → ``render`` → ``deliver_all``.

The store holds hostile values (``seed_evil``: ``<script>`` in a tag value, a resource name, a
service name, a finding), the email goes through STARTTLS with a login to aiosmtpd, and Slack is
the fake on loopback that enforces Block Kit's limits and fetches image URLs as Slack does.  So
what is asserted is what arrives — the escaping is checked on the renderer's own output, not on a
hand-written sample — and a renderer that breaks Slack's rules fails the delivery here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from agent.config import Settings
from agent.notify.deliver import DeliveryOutcome, deliver_all
from agent.report import RenderedReport, build_report, render
from tests.slack_server import (
    BOT_TOKEN,
    CHANNEL_ID,
    FILE_ID,
    POSTED_TS,
    WEBHOOK_PATH,
    FakeSlack,
    block_errors,
    slack_server,
)
from tests.smtp_server import SMTP_PASSWORD, SMTP_USER, free_port, smtp_server
from tests.test_report_build import NOW
from tests.test_report_render import EVIL, seed_evil

RECIPIENTS = ["finops@example.com", "cto@example.com"]
ESCAPED = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"  # EVIL, HTML-escaped
SLACK_ESCAPED = '&lt;script&gt;alert("x")&lt;/script&gt;'  # EVIL, mrkdwn-escaped


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeSlack]:
    with slack_server() as fake:
        fake.serve_dir = tmp_path / "charts"
        fake.serve_dir.mkdir()
        monkeypatch.setenv("SLACK_WEBHOOK_URL", fake.webhook_url)
        monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
        yield fake


@pytest.fixture(autouse=True)
def _smtp_login(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COSTAGENT_SMTP_USERNAME", SMTP_USER)
    monkeypatch.setenv("COSTAGENT_SMTP_PASSWORD", SMTP_PASSWORD)
    monkeypatch.delenv("COSTAGENT_SMTP_PASSWORD_FILE", raising=False)


def every_channel(smtp_port: int, ca_file: Path | None, slack: FakeSlack, api: str) -> Settings:
    return Settings(
        report={
            "email": {
                "smtp_host": "127.0.0.1",
                "smtp_port": smtp_port,
                "starttls": True,
                "ca_file": str(ca_file) if ca_file else None,
                "from": "costagent@example.com",
                "to": RECIPIENTS,
                "retry_delay": 0,
            },
            "slack": {
                "webhook_url_env": "SLACK_WEBHOOK_URL",
                "channel": "#finops",
                "api_base_url": api,
                "chart_dir": str(slack.serve_dir),
                "chart_base_url": slack.static_url,
                "retry_delay": 0,
            },
        }
    )


def the_report(engine: Engine, settings: Settings) -> RenderedReport:
    seed_evil(engine)
    return render(build_report(engine, settings, now=NOW), settings)


def delivery_rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        found = conn.execute(text("SELECT * FROM deliveries ORDER BY id"))
        return [dict(r._mapping) for r in found]


def assert_no_secrets(engine: Engine, caplog: pytest.LogCaptureFixture, slack: FakeSlack) -> None:
    """Neither the recorded deliveries nor any log line carries a credential."""
    recorded = repr(delivery_rows(engine))
    for secret in (BOT_TOKEN, slack.webhook_url, WEBHOOK_PATH, SMTP_PASSWORD):
        assert secret not in recorded
        assert secret not in caplog.text


def test_the_weekly_report_arrives_escaped_with_its_chart(
    engine: Engine, slack: FakeSlack, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # slack_sdk logs request URLs at DEBUG
    with smtp_server(tmp_path, tls="starttls", auth=True) as smtp:
        settings = every_channel(smtp.port, smtp.ca_file, slack, slack.api_url)
        rendered = the_report(engine, settings)
        outcomes = deliver_all(engine, settings, rendered, now=NOW, sleep=lambda _: None)

    assert outcomes == [
        DeliveryOutcome("email", ", ".join(RECIPIENTS), "ok", 1, None),
        DeliveryOutcome("slack-webhook", "$SLACK_WEBHOOK_URL", "ok", 1, None),
        DeliveryOutcome("slack-bot", "#finops", "ok", 1, None),
    ]
    assert rendered.chart_png and rendered.chart_png.startswith(b"\x89PNG\r\n\x1a\n")

    # --- email: one message, logged in over TLS, to both recipients
    [got] = smtp.received
    assert got.tls and got.login == SMTP_USER and sorted(got.rcpt_tos) == sorted(RECIPIENTS)
    msg = got.message
    # AI spend in USD, W47: seed's 386.151 + seed_evil's 5,000 = 5,386.151 → $5,386.15; the week
    # before 525 → 5386.151 / 525 − 1 = +926 %.  Open USD savings: 170 (seed) + 500 (evil) = 670.
    assert msg["Subject"] == (
        "costagent weekly: $5,386.15 AI spend (▲ 926%) + other currencies"
        " · $670/mo savings open — 2026-W47"
    )
    parts: dict[str, EmailMessage] = {p.get_content_type(): p for p in msg.walk()}
    plain = parts["text/plain"].get_content().replace("\r\n", "\n")
    assert plain == rendered.markdown
    assert f"Svc {EVIL} & co" in plain  # the store's value reached the mail (plain text is inert)

    html = parts["text/html"].get_content()
    assert "<script" not in html.lower()
    assert f"Svc {ESCAPED} &amp; co" in html  # service name
    assert f"{ESCAPED} | pipe" in html  # resource name
    assert f"Idle {ESCAPED}" in html  # finding title

    image = parts["image/png"]
    cid = image["Content-ID"].strip("<>")
    assert f'src="cid:{cid}"' in html  # the HTML shows the attached image, not a remote one
    assert image.get_content_disposition() == "inline"
    assert image.get_content() == rendered.chart_png

    # --- Slack webhook: the rendered blocks plus the week's chart, published in chart_dir
    url = f"{slack.static_url}/costagent-2026-W47.png"
    assert (
        Path(str(slack.serve_dir)) / "costagent-2026-W47.png"
    ).read_bytes() == rendered.chart_png
    [hook] = slack.to(WEBHOOK_PATH)
    blocks = rendered.slack_blocks
    divider = next(i for i, b in enumerate(blocks) if b["type"] == "divider")
    chart = {"type": "image", "image_url": url, "alt_text": "Daily spend by workload, 8 weeks"}
    assert hook.params["blocks"] == [*blocks[:divider], chart, *blocks[divider:]]
    assert hook.params["text"] == rendered.slack_text
    assert slack.fetched_images == [url]  # "Slack" downloaded the chart while taking the post

    # --- Slack bot: the rendered blocks, then the chart uploaded into the message's thread
    assert [r.api_method for r in slack.requests[1:]] == [
        "chat.postMessage",
        "files.getUploadURLExternal",
        f"/upload/{FILE_ID}",
        "files.completeUploadExternal",
    ]
    post, _, upload, complete = slack.requests[1:]
    assert post.params["blocks"] == blocks
    assert upload.body == rendered.chart_png
    assert complete.params["channel_id"] == CHANNEL_ID
    assert complete.params["thread_ts"] == POSTED_TS

    # Block Kit: valid by Slack's rules (the fake accepted both), and every value escaped.
    assert block_errors(blocks, lambda _: True) == []
    sent = json.dumps([hook.params["blocks"], post.params["blocks"]])
    assert "<script" not in sent and "<@U123>" not in sent
    services = next(b for b in blocks if b.get("text", {}).get("text", "").startswith("*Top serv"))
    assert f"Svc {SLACK_ESCAPED} &amp; co" in services["text"]["text"]

    rows = [r for r in delivery_rows(engine) if r["report_period"] == "2026-W47"]  # seed has W46
    assert [(r["channel"], r["status"], r["report_period"]) for r in rows] == [
        ("email", "ok", "2026-W47"),
        ("slack-webhook", "ok", "2026-W47"),
        ("slack-bot", "ok", "2026-W47"),
    ]
    assert_no_secrets(engine, caplog, slack)


def test_when_every_peer_is_down_no_secret_reaches_rows_or_logs(
    engine: Engine, slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    """Failures are where secrets leak (a URL in an exception, a token in a request dump)."""
    caplog.set_level(logging.DEBUG)
    dead = f"http://127.0.0.1:{free_port()}"
    # the webhook URL (secret path included) now points at a closed port
    slack_url = dead + WEBHOOK_PATH
    settings = every_channel(free_port(), None, slack, dead + "/api/")
    rendered = the_report(engine, settings)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SLACK_WEBHOOK_URL", slack_url)
        # STARTTLS to a closed port fails before TLS; the login is attempted only after it
        outcomes = deliver_all(engine, settings, rendered, now=NOW, sleep=lambda _: None)
    assert [(o.channel, o.status, o.attempts) for o in outcomes] == [
        ("email", "failed", 3),
        ("slack-webhook", "failed", 3),
        ("slack-bot", "failed", 3),
    ]
    assert all(o.error for o in outcomes)
    recorded = repr(delivery_rows(engine))
    assert slack_url not in recorded and slack_url not in caplog.text
    assert_no_secrets(engine, caplog, slack)
