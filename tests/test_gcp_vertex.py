"""``gcp_vertex`` against ``FakeGoogle``: the Vertex AI and Cloud Monitoring REST APIs as Google
documents their JSON (camelCase, int64 as strings, pages with ``nextPageToken``).  The fake
honours the custom-job filters and the time-series filter and interval, so the tests also check
what the collector asks for.  Sources are configured as a user would and run through the
pipeline on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from sqlalchemy import Engine, select, text

from agent.config import load_settings
from agent.pipeline import SourceOutcome, collect_all
from agent.store.schema import CollectionRun, Resource, SourceState, UsageMetric
from collectors.base import validate_source
from collectors.gcp.vertex import vertex_id
from collectors.importer import import_paths
from tests.gcp_fakes import FakeGoogle, GoogleRequest, Reply, error, page
from tests.test_gcp_billing import VERTEX, _row, write_jsonl

PROJECT, NUMBER = "ml-prod", "123456789012"  # the billing test rows' project
LOC = "us-central1"
ENDPOINT = vertex_id(NUMBER, LOC, "endpoints", "111")
#: The tests run on a clock stopped half-way through an hour (see ``_mid_hour``): the expected
#: rows are built from ``NOW`` and the collector reads the same clock, so an hour boundary
#: crossed while the suite runs cannot add or drop an hour.
MID_HOUR = datetime.now(UTC).replace(minute=30, second=0, microsecond=0)
NOW = MID_HOUR.replace(minute=0)
PREFIX = "aiplatform.googleapis.com/prediction/online/"
COUNT, REPLICAS, DUTY = (
    f"{PREFIX}{m}" for m in ("prediction_count", "replicas", "accelerator/duty_cycle")
)
Row = tuple[str, str, datetime, float, str, str, int]


@pytest.fixture(autouse=True)
def _mid_hour() -> Iterator[None]:
    with time_machine.travel(MID_HOUR, tick=True):
        yield


def job(job_id: str) -> str:
    return vertex_id(NUMBER, LOC, "customJobs", job_id)


def hour(n: int) -> datetime:
    """The start of the hour ``n`` hours before the current one (aware UTC)."""
    return NOW - timedelta(hours=n)


def rfc(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # Google sends fractions


def when(value: str | None) -> datetime:
    assert value is not None
    return datetime.fromisoformat(value)


def naive(ts: datetime) -> datetime:
    return ts.replace(tzinfo=None)


# -- the fake APIs -------------------------------------------------------------------------------
def endpoint_json(endpoint_id: str, name: str, machine: dict[str, Any], lo: int, hi: int) -> Any:
    return {
        "name": f"projects/{NUMBER}/locations/{LOC}/endpoints/{endpoint_id}",
        "displayName": name,
        "deployedModels": [
            {
                "id": f"{endpoint_id}0",
                "model": f"projects/{NUMBER}/locations/{LOC}/models/77",
                "displayName": f"{name}-model",
                "dedicatedResources": {
                    "machineSpec": machine,
                    "minReplicaCount": lo,
                    "maxReplicaCount": hi,
                },
            }
        ],
        "labels": {"team": "ml-platform"},
        "createTime": "2026-09-01T10:00:00.123456789Z",
    }


A100 = {
    "machineType": "a2-highgpu-1g",
    "acceleratorType": "NVIDIA_TESLA_A100",
    "acceleratorCount": 1,
}
T4 = {"machineType": "n1-standard-8", "acceleratorType": "NVIDIA_TESLA_T4", "acceleratorCount": 1}


def job_json(job_id: str, created: datetime, state: str, **spec: Any) -> dict[str, Any]:
    start = created + timedelta(minutes=5)
    body: dict[str, Any] = {
        "name": f"projects/{NUMBER}/locations/{LOC}/customJobs/{job_id}",
        "displayName": f"train-{job_id}",
        "state": state,
        "jobSpec": {"workerPoolSpecs": [{"machineSpec": T4, "replicaCount": "2"}, {}], **spec},
        "createTime": rfc(created),
        "startTime": rfc(start),
        "labels": {"workload": "training"},
    }
    if state == "JOB_STATE_SUCCEEDED":
        body["endTime"] = rfc(start + timedelta(hours=3))
    return body


def series(
    metric: str, container: str, points: list[tuple[datetime, Any]], **metric_labels: str
) -> dict[str, Any]:
    """A reduced series of endpoint 111; points as (hour start, typed value), stamped at the
    end of the hour as aligned points are."""
    delta = metric == COUNT
    return {
        "metric": {"type": metric, "labels": metric_labels},
        "resource": {
            "type": "aiplatform.googleapis.com/Endpoint",
            "labels": {"resource_container": container, "location": LOC, "endpoint_id": "111"},
        },
        "metricKind": "DELTA" if delta else "GAUGE",
        "valueType": "INT64" if delta else "DOUBLE",
        "unit": "1" if delta else "10^2.%" if metric == DUTY else "1",
        "points": [
            {
                "interval": {
                    "startTime": rfc(ts if delta else ts + timedelta(hours=1)),
                    "endTime": rfc(ts + timedelta(hours=1)),
                },
                "value": value,
            }
            for ts, value in reversed(points)  # Monitoring answers newest first
        ],
    }


def count(n: int) -> dict[str, str]:
    return {"int64Value": str(n)}


def double(x: float) -> dict[str, float]:
    return {"doubleValue": x}


@dataclass
class Google:
    """What the fake serves, and what it was asked."""

    endpoints: list[dict[str, Any]] = field(default_factory=list)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    series: list[dict[str, Any]] = field(default_factory=list)
    denied: set[str] = field(default_factory=set)  # "project/location" or "project"
    queries: list[GoogleRequest] = field(default_factory=list)

    def routes(self) -> dict[str, Any]:
        base = "GET /v1/projects/{project}/locations/{location}"
        return {
            f"{base}/endpoints": self.list_endpoints,
            f"{base}/customJobs": self.list_jobs,
            "GET /v3/projects/{project}/timeSeries": self.list_series,
        }

    def refused(self, req: GoogleRequest) -> bool:
        p = req.params
        return bool({p["project"], f"{p['project']}/{p.get('location')}"} & self.denied)

    def list_endpoints(self, req: GoogleRequest) -> Reply:
        if self.refused(req):
            return error(403, "Permission 'aiplatform.endpoints.list' denied")
        return page(self.endpoints if req.params["location"] == LOC else [], "endpoints", req, 1)

    def list_jobs(self, req: GoogleRequest) -> Reply:
        if self.refused(req):
            return error(403, "Permission 'aiplatform.customJobs.list' denied")
        flt = req.arg("filter") or ""
        if m := re.fullmatch(r'create_time>"(.+)"', flt):
            jobs = [j for j in self.jobs if when(j["createTime"]) > when(m[1])]
        elif m := re.fullmatch(r'state="(\w+)"', flt):
            jobs = [j for j in self.jobs if j["state"] == m[1]]
        else:
            return error(400, f"unexpected filter {flt!r}")
        return page(jobs if req.params["location"] == LOC else [], "customJobs", req, 1)

    def list_series(self, req: GoogleRequest) -> Reply:
        self.queries.append(req)
        if self.refused(req):
            return error(403, "Permission monitoring.timeSeries.list denied")
        m = re.fullmatch(
            r'metric\.type = "([^"]+)" AND resource\.type = "aiplatform\.googleapis\.com/Endpoint"',
            req.arg("filter") or "",
        )
        if m is None:
            return error(400, "bad filter")
        start, end = (when(req.arg(f"interval.{k}Time")) for k in ("start", "end"))
        found = []
        for s in self.series:
            points = [p for p in s["points"] if start < when(p["interval"]["endTime"]) <= end]
            if s["metric"]["type"] == m[1] and points:
                found.append({**s, "points": points})
        return page(found, "timeSeries", req, 1)


@pytest.fixture
def google() -> Iterator[tuple[Google, FakeGoogle]]:
    state = Google()
    with FakeGoogle(state.routes()) as fake:
        yield state, fake


def run(engine: Engine, fake: FakeGoogle, since: Any = None, **extra: Any) -> SourceOutcome:
    cfg = validate_source(
        {
            "name": "vertex",
            "type": "gcp_vertex",
            "projects": [PROJECT],
            "anonymous": True,
            "api_endpoints": {"aiplatform": fake.url, "monitoring": fake.url},
            "backoff_seconds": 0.01,
            **extra,
        }
    )
    settings = load_settings(None).model_copy(update={"sources": [cfg]})
    [outcome] = collect_all(engine, settings, since=since)
    return outcome


def stored(engine: Engine, metric: str | None = None) -> list[Row]:
    m = UsageMetric
    query = select(m.resource_id, m.metric, m.ts, m.value, m.unit, m.stat, m.period_s)
    if metric:
        query = query.where(m.metric == metric)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return sorted(tuple(r) for r in rows)  # type: ignore[misc]


def resources(engine: Engine) -> dict[str, tuple[str, str, str, dict[str, Any]]]:
    r = Resource
    with engine.connect() as conn:
        rows = conn.execute(
            select(r.resource_id, r.provider_name, r.resource_type, r.region_id, r.attributes)
        ).all()
    return {row[0]: (row[1], row[2], row[3], row[4]) for row in rows}


def seed(g: Google) -> None:
    g.endpoints = [
        endpoint_json("111", "gemma-chat", A100, 1, 3),
        endpoint_json("222", "classifier", T4, 2, 2),
    ]
    g.jobs = [
        job_json(
            "901", NOW - timedelta(days=2), "JOB_STATE_SUCCEEDED", scheduling={"strategy": "SPOT"}
        ),
        job_json("902", NOW - timedelta(days=3), "JOB_STATE_SUCCEEDED"),  # no scheduling
        job_json(
            "903",
            NOW - timedelta(days=90),
            "JOB_STATE_RUNNING",
            scheduling={"strategy": "STANDARD"},
        ),
        job_json("904", NOW - timedelta(days=90), "JOB_STATE_SUCCEEDED"),  # too old: not listed
    ]
    g.series = [
        series(COUNT, PROJECT, [(hour(3), count(40)), (hour(2), count(2)), (hour(0), count(9))]),
        series(REPLICAS, NUMBER, [(hour(3), double(1.0)), (hour(2), double(1.5))]),
        # Two deployed models: the busier one counts; the fraction is stored in percent.
        series(
            DUTY, NUMBER, [(hour(3), double(0.25)), (hour(2), double(0.1))], deployed_model_id="1"
        ),
        series(DUTY, NUMBER, [(hour(3), double(0.6))], deployed_model_id="2"),
    ]


# -- tests ---------------------------------------------------------------------------------------
def test_inventory_and_usage_land_under_billing_ids(
    engine: Engine, google: tuple[Google, FakeGoogle], tmp_path: Path
) -> None:
    g, fake = google
    seed(g)

    outcome = run(engine, fake)

    assert outcome.status == "ok", outcome.error
    assert outcome.warnings == ()
    got = resources(engine)
    assert sorted(got) == sorted(
        [ENDPOINT, vertex_id(NUMBER, LOC, "endpoints", "222"), job("901"), job("902"), job("903")]
    )
    provider, kind, region, ep = got[ENDPOINT]
    assert (provider, kind, region) == ("Google Cloud", "vertex_endpoint", LOC)
    assert {k: ep[k] for k in ep if k != "deployed_models"} == {
        "display_name": "gemma-chat",
        "endpoint_id": "111",
        "machine_type": "a2-highgpu-1g",
        "instance_type": "a2-highgpu-1g",
        "accelerator_type": "NVIDIA_TESLA_A100",
        "accelerator_count": 1,
        "min_replica_count": 1,
        "max_replica_count": 3,
        "instance_count": 1,
        "autoscaling": True,
        "autoscaling_min": 1,
        "autoscaling_max": 3,
        "deployed_model": "gemma-chat-model",
        "deployed_model_ids": ["1110"],
        "create_time": "2026-09-01T10:00:00Z",
        "labels": {"team": "ml-platform"},
        "tags": {"team": "ml-platform"},
    }
    fixed = got[vertex_id(NUMBER, LOC, "endpoints", "222")][3]
    assert (fixed["instance_count"], fixed["autoscaling"], fixed["autoscaling_max"]) == (
        2,
        False,
        None,
    )
    spot, standard, running = (got[job(i)][3] for i in ("901", "902", "903"))
    assert got[job("901")][1] == "training_job"
    assert (spot["spot"], spot["scheduling_strategy"]) == (True, "SPOT")
    assert (standard["spot"], standard["scheduling_strategy"]) == (False, "STANDARD")
    assert (running["spot"], running["state"], running["training_seconds"]) == (
        False,
        "JOB_STATE_RUNNING",
        None,
    )
    assert spot["training_seconds"] == 3 * 3600
    assert (spot["machine_type"], spot["replica_count"], spot["instance_count"]) == (
        "n1-standard-8",
        2,
        2,
    )

    # Hourly usage, the current (incomplete) hour left out, under the endpoint's global name.
    assert stored(engine) == [
        (ENDPOINT, "gpu_utilization", naive(hour(3)), 60.0, "Percent", "Average", 3600),
        (ENDPOINT, "gpu_utilization", naive(hour(2)), 10.0, "Percent", "Average", 3600),
        (ENDPOINT, "instance_count", naive(hour(3)), 1.0, "Count", "Average", 3600),
        (ENDPOINT, "instance_count", naive(hour(2)), 1.5, "Count", "Average", 3600),
        (ENDPOINT, "invocations", naive(hour(3)), 40.0, "Count", "Sum", 3600),
        (ENDPOINT, "invocations", naive(hour(2)), 2.0, "Count", "Sum", 3600),
    ]

    # What Monitoring was asked: each metric once, seven days back to the last complete hour.
    asked = {q.arg("filter"): q for q in g.queries if not q.arg("pageToken")}
    assert (len(asked), len(g.queries)) == (3, 4)  # the duty cycle's 2 series: 2 pages
    duty = asked[f'metric.type = "{DUTY}" AND resource.type = "aiplatform.googleapis.com/Endpoint"']
    assert duty.params == {"project": PROJECT}
    assert duty.query["interval.endTime"] == [NOW.strftime("%Y-%m-%dT%H:%M:%SZ")]
    assert duty.query["interval.startTime"] == [
        (NOW - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    ]
    assert duty.query["aggregation.alignmentPeriod"] == ["3600s"]
    assert duty.query["aggregation.perSeriesAligner"] == ["ALIGN_MEAN"]
    assert duty.query["aggregation.crossSeriesReducer"] == ["REDUCE_MEAN"]
    assert "metric.label.deployed_model_id" in duty.query["aggregation.groupByFields"]
    invocations = next(q for q in g.queries if COUNT in (q.arg("filter") or ""))
    assert invocations.query["aggregation.perSeriesAligner"] == ["ALIGN_SUM"]
    assert invocations.query["aggregation.groupByFields"] == [
        "resource.label.resource_container",
        "resource.label.location",
        "resource.label.endpoint_id",
    ]

    with engine.connect() as conn:
        details = conn.execute(select(CollectionRun.details)).scalar_one()
    # Pages of one item: 2 endpoints, 2 recent jobs + 1 running one; 4 series.
    assert details["requests"] == {"aiplatform": 5, "monitoring": 4}
    assert details["resources"] == {"vertex_endpoint": 2, "training_job": 3}
    assert (details["series"], details["datapoints"]) == (3, 6)

    # Vertex usage joins billing by resource.
    day = naive(hour(3)).date().isoformat()
    sku = "Vertex AI: Online/Batch Prediction NVIDIA A100 running in Americas"
    bill = write_jsonl(
        tmp_path / "billing.jsonl", [_row(VERTEX, sku, day, "3.673", resource=ENDPOINT)]
    )
    import_paths(engine, [bill], load_settings(None))
    with engine.connect() as conn:
        joined = conn.execute(
            text(
                "SELECT m.metric, COUNT(*), r.resource_type FROM cost_line_items c"
                " JOIN usage_metrics m ON m.resource_id = c.resource_id"
                " JOIN resources r ON r.resource_id = c.resource_id"
                " GROUP BY m.metric, r.resource_type ORDER BY m.metric"
            )
        ).all()
    assert [tuple(r) for r in joined] == [
        ("gpu_utilization", 2, "vertex_endpoint"),
        ("instance_count", 2, "vertex_endpoint"),
        ("invocations", 2, "vertex_endpoint"),
    ]


def test_second_run_reads_only_new_hours_and_doubles_nothing(
    engine: Engine, google: tuple[Google, FakeGoogle]
) -> None:
    g, fake = google
    seed(g)
    g.series = [
        series(COUNT, NUMBER, [(hour(6), count(1)), (hour(5), count(2)), (hour(4), count(3))])
    ]
    assert run(engine, fake).status == "ok"
    assert [r[3] for r in stored(engine)] == [1.0, 2.0, 3.0]
    with engine.connect() as conn:
        rows = conn.execute(select(SourceState.key, SourceState.value)).all()
    state: dict[str, Any] = {key: value for key, value in rows}
    assert state[f"metrics:invocations:{ENDPOINT}"] == {
        "last_ts": naive(hour(4)).isoformat(),
        "period_s": 3600,
        "project": PROJECT,
    }
    assert state["project_numbers"] == {PROJECT: NUMBER, NUMBER: NUMBER}

    # A late point in an old hour is not asked for again; a new hour is.
    g.series = [
        series(COUNT, NUMBER, [(hour(6), count(11)), (hour(5), count(2)), (hour(4), count(3))]),
        series(COUNT, NUMBER, [(hour(2), count(4))], response_code="200"),
    ]
    g.queries.clear()
    second = run(engine, fake)
    invocations = next(q for q in g.queries if COUNT in (q.arg("filter") or ""))
    assert invocations.query["interval.startTime"] == [hour(4).strftime("%Y-%m-%dT%H:%M:%SZ")]
    got = stored(engine)
    assert [(r[2], r[3]) for r in got] == [
        (naive(hour(6)), 1.0),
        (naive(hour(5)), 2.0),
        (naive(hour(4)), 3.0),
        (naive(hour(2)), 4.0),
    ]
    assert second.rows == 5 + 2  # resources upserted; the last stored hour re-read, one new

    third = run(engine, fake)
    assert stored(engine) == got and third.rows == 5 + 1  # nothing new, nothing doubled
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM resources")).scalar_one() == 5

    # --since overrides the stored position and picks up the late point.
    run(engine, fake, since=naive(hour(6)).date())
    assert [r[3] for r in stored(engine)] == [11.0, 2.0, 3.0, 4.0]


@pytest.mark.parametrize("status", [429, 503])
def test_throttling_and_server_errors_are_retried(
    engine: Engine, google: tuple[Google, FakeGoogle], status: int
) -> None:
    g, fake = google
    seed(g)
    fake.fail_next(2, status)

    outcome = run(engine, fake)

    assert outcome.status == "ok", outcome.error
    assert outcome.warnings == ()
    assert len(stored(engine)) == 6
    assert len(resources(engine)) == 5
    assert fake.calls[:3] == [fake.calls[0]] * 3  # the first request, twice refused, then served


def test_a_refused_location_or_project_is_a_warning(
    engine: Engine, google: tuple[Google, FakeGoogle]
) -> None:
    g, fake = google
    seed(g)
    g.denied = {f"{PROJECT}/europe-west4", "locked-proj"}

    outcome = run(engine, fake, locations=[LOC, "europe-west4"], projects=[PROJECT, "locked-proj"])

    assert outcome.status == "ok", outcome.error
    assert len(resources(engine)) == 5
    assert len(stored(engine)) == 6
    assert sorted(w.split(":")[0] for w in outcome.warnings) == sorted(
        [
            f"endpoints in {PROJECT}/europe-west4",
            f"custom jobs in {PROJECT}/europe-west4",
            "endpoints in locked-proj/us-central1",
            "custom jobs in locked-proj/us-central1",
            "endpoints in locked-proj/europe-west4",
            "custom jobs in locked-proj/europe-west4",
            "invocations of locked-proj (Cloud Monitoring)",
            "instance_count of locked-proj (Cloud Monitoring)",
            "gpu_utilization of locked-proj (Cloud Monitoring)",
        ]
    )
    assert all("403" in w for w in outcome.warnings)
    with engine.connect() as conn:
        recorded = conn.execute(select(CollectionRun.details)).scalar_one()
    assert len(recorded["warnings"]) == 9


def test_nothing_readable_fails_the_run_and_writes_nothing(
    engine: Engine, google: tuple[Google, FakeGoogle]
) -> None:
    g, fake = google
    seed(g)
    g.denied = {PROJECT}

    outcome = run(engine, fake)

    assert outcome.status == "failed"
    assert outcome.error is not None and "403" in outcome.error
    assert resources(engine) == {} and stored(engine) == []
    with engine.connect() as conn:
        assert conn.execute(select(SourceState)).all() == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({}, "projects: Field required"),
        ({"projects": []}, "projects"),
        ({"projects": ["p"], "locations": ["us-central1/../x"]}, "locations"),
        ({"projects": ["p"], "metrics_day": 3}, "unknown key"),
    ],
)
def test_config_errors_name_the_key(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_source({"name": "v", "type": "gcp_vertex", **extra})
