"""Scrub credentials out of text before it reaches a log, the database or the terminal.

Cloud SDK errors sometimes echo request details; an access key id, a secret or a session token
must never be stored in ``collection_runs.error``.  Patterns cover AWS key ids (AKIA/ASIA…),
40-character secrets and session tokens, bearer tokens and ``key=value`` style secrets.
"""

from __future__ import annotations

import re

_PATTERNS = (
    re.compile(r"\b(?:AKIA|ASIA|AROA|AIDA)[A-Z0-9]{12,}\b"),
    re.compile(
        r"(?i)(aws_secret_access_key|secret_access_key|secretaccesskey|aws_session_token|"
        r"session_token|sessiontoken|x-amz-security-token|password|passwd|token|secret|"
        r"client_secret|private_key)(\s*[=:]\s*|\"\s*:\s*\")[^\s,;\"'&]+"
    ),
    re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"\b[A-Za-z0-9+/]{40}\b"),
    re.compile(r"\b[A-Za-z0-9+/=]{100,}"),
)


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """The text with known secret values and anything shaped like a credential replaced."""
    for value in secrets:
        if value:
            text = text.replace(value, "***")
    for pattern in _PATTERNS:
        text = pattern.sub(_mask, text)
    return text


def _mask(m: re.Match[str]) -> str:
    if m.lastindex and m.lastindex >= 2:
        return f"{m.group(1)}{m.group(2)}***"
    return "***"
