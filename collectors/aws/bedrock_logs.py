"""``aws_bedrock_logs``: Amazon Bedrock model invocation logs, as Bedrock delivers them to S3.

With model invocation logging switched on (it is off by default: Bedrock console → Settings →
Model invocation logging, destination S3), Bedrock writes gzipped files of JSON records under
``[<prefix>/]AWSLogs/<account>/BedrockModelInvocationLogs/<region>/YYYY/MM/DD/HH/…json.gz``
(large bodies go to a ``data/`` folder beside them, which is skipped).  Keys sort in delivery
order, so the source lists from the last key it loaded (``StartAfter``, per account and region
folder) and reads only new files; each file is one transaction with the new position, and each
record's key is its ``requestId``, so nothing is read or added twice.

Per record (``schemaType`` ``ModelInvocationLog``): the time, ``modelId`` (an inference
profile's ``us.`` / ``global.`` / ARN form is reduced to the model; an application inference
profile stays as its ARN), the tokens — Bedrock's ``inputTokenCount`` *excludes* the cache
(``cacheReadInputTokenCount``, ``cacheWriteInputTokenCount``), so the store's ``input_tokens``
is their sum — the latency (``metrics.latencyMs``), and the app: ``requestMetadata[app_key]``
when the caller tagged the request, else the IAM role (or user) of ``identity.arn``.  Records
with an ``errorCode`` are skipped and counted.  Least privilege: ``s3:ListBucket`` on the bucket
(for the prefix) and ``s3:GetObject`` on ``…/BedrockModelInvocationLogs/*`` — bodies of the
prompts are in these files, so grant nothing wider.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
import zlib
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any, Literal

from pydantic import Field
from sqlalchemy import Connection, Engine

from agent.settings import CoreSettings
from agent.store.bounds import EARLIEST, LATEST, checked_count
from agent.store.state import get_state, put_state
from collectors.aws.session import AwsContext, AwsSourceConfig, call
from collectors.base import Collector, CollectorMeta, CollectResult, Day
from collectors.load import load, table

log = logging.getLogger(__name__)
FOLDER = "BedrockModelInvocationLogs"
_PROFILE_ARN = re.compile(r"^arn:aws[\w-]*:bedrock:[^:]*:[^:]*:inference-profile/")
_GEO = re.compile(r"^(us|eu|apac|global|us-gov|ca|jp|au)\.(?=[a-z0-9-]+\.)")


class AwsBedrockLogsConfig(AwsSourceConfig):
    type: Literal["aws_bedrock_logs"] = "aws_bedrock_logs"
    bucket: str = Field(
        description="the bucket model invocation logging delivers to",
        examples=["acme-bedrock-logs"],
    )
    prefix: str = Field("", description="the logging configuration's key prefix")
    app_key: str = Field("app", description="requestMetadata key that names the app")
    max_files: int = Field(5000, ge=1, description="files read per run (the rest next run)")


class BadRecord(ValueError):
    """A record the store cannot hold; the message names the object and the record."""


class AwsBedrockLogsCollector(Collector[AwsBedrockLogsConfig]):
    meta = CollectorMeta(
        summary="Bedrock model invocation logs in S3, per request, incremental by object key",
    )

    def collect(
        self, engine: Engine, settings: CoreSettings, since: Day = None, until: Day = None
    ) -> CollectResult:
        c = self.config
        ctx = AwsContext(c)
        with engine.connect() as conn:
            state = get_state(conn, c.name, "positions") or {}
        positions: dict[str, str] = dict(state.get("after", {}))
        files = rows = skipped = 0
        warnings: list[str] = []
        for account in ctx.accounts():
            s3 = ctx.client("s3", c.region, account.session)
            for folder in self._folders(ctx, s3):
                for key in self._new_keys(ctx, s3, folder, positions.get(folder), since):
                    if files >= c.max_files:
                        warnings.append(
                            f"read {c.max_files} files (max_files); the rest follow next run"
                        )
                        break
                    body = call(ctx, s3.get_object, Bucket=c.bucket, Key=key)["Body"].read()
                    requests, errors = self._records(key, body, until)
                    positions[folder] = key
                    stats = load(
                        engine,
                        settings,
                        c.name,
                        [("llm_requests", table("llm_requests", requests))],
                        before_commit=self._remember(positions),
                    )
                    files += 1
                    rows += stats.rows["llm_requests"]
                    skipped += errors
        return CollectResult(
            rows=rows,
            api_requests=sum(ctx.requests.values()),
            warnings=tuple(dict.fromkeys(warnings)),
            details={"files": files, "skipped_records": skipped, "folders": len(positions)},
        )

    def _remember(self, positions: dict[str, str]) -> Any:
        snapshot = dict(positions)

        def remember(conn: Connection) -> None:
            put_state(conn, self.config.name, "positions", {"after": snapshot})

        return remember

    def _folders(self, ctx: AwsContext, s3: Any) -> Iterator[str]:
        """``…/AWSLogs/<account>/BedrockModelInvocationLogs/<region>/`` folders in the bucket."""
        root = f"{self.config.prefix.strip('/')}/AWSLogs/".lstrip("/")
        for account in self._common(ctx, s3, root):
            yield from self._common(ctx, s3, f"{account}{FOLDER}/")

    def _common(self, ctx: AwsContext, s3: Any, prefix: str) -> Iterator[str]:
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": self.config.bucket, "Prefix": prefix,
                                      "Delimiter": "/"}  # fmt: skip
            if token:
                kwargs["ContinuationToken"] = token
            page = call(ctx, s3.list_objects_v2, **kwargs)
            for p in page.get("CommonPrefixes", []):
                yield p["Prefix"]
            token = page.get("NextContinuationToken")
            if not token:
                return

    def _new_keys(
        self, ctx: AwsContext, s3: Any, folder: str, after: str | None, since: date | None
    ) -> Iterator[str]:
        """Log files of ``folder`` after ``after`` (or from ``since``), in key order."""
        start = after
        if since is not None:
            start = max(start or "", f"{folder}{since:%Y/%m/%d}/")
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": self.config.bucket, "Prefix": folder}
            if token:
                kwargs["ContinuationToken"] = token
            elif start:
                kwargs["StartAfter"] = start
            page = call(ctx, s3.list_objects_v2, **kwargs)
            for obj in page.get("Contents", []):
                key = obj["Key"]
                if "/data/" not in key and key.endswith(".json.gz"):
                    yield key
            token = page.get("NextContinuationToken")
            if not token:
                return

    def _records(
        self, key: str, body: bytes, until: date | None
    ) -> tuple[list[dict[str, Any]], int]:
        try:
            text = gzip.decompress(body).decode("utf-8")
        except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
            raise BadRecord(f"s3://{self.config.bucket}/{key}: not gzipped JSON ({exc})") from None
        requests, skipped = [], 0
        for n, record in enumerate(_json_values(text, key), start=1):
            where = f"s3://{self.config.bucket}/{key}, record {n}"
            if not isinstance(record, dict) or record.get("schemaType") not in (
                None, "ModelInvocationLog"
            ):  # fmt: skip
                skipped += 1
                continue
            if record.get("errorCode"):
                skipped += 1
                continue
            request = self._request(record, where)
            if until is None or request["ts"].date() <= until:
                requests.append(request)
        return requests, skipped

    def _request(self, r: dict[str, Any], where: str) -> dict[str, Any]:
        try:
            ts = datetime.fromisoformat(str(r["timestamp"]).replace("Z", "+00:00"))
        except (KeyError, ValueError):
            raise BadRecord(f"{where}: timestamp {r.get('timestamp')!r} is not ISO 8601") from None
        ts = ts.astimezone(UTC).replace(tzinfo=None) if ts.tzinfo else ts
        if not EARLIEST <= ts < LATEST:
            raise BadRecord(f"{where}: timestamp {ts} outside 2000..2099")
        inp, out = r.get("input") or {}, r.get("output") or {}
        uncached = _count(inp.get("inputTokenCount"), where, "input.inputTokenCount") or 0
        reads = _count(inp.get("cacheReadInputTokenCount"), where, "input.cacheReadInputTokenCount")
        writes = _count(
            inp.get("cacheWriteInputTokenCount"), where, "input.cacheWriteInputTokenCount"
        )
        model = model_of(str(r.get("modelId") or "unknown"))
        body = out.get("outputBodyJson")
        metrics = body.get("metrics") if isinstance(body, dict) else None
        latency = metrics.get("latencyMs") if isinstance(metrics, dict) else None
        request_id = str(r.get("requestId") or "")
        if not request_id:
            raise BadRecord(f"{where}: no requestId")
        return {
            "x_request_key": f"bedrock:{request_id[:64]}",
            "ts": ts,
            "provider": "bedrock",
            "model": model[:128],
            "operation": "embeddings" if "embed" in model else "chat",
            "app": self._app(r),
            "input_tokens": uncached + (reads or 0) + (writes or 0),
            "output_tokens": _count(out.get("outputTokenCount"), where, "output.outputTokenCount"),
            "cache_read_tokens": reads,
            "prompt_hash": None,
            "latency_ms": float(latency) if isinstance(latency, int | float) else None,
            "batch": None,
        }

    def _app(self, r: dict[str, Any]) -> str | None:
        metadata = r.get("requestMetadata")
        if isinstance(metadata, dict) and metadata.get(self.config.app_key):
            return str(metadata[self.config.app_key])[:128]
        arn = str((r.get("identity") or {}).get("arn") or "")
        # arn:aws:sts::123:assumed-role/<role>/<session> → role; arn:aws:iam::123:user/<name>
        resource = arn.split(":", 5)[-1] if arn.count(":") >= 5 else ""
        parts = resource.split("/")
        return parts[1][:128] if len(parts) >= 2 and parts[1] else None


def model_of(model_id: str) -> str:
    """``arn:…:inference-profile/us.anthropic.claude-…`` and ``global.anthropic.claude-…`` →
    ``anthropic.claude-…``; anything else as it is."""
    return _GEO.sub("", _PROFILE_ARN.sub("", model_id))


def _json_values(text: str, key: str) -> Iterator[Any]:
    """Every JSON value in ``text`` (one per line as Bedrock writes them, or any whitespace)."""
    decoder = json.JSONDecoder()
    pos, end = 0, len(text)
    while True:
        while pos < end and text[pos] in " \t\r\n":
            pos += 1
        if pos >= end:
            return
        try:
            value, pos = decoder.raw_decode(text, pos)
        except ValueError as exc:
            raise BadRecord(f"{key}: not valid JSON at character {pos} ({exc.args[0]})") from None
        yield value


def _count(value: Any, where: str, field: str) -> int | None:
    if value is None:
        return None
    try:
        return checked_count(value)
    except ValueError as exc:
        raise BadRecord(f"{where}: {field} = {value!r} is not {exc}") from None
