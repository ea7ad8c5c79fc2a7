"""Local stand-ins for the AWS APIs moto lacks, over real HTTP in the services' own protocols.

``FakeAws`` is an HTTP server on loopback that a collector reaches through ``endpoint_url`` (or an
``endpoint_urls`` entry), exactly as it would reach AWS.  A request is routed by its
``X-Amz-Target`` header (the awsJson protocols: ``SageMaker.DescribeTrainingJob``) or by
``METHOD /path`` (REST-JSON: ``GET /provisioned-model-throughputs``); a route answers JSON.
Unrouted requests go verbatim to ``upstream`` (moto), and a route may call
:meth:`FakeRequest.forward` to take moto's answer and add what moto leaves out, so the fake covers
one operation and everything else stays real.
"""

from __future__ import annotations

import http.server
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Reply = tuple[int, dict[str, Any]]


@dataclass
class FakeRequest:
    method: str
    path: str
    query: dict[str, str]
    target: str | None
    body: dict[str, Any]
    raw: bytes
    headers: dict[str, str]
    upstream: str | None

    def forward(self) -> Reply:
        """The upstream's answer to this very request, parsed."""
        status, _, data = _send(self.upstream or "", self.method, self.path, self.raw, self.headers)
        return status, json.loads(data or b"{}")


Route = Callable[[FakeRequest], Reply]


def error(status: int, code: str, message: str) -> Reply:
    """An AWS JSON error; botocore reads the code from ``__type`` in every JSON protocol."""
    return status, {"__type": code, "message": message}


def _send(
    base: str, method: str, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(
        base.rstrip("/") + path,
        data=body or None,
        method=method,
        headers={k: v for k, v in headers.items() if k.lower() != "host"},
    )
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, dict(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers.items()), err.read()


class FakeAws:
    """Answers ``routes``; sends everything else to ``upstream``.  ``calls`` lists route keys."""

    def __init__(self, routes: dict[str, Route], upstream: str | None = None) -> None:
        self.routes, self.upstream = routes, upstream
        self.calls: list[str] = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                url = urllib.parse.urlsplit(self.path)
                headers = dict(self.headers.items())
                target = self.headers.get("X-Amz-Target")
                key = target or f"{self.command} {url.path}"
                route = fake.routes.get(key)
                if route is None and fake.upstream:
                    status, out_headers, data = _send(
                        fake.upstream, self.command, self.path, raw, headers
                    )
                    self._reply(status, data, out_headers.get("Content-Type", "text/plain"))
                    return
                fake.calls.append(key)
                if route is None:
                    status, payload = error(404, "UnknownOperationException", key)
                else:
                    request = FakeRequest(
                        self.command,
                        self.path,
                        dict(urllib.parse.parse_qsl(url.query)),
                        target,
                        json.loads(raw or b"{}"),
                        raw,
                        headers,
                        fake.upstream,
                    )
                    status, payload = route(request)
                self._reply(status, json.dumps(payload).encode(), "application/json", payload)

            def _reply(
                self, status: int, data: bytes, ctype: str, payload: dict[str, Any] | None = None
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                if status >= 400 and payload and "__type" in payload:
                    self.send_header("x-amzn-ErrorType", str(payload["__type"]))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeAws:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def bedrock(summaries: list[dict[str, Any]], tags: dict[str, dict[str, str]]) -> FakeAws:
    """Bedrock's ``ListProvisionedModelThroughputs`` (one summary per page, to exercise
    ``nextToken``) and ``ListTagsForResource``, in its REST-JSON protocol."""

    def list_throughputs(req: FakeRequest) -> Reply:
        i = int(req.query.get("nextToken", "0"))
        page: dict[str, Any] = {"provisionedModelSummaries": summaries[i : i + 1]}
        if i + 1 < len(summaries):
            page["nextToken"] = str(i + 1)
        return 200, page

    def list_tags(req: FakeRequest) -> Reply:
        pairs = tags.get(req.body["resourceARN"], {})
        return 200, {"tags": [{"key": k, "value": v} for k, v in pairs.items()]}

    return FakeAws(
        {
            "GET /provisioned-model-throughputs": list_throughputs,
            "POST /listTagsForResource": list_tags,
        }
    )


def denied(*keys: str) -> FakeAws:
    """Every listed operation answers AccessDenied, as for a role without that permission."""

    def deny(req: FakeRequest) -> Reply:
        return error(403, "AccessDeniedException", "User is not authorized to perform this action")

    return FakeAws(dict.fromkeys(keys, deny))


def training_times(upstream: str, seconds: dict[str, tuple[int, int]]) -> FakeAws:
    """moto's SageMaker, with the training and billable seconds its DescribeTrainingJob omits."""

    def describe(req: FakeRequest) -> Reply:
        status, job = req.forward()
        if status == 200 and job["TrainingJobName"] in seconds:
            training, billable = seconds[job["TrainingJobName"]]
            job.update(TrainingTimeInSeconds=training, BillableTimeInSeconds=billable)
        return status, job

    return FakeAws({"SageMaker.DescribeTrainingJob": describe}, upstream=upstream)
