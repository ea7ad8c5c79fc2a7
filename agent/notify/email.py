"""The report by email: one MIME message, sent over STARTTLS, SMTPS or a plain local relay.

The message is ``multipart/related`` around ``multipart/alternative`` (the Markdown as text/plain,
the HTML as text/html) plus the chart as an inline PNG whose Content-ID the HTML references, so
mail clients show the chart without fetching anything remote.  It is built once per delivery:
every retry sends the same Message-ID, letting the receiving side drop a duplicate.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any, cast

from pydantic import SecretStr

from agent.config import EmailConfig
from agent.notify.retry import DeliveryError, Retrier
from agent.notify.secrets import MissingSecret, env_secret, file_secret, reveal
from agent.redact import redact
from agent.report.rendered import RenderedReport

USERNAME_ENV = "COSTAGENT_SMTP_USERNAME"
PASSWORD_ENV = "COSTAGENT_SMTP_PASSWORD"
PASSWORD_FILE_ENV = "COSTAGENT_SMTP_PASSWORD_FILE"


@dataclass(frozen=True)
class Login:
    username: str
    password: SecretStr


def resolve_login(config: EmailConfig) -> Login | None:
    """The SMTP login, or None when no username is configured (a trusted local relay).

    Environment wins over the file, as everywhere in costagent: username from
    ``COSTAGENT_SMTP_USERNAME`` or ``username``; password from ``COSTAGENT_SMTP_PASSWORD``, else
    ``password_file``, else the file named by ``COSTAGENT_SMTP_PASSWORD_FILE``.
    """
    user = env_secret(USERNAME_ENV)
    username = user.get_secret_value() if user else config.username
    if not username:
        return None
    password = env_secret(PASSWORD_ENV)
    if password is None:
        path = config.password_file
        env_path = env_secret(PASSWORD_FILE_ENV)
        if path is None and env_path is not None:
            path = Path(env_path.get_secret_value())
        if path is None:
            raise MissingSecret(
                f"SMTP password missing for user {username}: set the environment variable "
                f"{PASSWORD_ENV} (or password_file / {PASSWORD_FILE_ENV})"
            )
        password = file_secret(path)
    return Login(username, password)


def build_message(rendered: RenderedReport, config: EmailConfig, now: datetime) -> EmailMessage:
    """The MIME message: text + HTML alternatives, the chart inline under its Content-ID."""
    msg = EmailMessage()
    msg["Subject"] = rendered.subject
    msg["From"] = config.from_
    msg["To"] = ", ".join(config.to)
    msg["Date"] = format_datetime(now.replace(tzinfo=UTC) if now.tzinfo is None else now)
    domain = config.from_.rpartition("@")[2].strip("> ") or "costagent.localdomain"
    msg["Message-ID"] = make_msgid(idstring=f"costagent.{rendered.period}", domain=domain)
    msg.set_content(rendered.markdown)
    msg.add_alternative(rendered.html, subtype="html")
    if rendered.chart_png:
        parts = cast(list[EmailMessage], msg.get_payload())
        html_part = parts[1]  # the text/html alternative
        html_part.add_related(
            rendered.chart_png,
            "image",
            "png",
            cid=f"<{rendered.chart_cid}>",
            filename=rendered.chart_filename,
            disposition="inline",
        )
    return msg


def send_email(
    rendered: RenderedReport,
    config: EmailConfig,
    retrier: Retrier,
    now: datetime,
) -> dict[str, Any]:
    """Send the report to every recipient; the details to record (message id, server)."""
    login = resolve_login(config)
    secrets = reveal((login.password,) if login else ())
    msg = build_message(rendered, config, now)
    context = _tls_context(config) if (config.ssl or config.starttls) else None

    def attempt() -> None:
        try:
            _send_once(msg, config, login, context)
        except DeliveryError as exc:
            raise DeliveryError(
                redact(str(exc), secrets), transient=exc.transient, retry_after=exc.retry_after
            ) from None
        except Exception as exc:  # unforeseen: still never let the password through
            raise DeliveryError(
                redact(f"SMTP: {type(exc).__name__}: {exc}", secrets), transient=False
            ) from None

    retrier.run(f"email to {', '.join(config.to)}", attempt)
    return {
        "message_id": str(msg["Message-ID"]),
        "server": f"{config.smtp_host}:{config.smtp_port}",
        "tls": "ssl" if config.ssl else "starttls" if config.starttls else "none",
        "login": bool(login),
    }


def _tls_context(config: EmailConfig) -> ssl.SSLContext:
    """Verifying context: the system CAs, or ``ca_file`` for an internal CA / self-signed relay."""
    cafile = str(config.ca_file.expanduser()) if config.ca_file else None
    try:
        return ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise DeliveryError(
            f"cannot load ca_file {config.ca_file}: {exc}", transient=False
        ) from None


def _send_once(
    msg: EmailMessage,
    config: EmailConfig,
    login: Login | None,
    context: ssl.SSLContext | None,
) -> None:
    server = f"{config.smtp_host}:{config.smtp_port}"
    try:
        smtp: smtplib.SMTP
        if config.ssl:
            smtp = smtplib.SMTP_SSL(
                config.smtp_host, config.smtp_port, timeout=config.timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=config.timeout)
        with smtp:
            if config.starttls:
                smtp.starttls(context=context)
            if login:
                smtp.login(login.username, login.password.get_secret_value())
            refused = smtp.send_message(msg, from_addr=config.from_, to_addrs=list(config.to))
    except smtplib.SMTPRecipientsRefused as exc:
        raise _refused(exc.recipients, len(config.to)) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise DeliveryError(f"SMTP server {server}: {exc}", transient=False) from None
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(
            f"SMTP login refused by {server}: {exc.smtp_code} {_text(exc.smtp_error)}",
            transient=False,
        ) from None
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(
            f"SMTP server {server} said {exc.smtp_code} {_text(exc.smtp_error)}",
            transient=400 <= exc.smtp_code < 500,
        ) from None
    except ssl.SSLCertVerificationError as exc:
        raise DeliveryError(
            f"TLS certificate of {server} not trusted ({exc.verify_message}); "
            "set ca_file to the CA that signed it",
            transient=False,
        ) from None
    except smtplib.SMTPServerDisconnected as exc:
        raise DeliveryError(
            f"SMTP server {server} closed the connection: {exc}", transient=True
        ) from None
    except TimeoutError:
        raise DeliveryError(
            f"SMTP server {server} timed out after {config.timeout:g}s", transient=True
        ) from None
    except OSError as exc:  # refused, unreachable, DNS, TLS handshake
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise DeliveryError(
            f"cannot connect to SMTP server {server}: {reason}", transient=True
        ) from None
    except smtplib.SMTPException as exc:
        raise DeliveryError(f"SMTP error with {server}: {exc}", transient=True) from None
    if refused:
        raise _refused(refused, len(config.to))


def _refused(recipients: dict[str, tuple[int, bytes]], total: int) -> DeliveryError:
    """Some or all recipients refused; worth retrying only if every refusal is temporary (4xx)."""
    listed = "; ".join(f"{rcpt} ({code} {_text(why)})" for rcpt, (code, why) in recipients.items())
    return DeliveryError(
        f"SMTP server refused {len(recipients)} of {total} recipients: {listed}",
        transient=all(400 <= code < 500 for code, _ in recipients.values()),
    )


def _text(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return " ".join(text.split())
