"""``aws_inventory``: which AI resources exist and how they are sized, under billing's ids.

A bill says what an endpoint cost; only the inventory says it runs two GPU instances with no
autoscaling, or that a training job ran on-demand where managed spot would have done.  Rules join
the two on ``resource_id``, so every id here is the one the CUR's ``line_item_resource_id``
carries:

===============================  ========================================  ===================
resource_type                    read from                                 resource_id
===============================  ========================================  ===================
sagemaker_endpoint               ListEndpoints, DescribeEndpoint,          endpoint ARN, name
                                 DescribeEndpointConfig, ListTags;         lowercased (as the
                                 Application Auto Scaling targets and      CUR writes it)
                                 policies (namespace ``sagemaker``)
training_job                     ListTrainingJobs, DescribeTrainingJob,    training-job ARN,
                                 ListTags                                  name lowercased
notebook_instance                ListNotebookInstances,                    notebook-instance
                                 DescribeNotebookInstance, ListTags        ARN, lowercased
bedrock_provisioned_throughput   ListProvisionedModelThroughputs,          provisioned model
                                 ListTagsForResource                       ARN
opensearch_collection            ListCollections, BatchGetCollection,      collection ARN
                                 ListTagsForResource
gpu_instance                     DescribeInstanceTypes (accelerator info   instance id
                                 of the configured families),
                                 DescribeInstances of those types
===============================  ========================================  ===================

Design decisions:

* **Flat attributes for rules**, named as in ``agent/demo/data/README.md`` (Conventions).  An
  endpoint's ``instance_type``/``instance_count``/``autoscaling_min``/``autoscaling_max`` describe
  the whole endpoint: counts are totalled over its variants (shadow variants are billed too),
  the other fields are the variants' common value or null when they differ; ``variants`` keeps
  each one.  Autoscaling bounds are set only for a variant with a scalable target *and* a
  scaling policy: a registered target without a policy never scales.  If Application Auto
  Scaling cannot be read, the bounds are null and ``autoscaling_unknown`` is true, so a rule does
  not mistake "not allowed to look" for "no autoscaling".
* **Two region-wide Application Auto Scaling listings** instead of two calls per endpoint, and
  only in regions that have endpoints.
* **Training jobs** created in the last ``training_jobs_days`` (or since ``--since``), plus every
  job still running whatever its age: a month-long job is what the bill shows.
  Hyperparameters are kept (they explain a job's size) with secret-looking values masked.
* **GPU machines are found through the API's accelerator info**, not a table of names: one
  ``DescribeInstanceTypes`` over the configured families (``p*``, ``g*``, …) yields the types that
  carry GPUs (``GpuInfo``) or Neuron devices, their count and model; ``DescribeInstances`` is
  then filtered to exactly those types, so a CPU-only ``g``-something is never listed.
  ``gpu_count`` is the GPU count (null for Neuron machines); ``accelerator_count`` counts either.
* **One failing part does not fail the run**: a resource type that a region does not offer
  (botocore's endpoint data) is skipped, and an error (AccessDenied, a closed endpoint) skips
  that type in that region and account; both become warnings.  Only when every attempt failed
  does the run fail, because then nothing was learned (e.g. no credentials).
* Every call goes through :func:`~collectors.aws.session.call` (backoff) and is counted.  All
  rows are loaded in one transaction after the scan: an interrupted run writes nothing.
* ``endpoint_urls`` (boto3 service name → URL) overrides ``endpoint_url`` per service, for a
  VPC endpoint of one service or a local stand-in for one API.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from itertools import chain
from typing import Any, Literal, get_args

from botocore.exceptions import BotoCoreError, ClientError, UnknownRegionError
from pydantic import Field, field_validator
from sqlalchemy import Engine

from agent.redact import redact
from agent.settings import CoreSettings
from collectors.aws.session import Account, AwsContext, AwsSourceConfig, call, pages
from collectors.base import Collector, CollectorMeta, CollectResult, Day
from collectors.load import load, table

ResourceType = Literal[
    "sagemaker_endpoint",
    "training_job",
    "notebook_instance",
    "bedrock_provisioned_throughput",
    "opensearch_collection",
    "gpu_instance",
]
RESOURCE_TYPES: tuple[ResourceType, ...] = get_args(ResourceType)
SERVICES = ("sagemaker", "application-autoscaling", "bedrock", "opensearchserverless", "ec2")
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
VARIANT_KINDS = ("ProductionVariants", "ShadowProductionVariants")
LIVE_STATES = ["pending", "running", "stopping", "stopped"]  # terminated ones cost nothing
ACCELERATOR_INFO = (
    ("gpu", "GpuInfo", "Gpus"),
    ("neuron", "NeuronInfo", "NeuronDevices"),
    ("neuron", "InferenceAcceleratorInfo", "Accelerators"),
)
NOT_FOUND = frozenset({"ValidationException", "ResourceNotFound", "ResourceNotFoundException"})
SECRET_NAME = re.compile(r"(?i)token|secret|passw|api_?key|private|credential")
EC2_FILTER_VALUES = 200  # values per DescribeInstances filter
AOSS_BATCH = 100  # ids per BatchGetCollection


class AwsInventoryConfig(AwsSourceConfig):
    type: Literal["aws_inventory"] = "aws_inventory"
    resource_types: list[ResourceType] = Field(
        default_factory=lambda: list(RESOURCE_TYPES),
        min_length=1,
        description="what to collect; default everything",
    )
    training_jobs_days: int = Field(
        35, ge=1, le=400, description="training jobs created this many days back (+ running)"
    )
    gpu_instance_families: list[str] = Field(
        default_factory=lambda: ["p", "g", "dl", "trn", "inf"],
        min_length=1,
        description="EC2 instance families searched for accelerators",
    )
    endpoint_urls: dict[str, str] = Field(
        default_factory=dict,
        description="per-service endpoint (boto3 service name → URL), over endpoint_url",
    )

    @field_validator("endpoint_urls")
    @classmethod
    def _known_services(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(SERVICES))
        if unknown:
            raise ValueError(f"unknown service {unknown}; use one of {list(SERVICES)}")
        return value

    @field_validator("gpu_instance_families")
    @classmethod
    def _families(cls, value: list[str]) -> list[str]:
        bad = [f for f in value if not re.fullmatch(r"[a-z][a-z0-9-]*", f)]
        if bad:
            raise ValueError(f"not an instance family prefix: {bad}")
        return value


@dataclass
class Scan:
    """One account and region of a run.

    Scanners take only this: the clients (made once, with overrides), the run's timestamps and
    warning list, and the paging and vanished-resource handling every listing needs.
    """

    ctx: AwsContext
    config: AwsInventoryConfig
    account: Account
    region: str
    observed_at: datetime  # naive UTC, the same for every row of the run
    training_since: datetime
    warnings: list[str]
    clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self.clients:
            self.clients[service] = _client(
                self.ctx, self.config, service, self.region, self.account
            )
        return self.clients[service]

    def row(
        self, resource_type: str, resource_id: str, attributes: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "resource_id": resource_id,
            "provider_name": "AWS",
            "resource_type": resource_type,
            "region_id": self.region,
            "observed_at": self.observed_at,
            "attributes": json.dumps(attributes, sort_keys=True),
        }

    def warn(self, what: str, exc: BaseException) -> str:
        message = f"{what} in {self.region} (account {self.account.label}): {_reason(exc)}"
        self.warnings.append(message)
        return message

    def items(
        self, fn: Callable[..., Any], key: str, token: str = "NextToken", **kw: Any
    ) -> Iterator[dict[str, Any]]:
        """Every item under ``key`` across the pages of a listing."""
        return chain.from_iterable(p.get(key, []) for p in pages(self.ctx, fn, token, token, **kw))

    def describe(self, fn: Callable[..., dict[str, Any]], **kw: Any) -> dict[str, Any] | None:
        """A Describe call, or None when the resource vanished since it was listed."""
        try:
            return call(self.ctx, fn, **kw)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in NOT_FOUND:
                return None
            raise


def _client(
    ctx: AwsContext, config: AwsInventoryConfig, service: str, region: str, account: Account
) -> Any:
    """``ctx.client``, honouring ``endpoint_urls``.

    ``AwsContext.client`` knows one endpoint per source, so an override goes through a second
    context on a copy of the config that shares the run's request counter: the client is built
    (retries, timeouts, user agent) and counted exactly like the others.
    """
    url = config.endpoint_urls.get(service)
    if url is None:
        return ctx.client(service, region, account.session)
    other = AwsContext(config.model_copy(update={"endpoint_url": url}), ctx.requests)
    return other.client(service, region, account.session)


# -- small conversions -------------------------------------------------------------------------
def _sagemaker_id(arn: str) -> str:
    """The ARN with the name lowercased: the CUR lowercases SageMaker names, and ids must join."""
    head, sep, name = arn.partition("/")
    return head + sep + name.lower()


def _iso(value: Any) -> str | None:
    """API times (datetimes; epoch milliseconds from AOSS) as ISO UTC, like the demo data."""
    if value is None:
        return None
    if isinstance(value, int | float):
        value = datetime.fromtimestamp(value / 1000, UTC)
    return str(value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))


def _tags(items: Any) -> dict[str, str]:
    """Key/Value (SageMaker, EC2) or key/value (Bedrock, AOSS) pairs as a dict."""
    return {t.get("Key", t.get("key")): t.get("Value", t.get("value")) for t in items or []}


def _common(values: list[Any]) -> Any:
    """The value all share, or None when they differ (a rule must not see a made-up one)."""
    return values[0] if values and all(v == values[0] for v in values) else None


def _total(values: list[int | None]) -> int | None:
    return None if not values or any(v is None for v in values) else sum(v or 0 for v in values)


def _chunks(values: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def _scrub(params: dict[str, str]) -> dict[str, str]:
    """Hyperparameters are free text that sometimes carries a token: mask what looks like one."""
    return {k: "***" if SECRET_NAME.findall(k) else redact(v) for k, v in params.items()}


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        text = f"{err.get('Code', 'error')}: {err.get('Message', '')}".rstrip(": ")
    else:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return redact(text)


# -- SageMaker endpoints -----------------------------------------------------------------------
def _endpoints(scan: Scan) -> list[dict[str, Any]]:
    sm = scan.client("sagemaker")
    names = [e["EndpointName"] for e in scan.items(sm.list_endpoints, "Endpoints")]
    if not names:
        return []
    scaling = _autoscaling(scan)
    configs: dict[str, dict[str, Any] | None] = {}
    rows = []
    for name in names:
        ep = scan.describe(sm.describe_endpoint, EndpointName=name)
        if ep is None:
            continue
        cfg_name = ep["EndpointConfigName"]
        if cfg_name not in configs:  # configs are shared; one may be deleted while in use
            configs[cfg_name] = scan.describe(
                sm.describe_endpoint_config, EndpointConfigName=cfg_name
            )
        attributes = _endpoint_attributes(ep, configs[cfg_name] or {}, scaling)
        attributes["tags"] = _sagemaker_tags(scan, ep["EndpointArn"])
        rows.append(scan.row("sagemaker_endpoint", _sagemaker_id(ep["EndpointArn"]), attributes))
    return rows


def _autoscaling(scan: Scan) -> dict[str, tuple[int, int]] | None:
    """(min, max) by Application Auto Scaling resource id, for variants with a policy.

    None when it cannot be read: the endpoints are still worth storing (with a warning).
    """
    aas = scan.client("application-autoscaling")
    try:
        policies = {
            (p["ResourceId"], p["ScalableDimension"])
            for p in scan.items(
                aas.describe_scaling_policies, "ScalingPolicies", ServiceNamespace="sagemaker"
            )
        }
        targets = list(
            scan.items(
                aas.describe_scalable_targets, "ScalableTargets", ServiceNamespace="sagemaker"
            )
        )
    except (ClientError, BotoCoreError) as exc:
        scan.warn("sagemaker_endpoint autoscaling", exc)
        return None
    return {
        t["ResourceId"]: (t["MinCapacity"], t["MaxCapacity"])
        for t in targets
        if (t["ResourceId"], t["ScalableDimension"]) in policies
        and t["ScalableDimension"] == SCALABLE_DIMENSION
    }


def _endpoint_attributes(
    ep: dict[str, Any], config: dict[str, Any], scaling: dict[str, tuple[int, int]] | None
) -> dict[str, Any]:
    variants = []
    for kind in VARIANT_KINDS:
        planned = {v["VariantName"]: v for v in config.get(kind, [])}
        live = {v["VariantName"]: v for v in ep.get(kind, [])}
        for name in dict.fromkeys([*planned, *live]):
            bounds = (scaling or {}).get(f"endpoint/{ep['EndpointName']}/variant/{name}")
            variants.append(_variant(name, planned.get(name, {}), live.get(name, {}), bounds, kind))
    attributes: dict[str, Any] = {
        "endpoint_name": ep["EndpointName"],
        "endpoint_config_name": ep["EndpointConfigName"],
        "status": ep.get("EndpointStatus"),
        "creation_time": _iso(ep.get("CreationTime")),
        **_whole(variants),
        "variants": variants,
    }
    if scaling is None:
        attributes["autoscaling_unknown"] = True
    return attributes


def _whole(variants: list[dict[str, Any]]) -> dict[str, Any]:
    """The endpoint as a whole: counts totalled over variants, other fields their common value."""
    common = ("variant_name", "instance_type", "serverless", "model")
    totals = ("instance_count", "autoscaling_min", "autoscaling_max")
    return {
        **{k: _common([v[k] for v in variants]) for k in common},
        **{k: _total([v[k] for v in variants]) for k in totals},
    }


def _variant(
    name: str,
    planned: dict[str, Any],
    live: dict[str, Any],
    bounds: tuple[int, int] | None,
    kind: str,
) -> dict[str, Any]:
    """One variant: type and model from the config, the instance count actually running."""
    serverless = "ServerlessConfig" in planned or "CurrentServerlessConfig" in live
    count = live.get("CurrentInstanceCount", live.get("DesiredInstanceCount"))
    if count is None:  # not deployed yet (Creating): what the config asks for
        count = planned.get("InitialInstanceCount")
    return {
        "variant_name": name,
        "shadow": kind != "ProductionVariants",
        "instance_type": planned.get("InstanceType"),
        "instance_count": None if serverless else count,
        "autoscaling_min": bounds[0] if bounds else None,
        "autoscaling_max": bounds[1] if bounds else None,
        "serverless": serverless,
        "model": planned.get("ModelName"),
    }


def _sagemaker_tags(scan: Scan, arn: str) -> dict[str, str]:
    return _tags(scan.items(scan.client("sagemaker").list_tags, "Tags", ResourceArn=arn))


# -- SageMaker training jobs and notebooks -----------------------------------------------------
def _training_jobs(scan: Scan) -> list[dict[str, Any]]:
    sm = scan.client("sagemaker")
    key = "TrainingJobSummaries"
    recent = scan.items(sm.list_training_jobs, key, CreationTimeAfter=scan.training_since)
    running = scan.items(sm.list_training_jobs, key, StatusEquals="InProgress")
    rows = []
    for name in dict.fromkeys(j["TrainingJobName"] for j in chain(recent, running)):
        job = scan.describe(sm.describe_training_job, TrainingJobName=name)
        if job is not None:
            attributes = _training_attributes(job)
            attributes["tags"] = _sagemaker_tags(scan, job["TrainingJobArn"])
            rows.append(scan.row("training_job", _sagemaker_id(job["TrainingJobArn"]), attributes))
    return rows


def _training_attributes(job: dict[str, Any]) -> dict[str, Any]:
    resources = job.get("ResourceConfig", {})
    groups = resources.get("InstanceGroups") or [resources]  # heterogeneous clusters
    return {
        "job_name": job["TrainingJobName"],
        "instance_type": _common([g.get("InstanceType") for g in groups]),
        "instance_count": _total([g.get("InstanceCount") for g in groups]),
        "volume_size_gb": resources.get("VolumeSizeInGB"),
        "managed_spot": bool(job.get("EnableManagedSpotTraining", False)),
        "training_seconds": job.get("TrainingTimeInSeconds"),
        "billable_seconds": job.get("BillableTimeInSeconds"),
        "status": job.get("TrainingJobStatus"),
        "creation_time": _iso(job.get("CreationTime")),
        "start_time": _iso(job.get("TrainingStartTime")),
        "end_time": _iso(job.get("TrainingEndTime")),
        "hyperparameters": _scrub(job.get("HyperParameters", {})),
    }


def _notebooks(scan: Scan) -> list[dict[str, Any]]:
    sm = scan.client("sagemaker")
    rows = []
    for summary in scan.items(sm.list_notebook_instances, "NotebookInstances"):
        name = summary["NotebookInstanceName"]
        nb = scan.describe(sm.describe_notebook_instance, NotebookInstanceName=name)
        if nb is None:
            continue
        attributes = {
            "notebook_name": name,
            "instance_type": nb.get("InstanceType"),
            "status": nb.get("NotebookInstanceStatus"),
            "volume_size_gb": nb.get("VolumeSizeInGB"),
            "lifecycle_config": nb.get("NotebookInstanceLifecycleConfigName"),
            "creation_time": _iso(nb.get("CreationTime")),
            "tags": _sagemaker_tags(scan, nb["NotebookInstanceArn"]),
        }
        rows.append(
            scan.row("notebook_instance", _sagemaker_id(nb["NotebookInstanceArn"]), attributes)
        )
    return rows


# -- Bedrock and OpenSearch Serverless ---------------------------------------------------------
def _provisioned_throughputs(scan: Scan) -> list[dict[str, Any]]:
    bedrock = scan.client("bedrock")
    rows = []
    for pt in scan.items(
        bedrock.list_provisioned_model_throughputs, "provisionedModelSummaries", "nextToken"
    ):
        arn = pt["provisionedModelArn"]
        tags = call(scan.ctx, bedrock.list_tags_for_resource, resourceARN=arn).get("tags")
        attributes = {
            "provisioned_model_name": pt.get("provisionedModelName"),
            "model_arn": pt.get("modelArn"),
            "foundation_model_arn": pt.get("foundationModelArn"),
            "model_units": pt.get("modelUnits"),
            "desired_model_units": pt.get("desiredModelUnits"),
            "status": pt.get("status"),
            "commitment_duration": pt.get("commitmentDuration"),
            "commitment_expiration_time": _iso(pt.get("commitmentExpirationTime")),
            "creation_time": _iso(pt.get("creationTime")),
            "tags": _tags(tags),
        }
        rows.append(scan.row("bedrock_provisioned_throughput", arn, attributes))
    return rows


def _collections(scan: Scan) -> list[dict[str, Any]]:
    aoss = scan.client("opensearchserverless")
    ids = [c["id"] for c in scan.items(aoss.list_collections, "collectionSummaries", "nextToken")]
    rows = []
    for chunk in _chunks(ids, AOSS_BATCH):
        for c in call(scan.ctx, aoss.batch_get_collection, ids=chunk).get("collectionDetails", []):
            tags = call(scan.ctx, aoss.list_tags_for_resource, resourceArn=c["arn"]).get("tags")
            attributes = {
                "collection_name": c.get("name"),
                "collection_id": c["id"],
                "type": c.get("type"),
                "standby_replicas": c.get("standbyReplicas"),
                "status": c.get("status"),
                "creation_time": _iso(c.get("createdDate")),
                "tags": _tags(tags),
            }
            rows.append(scan.row("opensearch_collection", c["arn"], attributes))
    return rows


# -- EC2 GPU machines --------------------------------------------------------------------------
def _gpu_instances(scan: Scan) -> list[dict[str, Any]]:
    ec2 = scan.client("ec2")
    accelerated = _accelerated_types(scan)
    rows = []
    for chunk in _chunks(sorted(accelerated), EC2_FILTER_VALUES):
        filters = [
            {"Name": "instance-type", "Values": chunk},
            {"Name": "instance-state-name", "Values": LIVE_STATES},
        ]
        for reservation in scan.items(
            ec2.describe_instances, "Reservations", Filters=filters, MaxResults=1000
        ):
            for inst in reservation.get("Instances", []):
                attributes = {
                    "instance_type": inst["InstanceType"],
                    **accelerated[inst["InstanceType"]],
                    "state": inst.get("State", {}).get("Name"),
                    "purchase_option": inst.get("InstanceLifecycle", "on-demand"),
                    "launch_time": _iso(inst.get("LaunchTime")),
                    "availability_zone": inst.get("Placement", {}).get("AvailabilityZone"),
                    "account_id": reservation.get("OwnerId"),
                    "tags": _tags(inst.get("Tags")),
                }
                rows.append(scan.row("gpu_instance", inst["InstanceId"], attributes))
    return rows


def _accelerated_types(scan: Scan) -> dict[str, dict[str, Any]]:
    """Instance types of the configured families that carry accelerators, and what they carry."""
    ec2 = scan.client("ec2")
    patterns = [f"{family}*" for family in scan.config.gpu_instance_families]
    found = {}
    for t in scan.items(
        ec2.describe_instance_types,
        "InstanceTypes",
        Filters=[{"Name": "instance-type", "Values": patterns}],
    ):
        info = _accelerators(t)
        if info is not None:
            found[t["InstanceType"]] = info
    return found


def _accelerators(instance_type: dict[str, Any]) -> dict[str, Any] | None:
    for kind, info, key in ACCELERATOR_INFO:
        devices = instance_type.get(info, {}).get(key, [])
        if devices:
            count = sum(d.get("Count", 0) for d in devices)
            model = _common(
                [" ".join(filter(None, (d.get("Manufacturer"), d.get("Name")))) for d in devices]
            )
            gpu = kind == "gpu"
            return {
                "gpu_count": count if gpu else None,
                "gpu_model": model if gpu else None,
                "accelerator_kind": kind,
                "accelerator_count": count,
                "accelerator_model": model,
            }
    return None


# -- the collector -----------------------------------------------------------------------------
Scanner = Callable[[Scan], list[dict[str, Any]]]
SCANNERS: dict[str, tuple[str, Scanner]] = {
    "sagemaker_endpoint": ("sagemaker", _endpoints),
    "training_job": ("sagemaker", _training_jobs),
    "notebook_instance": ("sagemaker", _notebooks),
    "bedrock_provisioned_throughput": ("bedrock", _provisioned_throughputs),
    "opensearch_collection": ("opensearchserverless", _collections),
    "gpu_instance": ("ec2", _gpu_instances),
}


def _offered(scan: Scan, service: str) -> bool:
    """False only when botocore's endpoint data lists the service's regions without this one.

    Calling anyway would mean DNS failures retried with backoff, for minutes, to learn nothing.
    A region botocore does not know yet is tried: the call itself will tell.
    """
    session = scan.account.session
    try:
        partition = session.get_partition_for_region(scan.region)
    except UnknownRegionError:
        return True
    regions = session.get_available_regions(service, partition_name=partition)
    return not regions or scan.region in regions


def _scan(scan: Scan, kind: str) -> list[dict[str, Any]]:
    """One resource type in one account and region (none where the region lacks the service)."""
    service, scanner = SCANNERS[kind]
    if not _offered(scan, service):
        scan.warnings.append(f"{kind}: {service} is not offered in {scan.region}; skipped")
        return []
    return scanner(scan)


class AwsInventoryCollector(Collector[AwsInventoryConfig]):
    meta = CollectorMeta(
        summary="AWS inventory: endpoints, training jobs, notebooks, collections, GPU instances",
        job="collect_metrics",
    )

    def collect(
        self, engine: Engine, settings: CoreSettings, since: Day = None, until: Day = None
    ) -> CollectResult:
        ctx = AwsContext(self.config)
        now = datetime.now(UTC)
        training_since = (
            datetime.combine(since, time.min, UTC)
            if since
            else now - timedelta(days=self.config.training_jobs_days)
        )
        observed_at = now.replace(tzinfo=None)
        rows: list[dict[str, Any]] = []
        warnings: list[str] = []
        failures: list[str] = []
        succeeded = 0
        for account in ctx.accounts():
            for region in self.config.all_regions:
                scan = Scan(
                    ctx, self.config, account, region, observed_at, training_since, warnings
                )
                for kind in self.config.resource_types:
                    try:
                        found = _scan(scan, kind)
                    except (ClientError, BotoCoreError) as exc:
                        failures.append(scan.warn(kind, exc))
                        continue
                    rows.extend(found)
                    succeeded += 1
        if failures and not succeeded:  # nothing learned: a failed run, not an empty inventory
            raise RuntimeError(f"no resource type could be read; first error: {failures[0]}")
        stats = load(engine, settings, self.config.name, [("resources", table("resources", rows))])
        return CollectResult(
            rows=stats.rows["resources"],
            api_requests=ctx.total_requests,
            warnings=tuple(warnings),
            details={
                "requests": dict(ctx.requests),
                "resources": dict(Counter(r["resource_type"] for r in rows)),
            },
        )
