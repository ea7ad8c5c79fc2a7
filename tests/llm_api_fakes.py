"""Local stand-ins for OpenAI's and Anthropic's admin usage and cost APIs, over real HTTP.

They speak the documented shapes (OpenAI: ``/v1/organization/usage/{completions,embeddings}``
and ``/v1/organization/costs``, Unix-second times, ``Authorization: Bearer``, ``group_by=``;
Anthropic: ``/v1/organizations/usage_report/messages`` and ``/v1/organizations/cost_report``,
RFC 3339 times, ``x-api-key`` + ``anthropic-version``, ``group_by[]=``), check what the client
sends (key, version, the documented ``bucket_width`` and ``limit`` ranges) and answer 400 / 401
as the real APIs do.  Buckets are cut from the requested window at the requested width — days
without data come back with ``results: []`` — and paged by ``limit`` buckets with an opaque
``next_page`` and ``has_more``.

A test fills ``results[(endpoint, bucket_start)]`` with result objects, and can queue failures
(``fail(status, headers, times)``: 429 with ``retry-after``, 5xx …).  ``calls`` records each
request's path and query.
"""

from __future__ import annotations

import base64
import http.server
import json
import re
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

OPENAI_KEY = "sk-admin-TESTkey0123456789abcdefSECRET"
ANTHROPIC_KEY = "sk-ant-admin01-TESTkey0123456789abcdefSECRET"
WIDTH = {"1m": timedelta(minutes=1), "1h": timedelta(hours=1), "1d": timedelta(days=1)}
MAX_LIMIT = {"1m": 1440, "1h": 168, "1d": 31}

OPENAI_PATHS = {
    "/v1/organization/usage/completions": {"model", "project_id", "api_key_id", "batch",
                                           "service_tier", "user_id"},
    "/v1/organization/usage/embeddings": {"model", "project_id", "api_key_id", "user_id"},
    "/v1/organization/costs": {"project_id", "line_item", "api_key_id"},
}  # fmt: skip
ANTHROPIC_PATHS = {
    "/v1/organizations/usage_report/messages": {"model", "workspace_id", "api_key_id",
                                                "service_tier", "context_window"},
    "/v1/organizations/cost_report": {"workspace_id", "description"},
}  # fmt: skip


@dataclass
class Failure:
    status: int
    headers: dict[str, str]
    times: int


@dataclass
class FakeLlmAdmin:
    """Both providers on one server (their paths do not overlap)."""

    results: dict[tuple[str, datetime], list[dict[str, Any]]] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, list[str]]]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    echo_key_on_401: bool = False
    stuck_pages: bool = False  # answer has_more with the same cursor for ever (a broken proxy)
    url: str = ""

    def fail(self, status: int, headers: dict[str, str] | None = None, times: int = 1) -> None:
        self.failures.append(Failure(status, headers or {}, times))

    def put(self, path: str, start: datetime, *rows: dict[str, Any]) -> None:
        self.results[(path, start)] = list(rows)

    # -- the request handler -------------------------------------------------------------------
    def answer(
        self, path: str, query: dict[str, list[str]], headers: Any
    ) -> tuple[int, dict[str, str], Any]:
        self.calls.append((path, query))
        if self.failures:
            f = self.failures[0]
            f.times -= 1
            if f.times <= 0:
                self.failures.pop(0)
            return f.status, f.headers, {"error": {"message": "slow down", "type": "rate_limit"}}
        if path in OPENAI_PATHS:
            return self._openai(path, query, headers)
        if path in ANTHROPIC_PATHS:
            return self._anthropic(path, query, headers)
        return 404, {}, {"error": {"message": f"Cannot GET {path}", "type": "not_found"}}

    def _openai(
        self, path: str, q: dict[str, list[str]], headers: Any
    ) -> tuple[int, dict[str, str], Any]:
        auth = headers.get("Authorization", "")
        if auth != f"Bearer {OPENAI_KEY}":
            shown = auth.removeprefix("Bearer ") if self.echo_key_on_401 else "sk-admin-****"
            return 401, {}, _oai_error(f"Incorrect API key provided: {shown}.")
        width = _one(q, "bucket_width", "1d")
        if path.endswith("/costs") and width != "1d":
            return 400, {}, _oai_error("bucket_width must be 1d")
        if width not in WIDTH:
            return 400, {}, _oai_error(f"invalid bucket_width {width}")
        groups = q.get("group_by", [])
        if "group_by[]" in q or not set(groups) <= OPENAI_PATHS[path]:
            return 400, {}, _oai_error(f"invalid group_by {groups or q.get('group_by[]')}")
        top = 180 if path.endswith("/costs") else MAX_LIMIT[width]
        limit = int(_one(q, "limit", "7"))
        if not 1 <= limit <= top:
            return 400, {}, _oai_error(f"limit must be between 1 and {top}")
        lo = datetime.fromtimestamp(int(_one(q, "start_time", "0")), UTC).replace(tzinfo=None)
        end = _one(q, "end_time", None)
        hi = datetime.fromtimestamp(int(end), UTC).replace(tzinfo=None) if end else lo
        buckets, next_page = self._page(path, lo, hi, WIDTH[width], limit, _one(q, "page", None))
        data = [
            {
                "object": "bucket",
                "start_time": int(s.replace(tzinfo=UTC).timestamp()),
                "end_time": int(e.replace(tzinfo=UTC).timestamp()),
                "results": rows,
            }
            for s, e, rows in buckets
        ]
        return 200, {}, {
            "object": "page", "data": data, "has_more": next_page is not None,
            "next_page": next_page,
        }  # fmt: skip

    def _anthropic(
        self, path: str, q: dict[str, list[str]], headers: Any
    ) -> tuple[int, dict[str, str], Any]:
        if headers.get("anthropic-version") != "2023-06-01":
            return 400, {}, _ant_error("invalid_request_error", "anthropic-version missing")
        if headers.get("x-api-key") != ANTHROPIC_KEY:
            return 401, {}, _ant_error("authentication_error", "invalid x-api-key")
        width = _one(q, "bucket_width", "1d")
        if path.endswith("/cost_report") and width != "1d":
            return 400, {}, _ant_error("invalid_request_error", "bucket_width must be 1d")
        groups = q.get("group_by[]", [])
        if "group_by" in q or not set(groups) <= ANTHROPIC_PATHS[path]:
            return 400, {}, _ant_error("invalid_request_error", f"bad group_by {groups}")
        top = 31 if path.endswith("/cost_report") else MAX_LIMIT[width]
        limit = int(_one(q, "limit", "7"))
        if not 1 <= limit <= top:
            return 400, {}, _ant_error("invalid_request_error", f"limit 1..{top}")
        lo = _parse(_one(q, "starting_at", ""))
        end = _one(q, "ending_at", None)
        hi = _parse(end) if end else lo
        buckets, next_page = self._page(path, lo, hi, WIDTH[width], limit, _one(q, "page", None))
        data = [
            {"starting_at": _rfc(s), "ending_at": _rfc(e), "results": rows}
            for s, e, rows in buckets
        ]
        return 200, {}, {"data": data, "has_more": next_page is not None, "next_page": next_page}

    def _page(
        self,
        path: str,
        lo: datetime,
        hi: datetime,
        width: timedelta,
        limit: int,
        page: str | None,
    ) -> tuple[list[tuple[datetime, datetime, list[dict[str, Any]]]], str | None]:
        starts = []
        t = lo
        while t < hi:
            starts.append(t)
            t += width
        if self.stuck_pages:
            return [(lo, lo + width, [])], "page_stuck"
        first = int(base64.b64decode(page).decode().split(":")[1]) if page else 0
        chosen = starts[first : first + limit]
        more = first + limit < len(starts)
        buckets = [(s, s + width, self.results.get((path, s), [])) for s in chosen]
        token = base64.b64encode(f"page:{first + limit}".encode()).decode() if more else None
        return buckets, token


def _dumps(body: Any) -> str:
    """JSON with ``Decimal`` values written as the numbers they are (``0.00012073404268330895``
    stays that text, as OpenAI sends it), which ``json`` cannot do by itself."""

    def mark(value: Any) -> str:
        if isinstance(value, Decimal):
            return f"@@number:{value}@@"
        raise TypeError(type(value).__name__)

    return re.sub(r'"@@number:([^@]+)@@"', r"\1", json.dumps(body, default=mark))


def _one(q: dict[str, list[str]], name: str, default: str | None) -> Any:
    values = q.get(name)
    return values[0] if values else default


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).replace(tzinfo=None)


def _rfc(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def _oai_error(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "code": None}}


def _ant_error(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


@contextmanager
def serve() -> Iterator[FakeLlmAdmin]:
    """A running fake on 127.0.0.1; ``fake.url`` + ``/v1`` is both APIs' base URL."""
    fake = FakeLlmAdmin()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parsed = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
            status, headers, body = fake.answer(parsed.path, query, self.headers)
            payload = _dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
