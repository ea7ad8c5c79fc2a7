"""``aws_metrics``: CloudWatch usage of AI resources, stored under the ids billing rows carry.

Cost alone cannot tell an idle endpoint from a busy one; these hourly series can, once they sit
under the same ``resource_id`` as the CUR lines:

==============================  ===========================================  ==================
CloudWatch                      stored as (stat)                             resource_id
==============================  ===========================================  ==================
AWS/SageMaker, by endpoint and  invocations, invocations_per_instance        endpoint ARN, name
variant                         (Sum); model_latency (Average)               lowercased (CUR)
/aws/sagemaker/Endpoints        cpu_utilization, gpu_utilization,            endpoint ARN
                                gpu_memory_utilization (Average)
AWS/Bedrock, by ModelId         invocations, input_tokens, output_tokens     foundation-model
                                (Sum)                                        ARN
AWS/AOSS                        search_ocu, indexing_ocu (Average)           collection ARN
CWAgent, by InstanceId and GPU  gpu_utilization (Average)                    instance id
==============================  ===========================================  ==================

Design decisions:

* **Discovery**: ``ListMetrics`` per namespace and region (server-side ``MetricName`` filter
  only when a namespace contributes one metric, so a busy ``CWAgent`` namespace is not paged
  through) finds the endpoints, variants, models and instances.  Only series with the expected
  dimension set are kept: AWS/Bedrock also publishes an account-wide series without ``ModelId``
  and SageMaker per inference component ones, and taking them too would double count.
* **One value per (resource, metric, stat, hour)**: the store's uniqueness key has no room for
  a variant, a GPU index or an account, and rules must find ``invocations`` under the endpoint
  ARN whatever its variants are called.  So series that land on one resource are combined per
  timestamp, in Python (moto and Metrics Insights-free accounts alike): counts (invocations,
  tokens, OCUs) are **summed**, because the endpoint served all of them; utilisations, latency
  and invocations per instance are the **maximum**, because a per-variant average of averages
  has no weights and a cost rule must not call an endpoint or a GPU box idle while one variant
  or one GPU is busy.  The EC2 figure is therefore the busiest GPU of the instance.  Dimensions
  that differ between the combined series (``VariantName``, the GPU ``index``) are stored as a
  sorted list in ``dimensions``.  Bedrock model ARNs carry no account, so two accounts' tokens
  for one model in one region are summed too.
* **OpenSearch Serverless**: AWS publishes ``SearchOCU``/``IndexingOCU`` at account level
  (dimension ``ClientId`` only): those go under ``arn:aws:aoss:{region}:{account}:collection/*``
  (all collections of the account, which share the OCUs); a series that also carries
  ``CollectionId`` goes under that collection's ARN.  The stat is Average: the mean of the
  per-minute OCU count over an hour is the OCU-hours billed for that hour.
* **Units** come from the CloudWatch documentation, because ``GetMetricData`` returns none.
  SageMaker reports CPU/GPU utilisation summed over cores/GPUs (up to 100 × count).
* **Incremental**: the last stored timestamp of each (resource, metric) is kept in
  ``source_state`` and written in the load's transaction; the next run starts at it (that
  period is read again: CloudWatch data can arrive minutes late) and ends at the last complete
  period.  A new series starts ``lookback_days`` back; ``--since``/``--until`` override both.
* ``GetMetricData`` takes up to 500 queries and pages long answers with ``NextToken``; queries
  are grouped by start time so one call covers many series.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from pydantic import Field, model_validator
from sqlalchemy import Connection, Engine

from agent.settings import CoreSettings
from agent.store.clock import utcnow
from agent.store.state import put_state, states
from collectors.aws.session import AwsContext, AwsSourceConfig, call, pages
from collectors.base import Collector, CollectorMeta, CollectResult, Day
from collectors.load import load, table

Namespace = Literal[
    "AWS/SageMaker", "/aws/sagemaker/Endpoints", "AWS/Bedrock", "AWS/AOSS", "CWAgent"
]
ALL_NAMESPACES: tuple[Namespace, ...] = (
    "AWS/SageMaker",
    "/aws/sagemaker/Endpoints",
    "AWS/Bedrock",
    "AWS/AOSS",
    "CWAgent",
)
MAX_QUERIES = 500  # GetMetricData limit per call
STATE_PREFIX = "metrics:"
Dims = tuple[tuple[str, str], ...]


class AwsMetricsConfig(AwsSourceConfig):
    type: Literal["aws_metrics"] = "aws_metrics"
    period_seconds: int = Field(3600, ge=60, description="datapoint period; multiple of 60")
    lookback_days: int = Field(14, ge=1, le=455, description="history a new series starts with")
    namespaces: list[Namespace] = Field(
        default_factory=lambda: list(ALL_NAMESPACES), description="CloudWatch namespaces to read"
    )

    @model_validator(mode="after")
    def _check(self) -> AwsMetricsConfig:
        if self.period_seconds % 60:
            raise ValueError("period_seconds must be a multiple of 60")
        if not self.namespaces:
            raise ValueError("namespaces must name at least one namespace")
        return self


# --- what to read ---------------------------------------------------------------------------------
ResourceFn = Callable[[Mapping[str, str], str, str], str]  # (dimensions, region, account) → id


@dataclass(frozen=True)
class Family:
    """Series that share a dimension rule and a way to name their resource."""

    accepts: Callable[[frozenset[str]], bool]
    resource_id: ResourceFn


@dataclass(frozen=True)
class Spec:
    """One CloudWatch metric and how it is stored."""

    family: Family
    namespace: Namespace
    cw_name: str
    metric: str
    stat: str
    unit: str
    combine: Callable[[Iterable[float]], float]


def _exactly(*names: str) -> Callable[[frozenset[str]], bool]:
    wanted = frozenset(names)
    return lambda dims: dims == wanted


def _endpoint_arn(d: Mapping[str, str], region: str, account: str) -> str:
    return f"arn:aws:sagemaker:{region}:{account}:endpoint/{d['EndpointName'].lower()}"


def _model_arn(d: Mapping[str, str], region: str, account: str) -> str:
    model = d["ModelId"]  # a provisioned model or inference profile is already an ARN
    return (
        model if model.startswith("arn:") else f"arn:aws:bedrock:{region}::foundation-model/{model}"
    )


def _aoss_arn(d: Mapping[str, str], region: str, account: str) -> str:
    return f"arn:aws:aoss:{region}:{account}:collection/{d.get('CollectionId', '*')}"


def _instance_id(d: Mapping[str, str], region: str, account: str) -> str:
    return d["InstanceId"]


AOSS_DIMS = (frozenset({"ClientId"}), frozenset({"ClientId", "CollectionId", "CollectionName"}))
SAGEMAKER = Family(_exactly("EndpointName", "VariantName"), _endpoint_arn)
BEDROCK = Family(_exactly("ModelId"), _model_arn)
AOSS = Family(lambda dims: dims in AOSS_DIMS, _aoss_arn)
GPU_EC2 = Family(lambda dims: "InstanceId" in dims, _instance_id)

SPECS: tuple[Spec, ...] = (
    Spec(SAGEMAKER, "AWS/SageMaker", "Invocations", "invocations", "Sum", "Count", sum),
    Spec(
        SAGEMAKER,
        "AWS/SageMaker",
        "InvocationsPerInstance",
        "invocations_per_instance",
        "Sum",
        "Count",
        max,
    ),
    Spec(
        SAGEMAKER, "AWS/SageMaker", "ModelLatency", "model_latency", "Average", "Microseconds", max
    ),
    *(
        Spec(SAGEMAKER, "/aws/sagemaker/Endpoints", cw, name, "Average", "Percent", max)
        for cw, name in (
            ("CPUUtilization", "cpu_utilization"),
            ("GPUUtilization", "gpu_utilization"),
            ("GPUMemoryUtilization", "gpu_memory_utilization"),
        )
    ),
    *(
        Spec(BEDROCK, "AWS/Bedrock", cw, name, "Sum", "Count", sum)
        for cw, name in (
            ("Invocations", "invocations"),
            ("InputTokenCount", "input_tokens"),
            ("OutputTokenCount", "output_tokens"),
        )
    ),
    Spec(AOSS, "AWS/AOSS", "SearchOCU", "search_ocu", "Average", "Count", sum),
    Spec(AOSS, "AWS/AOSS", "IndexingOCU", "indexing_ocu", "Average", "Count", sum),
    Spec(
        GPU_EC2,
        "CWAgent",
        "nvidia_smi_utilization_gpu",
        "gpu_utilization",
        "Average",
        "Percent",
        max,
    ),
)


# --- series and their datapoints ------------------------------------------------------------------
TrackKey = tuple[str, str]  # (resource_id, metric)


@dataclass(frozen=True)
class Series:
    """One CloudWatch time series, and the stored track it feeds."""

    spec: Spec
    resource_id: str
    dimensions: Dims

    @property
    def key(self) -> TrackKey:
        return (self.resource_id, self.spec.metric)

    def query(self, qid: str, period: int) -> dict[str, Any]:
        metric = {
            "Namespace": self.spec.namespace,
            "MetricName": self.spec.cw_name,
            "Dimensions": [{"Name": n, "Value": v} for n, v in self.dimensions],
        }
        return {
            "Id": qid,
            "MetricStat": {"Metric": metric, "Period": period, "Stat": self.spec.stat},
            "ReturnData": True,
        }


@dataclass
class Track:
    """The datapoints of all series that land on one (resource, metric)."""

    spec: Spec
    dimensions: set[Dims] = field(default_factory=set)
    points: dict[datetime, list[float]] = field(default_factory=lambda: defaultdict(list))

    def rows(self, resource_id: str, period: int) -> Iterator[dict[str, Any]]:
        dims = json.dumps(_merge_dimensions(self.dimensions), sort_keys=True)
        for ts in sorted(self.points):
            yield {
                "resource_id": resource_id,
                "metric": self.spec.metric,
                "ts": ts,
                "period_s": period,
                "value": float(self.spec.combine(self.points[ts])),
                "unit": self.spec.unit,
                "stat": self.spec.stat,
                "dimensions": dims,
            }


def _merge_dimensions(all_dims: Iterable[Dims]) -> dict[str, str | list[str]]:
    """Common dimensions keep their value; those that differ become a sorted list of values."""
    values: dict[str, set[str]] = defaultdict(set)
    for dims in all_dims:
        for name, value in dims:
            values[name].add(value)
    return {n: next(iter(v)) if len(v) == 1 else sorted(v) for n, v in sorted(values.items())}


# --- the window -----------------------------------------------------------------------------------
def _floor(ts: datetime, period: int) -> datetime:
    epoch = datetime(1970, 1, 1)
    return ts - timedelta(
        seconds=int((ts - epoch).total_seconds()) % period, microseconds=ts.microsecond
    )


@dataclass(frozen=True)
class Window:
    """Where each track's request starts and where every request ends (exclusive)."""

    default_start: datetime
    end: datetime
    forced: bool  # --since given: ignore what was stored
    last: Mapping[TrackKey, datetime]

    @classmethod
    def build(
        cls,
        config: AwsMetricsConfig,
        last: Mapping[TrackKey, datetime],
        since: date | None,
        until: date | None,
        now: datetime,
    ) -> Window:
        period = config.period_seconds
        end = _floor(now, period)  # complete periods only
        if until is not None:
            end = min(end, datetime.combine(until + timedelta(days=1), datetime.min.time()))
        if since is not None:
            start = _floor(datetime.combine(since, datetime.min.time()), period)
        else:
            start = _floor(end - timedelta(days=config.lookback_days), period)
        return cls(start, end, since is not None, last)

    def start(self, key: TrackKey) -> datetime:
        stored = self.last.get(key)
        return self.default_start if self.forced or stored is None else stored


def _last_stored(conn: Connection, source: str, period: int) -> dict[TrackKey, datetime]:
    """The state of a different period is ignored: those points are replaced from scratch."""
    out: dict[TrackKey, datetime] = {}
    for key, value in states(conn, source, STATE_PREFIX).items():
        if value and value.get("period_s") == period:
            metric, _, resource_id = key.removeprefix(STATE_PREFIX).partition(":")
            out[(resource_id, metric)] = datetime.fromisoformat(value["last_ts"])
    return out


# --- the API calls --------------------------------------------------------------------------------
def discover(
    ctx: AwsContext, cw: Any, specs: list[Spec], region: str, account: str
) -> Iterator[Series]:
    """Every series of ``specs`` that exists in this account and region, each once.

    ListMetrics should not repeat a series, but moto does (one entry per datapoint), and a
    series read twice would be summed twice.
    """
    seen: set[Series] = set()
    by_namespace: dict[str, dict[str, Spec]] = defaultdict(dict)
    for spec in specs:
        by_namespace[spec.namespace][spec.cw_name] = spec
    for namespace, wanted in by_namespace.items():
        params: dict[str, Any] = {"Namespace": namespace}
        if len(wanted) == 1:
            params["MetricName"] = next(iter(wanted))
        for page in pages(ctx, cw.list_metrics, "NextToken", "NextToken", **params):
            for metric in page.get("Metrics", []):
                found = wanted.get(metric["MetricName"])
                dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
                if found is not None and found.family.accepts(frozenset(dims)):
                    rid = found.family.resource_id(dims, region, account)
                    series = Series(found, rid, tuple(sorted(dims.items())))
                    if series not in seen:
                        seen.add(series)
                        yield series


def fetch(
    ctx: AwsContext, cw: Any, series: list[Series], start: datetime, end: datetime, period: int
) -> Iterator[tuple[Series, datetime, float]]:
    """Datapoints of ``series`` in [start, end): batches of 500 queries, each paged."""
    for first in range(0, len(series), MAX_QUERIES):
        batch = series[first : first + MAX_QUERIES]
        queries = [s.query(f"q{i}", period) for i, s in enumerate(batch)]
        for page in pages(
            ctx,
            cw.get_metric_data,
            "NextToken",
            "NextToken",
            MetricDataQueries=queries,
            StartTime=start,
            EndTime=end,
            ScanBy="TimestampAscending",
        ):
            for result in page.get("MetricDataResults", []):
                one = batch[int(result["Id"][1:])]
                for ts, value in zip(result["Timestamps"], result["Values"], strict=True):
                    yield one, ts.astimezone(UTC).replace(tzinfo=None), float(value)


def _account_id(ctx: AwsContext, session: Any) -> str:
    sts = ctx.client("sts", ctx.config.region, session)
    return str(call(ctx, sts.get_caller_identity)["Account"])


# --- the collector --------------------------------------------------------------------------------
class AwsMetricsCollector(Collector[AwsMetricsConfig]):
    meta = CollectorMeta(
        summary="CloudWatch usage: SageMaker, Bedrock, OpenSearch Serverless, GPU EC2",
        job="collect_metrics",
    )

    def collect(
        self, engine: Engine, settings: CoreSettings, since: Day = None, until: Day = None
    ) -> CollectResult:
        cfg, ctx = self.config, AwsContext(self.config)
        with engine.connect() as conn:
            last = _last_stored(conn, cfg.name, cfg.period_seconds)
        window = Window.build(cfg, last, since, until, utcnow())
        tracks = self._read(ctx, window)
        rows = [r for key, t in sorted(tracks.items()) for r in t.rows(key[0], cfg.period_seconds)]
        newest = {key: max(t.points) for key, t in tracks.items() if t.points}

        def remember(conn: Connection) -> None:
            for (resource_id, metric), ts in newest.items():
                prev = last.get((resource_id, metric))
                put_state(
                    conn,
                    cfg.name,
                    f"{STATE_PREFIX}{metric}:{resource_id}",
                    {"last_ts": max(ts, prev or ts).isoformat(), "period_s": cfg.period_seconds},
                )

        stats = load(engine, settings, cfg.name, [("metrics", table("metrics", rows))], remember)
        return CollectResult(
            rows=len(rows),
            slices=tuple(stats.slices),
            api_requests=ctx.total_requests,
            details={"requests": dict(ctx.requests), "series": len(tracks)},
            window=(window.default_start, window.end),
        )

    def _read(self, ctx: AwsContext, window: Window) -> dict[TrackKey, Track]:
        """All accounts × regions, each series read from its own track's start."""
        cfg = self.config
        specs = [s for s in SPECS if s.namespace in cfg.namespaces]
        tracks: dict[TrackKey, Track] = {}
        for account in ctx.accounts():
            account_id = _account_id(ctx, account.session)
            for region in cfg.all_regions:
                cw = ctx.client("cloudwatch", region, account.session)
                by_start: dict[datetime, list[Series]] = defaultdict(list)
                for s in discover(ctx, cw, specs, region, account_id):
                    tracks.setdefault(s.key, Track(s.spec)).dimensions.add(s.dimensions)
                    if window.start(s.key) < window.end:
                        by_start[window.start(s.key)].append(s)
                for start, series in sorted(by_start.items()):
                    for s, ts, value in fetch(
                        ctx, cw, series, start, window.end, cfg.period_seconds
                    ):
                        tracks[s.key].points[ts].append(value)
        return tracks
