"""Secrets: read from the environment or a file, held as ``SecretStr``, kept out of logs.

Core, for every stage: delivery secrets (the SMTP password, the Slack bot token and the webhook
URL, whose path is the credential) are read only when a report is sent, and API keys (the
OpenAI and Anthropic admin keys) only when their source runs, so a missing one is a failed
delivery or source naming the variable to set, never a crash at start-up.  ``RedactSecrets``
scrubs them from log records of third-party clients (slack_sdk logs the webhook URL at DEBUG).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from pydantic import SecretStr

from agent.redact import redact, register


class MissingSecret(Exception):
    """A secret a configured channel needs is not available; the message says how to provide it."""


def env_secret(name: str) -> SecretStr | None:
    """The value of environment variable ``name``, or None when unset or blank (registered
    with :mod:`agent.redact`, so nothing printed afterwards can carry it)."""
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    register(value, url=value.startswith(("http://", "https://")))
    return SecretStr(value)


def require_env_secret(name: str, what: str) -> SecretStr:
    secret = env_secret(name)
    if secret is None:
        raise MissingSecret(f"{what} missing: set the environment variable {name}")
    return secret


def file_secret(path: Path) -> SecretStr:
    """The first line of a secrets file (Docker/Kubernetes style); errors name only the path."""
    try:
        text = path.expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise MissingSecret(f"cannot read secrets file {path}: {exc.strerror or exc}") from None
    value = text.splitlines()[0].strip() if text.strip() else ""
    if not value:
        raise MissingSecret(f"secrets file {path} is empty")
    register(value, url=value.startswith(("http://", "https://")))
    return SecretStr(value)


def reveal(secrets: tuple[SecretStr | None, ...]) -> tuple[str, ...]:
    """Plain values to scrub from text (for ``redact``); never log the result."""
    return tuple(s.get_secret_value() for s in secrets if s is not None)


class RedactSecrets(logging.Filter):
    """Rewrites each record's message with the given secret values replaced by ``***``."""

    def __init__(self, values: tuple[str, ...]) -> None:
        super().__init__()
        self._values = values

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message, self._values)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def redacting_logger(name: str, values: tuple[str, ...]) -> logging.Logger:
    """A logger for one client instance whose records never contain ``values``.

    Not registered with ``logging`` (so a daemon does not accumulate one per delivery), but its
    records propagate to the named logger's handlers — after the filter has scrubbed them.
    """
    logger = logging.Logger(name)
    logger.parent = logging.getLogger(name)
    logger.addFilter(RedactSecrets(values))
    return logger
