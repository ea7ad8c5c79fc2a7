"""``aws_bedrock_cloudwatch_logs``: Bedrock model invocation logs delivered to CloudWatch Logs.

Bedrock's model invocation logging can write to a CloudWatch Logs log group instead of (or
beside) S3 — Bedrock console → Settings → Model invocation logging → CloudWatch Logs, with a
service role that may write to the group.  Each log event's message is the same JSON record as
in the S3 files, so rows come from the same mapping
(:func:`collectors.aws.bedrock_records.invocation_request`) and a call logged to both
destinations is one row (its key is the ``requestId``).

Incremental per log stream by event time, not by ``nextForwardToken``: GetLogEvents' tokens
expire after 24 hours, and a daemon that was stopped for a weekend must still resume.  The
source remembers, per account, region and stream, the newest event timestamp it loaded and the
request ids at that very millisecond; the next run asks from that timestamp (``startTime``,
oldest first) and drops those ids, so it loads only new events, and within a run it follows
``nextForwardToken`` until the stream's end (the same token back).  Each page is one transaction
with the stream's new position; ``max_events`` bounds a run (the rest follow next run).
Failed calls (``errorCode``) are skipped and counted; a record the store cannot hold fails the
run naming the log group, the stream and the event, and leaves the position before it.

Least privilege: ``logs:DescribeLogStreams`` and ``logs:GetLogEvents`` on the one log group
(``arn:aws:logs:<region>:<account>:log-group:<name>:*``) — the events hold the prompts.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import Field
from sqlalchemy import Connection, Engine

from agent.settings import CoreSettings
from agent.store.state import get_state, put_state
from collectors.aws.bedrock_records import BadRecord, invocation_request
from collectors.aws.session import AwsContext, AwsSourceConfig, call, pages
from collectors.base import Collector, CollectorMeta, CollectResult, Day
from collectors.load import load, table

PAGE_LIMIT = 10_000  # GetLogEvents' own maximum per call


class AwsBedrockCloudWatchLogsConfig(AwsSourceConfig):
    type: Literal["aws_bedrock_cloudwatch_logs"] = "aws_bedrock_cloudwatch_logs"
    log_group: str = Field(
        description="the log group model invocation logging delivers to",
        examples=["/aws/bedrock/modelinvocations"],
    )
    stream_prefix: str = Field("", description="read only the streams whose name starts so")
    app_key: str = Field("app", description="requestMetadata key that names the app")
    max_events: int = Field(100_000, ge=1, description="events read per run (the rest next run)")


class AwsBedrockCloudWatchLogsCollector(Collector[AwsBedrockCloudWatchLogsConfig]):
    meta = CollectorMeta(
        summary="Bedrock model invocation logs in CloudWatch Logs, per request, incremental "
        "by event time per stream",
    )

    def collect(
        self, engine: Engine, settings: CoreSettings, since: Day = None, until: Day = None
    ) -> CollectResult:
        c = self.config
        ctx = AwsContext(c)
        with engine.connect() as conn:
            state = get_state(conn, c.name, "positions") or {}
        positions: dict[str, dict[str, Any]] = dict(state.get("streams", {}))
        self.events = self.rows = self.skipped = 0
        warnings: list[str] = []
        for account in ctx.accounts():
            for region in c.all_regions:
                logs = ctx.client("logs", region, account.session)
                try:
                    streams = list(self._streams(ctx, logs))
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                        raise
                    warnings.append(f"log group {c.log_group} not found in {region}")
                    continue
                for stream in streams:
                    if self.events >= c.max_events:
                        break
                    key = f"{account.label}|{region}|{stream}"
                    self._read(engine, settings, ctx, logs, stream, key, positions, since, until)
        if self.events >= c.max_events:
            warnings.append(f"read {c.max_events} events (max_events); the rest follow next run")
        return CollectResult(
            rows=self.rows,
            api_requests=ctx.total_requests,
            warnings=tuple(warnings),
            details={
                "events": self.events,
                "skipped_records": self.skipped,
                "streams": len(positions),
            },
        )

    def _streams(self, ctx: AwsContext, logs: Any) -> Any:
        kwargs: dict[str, Any] = {"logGroupName": self.config.log_group}
        if self.config.stream_prefix:
            kwargs["logStreamNamePrefix"] = self.config.stream_prefix
        for page in pages(ctx, logs.describe_log_streams, "nextToken", "nextToken", **kwargs):
            for s in page.get("logStreams", []):
                yield s["logStreamName"]

    def _read(
        self,
        engine: Engine,
        settings: CoreSettings,
        ctx: AwsContext,
        logs: Any,
        stream: str,
        key: str,
        positions: dict[str, dict[str, Any]],
        since: date | None,
        until: date | None,
    ) -> None:
        """Load one stream's new events, page by page, each page with its new position."""
        c = self.config
        position = positions.get(key) or {}
        last: int | None = position.get("ts")
        seen: set[str] = set(position.get("ids", []))
        params: dict[str, Any] = {
            "logGroupName": c.log_group,
            "logStreamName": stream,
            "startFromHead": True,
        }
        start = max(last or 0, _ms(since) if since else 0)
        if start:
            params["startTime"] = start
        if until is not None:
            params["endTime"] = _ms(until + timedelta(days=1)) - 1
        token: str | None = None
        while self.events < c.max_events:
            params["limit"] = min(PAGE_LIMIT, c.max_events - self.events)
            if token:
                params["nextToken"] = token
            page = call(ctx, logs.get_log_events, **params)
            requests: list[dict[str, Any]] = []
            for event in page.get("events", []):
                ts, message = int(event["timestamp"]), str(event.get("message", ""))
                where = f"log group {c.log_group}, stream {stream}, event at {_iso(ts)}"
                try:
                    record = json.loads(message)
                except ValueError as exc:
                    raise BadRecord(f"{where}: not a JSON record ({exc.args[0]})") from None
                request_id = str(record.get("requestId") or "") if isinstance(record, dict) else ""
                if ts == last and request_id and request_id in seen:
                    continue  # loaded by the run that stopped at this millisecond
                if last is None or ts > last:
                    last, seen = ts, set()
                if request_id:
                    seen.add(request_id)
                self.events += 1
                request = invocation_request(record, where, c.app_key)
                if request is None:
                    self.skipped += 1
                else:
                    requests.append(request)
            if last is not None:
                positions[key] = {"ts": last, "ids": sorted(seen)}
            stats = load(
                engine,
                settings,
                c.name,
                [("llm_requests", table("llm_requests", requests))],
                before_commit=self._remember(positions),
            )
            self.rows += stats.rows["llm_requests"]
            forward = page.get("nextForwardToken")
            if not forward or forward == token:
                return  # the end of the stream: the same token back
            token = forward

    def _remember(self, positions: dict[str, dict[str, Any]]) -> Any:
        snapshot = {k: dict(v) for k, v in positions.items()}

        def remember(conn: Connection) -> None:
            put_state(conn, self.config.name, "positions", {"streams": snapshot})

        return remember


def _ms(day: date) -> int:
    return int(datetime.combine(day, time(), UTC).timestamp() * 1000)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"
