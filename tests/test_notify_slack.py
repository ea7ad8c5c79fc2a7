"""Slack delivery through slack_sdk's real clients against a fake Slack on 127.0.0.1."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text

from agent.config import ConfigError, Settings, SlackConfig
from agent.notify.deliver import DeliveryOutcome, deliver_all
from agent.store.engine import open_store
from tests.slack_server import (
    BOT_TOKEN,
    CHANNEL_ID,
    FILE_ID,
    POSTED_TS,
    RATE_LIMITED,
    SERVER_ERROR,
    WEBHOOK_PATH,
    FakeSlack,
    slack_error,
    slack_server,
)
from tests.smtp_server import free_port
from tests.test_notify_email import PNG, sample_report

SECRET_PART = WEBHOOK_PATH.rsplit("/", 1)[1]


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    with slack_server() as fake:
        monkeypatch.setenv("SLACK_WEBHOOK_URL", fake.webhook_url)
        monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
        yield fake


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    eng = open_store(sqlite_url)
    yield eng
    eng.dispose()


def slack_settings(**slack: Any) -> Settings:
    return Settings(report={"slack": {"retry_delay": 0, **slack}})


def bot_settings(fake: FakeSlack, **slack: Any) -> Settings:
    return slack_settings(channel="#finops", api_base_url=fake.api_url, **slack)


def rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        found = [
            dict(r._mapping) for r in conn.execute(text("SELECT * FROM deliveries ORDER BY id"))
        ]
    for row in found:
        if isinstance(row["details"], str):
            row["details"] = json.loads(row["details"])
    return found


def test_webhook_posts_text_and_blocks(
    engine: Engine, slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    outcomes = deliver_all(engine, slack_settings(), sample_report())
    assert outcomes == [DeliveryOutcome("slack-webhook", "$SLACK_WEBHOOK_URL", "ok", 1, None)]
    [req] = slack.to(WEBHOOK_PATH)
    body = req.params
    assert body["text"] == sample_report().slack_text
    assert body["blocks"] == sample_report().slack_blocks
    [row] = rows(engine)
    assert (row["channel"], row["target"], row["status"], row["attempts"]) == (
        "slack-webhook",
        "$SLACK_WEBHOOK_URL",
        "ok",
        1,
    )
    assert row["report_period"] == "2026-W44"
    assert SECRET_PART not in repr(row)  # the webhook URL is a secret
    assert SECRET_PART not in caplog.text


@pytest.mark.parametrize("failure", [RATE_LIMITED, SERVER_ERROR], ids=["429", "500"])
def test_webhook_retries_rate_limits_and_server_errors(
    engine: Engine, slack: FakeSlack, failure: Any
) -> None:
    slack.fail(WEBHOOK_PATH, failure, failure)
    [outcome] = deliver_all(engine, slack_settings(), sample_report())
    assert (outcome.status, outcome.attempts, outcome.error) == ("ok", 3, None)
    assert len(slack.to(WEBHOOK_PATH)) == 3
    assert rows(engine)[0]["attempts"] == 3


def test_webhook_honours_retry_after(sqlite_engine: Engine, slack: FakeSlack) -> None:
    slack.fail(WEBHOOK_PATH, (429, {"Retry-After": "7"}, "rate limited"))
    slept: list[float] = []
    deliver_all(sqlite_engine, slack_settings(), sample_report(), sleep=slept.append)
    assert slept == [7.0]


def test_webhook_gives_up_after_the_configured_attempts(
    engine: Engine, slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    slack.fail(WEBHOOK_PATH, *[SERVER_ERROR] * 5)
    [outcome] = deliver_all(engine, slack_settings(attempts=4), sample_report())
    assert (outcome.status, outcome.attempts) == ("failed", 4)
    assert outcome.error == "Slack webhook: HTTP 500 internal server error"
    [row] = rows(engine)
    assert (row["status"], row["attempts"], row["error"]) == ("failed", 4, outcome.error)
    assert SECRET_PART not in caplog.text


def test_webhook_permanent_error_is_not_retried(sqlite_engine: Engine, slack: FakeSlack) -> None:
    slack.fail(WEBHOOK_PATH, (404, {}, "no_service"))
    [outcome] = deliver_all(sqlite_engine, slack_settings(), sample_report())
    assert (outcome.status, outcome.attempts) == ("failed", 1)
    assert outcome.error == "Slack webhook: HTTP 404 no_service"


def test_missing_webhook_variable_is_a_failed_outcome(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEAM_WEBHOOK", raising=False)
    [outcome] = deliver_all(engine, slack_settings(webhook_url_env="TEAM_WEBHOOK"), sample_report())
    assert outcome.status == "failed" and outcome.attempts == 0
    assert outcome.error == "Slack webhook URL missing: set the environment variable TEAM_WEBHOOK"
    assert rows(engine)[0]["target"] == "$TEAM_WEBHOOK"


def test_unreachable_webhook_is_retried_then_failed(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK_URL", f"http://127.0.0.1:{free_port()}{WEBHOOK_PATH}")
    [outcome] = deliver_all(sqlite_engine, slack_settings(), sample_report())
    assert (outcome.status, outcome.attempts) == ("failed", 3)
    assert outcome.error and "cannot reach Slack webhook host 127.0.0.1" in outcome.error
    assert SECRET_PART not in outcome.error


def test_bot_posts_message_then_uploads_chart(
    engine: Engine, slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    outcomes = deliver_all(engine, bot_settings(slack), sample_report())
    assert outcomes == [DeliveryOutcome("slack-bot", "#finops", "ok", 1, None)]
    methods = [r.api_method for r in slack.requests]
    assert methods == [
        "chat.postMessage",
        "files.getUploadURLExternal",
        f"/upload/{FILE_ID}",
        "files.completeUploadExternal",
    ]
    post, get_url, upload, complete = slack.requests
    assert all(r.headers["authorization"] == f"Bearer {BOT_TOKEN}" for r in (post, get_url))
    assert post.params["channel"] == "#finops"
    assert post.params["text"] == sample_report().slack_text
    assert post.params["blocks"] == sample_report().slack_blocks
    assert get_url.params["filename"] == "costagent-spend.png"
    assert int(get_url.params["length"]) == len(PNG)
    assert upload.body == PNG
    assert complete.params["channel_id"] == CHANNEL_ID
    assert complete.params["thread_ts"] == POSTED_TS  # the chart sits in the report's thread
    assert json.loads(complete.params["files"])[0]["title"] == sample_report().subject

    [row] = rows(engine)
    assert (row["channel"], row["target"], row["status"]) == ("slack-bot", "#finops", "ok")
    assert row["details"] == {
        "channel_id": CHANNEL_ID,
        "ts": "1790000000.000100",
        "file_id": FILE_ID,
    }
    assert BOT_TOKEN not in repr(row) and BOT_TOKEN not in caplog.text


def test_bot_without_chart_only_posts(sqlite_engine: Engine, slack: FakeSlack) -> None:
    [outcome] = deliver_all(sqlite_engine, bot_settings(slack), sample_report(chart_png=None))
    assert outcome.status == "ok"
    assert [r.api_method for r in slack.requests] == ["chat.postMessage"]


def test_bot_rate_limited_twice_then_posts_once(engine: Engine, slack: FakeSlack) -> None:
    slack.fail("/api/chat.postMessage", RATE_LIMITED, RATE_LIMITED)
    [outcome] = deliver_all(engine, bot_settings(slack), sample_report())
    assert (outcome.status, outcome.attempts) == ("ok", 3)
    assert len(slack.to("/api/chat.postMessage")) == 3
    assert len(slack.to("/api/files.completeUploadExternal")) == 1
    assert rows(engine)[0]["attempts"] == 3


def test_bot_unknown_channel_fails_without_retry(engine: Engine, slack: FakeSlack) -> None:
    slack.fail("/api/chat.postMessage", slack_error("channel_not_found"))
    [outcome] = deliver_all(engine, bot_settings(slack), sample_report())
    assert (outcome.status, outcome.attempts) == ("failed", 1)
    assert outcome.error and outcome.error.startswith("Slack chat.postMessage: channel_not_found")
    assert len(slack.requests) == 1
    [row] = rows(engine)
    assert row["status"] == "failed" and "channel_not_found" in row["error"]


def test_bot_bad_token(
    sqlite_engine: Engine, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-not-the-right-one")
    [outcome] = deliver_all(sqlite_engine, bot_settings(slack), sample_report())
    assert (outcome.status, outcome.attempts) == ("failed", 1)
    assert outcome.error == "Slack chat.postMessage: invalid_auth (the bot token is not valid)"


def test_missing_bot_token_names_the_variable(
    sqlite_engine: Engine, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLACK_BOT_TOKEN")
    [outcome] = deliver_all(sqlite_engine, bot_settings(slack), sample_report())
    assert outcome.status == "failed" and outcome.attempts == 0
    assert outcome.error == "Slack bot token missing: set the environment variable SLACK_BOT_TOKEN"
    assert slack.requests == []


def test_upload_retry_does_not_repost_the_message(engine: Engine, slack: FakeSlack) -> None:
    slack.fail("/upload/", SERVER_ERROR)
    [outcome] = deliver_all(engine, bot_settings(slack), sample_report())
    assert (outcome.status, outcome.attempts) == ("ok", 2)
    assert len(slack.to("/api/chat.postMessage")) == 1
    assert len(slack.to("/upload/")) == 2


def test_failed_upload_after_posting_is_reported(engine: Engine, slack: FakeSlack) -> None:
    slack.fail("/api/files.completeUploadExternal", slack_error("invalid_channel"))
    [outcome] = deliver_all(engine, bot_settings(slack), sample_report())
    assert (outcome.status, outcome.attempts) == ("partial", 1)  # posted: a resend would repeat it
    assert outcome.error == (
        "message posted, but the chart upload failed: Slack files_upload_v2: invalid_channel"
    )
    assert len(slack.to("/api/chat.postMessage")) == 1
    [row] = rows(engine)
    assert row["details"]["ts"] == "1790000000.000100"  # what did reach Slack is recorded


def test_slack_api_unreachable(sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    settings = slack_settings(
        channel="#finops", api_base_url=f"http://127.0.0.1:{free_port()}/api/"
    )
    [outcome] = deliver_all(sqlite_engine, settings, sample_report())
    assert (outcome.status, outcome.attempts) == ("failed", 3)
    assert outcome.error and outcome.error.startswith("cannot reach Slack API (chat.postMessage)")


def test_every_channel_in_order(engine: Engine, slack: FakeSlack, tmp_path: Any) -> None:
    from tests.smtp_server import smtp_server

    with smtp_server(tmp_path) as smtp:
        settings = Settings(
            report={
                "email": {
                    "smtp_host": "127.0.0.1",
                    "smtp_port": smtp.port,
                    "starttls": False,
                    "from": "costagent@example.com",
                    "to": ["finops@example.com"],
                },
                "slack": {
                    "webhook_url_env": "SLACK_WEBHOOK_URL",
                    "channel": "#finops",
                    "api_base_url": slack.api_url,
                    "retry_delay": 0,
                },
            }
        )
        slack.fail("/api/chat.postMessage", slack_error("not_in_channel"))
        outcomes = deliver_all(engine, settings, sample_report())
    assert [(o.channel, o.status) for o in outcomes] == [
        ("email", "ok"),
        ("slack-webhook", "ok"),
        ("slack-bot", "failed"),
    ]
    assert (
        outcomes[2].error
        == "Slack chat.postMessage: not_in_channel (invite the bot to the channel)"
    )
    assert [(r["channel"], r["status"]) for r in rows(engine)] == [
        ("email", "ok"),
        ("slack-webhook", "ok"),
        ("slack-bot", "failed"),
    ]


@pytest.mark.parametrize(
    ("given", "webhook", "bot"),
    [
        ({}, True, False),
        ({"channel": "#finops"}, False, True),
        ({"channel": "#finops", "webhook_url_env": "HOOK"}, True, True),
        ({"webhook_url_env": "HOOK"}, True, False),
    ],
)
def test_which_slack_channels_are_used(given: dict[str, Any], webhook: bool, bot: bool) -> None:
    config = SlackConfig.model_validate(given)
    assert (config.uses_webhook, config.uses_bot) == (webhook, bot)


def test_token_without_channel_is_a_config_error(tmp_path: Any) -> None:
    from agent.config import load_settings

    path = tmp_path / "costagent.toml"
    path.write_text('[report.slack]\ntoken_env = "MY_BOT_TOKEN"\n')
    with pytest.raises(ConfigError, match="token_env needs a channel"):
        load_settings(path)


@pytest.mark.parametrize("bot", [False, True], ids=["webhook", "bot"])
def test_fractional_timeout_is_kept(sqlite_engine: Engine, slack: FakeSlack, bot: bool) -> None:
    """0.5 s must stay 0.5 s: truncated to 0 it makes a non-blocking socket that fails at once."""
    settings = bot_settings(slack, timeout=0.5) if bot else slack_settings(timeout=0.5)
    [outcome] = deliver_all(sqlite_engine, settings, sample_report(chart_png=None))
    assert (outcome.status, outcome.attempts, outcome.error) == ("ok", 1, None)


def chart_image(url: str) -> dict[str, Any]:
    return {"type": "image", "image_url": url, "alt_text": "Daily spend by workload, 8 weeks"}


def test_bot_with_chart_url_shows_the_chart_once(
    sqlite_engine: Engine, slack: FakeSlack, tmp_path: Any
) -> None:
    """``[report] chart_url`` puts the chart in the message: the bot does not upload it again."""
    slack.serve_dir = tmp_path
    (tmp_path / "chart.png").write_bytes(PNG)
    blocks = [*sample_report().slack_blocks, chart_image(f"{slack.static_url}/chart.png")]
    [outcome] = deliver_all(sqlite_engine, bot_settings(slack), sample_report(slack_blocks=blocks))
    assert outcome.status == "ok", outcome.error
    assert [r.api_method for r in slack.requests] == ["chat.postMessage"]
    assert slack.fetched_images == [f"{slack.static_url}/chart.png"]


def webhook_chart_settings(slack: FakeSlack, chart_dir: Any, **more: Any) -> Settings:
    return slack_settings(chart_dir=str(chart_dir), chart_base_url=slack.static_url + "/", **more)


def test_webhook_links_the_weeks_chart_written_to_chart_dir(
    engine: Engine, slack: FakeSlack, tmp_path: Any
) -> None:
    charts = tmp_path / "charts"
    charts.mkdir()
    slack.serve_dir = charts
    [outcome] = deliver_all(engine, webhook_chart_settings(slack, charts), sample_report())
    assert outcome.status == "ok", outcome.error
    written = charts / "costagent-2026-W44.png"
    assert written.read_bytes() == PNG
    assert written.stat().st_mode & 0o777 == 0o644  # the web server is another user
    assert [p.name for p in charts.iterdir()] == [written.name]  # no temp file left
    url = f"{slack.static_url}/costagent-2026-W44.png"  # one slash: the base's is stripped
    [req] = slack.to(WEBHOOK_PATH)
    assert req.params["blocks"] == [*sample_report().slack_blocks, chart_image(url)]
    assert slack.fetched_images == [url]  # Slack could fetch it while taking the message
    [row] = rows(engine)
    assert row["details"] == {"host": "127.0.0.1", "chart_url": url}


def test_webhook_chart_not_publicly_reachable_still_posts_the_report(
    sqlite_engine: Engine, slack: FakeSlack, tmp_path: Any
) -> None:
    """chart_base_url not serving chart_dir: Slack refuses the image, the report goes without."""
    [outcome] = deliver_all(
        sqlite_engine, webhook_chart_settings(slack, tmp_path), sample_report()
    )  # slack.serve_dir unset: every /static/ URL is a 404
    # attempts count retries of a step; the post without the image is a step of its own
    assert (outcome.status, outcome.attempts) == ("partial", 1)
    url = f"{slack.static_url}/costagent-2026-W44.png"
    assert outcome.error == (
        f"message posted without the chart: Slack refused it with the image {url} "
        "(Slack webhook: HTTP 400 invalid_blocks); check that chart_base_url serves chart_dir "
        "publicly"
    )
    with_image, without = slack.to(WEBHOOK_PATH)
    assert with_image.params["blocks"][-1]["type"] == "image"
    assert without.params["blocks"] == sample_report().slack_blocks


def test_webhook_chart_dir_missing_still_posts_the_report(
    sqlite_engine: Engine, slack: FakeSlack, tmp_path: Any
) -> None:
    missing = tmp_path / "nope"
    [outcome] = deliver_all(sqlite_engine, webhook_chart_settings(slack, missing), sample_report())
    assert (outcome.status, outcome.attempts) == ("partial", 1)
    assert (
        outcome.error == f"message posted without the chart: chart_dir {missing} is not a directory"
    )
    [req] = slack.to(WEBHOOK_PATH)
    assert req.params["blocks"] == sample_report().slack_blocks


def test_with_chart_image_repoints_or_makes_room() -> None:
    from agent.notify.slack import with_chart_image

    url = "https://charts.example.com/costagent-2026-W44.png"
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x"}}
    footer = {"type": "context", "elements": [{"type": "mrkdwn", "text": "costagent"}]}
    old = chart_image("https://old.example.com/c.png")
    assert with_chart_image([section, old, footer], url) == [section, chart_image(url), footer]
    divider = {"type": "divider"}
    assert with_chart_image([section, divider, footer], url) == [
        section,
        chart_image(url),
        divider,
        footer,
    ]
    full = [section] * 49 + [footer]  # Slack's 50-block limit: the chart becomes a footer link
    linked = with_chart_image(full, url)
    assert len(linked) == 50 and linked[:49] == full[:49]
    assert linked[-1]["elements"][-1] == {"type": "mrkdwn", "text": f"<{url}|chart>"}


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"chart_dir": "/srv/charts"}, "chart_dir and chart_base_url go together"),
        ({"chart_base_url": "https://x.example/c"}, "chart_dir and chart_base_url go together"),
        ({"chart_dir": "/srv", "chart_base_url": "ftp://x/"}, "must be an http"),
        (
            {"chart_dir": "/srv", "chart_base_url": "https://x/", "channel": "#finops"},
            "chart_dir is for the webhook",
        ),
    ],
)
def test_chart_dir_config_errors(given: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SlackConfig.model_validate(given)


# The fake refuses what Slack refuses, so a renderer that breaks Block Kit fails these tests.
TOO_LONG_HEADER = [{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}]
TOO_MANY_BLOCKS = [{"type": "divider"}] * 51
LONG_SECTION = [{"type": "section", "text": {"type": "mrkdwn", "text": "y" * 3001}}]
MRKDWN_HEADER = [{"type": "header", "text": {"type": "mrkdwn", "text": "*AI spend*"}}]


@pytest.mark.parametrize(
    ("blocks", "why"),
    [
        (TOO_MANY_BLOCKS, "must be less than 51 items [json-pointer:/blocks]"),
        (TOO_LONG_HEADER, "must be less than 151 characters [json-pointer:/blocks/0/text/text]"),
        (LONG_SECTION, "must be less than 3001 characters [json-pointer:/blocks/0/text/text]"),
        (MRKDWN_HEADER, "must be a text object of type plain_text [json-pointer:/blocks/0/text]"),
    ],
    ids=["51-blocks", "long-header", "long-section", "mrkdwn-header"],
)
def test_slack_refuses_invalid_blocks(
    sqlite_engine: Engine, slack: FakeSlack, blocks: list[dict[str, Any]], why: str
) -> None:
    report = sample_report(slack_blocks=blocks, chart_png=None)
    settings = bot_settings(slack, webhook_url_env="SLACK_WEBHOOK_URL")
    webhook, bot = deliver_all(sqlite_engine, settings, report)
    assert (webhook.status, webhook.attempts) == ("failed", 1)  # permanent: not retried
    assert webhook.error == "Slack webhook: HTTP 400 invalid_blocks"
    assert (bot.status, bot.attempts) == ("failed", 1)
    assert bot.error == f"Slack chat.postMessage: invalid_blocks ({why})"


def test_webhook_gone_is_not_reposted_without_the_chart(
    sqlite_engine: Engine, slack: FakeSlack, tmp_path: Any
) -> None:
    """Only Slack refusing the message (HTTP 400) is worth a post without the image; a 404
    webhook fails the same way either way."""
    slack.serve_dir = tmp_path
    slack.fail(WEBHOOK_PATH, (404, {}, "no_service"))
    [outcome] = deliver_all(sqlite_engine, webhook_chart_settings(slack, tmp_path), sample_report())
    assert (outcome.status, outcome.error) == ("failed", "Slack webhook: HTTP 404 no_service")
    assert len(slack.to(WEBHOOK_PATH)) == 1
