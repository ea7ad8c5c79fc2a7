"""``aws_metrics`` against moto in server mode: datapoints seeded with ``put_metric_data``, read
back through ``ListMetrics`` + ``GetMetricData`` by the collector configured as a user would
(``endpoint_url``), run through the pipeline, checked in the store on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import time_machine
from sqlalchemy import Engine, select

from agent.config import load_settings
from agent.pipeline import SourceOutcome, collect_all
from agent.store.schema import CollectionRun, SourceState, UsageMetric
from collectors.aws import metrics as _metrics  # noqa: F401  (registers aws_metrics)
from collectors.base import validate_source
from tests.aws_servers import FaultProxy

ACCOUNT = "123456789012"  # moto's account
#: The tests run on a clock stopped half-way through an hour (see ``_mid_hour``): the expected
#: rows are built from ``NOW`` and the collector reads the same clock, so an hour boundary
#: crossed while the suite runs cannot add or drop an hour.
MID_HOUR = datetime.now(UTC).replace(minute=30, second=0, microsecond=0)
NOW = MID_HOUR.replace(minute=0)


@pytest.fixture(autouse=True)
def _mid_hour() -> Iterator[None]:
    with time_machine.travel(MID_HOUR, tick=True):
        yield


Row = tuple[str, str, datetime, float, str | None, str, int]


def hour(n: int) -> datetime:
    """The start of the hour ``n`` hours before the current one (aware UTC)."""
    return NOW - timedelta(hours=n)


def naive(ts: datetime) -> datetime:
    return ts.replace(tzinfo=None)


def put(
    url: str,
    namespace: str,
    name: str,
    dims: dict[str, str],
    points: list[tuple[datetime, float]],
    region: str = "us-east-1",
) -> None:
    cw = boto3.client("cloudwatch", region_name=region, endpoint_url=url)
    data = [
        {
            "MetricName": name,
            "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
            "Timestamp": ts,
            "Value": value,
        }
        for ts, value in points
    ]
    for i in range(0, len(data), 500):
        cw.put_metric_data(Namespace=namespace, MetricData=data[i : i + 500])


def run(engine: Engine, url: str, since: Any = None, **extra: Any) -> SourceOutcome:
    cfg = validate_source({"name": "cw", "type": "aws_metrics", "endpoint_url": url, **extra})
    settings = load_settings(None).model_copy(update={"sources": [cfg]})
    [outcome] = collect_all(engine, settings, since=since)
    assert outcome.status == "ok", outcome.error
    return outcome


def stored(engine: Engine, **where: str) -> list[Row]:
    m = UsageMetric
    query = select(m.resource_id, m.metric, m.ts, m.value, m.unit, m.stat, m.period_s)
    for column, value in where.items():
        query = query.where(getattr(m, column) == value)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return sorted(tuple(r) for r in rows)  # type: ignore[misc]  # Python order, not a collation


def dimensions(engine: Engine, resource_id: str, metric: str) -> Any:
    m = UsageMetric
    with engine.connect() as conn:
        dims = conn.execute(
            select(m.dimensions).where(m.resource_id == resource_id, m.metric == metric)
        ).scalars()
        distinct = {json.dumps(d, sort_keys=True) for d in dims}
    assert len(distinct) == 1
    return json.loads(distinct.pop())


def test_sagemaker_endpoint_under_its_arn_variants_combined(engine: Engine, aws: str) -> None:
    ep = {"EndpointName": "Chat-Prod"}
    a, b = {**ep, "VariantName": "A"}, {**ep, "VariantName": "B"}
    h2, h3 = hour(2), hour(3)
    put(aws, "AWS/SageMaker", "Invocations", a, [(h3 + timedelta(minutes=5), 3), (h3, 4), (h2, 1)])
    put(aws, "AWS/SageMaker", "Invocations", b, [(h3 + timedelta(minutes=40), 5)])
    # A per inference-component series: other dimensions, must not be counted twice.
    put(aws, "AWS/SageMaker", "Invocations", {**a, "InferenceComponentName": "ic"}, [(h3, 100)])
    gpu = "/aws/sagemaker/Endpoints"
    put(aws, gpu, "GPUUtilization", a, [(h3, 40), (h3 + timedelta(minutes=30), 60), (h2, 10)])
    put(aws, gpu, "GPUUtilization", b, [(h3, 80), (h2, 5)])

    outcome = run(engine, aws)

    arn = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/chat-prod"  # lowercased, as in CUR
    assert stored(engine) == [
        (arn, "gpu_utilization", naive(h3), 80.0, "Percent", "Average", 3600),  # max(50, 80)
        (arn, "gpu_utilization", naive(h2), 10.0, "Percent", "Average", 3600),
        (arn, "invocations", naive(h3), 12.0, "Count", "Sum", 3600),  # 3 + 4 (A) + 5 (B)
        (arn, "invocations", naive(h2), 1.0, "Count", "Sum", 3600),
    ]
    assert dimensions(engine, arn, "invocations") == {
        "EndpointName": "Chat-Prod",
        "VariantName": ["A", "B"],
    }
    assert outcome.rows == 4
    assert outcome.api_requests >= 4  # STS, ListMetrics × 2 namespaces, GetMetricData


def test_bedrock_tokens_by_model_and_region(engine: Engine, aws: str) -> None:
    model = "anthropic.claude-3-haiku-20240307-v1:0"
    h = hour(4)
    put(aws, "AWS/Bedrock", "InputTokenCount", {"ModelId": model}, [(h, 100), (h, 50)])
    put(aws, "AWS/Bedrock", "OutputTokenCount", {"ModelId": model}, [(h, 20)])
    put(aws, "AWS/Bedrock", "InputTokenCount", {}, [(h, 999)])  # account-wide total: skipped
    west = "amazon.titan-embed-text-v2:0"
    put(aws, "AWS/Bedrock", "Invocations", {"ModelId": west}, [(h, 7)], region="us-west-2")

    run(engine, aws, regions=["us-east-1", "us-west-2"])

    east_arn = f"arn:aws:bedrock:us-east-1::foundation-model/{model}"
    west_arn = f"arn:aws:bedrock:us-west-2::foundation-model/{west}"
    assert stored(engine) == [
        (east_arn, "input_tokens", naive(h), 150.0, "Count", "Sum", 3600),
        (east_arn, "output_tokens", naive(h), 20.0, "Count", "Sum", 3600),
        (west_arn, "invocations", naive(h), 7.0, "Count", "Sum", 3600),
    ]
    assert dimensions(engine, east_arn, "input_tokens") == {"ModelId": model}


def test_gpu_instance_takes_the_busiest_gpu(engine: Engine, aws: str) -> None:
    h5, h4 = hour(5), hour(4)
    for index, values in (("0", (20, 30)), ("1", (90, 10))):
        dims = {"InstanceId": "i-0abc123", "index": index, "name": "NVIDIA A10G"}
        put(
            aws,
            "CWAgent",
            "nvidia_smi_utilization_gpu",
            dims,
            list(zip((h5, h4), values, strict=True)),
        )
    put(aws, "CWAgent", "mem_used_percent", {"InstanceId": "i-0abc123"}, [(h5, 99)])  # not ours

    run(engine, aws)

    assert stored(engine) == [
        ("i-0abc123", "gpu_utilization", naive(h5), 90.0, "Percent", "Average", 3600),
        ("i-0abc123", "gpu_utilization", naive(h4), 30.0, "Percent", "Average", 3600),
    ]
    assert dimensions(engine, "i-0abc123", "gpu_utilization") == {
        "InstanceId": "i-0abc123",
        "index": ["0", "1"],
        "name": "NVIDIA A10G",
    }


def test_opensearch_ocus_per_account_and_per_collection(engine: Engine, aws: str) -> None:
    h = hour(3)
    put(aws, "AWS/AOSS", "SearchOCU", {"ClientId": ACCOUNT}, [(h, 2), (h, 4)])
    coll = {"ClientId": ACCOUNT, "CollectionId": "abc123", "CollectionName": "rag"}
    put(aws, "AWS/AOSS", "IndexingOCU", coll, [(h, 2)])

    run(engine, aws)

    prefix = f"arn:aws:aoss:us-east-1:{ACCOUNT}:collection"
    assert stored(engine) == [
        (f"{prefix}/*", "search_ocu", naive(h), 3.0, "Count", "Average", 3600),  # mean of 2, 4
        (f"{prefix}/abc123", "indexing_ocu", naive(h), 2.0, "Count", "Average", 3600),
    ]


def test_second_run_is_incremental_and_reruns_are_identical(engine: Engine, aws: str) -> None:
    model = {"ModelId": "meta.llama3-8b-instruct-v1:0"}
    put(aws, "AWS/Bedrock", "Invocations", model, [(hour(6), 1), (hour(5), 2), (hour(4), 3)])
    run(engine, aws)
    first = stored(engine)
    assert [r[3] for r in first] == [1.0, 2.0, 3.0]
    with engine.connect() as conn:
        state = conn.execute(select(SourceState.key, SourceState.value)).all()
    arn = "arn:aws:bedrock:us-east-1::foundation-model/meta.llama3-8b-instruct-v1:0"
    assert [tuple(s) for s in state] == [
        (f"metrics:invocations:{arn}", {"last_ts": naive(hour(4)).isoformat(), "period_s": 3600})
    ]

    # A late point in an old hour is not requested again; a new hour is.
    put(aws, "AWS/Bedrock", "Invocations", model, [(hour(6), 10), (hour(2), 4)])
    second = run(engine, aws)
    got = stored(engine)
    assert [(r[2], r[3]) for r in got] == [
        (naive(hour(6)), 1.0),
        (naive(hour(5)), 2.0),
        (naive(hour(4)), 3.0),
        (naive(hour(2)), 4.0),
    ]
    assert second.rows == 2  # the last stored hour is read again, then the new one

    run(engine, aws)
    assert stored(engine) == got  # nothing new: identical rows, no duplicates

    # --since overrides the stored position and picks up the late point.
    run(engine, aws, since=naive(hour(6)).date())
    assert [r[3] for r in stored(engine)] == [11.0, 2.0, 3.0, 4.0]


def test_more_than_500_series_are_paged_and_batched(engine: Engine, aws: str) -> None:
    day = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(1)
    cw = boto3.client("cloudwatch", region_name="us-east-1", endpoint_url=aws)
    data = [
        {"MetricName": "Invocations", "Dimensions": [{"Name": "ModelId", "Value": f"m-{i}"}]}
        | {"Timestamp": day, "Value": float(i)}
        for i in range(501)
    ]
    for i in range(0, len(data), 500):
        cw.put_metric_data(Namespace="AWS/Bedrock", MetricData=data[i : i + 500])

    run(engine, aws, since=day.date(), period_seconds=86400, namespaces=["AWS/Bedrock"])

    rows = stored(engine)
    assert len(rows) == 501
    assert {(r[0].rsplit("/", 1)[1], r[3]) for r in rows} == {(f"m-{i}", i) for i in range(501)}
    assert {(r[2], r[6]) for r in rows} == {(naive(day).replace(hour=0), 86400)}
    with engine.connect() as conn:
        details = conn.execute(select(CollectionRun.details)).scalar_one()
    # ListMetrics: 2 pages; GetMetricData: 500 + 1 queries.
    assert details == {"requests": {"sts": 1, "cloudwatch": 4}, "series": 501}


def test_throttled_calls_are_retried(engine: Engine, aws: str) -> None:
    put(aws, "AWS/Bedrock", "Invocations", {"ModelId": "m"}, [(hour(3), 5)])
    with FaultProxy(aws, failures=3, status=503) as proxy:
        run(engine, proxy.url, backoff_seconds=0.01)
    assert proxy.failed == 3
    assert [r[3] for r in stored(engine)] == [5.0]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"period_seconds": 90}, "multiple of 60"),
        ({"namespaces": ["AWS/EC2"]}, "namespaces"),
        ({"namespaces": []}, "at least one"),
        ({"lookback_day": 3}, "unknown key"),
    ],
)
def test_config_errors_name_the_key(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_source({"name": "cw", "type": "aws_metrics", **extra})
