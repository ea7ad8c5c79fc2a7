"""A fake Slack on 127.0.0.1 (``http.server``) that records every request it receives.

It speaks enough of Slack for slack_sdk's real clients: an incoming webhook (``/services/…``,
answers ``ok``), ``chat.postMessage``, and the v2 upload flow — ``files.getUploadURLExternal``
(returns an upload URL on this same server), the upload POST, ``files.completeUploadExternal``.
Web API calls must carry ``Authorization: Bearer <BOT_TOKEN>``.  ``fail(prefix, *responses)``
queues canned failures (HTTP 429 with Retry-After: 0, 500, or an ``ok: false`` body) for the
next requests whose path starts with ``prefix``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

BOT_TOKEN = "xoxb-1111-2222-TESTtokenValue"
WEBHOOK_PATH = "/services/T0000/B0000/WebhookSecretPart123"
CHANNEL_ID = "C0FINOPS"
FILE_ID = "F0CHART"

RATE_LIMITED = (429, {"Retry-After": "0"}, {"ok": False, "error": "ratelimited"})
SERVER_ERROR = (500, {}, "internal server error")


def slack_error(error: str) -> tuple[int, dict[str, str], dict[str, Any]]:
    return (200, {}, {"ok": False, "error": error})


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def api_method(self) -> str:
        return self.path.removeprefix("/api/").split("?")[0]

    @property
    def params(self) -> dict[str, Any]:
        """JSON or form body as a dict (form values unwrapped; JSON-in-form decoded)."""
        ctype = self.headers.get("content-type", "")
        if "json" in ctype:
            return dict(json.loads(self.body or b"{}"))
        out: dict[str, Any] = {}
        for k, v in parse_qs(self.body.decode()).items():
            out[k] = v[0]
        return out


@dataclass
class FakeSlack:
    port: int = 0
    requests: list[Request] = field(default_factory=list)
    failures: list[tuple[str, tuple[int, dict[str, str], Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def webhook_url(self) -> str:
        return self.base + WEBHOOK_PATH

    @property
    def api_url(self) -> str:
        return self.base + "/api/"

    def fail(self, prefix: str, *responses: tuple[int, dict[str, str], Any]) -> None:
        with self.lock:
            self.failures.extend((prefix, r) for r in responses)

    def to(self, prefix: str) -> list[Request]:
        return [r for r in self.requests if r.path.startswith(prefix)]

    def respond(self, req: Request) -> tuple[int, dict[str, str], Any]:
        with self.lock:
            self.requests.append(req)
            for i, (prefix, canned) in enumerate(self.failures):
                if req.path.startswith(prefix):
                    del self.failures[i]
                    return canned
        if req.path == WEBHOOK_PATH:
            return 200, {}, "ok"
        if req.path.startswith("/upload/"):
            return 200, {}, f"OK - {len(req.body)}"
        if not req.path.startswith("/api/"):
            return 404, {}, "no_service"
        if req.headers.get("authorization") != f"Bearer {BOT_TOKEN}":
            return 200, {}, {"ok": False, "error": "invalid_auth"}
        return 200, {}, self._api(req.api_method, req.params)

    def _api(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "chat.postMessage":
            if params.get("channel") not in ("#finops", CHANNEL_ID):
                return {"ok": False, "error": "channel_not_found"}
            return {"ok": True, "channel": CHANNEL_ID, "ts": "1790000000.000100", "message": {}}
        if method == "files.getUploadURLExternal":
            return {"ok": True, "upload_url": f"{self.base}/upload/{FILE_ID}", "file_id": FILE_ID}
        if method == "files.completeUploadExternal":
            files = json.loads(params.get("files", "[]"))
            return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}
        return {"ok": False, "error": "unknown_method"}


def _handler(fake: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, extra, payload = fake.respond(Request("POST", self.path, headers, body))
            if isinstance(payload, dict):
                data, ctype = json.dumps(payload).encode(), "application/json; charset=utf-8"
            else:
                data, ctype = str(payload).encode(), "text/plain; charset=utf-8"
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for k, v in extra.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def slack_server() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
