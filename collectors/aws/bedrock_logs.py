"""``aws_bedrock_logs``: Amazon Bedrock model invocation logs, as Bedrock delivers them to S3.

With model invocation logging switched on (it is off by default: Bedrock console → Settings →
Model invocation logging, destination S3), Bedrock writes gzipped files of JSON records under
``[<prefix>/]AWSLogs/<account>/BedrockModelInvocationLogs/<region>/YYYY/MM/DD/HH/…json.gz``
(large bodies go to a ``data/`` folder beside them, which is skipped).  Keys sort in delivery
order, so the source lists from the last key it loaded (``StartAfter``, per account and region
folder) and reads only new files; each file is one transaction with the new position, and each
record's key is its ``requestId``, so nothing is read or added twice.

Each record is mapped by :func:`collectors.aws.bedrock_records.invocation_request` (the token
convention, the model, the app), the same as the CloudWatch Logs destination; records with an
``errorCode`` are skipped and counted.  Least privilege: ``s3:ListBucket`` on the bucket
(for the prefix) and ``s3:GetObject`` on ``…/BedrockModelInvocationLogs/*`` — bodies of the
prompts are in these files, so grant nothing wider.
"""

from __future__ import annotations

import gzip
import logging
import zlib
from collections.abc import Iterator
from datetime import date
from typing import Any, Literal

from pydantic import Field
from sqlalchemy import Connection, Engine

from agent.settings import CoreSettings
from agent.store.state import get_state, put_state
from collectors.aws.bedrock_records import BadRecord, invocation_request, json_values
from collectors.aws.session import AwsContext, AwsSourceConfig, call
from collectors.base import Collector, CollectorMeta, CollectResult, Day
from collectors.load import load, table

log = logging.getLogger(__name__)
FOLDER = "BedrockModelInvocationLogs"


class AwsBedrockLogsConfig(AwsSourceConfig):
    type: Literal["aws_bedrock_logs"] = "aws_bedrock_logs"
    bucket: str = Field(
        description="the bucket model invocation logging delivers to",
        examples=["acme-bedrock-logs"],
    )
    prefix: str = Field("", description="the logging configuration's key prefix")
    app_key: str = Field("app", description="requestMetadata key that names the app")
    max_files: int = Field(5000, ge=1, description="files read per run (the rest next run)")


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
        for n, record in enumerate(json_values(text, key), start=1):
            where = f"s3://{self.config.bucket}/{key}, record {n}"
            request = invocation_request(record, where, self.config.app_key)
            if request is None:
                skipped += 1
            elif until is None or request["ts"].date() <= until:
                requests.append(request)
        return requests, skipped
