"""``aws_bedrock_logs`` against moto's S3 in server mode, with files laid out as Bedrock writes.

Objects sit under ``AWSLogs/<account>/BedrockModelInvocationLogs/<region>/YYYY/MM/DD/HH/`` as
gzipped JSON lines (one ``ModelInvocationLog`` record per line; a ``data/`` folder of large
bodies beside them).  Records are shaped like real ones: an inference-profile ARN, a system
profile id (``global.``), cache reads and writes kept outside ``inputTokenCount``, a failed call
with an ``errorCode``, a request tagged with ``requestMetadata``.
"""

from __future__ import annotations

import gzip
import json
from datetime import datetime
from typing import Any

import boto3
from sqlalchemy import Engine

from agent.config import load_settings
from agent.pipeline import SourceOutcome, collect_all
from collectors.aws.bedrock_records import model_of
from collectors.base import validate_source
from tests.helpers import llm_request_rows

BUCKET = "acme-bedrock-logs"
ACCOUNT = "123456789012"
ROOT = f"bedrock/AWSLogs/{ACCOUNT}/BedrockModelInvocationLogs/us-east-1"


def record(request_id: str, ts: str, **kw: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "timestamp": ts,
        "accountId": ACCOUNT,
        "region": "us-east-1",
        "requestId": request_id,
        "operation": "Converse",
        "modelId": "arn:aws:bedrock:us-east-1:123456789012:inference-profile/"
        "us.anthropic.claude-3-5-sonnet-20240620-v1:0",
        "input": {"inputContentType": "application/json", "inputBodyJson": {"messages": []},
                  "inputTokenCount": 3, "cacheReadInputTokenCount": 0,
                  "cacheWriteInputTokenCount": 24479},
        "output": {"outputContentType": "application/json",
                   "outputBodyJson": {"metrics": {"latencyMs": 7460}, "stopReason": "end_turn"},
                   "outputTokenCount": 52},
        "identity": {"arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/support-bot-role/i-0abc"},
        "schemaType": "ModelInvocationLog",
        "schemaVersion": "1.0",
    }  # fmt: skip
    rec.update(kw)
    return rec


def put(url: str, hour: str, name: str, *records: dict[str, Any]) -> str:
    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
    if BUCKET not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=BUCKET)
    key = f"{ROOT}/{hour}/{name}.json.gz"
    body = "\n".join(json.dumps(r, separators=(",", ":")) for r in records) + "\n"
    s3.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(body.encode()))
    # a large body offloaded beside it: not a log file
    s3.put_object(Bucket=BUCKET, Key=f"{ROOT}/{hour}/data/{records[0]['requestId']}_input.json.gz",
                  Body=gzip.compress(b'{"messages": []}'))  # fmt: skip
    return key


def run(engine: Engine, url: str, **extra: Any) -> SourceOutcome:
    raw = {"name": "bedrock-logs", "type": "aws_bedrock_logs", "bucket": BUCKET,
           "prefix": "bedrock", "endpoint_url": url, **extra}  # fmt: skip
    settings = load_settings(None).model_copy(update={"sources": [validate_source(raw)]})
    [outcome] = collect_all(engine, settings)
    return outcome


def stored(engine: Engine) -> list[tuple[Any, ...]]:
    return llm_request_rows(
        engine,
        (
            "ts",
            "provider",
            "model",
            "operation",
            "app",
            "input_tokens",
            "output_tokens",
            "cache_read_tokens",
            "latency_ms",
        ),
    )


def test_invocation_logs_are_read_once_in_the_store_convention(aws: str, engine: Engine) -> None:
    put(aws, "2026/11/20/16", "20261120T164851056Z_9b86bf4994c4ab1c",
        record("r1", "2026-11-20T16:47:52Z"),
        record("r2", "2026-11-20T16:48:10Z", modelId="global.amazon.titan-embed-text-v2:0",
               input={"inputTokenCount": 40}, output={"outputTokenCount": 0},
               requestMetadata={"app": "search-indexer"}),
        record("r3", "2026-11-20T16:48:30Z", errorCode="ValidationException"))  # fmt: skip
    outcome = run(engine, aws)
    assert outcome.status == "ok", outcome.error
    sonnet = "anthropic.claude-3-5-sonnet-20240620-v1:0"
    assert stored(engine) == [
        # every input token: 3 uncached + 24,479 written to the cache
        (datetime(2026, 11, 20, 16, 47, 52), "bedrock", sonnet, "chat", "support-bot-role",
         24482, 52, 0, 7460.0),
        (datetime(2026, 11, 20, 16, 48, 10), "bedrock", "amazon.titan-embed-text-v2:0",
         "embeddings", "search-indexer", 40, 0, None, None),
    ]  # fmt: skip

    again = run(engine, aws)  # nothing new: nothing read, nothing added
    assert again.status == "ok" and len(stored(engine)) == 2
    put(aws, "2026/11/20/17", "20261120T170102000Z_aa", record("r4", "2026-11-20T17:00:01Z"))
    later = run(engine, aws)
    assert later.status == "ok" and len(stored(engine)) == 3
    assert later.rows == 1  # only the new file was read


def test_a_bad_record_names_object_and_record(aws: str, engine: Engine) -> None:
    key = put(aws, "2026/11/20/16", "20261120T164851056Z_bad",
              record("ok", "2026-11-20T16:47:52Z"),
              record("bad", "2026-11-20T16:48:00Z", output={"outputTokenCount": -1}))  # fmt: skip
    outcome = run(engine, aws)
    assert outcome.status == "failed"
    assert f"s3://{BUCKET}/{key}, record 2: output.outputTokenCount = -1" in (outcome.error or "")
    assert stored(engine) == []
    again = run(engine, aws)  # the position did not move past the bad file
    assert again.status == "failed"


def test_model_ids_are_reduced_to_the_model() -> None:
    assert model_of("global.anthropic.claude-opus-4-5-20251101-v1:0") == (
        "anthropic.claude-opus-4-5-20251101-v1:0"
    )
    assert model_of("anthropic.claude-3-haiku-20240307-v1:0") == (
        "anthropic.claude-3-haiku-20240307-v1:0"
    )
    app_profile = "arn:aws:bedrock:us-east-1:1:application-inference-profile/abc123"
    assert model_of(app_profile) == app_profile
