"""A small JSON-over-HTTPS client for the providers' admin APIs (OpenAI, Anthropic).

Neither official SDK covers what the collectors need on every version (Anthropic's has no admin
resources at all), and both APIs are plain paged GETs, so one client serves both:

* **retries** on 429 and 5xx, waiting what the server asks (``retry-after-ms``, then
  ``retry-after`` in seconds, as the official SDKs read them) or else an exponential back-off
  (0.5 s, 1 s, 2 s …); a wait longer than ``max_wait_seconds`` is not slept through but fails the
  run with the server's answer, so a daemon never hangs on a rate limit;
* **exact numbers**: JSON numbers are parsed as ``Decimal`` (OpenAI sends costs such as
  ``0.00012073404268330895`` as numbers; a float would change them);
* **pagination** by ``has_more`` / ``next_page`` → ``page=`` (both APIs);
* **no secret in any error**: the headers (which hold the key) never reach a message, and
  messages pass through :func:`agent.redact.redact`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

from agent.redact import redact

log = logging.getLogger(__name__)

Params = Sequence[tuple[str, str]]
MAX_PAGES = 10_000  # a year of hourly buckets is 53 pages of 168


class ApiError(Exception):
    """The API refused or kept failing; the message names the API, the path and its answer."""


@dataclass
class JsonApi:
    """GETs against one API base URL with fixed headers (the key among them)."""

    name: str  # "OpenAI Admin API": for messages
    base_url: str
    headers: dict[str, str] = field(repr=False)
    timeout_seconds: float = 60.0
    max_retries: int = 5
    max_wait_seconds: float = 60.0
    sleep: Callable[[float], None] = time.sleep
    requests: int = 0

    def get(self, path: str, params: Params) -> dict[str, Any]:
        """One JSON object from ``GET base_url + path``, after retries."""
        url = self.base_url.rstrip("/") + path
        with httpx.Client(timeout=self.timeout_seconds, headers=self.headers) as client:
            for attempt in range(self.max_retries + 1):
                self.requests += 1
                try:
                    response = client.get(url, params=list(params))
                except httpx.HTTPError as exc:
                    if attempt == self.max_retries:
                        raise ApiError(f"{self.name}: GET {path}: {redact(str(exc))}") from None
                    self._wait(_backoff(attempt), path, type(exc).__name__)
                    continue
                if response.status_code == 200:
                    return _json_object(response, self.name, path)
                if response.status_code == 429 or response.status_code >= 500:
                    wait = _retry_after(response)
                    if attempt < self.max_retries and (
                        wait is None or wait <= self.max_wait_seconds
                    ):
                        self._wait(wait if wait is not None else _backoff(attempt), path,
                                   str(response.status_code))  # fmt: skip
                        continue
                raise ApiError(f"{self.name}: GET {path}: {_describe(response)}")
        raise AssertionError("unreachable")  # pragma: no cover

    def pages(self, path: str, params: Params) -> Iterator[dict[str, Any]]:
        """Every page of a paged list: ``page=<next_page>`` while ``has_more``."""
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            page = self.get(path, [*params, *([("page", cursor)] if cursor else [])])
            yield page
            cursor = page.get("next_page")
            if not page.get("has_more") or not cursor:
                return
            if not isinstance(cursor, str) or cursor in seen or len(seen) >= MAX_PAGES:
                # a server answering has_more with the same cursor would page for ever
                raise ApiError(f"{self.name}: GET {path}: pagination does not advance")
            seen.add(cursor)

    def _wait(self, seconds: float, path: str, why: str) -> None:
        log.info("%s: GET %s answered %s; retrying in %.1f s", self.name, path, why, seconds)
        self.sleep(seconds)


def _backoff(attempt: int) -> float:
    return float(min(0.5 * 2**attempt, 8.0))


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asks to wait: ``retry-after-ms`` first, then ``retry-after``."""
    for header, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = response.headers.get(header)
        if value is None:
            continue
        try:
            seconds = float(value) / scale
        except ValueError:
            continue  # an HTTP date: fall back to our own back-off
        if seconds > 0:  # 0 would retry at once; the official SDKs back off instead
            return seconds
    return None


def _json_object(response: httpx.Response, name: str, path: str) -> dict[str, Any]:
    try:
        body = json.loads(response.content, parse_float=Decimal)
    except ValueError as exc:
        raise ApiError(f"{name}: GET {path}: the answer is not JSON ({exc})") from None
    if not isinstance(body, dict):
        raise ApiError(f"{name}: GET {path}: expected a JSON object, got {type(body).__name__}")
    return body


def _describe(response: httpx.Response) -> str:
    """``HTTP 401: <the API's error message>`` (both APIs nest it under ``error.message``)."""
    message = ""
    try:
        body = response.json()
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            message = str(error.get("message") or error.get("type") or "")
    except ValueError:
        message = response.text[:200]
    hint = {
        401: " (check the admin key)",
        403: " (the key is not an admin key, or lacks the usage permission)",
    }.get(response.status_code, "")
    return redact(f"HTTP {response.status_code}{hint}: {message}".rstrip(": "))
