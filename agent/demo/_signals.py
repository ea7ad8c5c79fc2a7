"""What billing cannot show: usage metrics, an LLM gateway request log and an inventory snapshot.

Every resource id here is the one the billing rows carry (the CUR ``line_item_resource_id`` or
the GCP ``resource.global_name``), so metrics and inventory join to cost without any mapping.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from agent.demo._common import Month, business, growth, hex_id, iso_z, rng, stable_id
from agent.demo._scenario import (
    AWS_DEV,
    AWS_GPU_INSTANCE,
    AWS_PROD,
    AWS_REGION,
    GCP_GPU_VM,
    GCP_REGION,
    SAGEMAKER_ENDPOINTS,
    EndpointHour,
    gpu_machine_timeline,
    sagemaker_timeline,
    sagemaker_training_jobs,
    vector_index_endpoint,
    vertex_endpoints,
    vertex_timeline,
    vertex_training_jobs,
)

METRIC_HEADER = ("timestamp", "resource_id", "metric", "value", "unit", "stat", "period_seconds")


# --- usage metrics ------------------------------------------------------------------------------
def metrics(month: Month, seed: int) -> list[tuple[str, ...]]:
    """Hourly ``invocations`` (Sum) and ``gpu_utilization`` (Average) per endpoint / GPU box."""
    rows: list[tuple[str, ...]] = []

    def emit(resource: str, timeline: list[EndpointHour], invocations: bool) -> None:
        if invocations:
            rows.extend(
                (iso_z(h.ts), resource, "invocations", str(h.invocations), "Count", "Sum", "3600")
                for h in timeline
            )
        rows.extend(
            (
                iso_z(h.ts),
                resource,
                "gpu_utilization",
                f"{h.gpu_utilization:.2f}",
                "Percent",
                "Average",
                "3600",
            )
            for h in timeline
        )

    for ep in SAGEMAKER_ENDPOINTS:
        emit(ep.arn, sagemaker_timeline(ep, month, seed), True)
    for vep in vertex_endpoints(month):
        emit(vep.global_name, vertex_timeline(vep, month, seed), True)
    for machine in (AWS_GPU_INSTANCE, GCP_GPU_VM):
        emit(machine.resource_id, gpu_machine_timeline(machine, month, seed), False)
    return rows


# --- LLM request log ------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Prompt:
    hash: str
    input_tokens: int


def _weighted_hours(month: Month, weight: Any) -> tuple[list[datetime], list[float]]:
    hours = month.hours
    return hours, [float(weight(ts)) for ts in hours]


def _moment(r: Any, hour: datetime) -> datetime:
    return hour + timedelta(seconds=r.randrange(3600), milliseconds=r.randrange(1000))


def _ts_ms(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def llm_requests(month: Month, seed: int) -> list[dict[str, Any]]:
    """About three thousand sampled calls from three apps behind one gateway."""
    calls = [*_support_bot(month, seed), *_doc_search(month, seed), *_summarizer(month, seed)]
    calls.sort(key=lambda c: (c["ts"], c["app"], c["prompt_hash"]))
    return calls


def _call(
    ts: datetime,
    provider: str,
    model: str,
    operation: str,
    app: str,
    input_tokens: int,
    output_tokens: int,
    cache_read: int,
    prompt_hash: str,
    latency: float,
    batch: bool,
) -> dict[str, Any]:
    return {
        "ts": _ts_ms(ts),
        "provider": provider,
        "model": model,
        "operation": operation,
        "app": app,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_read_tokens": cache_read,
        "prompt_hash": prompt_hash,
        "latency_ms": round(latency, 1),
        "batch": batch,
    }


def _support_bot(month: Month, seed: int) -> Iterator[dict[str, Any]]:
    r = rng(seed, "llm:support-bot")
    faq = [_Prompt(hex_id("faq", i), 1400 + r.randrange(60, 420)) for i in range(40)]
    faq_weights = [1.0 / (i + 1) for i in range(len(faq))]  # a few questions dominate
    hours, weights = _weighted_hours(month, lambda ts: business(ts) * growth(ts, month, 1.08))
    for n, hour in enumerate(r.choices(hours, weights, k=1500)):
        ts = _moment(r, hour)
        if r.random() < 0.15:
            model = "anthropic.claude-3-haiku-20240307-v1:0"  # intent routing
            prompt = _Prompt(hex_id("route", n), r.randrange(300, 700))
            out = r.randrange(5, 40)
            latency = 180 + out * 6 + r.uniform(0, 120)
        else:
            model = "anthropic.claude-3-5-sonnet-20240620-v1:0"
            if r.random() < 0.35:
                prompt = r.choices(faq, faq_weights)[0]
            else:
                prompt = _Prompt(hex_id("chat", n), 1400 + r.randrange(800, 3200))
            out = r.randrange(120, 700)
            latency = 420 + out * 18 + r.uniform(-80, 400)
        cache = 1024 if r.random() < 0.08 and prompt.input_tokens > 1400 else 0
        yield _call(
            ts,
            "bedrock",
            model,
            "chat",
            "support-bot",
            prompt.input_tokens,
            out,
            cache,
            prompt.hash,
            latency,
            False,
        )


def _doc_search(month: Month, seed: int) -> Iterator[dict[str, Any]]:
    r = rng(seed, "llm:doc-search")
    chunks = [_Prompt(hex_id("chunk", i), r.randrange(300, 800)) for i in range(250)]
    model = "amazon.titan-embed-text-v2:0"
    hours, weights = _weighted_hours(month, business)
    for n, hour in enumerate(r.choices(hours, weights, k=360)):  # user queries
        tokens = r.randrange(8, 60)
        yield _call(
            _moment(r, hour),
            "bedrock",
            model,
            "embeddings",
            "doc-search",
            tokens,
            0,
            0,
            hex_id("query", n),
            r.uniform(35, 120),
            False,
        )
    # The nightly job re-embeds a sample of unchanged chunks: the same hashes, night after night.
    for day in range(1, month.days + 1):
        night = month.day(day, 6)  # 02:00 New York
        for chunk in r.sample(chunks, 18):
            yield _call(
                night + timedelta(seconds=r.randrange(7200), milliseconds=r.randrange(1000)),
                "bedrock",
                model,
                "embeddings",
                "doc-search",
                chunk.input_tokens,
                0,
                0,
                chunk.hash,
                r.uniform(60, 180),
                False,
            )


def _summarizer(month: Month, seed: int) -> Iterator[dict[str, Any]]:
    r = rng(seed, "llm:summarizer")
    seen: list[_Prompt] = []
    per_night = 22
    for day in range(1, month.days + 1):
        start = month.day(day, 5)  # 01:00 New York: the nightly run, not latency-sensitive
        for _ in range(per_night):
            if seen and r.random() < 0.1:
                prompt = r.choice(seen)  # the same document summarised again
            else:
                prompt = _Prompt(hex_id("doc", day, len(seen)), r.randrange(6000, 24000))
                seen.append(prompt)
            pro = r.random() < 0.1
            out = r.randrange(250, 900)
            ts = start + timedelta(seconds=r.randrange(3 * 3600), milliseconds=r.randrange(1000))
            yield _call(
                ts,
                "vertex_ai",
                "gemini-2.5-pro" if pro else "gemini-2.5-flash",
                "chat",
                "summarizer",
                prompt.input_tokens,
                out,
                0,
                prompt.hash,
                (2600 if pro else 1400) + out * 7 + r.uniform(0, 900),
                r.random() < 0.06,
            )


# --- inventory ----------------------------------------------------------------------------------
def inventory(month: Month, seed: int) -> list[dict[str, Any]]:
    observed = iso_z(month.end - timedelta(hours=1))
    rows: list[dict[str, Any]] = []

    def add(
        resource_id: str, provider: str, kind: str, region: str, attributes: dict[str, Any]
    ) -> None:
        rows.append(
            {
                "resource_id": resource_id,
                "provider_name": provider,
                "resource_type": kind,
                "region_id": region,
                "observed_at": observed,
                "attributes": attributes,
            }
        )

    created = iso_z(month.months_before(3) + timedelta(days=11, hours=15))
    for ep in SAGEMAKER_ENDPOINTS:
        add(
            ep.arn,
            "AWS",
            "sagemaker_endpoint",
            AWS_REGION,
            {
                "endpoint_name": ep.name,
                "variant_name": "AllTraffic",
                "instance_type": ep.instance_type,
                "instance_count": ep.instance_count,
                "autoscaling_min": ep.autoscaling[0] if ep.autoscaling else None,
                "autoscaling_max": ep.autoscaling[1] if ep.autoscaling else None,
                "serverless": False,
                "model": ep.model,
                "status": "InService",
                "creation_time": created,
                "tags": {"workload": "inference", "env": ep.env, "team": ep.team},
            },
        )
    for job in sagemaker_training_jobs(month, seed):
        add(
            job.arn,
            "AWS",
            "training_job",
            AWS_REGION,
            {
                "job_name": job.name,
                "instance_type": job.instance_type,
                "instance_count": job.instance_count,
                "managed_spot": job.spot,
                "training_seconds": job.training_seconds,
                "billable_seconds": job.billable_seconds,
                "status": "Completed",
                "start_time": iso_z(job.start),
                "end_time": iso_z(job.end),
                "tags": {"workload": "training", "env": "prod", "team": "research"},
            },
        )
    add(
        f"arn:aws:sagemaker:{AWS_REGION}:{AWS_DEV}:notebook-instance/research-nb-gpu",
        "AWS",
        "notebook_instance",
        AWS_REGION,
        {
            "notebook_name": "research-nb-gpu",
            "instance_type": "ml.g4dn.xlarge",
            "status": "InService",
            "volume_size_gb": 200,
            "lifecycle_config": None,
            "tags": {"workload": "training", "env": "dev", "team": "research"},
        },
    )
    for name, account, max_search, max_index in (
        ("rag-docs-prod", AWS_PROD, 8, 8),
        ("rag-docs-dev", AWS_DEV, 4, 4),
    ):
        arn = f"arn:aws:aoss:{AWS_REGION}:{account}:collection/{stable_id('aoss', name, length=20)}"
        add(
            arn,
            "AWS",
            "opensearch_collection",
            AWS_REGION,
            {
                "collection_name": name,
                "type": "VECTORSEARCH",
                "standby_replicas": "ENABLED",
                "max_search_capacity_ocu": max_search,
                "max_indexing_capacity_ocu": max_index,
                "status": "ACTIVE",
                "tags": {"env": "prod" if name.endswith("prod") else "dev", "team": "search"},
            },
        )
    gpu = AWS_GPU_INSTANCE
    add(
        gpu.resource_id,
        "AWS",
        "gpu_instance",
        AWS_REGION,
        {
            "instance_type": gpu.instance_type,
            "gpu_count": gpu.gpu_count,
            "gpu_model": gpu.gpu_model,
            "state": "running",
            "purchase_option": "on-demand",
            "launch_time": iso_z(month.months_before(2) + timedelta(days=3, hours=17)),
            "tags": {k.removeprefix("user_"): v for k, v in gpu.tags},
        },
    )
    for vep in vertex_endpoints(month):
        add(
            vep.global_name,
            "Google Cloud",
            "vertex_endpoint",
            GCP_REGION,
            {
                "display_name": vep.display_name,
                "endpoint_id": vep.endpoint_id,
                "machine_type": vep.machine_type,
                "accelerator_type": vep.accelerator_type,
                "accelerator_count": vep.accelerator_count,
                "min_replica_count": vep.replicas,
                "max_replica_count": vep.max_replicas,
                "deployed_model": "gemma-2-9b-it-ft"
                if vep.profile == "busy"
                else "doc-classifier-v4",
                "labels": vep.labels,
            },
        )
    for job in vertex_training_jobs(month, seed):
        add(
            job.global_name,
            "Google Cloud",
            "training_job",
            GCP_REGION,
            {
                "display_name": job.name,
                "machine_type": job.instance_type,
                "accelerator_type": job.accelerator,
                "accelerator_count": job.accelerator_count,
                "replica_count": job.instance_count,
                "scheduling_strategy": "SPOT" if job.spot else "STANDARD",
                "training_seconds": job.training_seconds,
                "state": "JOB_STATE_SUCCEEDED",
                "start_time": iso_z(job.start),
                "end_time": iso_z(job.end),
                "labels": {"workload": "training", "team": "research"},
            },
        )
    ix = vector_index_endpoint(month)
    add(
        ix.global_name,
        "Google Cloud",
        "vector_search_index_endpoint",
        GCP_REGION,
        {
            "display_name": ix.display_name,
            "machine_type": ix.machine_type,
            "min_replica_count": ix.replicas,
            "max_replica_count": ix.replicas,
            "deployed_index": "rag-docs-v3",
            "labels": {"env": "prod", "team": "search"},
        },
    )
    vm = GCP_GPU_VM
    add(
        vm.resource_id,
        "Google Cloud",
        "gpu_instance",
        f"{GCP_REGION}",
        {
            "instance_name": "research-gpu-vm-1",
            "instance_type": vm.instance_type,
            "gpu_count": vm.gpu_count,
            "gpu_model": vm.gpu_model,
            "state": "RUNNING",
            "zone": f"{GCP_REGION}-a",
            "labels": dict(vm.tags),
        },
    )
    return rows
