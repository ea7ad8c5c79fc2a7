"""A local stand-in for Google REST APIs, over real HTTP, for the real client libraries.

``FakeGoogle`` answers routes given as ``"GET /v1/billingAccounts/{account}/projects"``: a
``{name}`` segment matches one path segment (``{name=**}`` the rest of the path) and is handed to
the route with the query string and JSON body.  A route returns ``(status, json)``; errors use
Google's JSON error shape (:func:`error`), which google-api-core turns into its typed exceptions
(429 → ``TooManyRequests``, 503 → ``ServiceUnavailable``).  ``fail_next(n, status)`` makes the
next ``n`` requests fail, to exercise the collectors' retries; ``calls`` records every request
as ``"METHOD /path"``.  Clients reach it with ``ClientOptions(api_endpoint=fake.url)``,
``transport="rest"`` and ``AnonymousCredentials()``.
"""

from __future__ import annotations

import http.server
import json
import re
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Reply = tuple[int, dict[str, Any]]

_STATUS = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


@dataclass
class GoogleRequest:
    method: str
    path: str
    params: dict[str, str]  # the {name} segments of the route
    query: dict[str, list[str]]
    body: dict[str, Any]

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


Route = Callable[[GoogleRequest], Reply]


def error(status: int, message: str) -> Reply:
    return status, {
        "error": {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}
    }


def _compile(pattern: str) -> re.Pattern[str]:
    method, path = pattern.split(" ", 1)
    out = ""
    for part in re.split(r"(\{[a-zA-Z_]+(?:=\*\*)?\})", path):
        if part.startswith("{"):
            name = part[1:-1]
            out += f"(?P<{name[:-3]}>.+)" if name.endswith("=**") else f"(?P<{name}>[^/]+)"
        else:
            out += re.escape(part)
    return re.compile(f"^{method} {out}$")


def page(items: list[Any], key: str, req: GoogleRequest, size: int) -> Reply:
    """One page of ``items`` under ``key`` with ``nextPageToken``, as list methods answer."""
    start = int(req.arg("pageToken") or 0)
    size = int(req.arg("pageSize") or size)
    body: dict[str, Any] = {key: items[start : start + size]}
    if start + size < len(items):
        body["nextPageToken"] = str(start + size)
    return 200, body


class FakeGoogle:
    """Answers ``routes`` on loopback; unknown paths get Google's 404."""

    def __init__(self, routes: dict[str, Route]) -> None:
        self.routes = [(_compile(k), k, v) for k, v in routes.items()]
        self.calls: list[str] = []
        self._failures: list[int] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                url = urllib.parse.urlsplit(self.path)
                key = f"{self.command} {urllib.parse.unquote(url.path)}"
                with fake._lock:
                    fake.calls.append(key)
                    failure = fake._failures.pop(0) if fake._failures else None
                if failure is not None:
                    status, payload = error(failure, "injected failure")
                else:
                    status, payload = fake._dispatch(key, url.query, raw)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _dispatch(self, key: str, query: str, raw: bytes) -> Reply:
        for pattern, _, route in self.routes:
            m = pattern.match(key)
            if m:
                method, path = key.split(" ", 1)
                req = GoogleRequest(
                    method,
                    path,
                    m.groupdict(),
                    urllib.parse.parse_qs(query),
                    json.loads(raw or b"{}"),
                )
                return route(req)
        return error(404, f"no route for {key}")

    def fail_next(self, n: int, status: int = 503) -> None:
        with self._lock:
            self._failures.extend([status] * n)

    def __enter__(self) -> FakeGoogle:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
