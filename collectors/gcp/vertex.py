"""``gcp_vertex``: Vertex AI endpoints and custom jobs, and their usage, under billing's ids.

A bill says what an endpoint cost; the inventory says how it is sized and Cloud Monitoring how
busy it was.  Rules join the three on ``resource_id``:

================  ===============================================  ===========================
stored as         read from                                        resource_id
================  ===============================================  ===========================
vertex_endpoint   Vertex AI ``projects.locations.endpoints``       ``//aiplatform.googleapis
                                                                   .com/projects/{number}/
                                                                   locations/{location}/
                                                                   endpoints/{id}``
training_job      Vertex AI ``projects.locations.customJobs``      same, ``…/customJobs/{id}``
invocations       ``…/prediction/online/prediction_count``:        the endpoint's
(Count, Sum)      ALIGN_SUM per hour, REDUCE_SUM by endpoint
instance_count    ``…/prediction/online/replicas``: ALIGN_MEAN     the endpoint's
(Count, Average)  per hour, REDUCE_SUM over deployed models
gpu_utilization   ``…/prediction/online/accelerator/duty_cycle``  the endpoint's
(Percent,         ALIGN_MEAN per hour, REDUCE_MEAN over
Average)          replicas; the busiest deployed model wins
================  ===============================================  ===========================

Design decisions:

* **Resource ids are billing's ``resource.global_name``**, built by :func:`vertex_id` alone, for
  inventory and metrics: ``//aiplatform.googleapis.com/projects/{number}/locations/{location}/
  {collection}/{id}``.  The detailed billing export names Vertex resources with the project
  *number*, which is also what the API's ``name`` field carries (``projects/123456789/…``) even
  when it is asked with the project id.  So the inventory learns a project id → number map from
  those names (kept in ``source_state``, for runs whose listing fails), and a metric's
  ``resource_container`` label, an id or a number, is mapped through it.  A container whose
  number is unknown keeps its id, with a warning: those points will not join the bill.
* **One real REST client for both APIs**: ``AuthorizedSession`` over the run's credentials.  Every
  page goes through the shared retry (an error status becomes google-api-core's typed exception,
  so 429/5xx are retried exactly like the client libraries' calls) and ``nextPageToken`` is
  followed.  Cloud Monitoring is read through its documented REST API too
  (``projects.timeSeries.list``): the installed ``google-cloud-monitoring`` has no REST transport,
  only gRPC, and one transport means one retry path, one error path and one test double.
* **Flat attributes for rules**, named as in ``agent/demo/data/README.md`` (Conventions), plus the
  cross-provider names the AWS inventory uses: an endpoint's ``instance_type`` is its machine type,
  ``instance_count`` the minimum replicas summed over its deployed models (what always runs and is
  billed), ``autoscaling_min``/``autoscaling_max`` are set only when max > min (null = it cannot
  scale), ``labels`` are also ``tags``.  A custom job's ``scheduling_strategy`` is ``SPOT`` or
  ``STANDARD`` (no ``scheduling``, or an unspecified strategy, runs on-demand), ``spot`` the
  boolean, ``training_seconds`` end − start.
* **Custom jobs** created in the last ``training_jobs_days`` (or since ``--since``), plus every job
  still running whatever its age: a month-long job is what the bill shows.  Training pipelines are
  not listed: their custom training runs as a custom job, which is.
* **One value per (resource, metric, hour)**: Monitoring reduces the series server-side, grouped by
  endpoint (and deployed model for the duty cycle); what still lands on one track (an endpoint's
  deployed models, or one project seen as id and number) is combined in Python as the AWS
  collector does: counts summed, utilisation the maximum, so an endpoint is never called idle
  while one of its models is busy.  Aligned points are stamped with the *end* of their hour; they
  are stored at its start.  The duty cycle is a fraction (unit ``10^2.%``) and is stored in
  percent (0–100), like CloudWatch's figures; a series that says its unit is ``%`` is kept as is.
* **Incremental**: the last stored hour of each (resource, metric) is kept in ``source_state`` and
  written in the load's transaction.  One request per project and metric covers all endpoints, so
  it starts at the earliest last hour of that project's tracks (that hour is read again: data can
  arrive late), ignoring tracks silent for longer than ``metrics_days`` (a deleted endpoint must
  not drag every run back); points before a track's own last hour are dropped.  The request ends at
  the last complete hour.  New projects start ``metrics_days`` back; ``--since``/``--until``
  override both.
* **One failing part does not fail the run**: endpoints or jobs of one project and location, or one
  metric of one project, that cannot be read become a warning (redacted) and the rest loads; only
  when every part failed does the run fail.  Everything is loaded in one transaction after the
  scan, so an interrupted run writes nothing.  ``details.requests`` counts pages answered per API.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from itertools import chain
from typing import Any, Literal, TypeVar

import requests
from google.api_core import exceptions as gexc
from pydantic import Field, field_validator
from sqlalchemy import Connection, Engine

from agent.redact import redact
from agent.settings import CoreSettings
from agent.store.clock import utcnow
from agent.store.state import get_state, put_state, states
from collectors.base import Collector, CollectorMeta, CollectResult, Day
from collectors.gcp.session import Api, GcpContext, GcpSourceConfig
from collectors.load import load, table

PROVIDER = "Google Cloud"
GLOBAL_PREFIX = "//aiplatform.googleapis.com/"
NAME = re.compile(r"^projects/([^/]+)/locations/([^/]+)/([A-Za-z]+)/([^/]+)$")
ENDPOINT_RESOURCE = "aiplatform.googleapis.com/Endpoint"
PERIOD = 3600
STATE_PREFIX = "metrics:"
NUMBERS_KEY = "project_numbers"
RUNNING = "JOB_STATE_RUNNING"
T = TypeVar("T")


class GcpVertexConfig(GcpSourceConfig):
    type: Literal["gcp_vertex"] = "gcp_vertex"
    projects: list[str] = Field(
        min_length=1, description="project ids (or numbers) to read", examples=[["ml-prod"]]
    )
    locations: list[str] = Field(
        default_factory=lambda: ["us-central1"], min_length=1, description="Vertex AI regions"
    )
    metrics_days: int = Field(
        7, ge=1, le=42, description="history a new project starts with (Monitoring keeps 6 weeks)"
    )
    training_jobs_days: int = Field(
        30, ge=1, le=400, description="custom jobs created this many days back (+ running)"
    )

    @field_validator("projects", "locations")
    @classmethod
    def _plain_names(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not re.fullmatch(r"[a-z0-9][a-z0-9.:-]*", v)]
        if bad:
            raise ValueError(f"not a project or location name: {bad}")
        return value


def vertex_id(project_number: str, location: str, collection: str, resource: str) -> str:
    """The id billing's ``resource.global_name`` gives a Vertex AI resource (see module doc)."""
    return f"{GLOBAL_PREFIX}projects/{project_number}/locations/{location}/{collection}/{resource}"


# --- the run ----------------------------------------------------------------------------------
@dataclass
class Run:
    """What every part of one run shares: context, numbers learned, warnings, part outcomes."""

    ctx: GcpContext
    config: GcpVertexConfig
    observed_at: datetime  # naive UTC, the same for every row of the run
    numbers: dict[str, str]  # project id or number → number
    warnings: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    succeeded: int = 0

    def part(self, what: str, fn: Callable[[], list[T]]) -> list[T]:
        """``fn()``, or nothing and a warning when Google refuses or fails it."""
        try:
            out = fn()
        except (gexc.GoogleAPIError, requests.RequestException) as exc:
            message = f"{what}: {_reason(exc)}"
            self.warnings.append(message)
            self.failures.append(message)
            return []
        self.succeeded += 1
        return out

    def resource_id(self, project: str, name: str) -> str:
        """The global id of an API ``name``; learns the project's number on the way."""
        m = NAME.match(name)
        if m is None:
            raise gexc.GoogleAPIError(f"unexpected resource name {name!r}")
        number, location, collection, resource = m.groups()
        self.numbers[project] = self.numbers[number] = number
        return vertex_id(number, location, collection, resource)

    def row(
        self, kind: str, project: str, name: str, location: str, attrs: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "resource_id": self.resource_id(project, name),
            "provider_name": PROVIDER,
            "resource_type": kind,
            "region_id": location,
            "observed_at": self.observed_at,
            "attributes": json.dumps(attrs, sort_keys=True),
        }


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return redact(text.splitlines()[0] if text else type(exc).__name__)


# --- REST --------------------------------------------------------------------------------------
Params = list[tuple[str, str]]  # repeated keys allowed (groupByFields)


class Rest:
    """GETs against Google's JSON APIs over the run's credentials, retried and paged."""

    def __init__(self, ctx: GcpContext) -> None:
        from google.auth.transport.requests import AuthorizedSession

        self.ctx = ctx
        self.session = AuthorizedSession(ctx.credentials())  # type: ignore[no-untyped-call]

    def base(self, api: Api, location: str = "") -> str:
        """The configured endpoint of ``api``, else Google's (Vertex AI's is regional)."""
        default = {
            "aiplatform": f"https://{location}-aiplatform.googleapis.com",
            "monitoring": "https://monitoring.googleapis.com",
        }[api]
        return (self.ctx.endpoint(api) or default).rstrip("/")

    def pages(self, api: Api, url: str, params: Params) -> Iterator[dict[str, Any]]:
        """Every page of a list call, following ``nextPageToken``."""
        token = None
        while True:
            page = self._get(api, url, [*params, ("pageToken", token)] if token else params)
            yield page
            token = page.get("nextPageToken")
            if not token:
                return

    def items(self, api: Api, url: str, key: str, params: Params) -> Iterator[dict[str, Any]]:
        return chain.from_iterable(p.get(key, []) for p in self.pages(api, url, params))

    def _get(self, api: Api, url: str, params: Params) -> dict[str, Any]:
        def once() -> dict[str, Any]:
            resp = self.session.get(url, params=params, timeout=self.ctx.config.timeout_seconds)
            if resp.status_code >= 400:  # typed (429 → TooManyRequests): the retry predicate
                raise gexc.from_http_response(resp)  # type: ignore[no-untyped-call]
            body: dict[str, Any] = resp.json()
            return body

        page: dict[str, Any] = self.ctx.retry()(once)()
        self.ctx.count(api)
        return page

    def close(self) -> None:
        self.session.close()  # type: ignore[no-untyped-call]


def _iso(value: str | None) -> str | None:
    """RFC 3339 (nanoseconds and all) as ISO UTC seconds, like the demo data."""
    ts = _time(value)
    return _rfc3339(ts) if ts else None


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    head, dot, frac = value.rstrip("Z").partition(".")
    ts = datetime.fromisoformat(head + (dot + frac[:6] if dot else "")).replace(tzinfo=UTC)
    return ts


def _rfc3339(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def _int(value: Any) -> int | None:
    """int32 fields come as JSON numbers, int64 ones as strings."""
    return None if value is None else int(value)


def _common(values: list[Any]) -> Any:
    """The value all share, or None when they differ (a rule must not see a made-up one)."""
    return values[0] if values and all(v == values[0] for v in values) else None


def _total(values: list[int | None]) -> int | None:
    return None if any(v is None for v in values) else sum(v or 0 for v in values)


def _machine(spec: Mapping[str, Any]) -> dict[str, Any]:
    machine = spec.get("machineSpec", {})
    return {
        "machine_type": machine.get("machineType"),
        "accelerator_type": machine.get("acceleratorType"),
        "accelerator_count": _int(machine.get("acceleratorCount")),
    }


def _deployed(model: Mapping[str, Any]) -> dict[str, Any]:
    """One deployed model: its machine and replica bounds (dedicated or automatic resources).

    A model on a shared deployment resource pool has no bounds of its own (null: unknown).
    """
    res = model.get("dedicatedResources") or model.get("automaticResources") or {}
    low = _int(res.get("minReplicaCount"))
    high = _int(res.get("maxReplicaCount")) or low  # 0/absent: the minimum (no autoscaling)
    return {
        "id": model.get("id"),
        "model": model.get("model"),
        "display_name": model.get("displayName"),
        **_machine(res),
        "min_replica_count": low,
        "max_replica_count": high,
        "shared_resources": model.get("sharedResources"),
    }


def _endpoint_attributes(ep: Mapping[str, Any]) -> dict[str, Any]:
    models = [_deployed(m) for m in ep.get("deployedModels", [])]
    low = _total([m["min_replica_count"] for m in models])
    high = _total([m["max_replica_count"] for m in models])
    scales = None if low is None or high is None else high > low
    machine = {k: _common([m[k] for m in models]) for k in _machine({})}
    labels = ep.get("labels", {})
    return {
        "display_name": ep.get("displayName"),
        "endpoint_id": ep["name"].rsplit("/", 1)[-1],
        **machine,
        "instance_type": machine["machine_type"],
        "min_replica_count": low,
        "max_replica_count": high,
        "instance_count": low,
        "autoscaling": scales,
        "autoscaling_min": low if scales else None,
        "autoscaling_max": high if scales else None,
        "deployed_model": _common([m["display_name"] or m["model"] for m in models]),
        "deployed_model_ids": [m["id"] for m in models],
        "deployed_models": models,
        "create_time": _iso(ep.get("createTime")),
        "labels": labels,
        "tags": labels,
    }


def _job_attributes(job: Mapping[str, Any]) -> dict[str, Any]:
    spec = job.get("jobSpec", {})
    pools = [p for p in spec.get("workerPoolSpecs", []) if p]  # {} keeps a pool's place
    machines = [_machine(p) for p in pools]
    replicas = _total([_int(p.get("replicaCount")) for p in pools]) if pools else None
    strategy = (spec.get("scheduling") or {}).get("strategy")
    if strategy in (None, "STRATEGY_UNSPECIFIED", "ON_DEMAND"):
        strategy = "STANDARD"
    start, end = _time(job.get("startTime")), _time(job.get("endTime"))
    labels = job.get("labels", {})
    machine = {k: _common([m[k] for m in machines]) for k in _machine({})}
    return {
        "display_name": job.get("displayName"),
        "job_id": job["name"].rsplit("/", 1)[-1],
        "state": job.get("state"),
        **machine,
        "instance_type": machine["machine_type"],
        "replica_count": replicas,
        "instance_count": replicas,
        "scheduling_strategy": strategy,
        "spot": strategy == "SPOT",
        "create_time": _iso(job.get("createTime")),
        "start_time": _iso(job.get("startTime")),
        "end_time": _iso(job.get("endTime")),
        "training_seconds": int((end - start).total_seconds()) if start and end else None,
        "labels": labels,
        "tags": labels,
    }


def _vertex_url(rest: Rest, project: str, location: str, collection: str) -> str:
    base = rest.base("aiplatform", location)
    return f"{base}/v1/projects/{project}/locations/{location}/{collection}"


def _endpoints(run: Run, rest: Rest, project: str, location: str) -> list[dict[str, Any]]:
    url = _vertex_url(rest, project, location, "endpoints")
    return [
        run.row("vertex_endpoint", project, ep["name"], location, _endpoint_attributes(ep))
        for ep in rest.items("aiplatform", url, "endpoints", [])
    ]


def _custom_jobs(
    run: Run, rest: Rest, project: str, location: str, since: datetime
) -> list[dict[str, Any]]:
    url = _vertex_url(rest, project, location, "customJobs")
    recent = [("filter", f'create_time>"{_rfc3339(since)}"')]
    running = [("filter", f'state="{RUNNING}"')]
    jobs = {
        j["name"]: j
        for j in chain(
            rest.items("aiplatform", url, "customJobs", recent),
            rest.items("aiplatform", url, "customJobs", running),
        )
    }
    return [
        run.row("training_job", project, n, location, _job_attributes(j)) for n, j in jobs.items()
    ]


# --- Cloud Monitoring -------------------------------------------------------------------------
@dataclass(frozen=True)
class Spec:
    """One Monitoring metric, how it is aggregated per hour, and how it is stored."""

    gcp_type: str
    metric: str
    stat: str
    unit: str
    aligner: str
    reducer: str
    by_model: bool  # group by deployed model too (combined in Python)
    combine: Callable[[Iterable[float]], float]


_PREFIX = "aiplatform.googleapis.com/prediction/online/"
_SUM = ("ALIGN_SUM", "REDUCE_SUM")  # per-series aligner, cross-series reducer
_MEAN_SUM = ("ALIGN_MEAN", "REDUCE_SUM")
_MEAN = ("ALIGN_MEAN", "REDUCE_MEAN")
SPECS: tuple[Spec, ...] = (
    Spec(f"{_PREFIX}prediction_count", "invocations", "Sum", "Count", *_SUM, False, sum),
    Spec(f"{_PREFIX}replicas", "instance_count", "Average", "Count", *_MEAN_SUM, False, sum),
    Spec(
        f"{_PREFIX}accelerator/duty_cycle",
        "gpu_utilization",
        "Average",
        "Percent",
        *_MEAN,
        True,
        max,
    ),
)
GROUP_BY = ("resource.label.resource_container", "resource.label.location")
TrackKey = tuple[str, str]  # (resource_id, metric)


@dataclass
class Track:
    """The points of every series landing on one (resource, metric), and their labels."""

    spec: Spec
    project: str
    labels: list[dict[str, str]] = field(default_factory=list)
    points: dict[datetime, list[float]] = field(default_factory=lambda: defaultdict(list))

    def rows(self, resource_id: str) -> Iterator[dict[str, Any]]:
        dims = json.dumps(_merge(self.labels), sort_keys=True)
        for ts in sorted(self.points):
            yield {
                "resource_id": resource_id,
                "metric": self.spec.metric,
                "ts": ts,
                "period_s": PERIOD,
                "value": float(self.spec.combine(self.points[ts])),
                "unit": self.spec.unit,
                "stat": self.spec.stat,
                "dimensions": dims,
            }


def _merge(all_labels: Iterable[Mapping[str, str]]) -> dict[str, str | list[str]]:
    """Labels all series share keep their value; those that differ become a sorted list."""
    values: dict[str, set[str]] = defaultdict(set)
    for labels in all_labels:
        for k, v in labels.items():
            values[k].add(v)
    return {k: next(iter(v)) if len(v) == 1 else sorted(v) for k, v in sorted(values.items())}


def _hour(ts: datetime) -> datetime:
    return ts.replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class Stored:
    last_ts: datetime
    project: str


@dataclass(frozen=True)
class Window:
    """Where each (project, metric) request starts, and where all end (exclusive hour)."""

    default_start: datetime
    end: datetime
    forced: bool  # --since given: ignore what was stored
    last: Mapping[TrackKey, Stored]

    @classmethod
    def build(
        cls,
        config: GcpVertexConfig,
        last: Mapping[TrackKey, Stored],
        since: date | None,
        until: date | None,
        now: datetime,
    ) -> Window:
        end = _hour(now)  # complete hours only
        if until is not None:
            end = min(end, datetime.combine(until + timedelta(days=1), time.min))
        if since is not None:
            start = datetime.combine(since, time.min)
        else:
            start = end - timedelta(days=config.metrics_days)
        return cls(start, end, since is not None, last)

    def start(self, project: str, metric: str) -> datetime:
        if self.forced:
            return self.default_start
        fresh = [
            s.last_ts
            for (_, m), s in self.last.items()
            if m == metric and s.project == project and s.last_ts >= self.default_start
        ]
        return min(fresh, default=self.default_start)

    def keeps(self, key: TrackKey, ts: datetime) -> bool:
        """Points before a track's last stored hour are already stored (and not re-read)."""
        stored = self.last.get(key)
        return self.forced or stored is None or ts >= stored.last_ts


def _last_stored(conn: Connection, source: str) -> dict[TrackKey, Stored]:
    out: dict[TrackKey, Stored] = {}
    for key, value in states(conn, source, STATE_PREFIX).items():
        if value and value.get("period_s") == PERIOD:
            metric, _, resource_id = key.removeprefix(STATE_PREFIX).partition(":")
            last = datetime.fromisoformat(value["last_ts"])
            out[(resource_id, metric)] = Stored(last, value["project"])
    return out


def _query(spec: Spec, start: datetime, end: datetime) -> Params:
    """``projects.timeSeries.list`` parameters: one series per endpoint (and model), hourly."""
    group_by = [*GROUP_BY, "resource.label.endpoint_id"]
    if spec.by_model:
        group_by.append("metric.label.deployed_model_id")
    return [
        ("filter", f'metric.type = "{spec.gcp_type}" AND resource.type = "{ENDPOINT_RESOURCE}"'),
        ("interval.startTime", _rfc3339(start)),
        ("interval.endTime", _rfc3339(end)),
        ("aggregation.alignmentPeriod", f"{PERIOD}s"),
        ("aggregation.perSeriesAligner", spec.aligner),
        ("aggregation.crossSeriesReducer", spec.reducer),
        *(("aggregation.groupByFields", g) for g in group_by),
        ("view", "FULL"),
    ]


def _value(point: Mapping[str, Any], spec: Spec, unit: str) -> float | None:
    """A point's number (int64 comes as a JSON string); the duty cycle's fraction in percent."""
    typed = point.get("value", {})
    raw = typed.get("int64Value", typed.get("doubleValue"))
    if raw is None:  # a distribution or a bool: not one of ours
        return None
    value = float(raw)
    return value * 100 if spec.unit == "Percent" and unit != "%" else value


def _metric(
    run: Run, rest: Rest, spec: Spec, project: str, window: Window
) -> list[tuple[TrackKey, Track]]:
    """The points of one metric in one project, as (track key, single-series track) pairs."""
    start = window.start(project, spec.metric)
    if start >= window.end:
        return []
    url = f"{rest.base('monitoring')}/v3/projects/{project}/timeSeries"
    out = []
    for series in rest.items("monitoring", url, "timeSeries", _query(spec, start, window.end)):
        labels = {**series["resource"].get("labels", {}), **series["metric"].get("labels", {})}
        key = (_endpoint_id(run, project, labels), spec.metric)
        track = Track(spec, project, [labels])
        for point in series.get("points", []):
            end = _time(point["interval"]["endTime"])
            assert end is not None
            ts = _hour(end.replace(tzinfo=None) - timedelta(microseconds=1))  # end of its hour
            value = _value(point, spec, series.get("unit", ""))
            if value is not None and window.keeps(key, ts) and ts < window.end:
                track.points[ts].append(value)
        out.append((key, track))
    return out


def _endpoint_id(run: Run, project: str, labels: Mapping[str, str]) -> str:
    container = labels.get("resource_container") or project
    number = run.numbers.get(container) or (container if container.isdigit() else None)
    if number is None:
        warning = f"project number of {container} unknown (no endpoint listed): metrics stored "
        warning += "under the project id will not join billing"
        if warning not in run.warnings:
            run.warnings.append(warning)
        number = container
    return vertex_id(number, labels.get("location", ""), "endpoints", labels["endpoint_id"])


# --- the collector ----------------------------------------------------------------------------
class GcpVertexCollector(Collector[GcpVertexConfig]):
    meta = CollectorMeta(
        summary="Vertex AI endpoints and jobs, with their Cloud Monitoring usage",
        job="collect_metrics",
    )

    def collect(
        self, engine: Engine, settings: CoreSettings, since: Day = None, until: Day = None
    ) -> CollectResult:
        cfg = self.config
        now = utcnow()
        with engine.connect() as conn:
            last = _last_stored(conn, cfg.name)
            known = dict(get_state(conn, cfg.name, NUMBERS_KEY) or {})
        run = Run(GcpContext(cfg), cfg, now, known)
        window = Window.build(cfg, last, since, until, now)
        rest = Rest(run.ctx)
        try:  # inventory first: it learns the project numbers metrics are stored under
            resources = self._inventory(run, rest, since)
            tracks = self._usage(run, rest, window)
        finally:
            rest.close()
        if run.failures and not run.succeeded:  # nothing learned: a failed run, not an empty one
            raise RuntimeError(f"no part could be read; first error: {run.failures[0]}")
        metric_rows = [r for key, t in sorted(tracks.items()) for r in t.rows(key[0])]

        def remember(conn: Connection) -> None:
            put_state(conn, cfg.name, NUMBERS_KEY, run.numbers)
            for (resource_id, metric), track in tracks.items():
                if not track.points:
                    continue
                prev = last.get((resource_id, metric))
                newest = max([*track.points, *([prev.last_ts] if prev else [])])
                value = {
                    "last_ts": newest.isoformat(),
                    "period_s": PERIOD,
                    "project": track.project,
                }
                put_state(conn, cfg.name, f"{STATE_PREFIX}{metric}:{resource_id}", value)

        stats = load(
            engine,
            settings,
            cfg.name,
            [
                ("resources", table("resources", resources)),
                ("metrics", table("metrics", metric_rows)),
            ],
            remember,
        )
        return CollectResult(
            rows=stats.rows["resources"] + stats.rows["metrics"],
            slices=tuple(stats.slices),
            api_requests=run.ctx.total_requests,
            warnings=tuple(run.warnings),
            details={
                "requests": dict(run.ctx.requests),
                "resources": dict(Counter(r["resource_type"] for r in resources)),
                "series": len(tracks),
                "datapoints": len(metric_rows),
            },
            window=(window.default_start, window.end),
        )

    def _inventory(self, run: Run, rest: Rest, since: date | None) -> list[dict[str, Any]]:
        """Endpoints and custom jobs of every project × location; each pair a part."""
        cfg = self.config
        training_since = (
            datetime.combine(since, time.min)
            if since
            else run.observed_at - timedelta(days=cfg.training_jobs_days)
        )
        rows: list[dict[str, Any]] = []
        for project in cfg.projects:
            for loc in cfg.locations:
                where = f"{project}/{loc}"
                rows += run.part(
                    f"endpoints in {where}", partial(_endpoints, run, rest, project, loc)
                )
                rows += run.part(
                    f"custom jobs in {where}",
                    partial(_custom_jobs, run, rest, project, loc, training_since),
                )
        return rows

    def _usage(self, run: Run, rest: Rest, window: Window) -> dict[TrackKey, Track]:
        """Every metric of every project (a part each), merged per (resource, metric)."""
        tracks: dict[TrackKey, Track] = {}
        for project in self.config.projects:
            for spec in SPECS:
                what = f"{spec.metric} of {project} (Cloud Monitoring)"
                got = run.part(what, partial(_metric, run, rest, spec, project, window))
                for key, one in got:
                    merged = tracks.setdefault(key, Track(spec, one.project))
                    merged.labels += one.labels
                    for ts, values in one.points.items():
                        merged.points[ts] += values
        return tracks
