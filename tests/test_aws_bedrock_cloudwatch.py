"""``aws_bedrock_cloudwatch_logs`` against moto's CloudWatch Logs in server mode.

Bedrock's CloudWatch destination writes one ``ModelInvocationLog`` record per log event (the
same JSON as in its S3 files, so the records come from ``tests.test_aws_bedrock_logs.record``)
to a stream of the configured log group, ``aws/bedrock/modelinvocations``; the event's
timestamp is the invocation's.  CloudWatch Logs (and moto) take only events of the last 14 days,
so the times are yesterday's.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from sqlalchemy import Engine

from agent.config import load_settings
from agent.pipeline import SourceOutcome, collect_all
from collectors.base import validate_source
from tests.test_aws_bedrock_logs import record, stored

GROUP = "/aws/bedrock/modelinvocations"
STREAM = "aws/bedrock/modelinvocations"
SONNET = "anthropic.claude-3-5-sonnet-20240620-v1:0"
DAY = (datetime.now(UTC) - timedelta(days=1)).replace(hour=16, minute=0, second=0, microsecond=0)


def at(minute: int, second: int = 0) -> datetime:
    """Yesterday 16:00 UTC plus this much (naive UTC, as the store holds it)."""
    return (DAY + timedelta(minutes=minute, seconds=second)).replace(tzinfo=None)


def iso(minute: int, second: int = 0) -> str:
    return at(minute, second).strftime("%Y-%m-%dT%H:%M:%SZ")


def put(url: str, *records: dict[str, Any], stream: str = STREAM) -> None:
    logs = boto3.client("logs", endpoint_url=url, region_name="us-east-1")
    if not logs.describe_log_groups(logGroupNamePrefix=GROUP)["logGroups"]:
        logs.create_log_group(logGroupName=GROUP)
    if not logs.describe_log_streams(logGroupName=GROUP, logStreamNamePrefix=stream)["logStreams"]:
        logs.create_log_stream(logGroupName=GROUP, logStreamName=stream)
    events = [
        {"timestamp": _ms(r["timestamp"]), "message": json.dumps(r, separators=(",", ":"))}
        for r in records
    ]
    answer = logs.put_log_events(logGroupName=GROUP, logStreamName=stream, logEvents=events)
    assert "rejectedLogEventsInfo" not in answer, answer


def _ms(iso: str) -> int:
    when = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(UTC)
    return int(when.timestamp() * 1000)


def run(engine: Engine, url: str, **extra: Any) -> SourceOutcome:
    raw = {"name": "bedrock-cw", "type": "aws_bedrock_cloudwatch_logs", "log_group": GROUP,
           "endpoint_url": url, **extra}  # fmt: skip
    settings = load_settings(None).model_copy(update={"sources": [validate_source(raw)]})
    [outcome] = collect_all(engine, settings)
    return outcome


def test_log_events_are_read_once_in_the_store_convention(aws: str, engine: Engine) -> None:
    put(aws,
        record("r1", iso(47, 52)),
        record("r2", iso(48, 10), modelId="global.amazon.titan-embed-text-v2:0",
               input={"inputTokenCount": 40}, output={"outputTokenCount": 0},
               requestMetadata={"app": "search-indexer"}),
        record("r3", iso(48, 30), errorCode="ValidationException"))  # fmt: skip
    outcome = run(engine, aws)
    assert outcome.status == "ok", outcome.error
    assert stored(engine) == [
        # every input token: 3 uncached + 24,479 written to the cache; the app is the IAM role
        (at(47, 52), "bedrock", SONNET, "chat", "support-bot-role",
         24482, 52, 0, 7460.0),
        (at(48, 10), "bedrock", "amazon.titan-embed-text-v2:0",
         "embeddings", "search-indexer", 40, 0, None, None),
    ]  # fmt: skip

    again = run(engine, aws)  # nothing new: nothing loaded, nothing changed
    assert again.status == "ok" and again.rows == 0 and len(stored(engine)) == 2

    # a new event at the very millisecond of the last one read, and a later one
    put(aws, record("r4", iso(48, 30)), record("r5", iso(60, 1)))
    later = run(engine, aws)
    assert later.status == "ok" and later.rows == 2  # only the new events
    assert len(stored(engine)) == 4
    assert run(engine, aws).rows == 0


def test_a_run_reads_at_most_max_events_and_the_next_one_goes_on(aws: str, engine: Engine) -> None:
    put(aws, *(record(f"r{i}", iso(i)) for i in range(7)))
    first = run(engine, aws, max_events=3)
    assert first.status == "ok" and first.rows == 3
    assert any("max_events" in w for w in first.warnings)
    assert run(engine, aws, max_events=3).rows == 3
    assert run(engine, aws, max_events=3).rows == 1
    assert len(stored(engine)) == 7


def test_a_bad_record_names_group_stream_and_event(aws: str, engine: Engine) -> None:
    put(aws, record("ok", iso(47, 52)),
        record("bad", iso(48), output={"outputTokenCount": -1}))  # fmt: skip
    outcome = run(engine, aws)
    assert outcome.status == "failed"
    where = f"log group {GROUP}, stream {STREAM}, event at {iso(48)[:-1]}.000Z"
    assert f"{where}: output.outputTokenCount = -1" in (outcome.error or "")
    assert stored(engine) == []  # the page is one transaction
    assert run(engine, aws).status == "failed"  # the position did not move past it


def test_a_missing_log_group_is_a_warning(aws: str, engine: Engine) -> None:
    outcome = run(engine, aws)
    assert outcome.status == "ok" and outcome.rows == 0
    assert outcome.warnings == (f"log group {GROUP} not found in us-east-1",)
