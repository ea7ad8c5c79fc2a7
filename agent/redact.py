"""Scrub credentials out of text before it reaches a log, the database or the terminal.

One redaction serves every way out — log records (CLI and daemon, any verbosity, text and JSON),
exception text, errors stored in ``collection_runs`` / ``job_runs`` / ``deliveries``, and what
``status`` or the report renders — because a secret leaks through whichever path was forgotten.

It knows two kinds of thing:

* **the secrets themselves**: every value read as a ``SecretStr`` (config fields, environment
  and file secrets, credentials a collector obtains at run time such as an assumed role's keys)
  is :func:`register`-ed when it is read, with the forms it takes in transit (URL-encoded, JSON
  escaped) and, for URLs, the parts that are the credential (a Slack webhook's path segments, a
  password in the authority, query values);
* **credential shapes**, for values nobody registered yet (botocore logs the AssumeRole
  response before the collector sees the keys): AWS key ids, ``SecretAccessKey``-style
  ``name=value`` / ``"name": "value"`` / ``<Name>value</Name>`` pairs, bearer and basic
  authorisation, Slack tokens and webhook paths, Google OAuth tokens and PEM private keys,
  OpenAI / Anthropic API keys, long base64 runs (also percent-encoded).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from urllib.parse import quote, quote_plus, urlsplit

MASK = "***"
_MIN_FRAGMENT = 6  # shorter registered parts would mask ordinary words
_URL_SECRET = 16  # a URL path segment this long may be a credential (Slack's are 24)

_NAMES = (
    r"aws_?secret_?access_?key|secret_?access_?key|aws_?session_?token|session_?token|"
    r"security_?token|x-amz-security-token|external_?id|password|passwd|pwd|"
    r"client_?secret|private_?key|refresh_?token|access_?token|api_?key|x-api-key|"
    r"admin_?key|auth_?token|token|secret|signature|credential"
)
_B64 = "[A-Za-z0-9+/]"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # PEM private keys (GCP service account files), as lines or JSON-escaped "\n"
    (
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
        MASK,
    ),
    # <SecretAccessKey>…</SecretAccessKey> in AWS XML responses
    (re.compile(rf"(?i)(<(?:{_NAMES})>)[^<]*(</)"), rf"\1{MASK}\2"),
    # name=value, name: value, 'name': 'value', "name": b'value' (dict reprs, JSON, form bodies)
    (
        re.compile(
            rf"(?i)((?<![A-Za-z0-9])(?:{_NAMES})['\"]?\s*(?:=|:)\s*b?['\"]?)[^\s'\"<>&,;}}\]]+"
        ),
        rf"\1{MASK}",
    ),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), rf"\1 {MASK}"),
    (re.compile(r"\b(?:AKIA|ASIA|AROA|AIDA|ANPA)[A-Z0-9]{12,}\b"), MASK),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), MASK),  # Slack bot/user tokens
    (re.compile(r"\bxapp-[A-Za-z0-9-]{10,}"), MASK),
    (re.compile(r"(/services/T[A-Z0-9]+/B[A-Z0-9]+/)[A-Za-z0-9]+"), rf"\1{MASK}"),  # webhooks
    (re.compile(r"\bya29\.[A-Za-z0-9_.-]{10,}"), MASK),  # Google OAuth access tokens
    (re.compile(r"\bsk-(?:ant-|proj-|admin-)?[A-Za-z0-9_-]{20,}"), MASK),  # OpenAI, Anthropic
    (re.compile(r"(?i)\bAUTH\s+(?:PLAIN|LOGIN|XOAUTH2)\s+\S+"), f"AUTH {MASK}"),  # SMTP
    (re.compile(r"://([^/:@\s]+):([^@/\s]+)@"), rf"://\1:{MASK}@"),  # user:password@host
    # AWS secret access keys: exactly 40 base64 characters standing alone (a longer run of
    # letters and slashes is a path such as …/AWSLogs/<account>/BedrockModelInvocationLogs/)
    (re.compile(rf"(?<!{_B64})[A-Za-z0-9+]{_B64}{{38}}[A-Za-z0-9+](?!{_B64})"), MASK),
    # long base64 runs (session tokens), also percent-encoded; "_", "-" and "." end a run, so
    # file paths and ARNs stay readable
    (re.compile(r"(?:[A-Za-z0-9+/=]|%[0-9A-Fa-f]{2}){100,}"), MASK),
)


class _Registry:
    """The secret values this process has read (thread-safe; never logged, never stored)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._ordered: tuple[str, ...] = ()

    def add(self, *values: str) -> None:
        with self._lock:
            before = len(self._values)
            self._values.update(v for v in values if len(v) >= _MIN_FRAGMENT)
            if len(self._values) != before:  # longest first: a whole before its parts
                self._ordered = tuple(sorted(self._values, key=len, reverse=True))

    @property
    def values(self) -> tuple[str, ...]:
        return self._ordered

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._ordered = ()


_REGISTRY = _Registry()


def register(value: str | None, url: bool = False) -> None:
    """Remember a secret so that every later :func:`redact` masks it, in any of its forms.

    ``url=True`` also registers the parts of a URL that carry the credential: the password of
    its authority, each path segment (a Slack webhook is ``/services/T…/B…/<secret>``) and each
    query value.
    """
    if not value:
        return
    forms = [value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]]
    if url:
        parts = urlsplit(value)
        forms.append(parts.path)
        # Only segments long enough to be a credential: "services", "T0AAAA", "api" are the
        # public words of the path, and masking them would hide what a reader needs — and
        # break the shape patterns below (a masked "/services/" let another webhook's
        # secret through).
        forms.extend(seg for seg in parts.path.split("/") if len(seg) >= _URL_SECRET)
        if parts.password:
            forms.append(parts.password)
        for pair in parts.query.split("&"):
            forms.append(pair.partition("=")[2])
    _REGISTRY.add(*forms)


def forget_all() -> None:
    """Drop every registered secret (tests that run many configurations in one process)."""
    _REGISTRY.clear()


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """The text with every known secret and anything shaped like a credential masked."""
    if not text:
        return text
    # Shapes first, so no registered value masked inside a credential can hide the rest of
    # it from its pattern (a masked "/services/" let a webhook's secret through); then the
    # known values, whose secret parts are masked either way.
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    for value in (*secrets, *_REGISTRY.values):
        if value and value in text:
            text = text.replace(value, MASK)
    return text


class RedactingFilter(logging.Filter):
    """Masks secrets in every record a handler emits: message, arguments, exception, stack.

    Installed on the handlers (not the loggers), so records of every library — botocore at
    DEBUG, slack_sdk, urllib3, google-auth — pass through it, whatever logger they come from.
    """

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, redact(value))
        return True


_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
