"""The report by email: one MIME message, sent over STARTTLS, SMTPS or a plain local relay.

The message is ``multipart/related`` around ``multipart/alternative`` (the Markdown as text/plain,
the HTML as text/html) plus the chart as an inline PNG whose Content-ID the HTML references, so
mail clients show the chart without fetching anything remote.  It is built once per delivery:
every retry sends the same Message-ID, letting the receiving side drop a duplicate.

A retry goes only to the recipients still owed the message: when the server accepts some RCPTs
and refuses others with 4xx, the accepted ones already have it, so resending to everyone would
mail them twice.  Recipients refused with 5xx are given up at once and named in the error.
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
from agent.notify.retry import DeliveryError, PartlyDelivered, Retrier
from agent.redact import redact
from agent.report.rendered import RenderedReport
from agent.secrets import MissingSecret, env_secret, file_secret, reveal

USERNAME_ENV = "COSTAGENT_SMTP_USERNAME"
PASSWORD_ENV = "COSTAGENT_SMTP_PASSWORD"
PASSWORD_FILE_ENV = "COSTAGENT_SMTP_PASSWORD_FILE"

Refusals = dict[str, tuple[int, bytes]]  # recipient → (SMTP code, server's text)


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
    problem = config.cleartext_login_error(username)  # the username may come from the env
    if problem:
        raise DeliveryError(problem, transient=False)
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
    pending = list(config.to)  # still owed the message: a retry sends to these only
    given_up: Refusals = {}  # refused with 5xx: never retried
    delivered: list[str] = []  # accepted by the server: never sent again

    def attempt() -> None:
        try:
            refused = _send_once(msg, config, login, context, pending)
        except DeliveryError as exc:
            raise DeliveryError(
                redact(str(exc), secrets), transient=exc.transient, retry_after=exc.retry_after
            ) from None
        except Exception as exc:  # unforeseen: still never let the password through
            raise DeliveryError(
                redact(f"SMTP: {type(exc).__name__}: {exc}", secrets), transient=False
            ) from None
        delivered.extend(r for r in pending if r not in refused)
        given_up.update({r: v for r, v in refused.items() if not _temporary(v[0])})
        pending[:] = [r for r in pending if r in refused and _temporary(refused[r][0])]
        if pending:
            later = {r: refused[r] for r in pending}
            raise DeliveryError(_refusal(later, len(config.to), "temporarily"), transient=True)

    last: DeliveryError | None = None
    try:
        retrier.run(f"email to {', '.join(config.to)}", attempt)
    except DeliveryError as exc:
        last = exc
    if given_up or last:
        problems = [_refusal(given_up, len(config.to), "permanently")] if given_up else []
        problems += [str(last)] if last else []
        if delivered:  # say who has it, so nobody resends to them by hand
            problems.insert(0, f"sent to {', '.join(delivered)}")
            raise PartlyDelivered("; ".join(problems))
        raise DeliveryError("; ".join(problems), transient=False)
    return {
        "message_id": str(msg["Message-ID"]),
        "server": f"{config.smtp_host}:{config.smtp_port}",
        "tls": "ssl" if config.ssl else "starttls" if config.starttls else "none",
        "login": bool(login),
    }


def _temporary(code: int) -> bool:
    return 400 <= code < 500


def _refusal(refused: Refusals, total: int, how: str) -> str:
    """``… refused 1 of 2 recipients permanently: b@y (550 no such user)`` — each address named."""
    listed = "; ".join(f"{r} ({code} {_text(why)})" for r, (code, why) in refused.items())
    return f"SMTP server refused {len(refused)} of {total} recipients {how}: {listed}"


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
    recipients: list[str],
) -> Refusals:
    """One SMTP session sending ``msg`` to ``recipients``; the ones the server refused.

    Raises ``DeliveryError`` when nothing was sent (connection, TLS, login, DATA refused).
    """
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
            return smtp.send_message(msg, from_addr=config.from_, to_addrs=list(recipients))
    except smtplib.SMTPRecipientsRefused as exc:  # every recipient refused, nothing sent
        return dict(exc.recipients)
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


def _text(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return " ".join(text.split())
