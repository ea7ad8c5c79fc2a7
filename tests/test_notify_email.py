"""Email delivery against a real aiosmtpd server on 127.0.0.1: STARTTLS, SMTPS, plain relays."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine
from sqlalchemy import Engine, select, text

from agent.config import ConfigError, EmailConfig, Settings
from agent.notify.deliver import DeliveryOutcome, deliver_all
from agent.report.rendered import RenderedReport
from agent.store.engine import open_store
from agent.store.schema import Delivery
from tests.smtp_server import SMTP_PASSWORD, SMTP_USER, free_port, smtp_server

# A real 1×1 PNG: the bytes must arrive unchanged.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
RECIPIENTS = ["finops@example.com", "cto@example.com"]
# aiosmtpd warns about AUTH on the plain test relay; that is the point of the plain variant.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def sample_report(**changes: Any) -> RenderedReport:
    fields: dict[str, Any] = {
        "period": "2026-W44",
        "subject": "AI spend 2026-W44: USD 1,234.50 (+12 %)",
        "markdown": "# AI spend, week 2026-W44\n\nInference: USD 1,000.00\n<script>x</script>\n",
        "html": (
            "<html><body><h1>AI spend, week 2026-W44</h1>"
            "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"
            '<img src="cid:spend-chart" alt="spend by workload"></body></html>'
        ),
        "slack_text": "AI spend 2026-W44: USD 1,234.50 (+12 %)",
        "slack_blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "*AI spend* USD 1,234.50"}}
        ],
        "chart_png": PNG,
    }
    fields.update(changes)
    return RenderedReport(**fields)


def email_settings(port: int, **email: Any) -> Settings:
    config: dict[str, Any] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "starttls": False,
        "from": "costagent@example.com",
        "to": RECIPIENTS,
        "retry_delay": 0,
    }
    config.update(email)
    return Settings(report={"email": config})


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    eng = open_store(sqlite_url)
    yield eng
    eng.dispose()


@pytest.fixture(autouse=True)
def _no_smtp_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "COSTAGENT_SMTP_USERNAME",
        "COSTAGENT_SMTP_PASSWORD",
        "COSTAGENT_SMTP_PASSWORD_FILE",
    ):
        monkeypatch.delenv(name, raising=False)


def delivery_rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [
            dict(r._mapping) for r in conn.execute(text("SELECT * FROM deliveries ORDER BY id"))
        ]


def parts(message: EmailMessage) -> dict[str, EmailMessage]:
    return {p.get_content_type(): p for p in message.walk()}  # type: ignore[misc]


def test_starttls_with_login_sends_the_whole_report(
    engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("COSTAGENT_SMTP_USERNAME", SMTP_USER)
    monkeypatch.setenv("COSTAGENT_SMTP_PASSWORD", SMTP_PASSWORD)
    with smtp_server(tmp_path, tls="starttls", auth=True) as smtp:
        settings = email_settings(smtp.port, starttls=True, ca_file=str(smtp.ca_file))
        outcomes = deliver_all(engine, settings, sample_report())

    assert outcomes == [DeliveryOutcome("email", ", ".join(RECIPIENTS), "ok", 1, None)]
    [got] = smtp.received
    assert got.tls and got.login == SMTP_USER
    assert got.mail_from == "costagent@example.com"
    assert sorted(got.rcpt_tos) == sorted(RECIPIENTS)

    msg = got.message
    assert msg["Subject"] == "AI spend 2026-W44: USD 1,234.50 (+12 %)"
    assert msg["From"] == "costagent@example.com"
    assert msg["To"] == "finops@example.com, cto@example.com"
    assert msg["Message-ID"] and msg["Date"]
    # multipart/alternative [text/plain, multipart/related [text/html, image/png]]: text-only
    # readers never see the chart as an attachment, HTML readers show it inline.
    assert msg.get_content_type() == "multipart/alternative"
    plain, related = msg.iter_parts()
    assert plain.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    assert [p.get_content_type() for p in related.iter_parts()] == ["text/html", "image/png"]
    found = parts(msg)
    # SMTP carries CRLF line ends; the text is the Markdown, line for line.
    assert found["text/plain"].get_content().replace("\r\n", "\n") == sample_report().markdown
    html = found["text/html"].get_content()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    assert 'src="cid:spend-chart"' in html
    image = found["image/png"]
    assert image["Content-ID"] == "<spend-chart>"
    assert image.get_content_disposition() == "inline"
    assert image.get_content() == PNG

    [row] = delivery_rows(engine)
    assert row["channel"] == "email" and row["status"] == "ok" and row["attempts"] == 1
    assert row["target"] == "finops@example.com, cto@example.com"
    assert row["report_period"] == "2026-W44" and row["error"] is None
    assert row["started_at"] <= row["finished_at"]
    details = row["details"]
    if isinstance(details, str):  # SQLite JSON comes back as text through raw SQL
        import json

        details = json.loads(details)
    assert details["message_id"] == msg["Message-ID"].strip() and details["login"] is True
    assert SMTP_PASSWORD not in repr(row)
    assert SMTP_PASSWORD not in caplog.text


def test_implicit_tls_smtps(sqlite_engine: Engine, tmp_path: Path) -> None:
    with smtp_server(tmp_path, tls="ssl") as smtp:
        settings = email_settings(smtp.port, ssl=True, ca_file=str(smtp.ca_file))
        [outcome] = deliver_all(sqlite_engine, settings, sample_report())
    assert outcome.status == "ok", outcome.error
    [got] = smtp.received
    assert got.tls and got.login is None


def test_plain_relay_without_login_and_without_chart(sqlite_engine: Engine, tmp_path: Path) -> None:
    with smtp_server(tmp_path) as smtp:
        settings = email_settings(smtp.port)
        [outcome] = deliver_all(sqlite_engine, settings, sample_report(chart_png=None))
    assert outcome.status == "ok"
    [got] = smtp.received
    assert not got.tls and got.login is None
    assert "image/png" not in parts(got.message)


def test_password_from_secrets_file(sqlite_engine: Engine, tmp_path: Path) -> None:
    secret = tmp_path / "smtp-password"
    secret.write_text(SMTP_PASSWORD + "\n")
    with smtp_server(tmp_path, auth=True) as smtp:
        settings = email_settings(smtp.port, username=SMTP_USER, password_file=str(secret))
        [outcome] = deliver_all(sqlite_engine, settings, sample_report())
    assert outcome.status == "ok", outcome.error
    assert smtp.received[0].login == SMTP_USER


def test_password_file_from_environment(
    sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "pw"
    secret.write_text(SMTP_PASSWORD)
    monkeypatch.setenv("COSTAGENT_SMTP_USERNAME", SMTP_USER)
    monkeypatch.setenv("COSTAGENT_SMTP_PASSWORD_FILE", str(secret))
    with smtp_server(tmp_path, auth=True) as smtp:
        [outcome] = deliver_all(sqlite_engine, email_settings(smtp.port), sample_report())
    assert outcome.status == "ok", outcome.error


def test_wrong_password_fails_once_without_leaking_it(
    engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("COSTAGENT_SMTP_USERNAME", SMTP_USER)
    monkeypatch.setenv("COSTAGENT_SMTP_PASSWORD", "wrong-Secret-value-42")
    with smtp_server(tmp_path, auth=True) as smtp:
        [outcome] = deliver_all(engine, email_settings(smtp.port), sample_report())
    assert outcome.status == "failed" and outcome.attempts == 1  # permanent: not retried
    assert outcome.error and "login refused" in outcome.error and "535" in outcome.error
    assert smtp.received == []
    [row] = delivery_rows(engine)
    assert row["status"] == "failed" and row["error"] == outcome.error
    assert "wrong-Secret-value-42" not in repr(row) + caplog.text


def test_missing_password_names_the_variable(sqlite_engine: Engine) -> None:
    settings = email_settings(free_port(), username=SMTP_USER)
    [outcome] = deliver_all(sqlite_engine, settings, sample_report())
    assert outcome.status == "failed" and outcome.attempts == 0
    assert outcome.error and "COSTAGENT_SMTP_PASSWORD" in outcome.error
    assert delivery_rows(sqlite_engine)[0]["status"] == "failed"


def test_untrusted_certificate_is_a_clear_permanent_error(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    with smtp_server(tmp_path, tls="starttls") as smtp:
        [outcome] = deliver_all(
            sqlite_engine, email_settings(smtp.port, starttls=True), sample_report()
        )
    assert outcome.status == "failed" and outcome.attempts == 1
    assert outcome.error and "not trusted" in outcome.error and "ca_file" in outcome.error


def test_temporary_rejections_are_retried(engine: Engine, tmp_path: Path) -> None:
    with smtp_server(tmp_path) as smtp:
        smtp.handler.fail_next = ["451 4.3.0 try again later", "421 4.7.0 busy"]
        [outcome] = deliver_all(engine, email_settings(smtp.port), sample_report())
    assert outcome == DeliveryOutcome("email", ", ".join(RECIPIENTS), "ok", 3, None)
    assert len(smtp.received) == 1
    [row] = delivery_rows(engine)
    assert row["status"] == "ok" and row["attempts"] == 3


def test_permanent_rejection_is_not_retried(engine: Engine, tmp_path: Path) -> None:
    with smtp_server(tmp_path) as smtp:
        smtp.handler.fail_next = ["554 5.7.1 message rejected"] * 3
        [outcome] = deliver_all(engine, email_settings(smtp.port), sample_report())
    assert outcome.status == "failed" and outcome.attempts == 1
    assert outcome.error and "554" in outcome.error and "message rejected" in outcome.error
    [row] = delivery_rows(engine)
    assert (row["status"], row["attempts"]) == ("failed", 1)


def test_server_down_is_a_failed_outcome_not_an_exception(engine: Engine) -> None:
    settings = email_settings(free_port(), attempts=3)
    [outcome] = deliver_all(engine, settings, sample_report())
    assert outcome.status == "failed" and outcome.attempts == 3
    assert outcome.error and "cannot connect to SMTP server 127.0.0.1:" in outcome.error
    assert "refused" in outcome.error.lower()
    [row] = delivery_rows(engine)
    assert (row["status"], row["attempts"], row["error"]) == ("failed", 3, outcome.error)


def test_backoff_delays_double(sqlite_engine: Engine) -> None:
    slept: list[float] = []
    settings = email_settings(free_port(), attempts=4, retry_delay=1.5)
    deliver_all(sqlite_engine, settings, sample_report(), sleep=slept.append)
    assert slept == [1.5, 3.0, 6.0]


def test_times_come_from_the_clock(sqlite_engine: Engine, tmp_path: Path) -> None:
    moment = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    with smtp_server(tmp_path) as smtp, time_machine.travel(moment, tick=False):
        deliver_all(sqlite_engine, email_settings(smtp.port), sample_report())
    [row] = delivery_rows(sqlite_engine)
    assert str(row["started_at"]).startswith("2026-11-02 09:00:00")
    assert str(row["finished_at"]).startswith("2026-11-02 09:00:00")
    assert parsedate_to_datetime(smtp.received[0].message["Date"]) == moment


def test_explicit_now_dates_the_delivery(sqlite_engine: Engine, tmp_path: Path) -> None:
    moment = datetime(2026, 11, 9, 8, 30)
    with smtp_server(tmp_path) as smtp:
        deliver_all(sqlite_engine, email_settings(smtp.port), sample_report(), now=moment)
    with sqlite_engine.connect() as conn:
        started = conn.execute(select(Delivery.started_at)).scalar_one()
    assert started == moment
    assert parsedate_to_datetime(smtp.received[0].message["Date"]) == moment.replace(tzinfo=UTC)


def test_a_store_failure_is_logged_not_raised(
    sqlite_engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with sqlite_engine.begin() as conn:
        conn.execute(text("DROP TABLE deliveries"))
    with smtp_server(tmp_path) as smtp:
        [outcome] = deliver_all(sqlite_engine, email_settings(smtp.port), sample_report())
    assert outcome.status == "ok" and len(smtp.received) == 1
    assert "could not record the email delivery" in caplog.text


def test_no_channel_configured_sends_nothing(sqlite_engine: Engine) -> None:
    assert deliver_all(sqlite_engine, Settings(), sample_report()) == []
    assert delivery_rows(sqlite_engine) == []


@pytest.mark.parametrize(
    ("given", "port", "starttls"),
    [
        ({}, 587, True),
        ({"ssl": True}, 465, False),
        ({"starttls": False}, 25, False),
        ({"ssl": True, "smtp_port": 2465}, 2465, False),
    ],
)
def test_tls_mode_sets_the_default_port(given: dict[str, Any], port: int, starttls: bool) -> None:
    config = EmailConfig.model_validate({"smtp_host": "h", "from": "a@b", "to": ["c@d"], **given})
    assert (config.smtp_port, config.starttls) == (port, starttls)


def test_both_tls_modes_is_a_config_error(tmp_path: Path) -> None:
    from agent.config import load_settings

    path = tmp_path / "costagent.toml"
    path.write_text(
        '[report.email]\nsmtp_host = "h"\nssl = true\nstarttls = true\n'
        'from = "a@b.c"\nto = ["d@e.f"]\n'
    )
    with pytest.raises(ConfigError, match="choose one of ssl"):
        load_settings(path)


def test_partial_refusal_retries_only_the_refused_recipient(engine: Engine, tmp_path: Path) -> None:
    """finops accepts at once; cto is greylisted (451) once: the retry goes to cto alone."""
    with smtp_server(tmp_path) as smtp:
        smtp.handler.refuse_rcpt = {"cto@example.com": ["451 4.7.1 greylisted, come back later"]}
        [outcome] = deliver_all(engine, email_settings(smtp.port), sample_report())
    assert outcome == DeliveryOutcome("email", ", ".join(RECIPIENTS), "ok", 2, None)
    first, second = smtp.received
    assert first.rcpt_tos == ["finops@example.com"]  # cto was refused in this session
    assert second.rcpt_tos == ["cto@example.com"]  # finops is not mailed a second time
    assert first.message["Message-ID"] == second.message["Message-ID"]  # one message, two hops
    assert second.message["To"] == "finops@example.com, cto@example.com"  # headers unchanged
    assert [r for _, r in smtp.handler.rcpt_replies].count("250 OK") == 2
    [row] = delivery_rows(engine)
    assert (row["status"], row["attempts"]) == ("ok", 2)


def test_every_recipient_greylisted_then_all_accepted(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    """All RCPTs refused (smtplib's SMTPRecipientsRefused, nothing sent): the retry sends to all."""
    with smtp_server(tmp_path) as smtp:
        smtp.handler.refuse_rcpt = {r: ["450 4.2.0 mailbox busy"] for r in RECIPIENTS}
        [outcome] = deliver_all(sqlite_engine, email_settings(smtp.port), sample_report())
    assert (outcome.status, outcome.attempts) == ("ok", 2)
    [got] = smtp.received
    assert sorted(got.rcpt_tos) == sorted(RECIPIENTS)


def test_permanently_refused_recipient_is_named_and_not_retried(
    engine: Engine, tmp_path: Path
) -> None:
    """cto@ does not exist (550): given up at once, by address; ops@ is greylisted, then gets it."""
    to = [*RECIPIENTS, "ops@example.com"]
    with smtp_server(tmp_path) as smtp:
        smtp.handler.refuse_rcpt = {
            "cto@example.com": ["550 5.1.1 no such user"] * 3,
            "ops@example.com": ["451 4.7.1 greylisted"],
        }
        [outcome] = deliver_all(engine, email_settings(smtp.port, to=to), sample_report())
    # Partial: two of three got it, so the week counts as delivered (a rerun must not mail
    # finops and ops again), but the outcome and the record say who did not.
    assert (outcome.status, outcome.attempts) == ("partial", 2)
    assert outcome.error == (
        "sent to finops@example.com, ops@example.com; SMTP server refused 1 of 3 recipients "
        "permanently: cto@example.com (550 5.1.1 no such user)"
    )
    assert [g.rcpt_tos for g in smtp.received] == [["finops@example.com"], ["ops@example.com"]]
    # cto was asked once: the retry went to ops only
    assert [a for a, _ in smtp.handler.rcpt_replies].count("cto@example.com") == 1
    [row] = delivery_rows(engine)
    assert (row["status"], row["error"]) == ("partial", outcome.error)
    # The daemon's catch-up / retry run skips the channel instead of mailing everyone again.
    with smtp_server(tmp_path) as smtp2:
        [again] = deliver_all(
            engine, email_settings(smtp2.port, to=to), sample_report(), skip_delivered=True
        )
    assert again.status == "skipped"
    assert smtp2.received == []


def test_recipient_greylisted_on_every_attempt(sqlite_engine: Engine, tmp_path: Path) -> None:
    with smtp_server(tmp_path) as smtp:
        smtp.handler.refuse_rcpt = {"cto@example.com": ["451 4.7.1 greylisted"] * 3}
        [outcome] = deliver_all(sqlite_engine, email_settings(smtp.port), sample_report())
    assert (outcome.status, outcome.attempts) == ("partial", 3)
    assert outcome.error == (
        "sent to finops@example.com; SMTP server refused 1 of 2 recipients temporarily: "
        "cto@example.com (451 4.7.1 greylisted)"
    )
    assert [g.rcpt_tos for g in smtp.received] == [["finops@example.com"]]


@pytest.mark.parametrize("host", ["smtp.example.com", "10.0.0.25", "mail.localhost.example"])
def test_login_without_tls_to_a_remote_host_is_a_config_error(host: str, tmp_path: Path) -> None:
    from agent.config import load_settings

    path = tmp_path / "costagent.toml"
    path.write_text(
        f'[report.email]\nsmtp_host = "{host}"\nstarttls = false\nusername = "bot"\n'
        'from = "a@b.c"\nto = ["d@e.f"]\n'
    )
    with pytest.raises(ConfigError, match="would send the password in clear: set starttls"):
        load_settings(path)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.53", "::1", "[::1]", "localhost"])
def test_login_without_tls_is_fine_on_loopback(host: str) -> None:
    config = EmailConfig.model_validate(
        {"smtp_host": host, "starttls": False, "username": "bot", "from": "a@b", "to": ["c@d"]}
    )
    assert config.cleartext_login_error("bot") is None


def test_plaintext_login_can_be_allowed_explicitly() -> None:
    given = {"smtp_host": "relay.internal", "starttls": False, "from": "a@b", "to": ["c@d"]}
    config = EmailConfig.model_validate({**given, "username": "bot", "allow_plaintext_auth": True})
    assert config.cleartext_login_error("bot") is None
    assert EmailConfig.model_validate(given).cleartext_login_error("bot") is not None


def test_username_from_the_environment_is_checked_before_connecting(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COSTAGENT_SMTP_USERNAME", SMTP_USER)
    monkeypatch.setenv("COSTAGENT_SMTP_PASSWORD", SMTP_PASSWORD)
    settings = email_settings(free_port(), smtp_host="smtp.example.com")
    [outcome] = deliver_all(sqlite_engine, settings, sample_report())
    assert outcome.status == "failed" and outcome.attempts == 0  # never connected
    assert outcome.error == (
        f"SMTP login as {SMTP_USER} to smtp.example.com without TLS would send the password in "
        "clear: set starttls = true or ssl = true (or allow_plaintext_auth = true)"
    )
