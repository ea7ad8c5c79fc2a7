"""A fake Slack on 127.0.0.1 (``http.server``) that records every request it receives.

It speaks enough of Slack for slack_sdk's real clients: an incoming webhook (``/services/…``,
answers ``ok``), ``chat.postMessage``, and the v2 upload flow — ``files.getUploadURLExternal``
(returns an upload URL on this same server), the upload POST, ``files.completeUploadExternal``.
Web API calls must carry ``Authorization: Bearer <BOT_TOKEN>``.  ``fail(prefix, *responses)``
queues canned failures (HTTP 429 with Retry-After: 0, 500, or an ``ok: false`` body) for the
next requests whose path starts with ``prefix``.

Like Slack, it refuses a whole message that breaks Block Kit's rules — more than 50 blocks, a
section text over 3,000 characters, more than 10 fields, a header over 150 characters or not
``plain_text``, an unknown block type — answering the webhook with HTTP 400 ``invalid_blocks``
and ``chat.postMessage`` with ``ok: false, error: invalid_blocks, errors: [...]`` (Slack's
wording, with the JSON pointer of the bad block), so a renderer regression fails the delivery.
Image blocks are fetched, as Slack does: a URL that does not answer with a PNG is refused
(``downloading image failed``).  ``serve_dir`` publishes a directory under ``/static/`` (a stand-in
for the web server behind ``chart_base_url``).  An upload's ``thread_ts`` must name a message
this server posted.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

BOT_TOKEN = "xoxb-1111-2222-TESTtokenValue"
WEBHOOK_PATH = "/services/T0000/B0000/WebhookSecretPart123"
CHANNEL_ID = "C0FINOPS"
FILE_ID = "F0CHART"

RATE_LIMITED = (429, {"Retry-After": "0"}, {"ok": False, "error": "ratelimited"})
SERVER_ERROR = (500, {}, "internal server error")
POSTED_TS = "1790000000.000100"

# Block Kit limits, as Slack enforces them (api.slack.com/reference/block-kit/blocks).
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_IMAGE_URL = 3000
MAX_ALT_TEXT = 2000
MAX_MESSAGE_TEXT = 40000
MAX_ATTACHMENTS = 100
BLOCK_TYPES = {"header", "section", "context", "divider", "image", "actions", "rich_text"}


def slack_error(error: str) -> tuple[int, dict[str, str], dict[str, Any]]:
    return (200, {}, {"ok": False, "error": error})


def _text_object(obj: Any, where: str, limit: int, kinds: tuple[str, ...]) -> list[str]:
    if not isinstance(obj, dict) or obj.get("type") not in kinds:
        return [f"must be a text object of type {' or '.join(kinds)} [json-pointer:{where}]"]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [f"must provide a string [json-pointer:{where}/text]"]
    if len(text) > limit:
        return [f"must be less than {limit + 1} characters [json-pointer:{where}/text]"]
    return []


def block_errors(blocks: Any, fetch_image: Any) -> list[str]:
    """Slack's complaints about ``blocks`` (empty: valid), in Slack's words."""
    if not isinstance(blocks, list):
        return ["must be an array [json-pointer:/blocks]"]
    if len(blocks) > MAX_BLOCKS:
        return [f"must be less than {MAX_BLOCKS + 1} items [json-pointer:/blocks]"]
    errors: list[str] = []
    for i, block in enumerate(blocks):
        at = f"/blocks/{i}"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind not in BLOCK_TYPES:
            errors.append(f"unsupported type: {kind} [json-pointer:{at}/type]")
            continue
        if kind == "header":
            errors += _text_object(
                block.get("text"), f"{at}/text", MAX_HEADER_TEXT, ("plain_text",)
            )
        elif kind == "section":
            if "text" not in block and "fields" not in block:
                errors.append(f"must provide text or fields [json-pointer:{at}]")
            if "text" in block:
                kinds = ("mrkdwn", "plain_text")
                errors += _text_object(block["text"], f"{at}/text", MAX_SECTION_TEXT, kinds)
            fields = block.get("fields", [])
            if len(fields) > MAX_FIELDS:
                errors.append(
                    f"must be less than {MAX_FIELDS + 1} items [json-pointer:{at}/fields]"
                )
            for j, f in enumerate(fields):
                where = f"{at}/fields/{j}"
                errors += _text_object(f, where, MAX_FIELD_TEXT, ("mrkdwn", "plain_text"))
        elif kind == "context":
            elements = block.get("elements") or []
            if not 1 <= len(elements) <= MAX_CONTEXT_ELEMENTS:
                errors.append(f"must have 1 to 10 elements [json-pointer:{at}/elements]")
            for j, e in enumerate(elements):
                where = f"{at}/elements/{j}"
                errors += _text_object(e, where, MAX_SECTION_TEXT, ("mrkdwn", "plain_text"))
        elif kind == "image":
            url, alt = block.get("image_url"), block.get("alt_text")
            if not isinstance(url, str) or not 1 <= len(url) <= MAX_IMAGE_URL:
                errors.append(f"must provide a valid image_url [json-pointer:{at}/image_url]")
            elif not fetch_image(url):
                errors.append(f"downloading image failed [json-pointer:{at}/image_url]")
            if not isinstance(alt, str) or not 1 <= len(alt) <= MAX_ALT_TEXT:
                errors.append(f"must provide alt_text [json-pointer:{at}/alt_text]")
    return errors


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
    serve_dir: Path | None = None  # published under /static/
    fetched_images: list[str] = field(default_factory=list)  # image_urls fetched, as Slack does

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

    @property
    def static_url(self) -> str:
        return self.base + "/static"

    def static(self, path: str) -> tuple[int, dict[str, str], Any]:
        name = unquote(path.removeprefix("/static/"))
        file = self.serve_dir / name if self.serve_dir and "/" not in name else None
        if file is None or not file.is_file():
            return 404, {}, "not found"
        return 200, {"Content-Type": "image/png"}, file.read_bytes()

    def fetch_image(self, url: str) -> bool:
        """Slack downloads an image block's URL; only this machine's servers are reachable."""
        self.fetched_images.append(url)
        if urlsplit(url).hostname != "127.0.0.1":
            return False
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return bool(resp.read(8) == b"\x89PNG\r\n\x1a\n")
        except OSError:
            return False

    def message_errors(self, params: dict[str, Any]) -> tuple[str, list[str]] | None:
        """(error, errors) for a message Slack would refuse, else None."""
        blocks = params.get("blocks")
        if isinstance(blocks, str):  # form-encoded: blocks travel as a JSON string
            try:
                blocks = json.loads(blocks)
            except ValueError:
                return "invalid_blocks_format", []
        attachments = params.get("attachments")
        if isinstance(attachments, str):
            attachments = json.loads(attachments)
        if attachments and len(attachments) > MAX_ATTACHMENTS:
            return "too_many_attachments", []
        if not params.get("text") and not blocks and not attachments:
            return "no_text", []
        if len(str(params.get("text") or "")) > MAX_MESSAGE_TEXT:
            return "msg_too_long", []
        if blocks is not None:
            errors = block_errors(blocks, self.fetch_image)
            if errors:
                return "invalid_blocks", errors
        return None

    def respond(self, req: Request) -> tuple[int, dict[str, str], Any]:
        if req.path.startswith("/static/"):  # the chart's web server, not Slack: not recorded
            return self.static(req.path)
        with self.lock:
            self.requests.append(req)
            for i, (prefix, canned) in enumerate(self.failures):
                if req.path.startswith(prefix):
                    del self.failures[i]
                    return canned
        if req.path == WEBHOOK_PATH:
            refused = self.message_errors(req.params)
            return (400, {}, refused[0]) if refused else (200, {}, "ok")
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
            refused = self.message_errors(params)
            if refused:
                return {"ok": False, "error": refused[0], "errors": refused[1]}
            return {"ok": True, "channel": CHANNEL_ID, "ts": POSTED_TS, "message": {}}
        if method == "files.getUploadURLExternal":
            return {"ok": True, "upload_url": f"{self.base}/upload/{FILE_ID}", "file_id": FILE_ID}
        if method == "files.completeUploadExternal":
            if params.get("thread_ts") not in (None, POSTED_TS):
                return {"ok": False, "error": "invalid_thread_ts"}
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
            elif isinstance(payload, bytes):
                data, ctype = payload, extra.pop("Content-Type", "application/octet-stream")
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
