"""The cast of the demo: which resources exist, what they cost per hour and how busy they are.

Billing rows, metrics and inventory are all drawn from the objects here, so an endpoint's hourly
instance count in the CUR, its invocations in the metrics file and its instance count in the
inventory always agree.  Prices are us-east-1 / us-central1 on-demand list prices of late 2025,
rounded; they are plausible, not authoritative.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from agent.demo._common import Month, business, digits_id, growth, office_hours, rng

# --- AWS -------------------------------------------------------------------------------------
AWS_PAYER = "111122223333"
AWS_PROD = "111122223333"
AWS_DEV = "444455556666"
AWS_ACCOUNT_NAMES = {AWS_PROD: "ml-prod (synthetic)", AWS_DEV: "ml-dev (synthetic)"}
AWS_REGION = "us-east-1"

# --- GCP -------------------------------------------------------------------------------------
GCP_BILLING_ACCOUNT = "01D3M0-5YN7H3-71C000"
GCP_REGION = "us-central1"


@dataclass(frozen=True)
class GcpProject:
    id: str
    number: str
    name: str


GCP_PROD = GcpProject("synthetic-ml-prod", "123456789012", "ML Prod (synthetic)")
GCP_DEV = GcpProject("synthetic-ml-dev", "210987654321", "ML Dev (synthetic)")


@dataclass(frozen=True)
class EndpointHour:
    ts: datetime
    instances: float
    invocations: int
    gpu_utilization: float


# --- SageMaker real-time endpoints --------------------------------------------------------------
@dataclass(frozen=True)
class SageMakerEndpoint:
    name: str
    account: str
    instance_type: str
    instance_count: int
    hourly_rate: float  # SageMaker hosting, per instance-hour
    autoscaling: tuple[int, int] | None
    env: str
    team: str
    profile: str  # "autoscaled" | "overprovisioned" | "dev"
    peak_invocations: int
    model: str

    @property
    def arn(self) -> str:
        return f"arn:aws:sagemaker:{AWS_REGION}:{self.account}:endpoint/{self.name}"

    @property
    def tags(self) -> dict[str, str]:
        return {"user_workload": "inference", "user_env": self.env, "user_team": self.team}


SAGEMAKER_ENDPOINTS = (
    SageMakerEndpoint(
        "chat-prod",
        AWS_PROD,
        "ml.g5.12xlarge",
        2,
        7.09,
        (2, 4),
        "prod",
        "ml-platform",
        "autoscaled",
        9000,
        "llama-3.1-8b-instruct-ft",
    ),
    SageMakerEndpoint(
        "embed-prod",
        AWS_PROD,
        "ml.inf2.xlarge",
        3,
        0.99,
        None,
        "prod",
        "search",
        "overprovisioned",
        1800,
        "bge-large-en-v1.5",
    ),
    SageMakerEndpoint(
        "chat-dev",
        AWS_DEV,
        "ml.g5.2xlarge",
        1,
        1.515,
        None,
        "dev",
        "ml-platform",
        "dev",
        120,
        "llama-3.1-8b-instruct-ft",
    ),
)


def sagemaker_timeline(ep: SageMakerEndpoint, month: Month, seed: int) -> list[EndpointHour]:
    r = rng(seed, f"sagemaker-endpoint:{ep.name}")
    out = []
    for ts in month.hours:
        demand = business(ts) * growth(ts, month, 1.04) * r.uniform(0.88, 1.12)
        if ep.profile == "autoscaled":
            lo, hi = ep.autoscaling or (ep.instance_count, ep.instance_count)
            # Scale-out at the weekday peak; a partial hour when the scale-in lands mid-hour.
            instances: float = float(lo)
            if demand >= 0.95:
                instances = float(min(hi, lo + 1))
            elif demand >= 0.85:
                instances = lo + 0.5
            invocations = int(ep.peak_invocations * demand)
            load = invocations / (instances * ep.peak_invocations / 2.6)
            util = min(94.0, 12.0 + 70.0 * load + r.uniform(-4, 4))
        elif ep.profile == "overprovisioned":
            instances = float(ep.instance_count)
            invocations = int(ep.peak_invocations * demand)
            util = 2.5 + 9.0 * demand + r.uniform(-1.0, 1.5)
        else:  # dev: used in office hours only, idle (but running) nights and weekends
            instances = float(ep.instance_count)
            if office_hours(ts) and r.random() < 0.8:
                invocations = int(ep.peak_invocations * r.uniform(0.15, 1.0))
                util = r.uniform(6.0, 24.0)
            else:
                invocations = 0
                util = r.uniform(0.0, 0.6)
        out.append(EndpointHour(ts, instances, invocations, round(max(util, 0.0), 2)))
    return out


# --- Training jobs --------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainingJob:
    """A SageMaker or Vertex AI training job; ``billable_ratio`` < 1 for managed spot."""

    provider: str  # "aws" | "gcp"
    name: str
    instance_type: str
    instance_count: int
    start: datetime
    hours: float  # wall clock
    spot: bool
    billable_ratio: float
    accelerator: str | None = None
    accelerator_count: int = 0
    job_id: str = ""

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=round(self.hours * 3600))

    @property
    def training_seconds(self) -> int:
        return round(self.hours * 3600)

    @property
    def billable_seconds(self) -> int:
        return round(self.training_seconds * self.billable_ratio)

    @property
    def arn(self) -> str:
        return f"arn:aws:sagemaker:{AWS_REGION}:{AWS_PROD}:training-job/{self.name}"

    @property
    def global_name(self) -> str:
        return (
            f"//aiplatform.googleapis.com/projects/{GCP_PROD.number}/locations/{GCP_REGION}"
            f"/customJobs/{self.job_id}"
        )

    def hourly(self) -> list[tuple[datetime, float]]:
        """(hour start, wall-clock fraction of that hour the job ran)."""
        out = []
        t = self.start
        while t < self.end:
            hour = t.replace(minute=0, second=0, microsecond=0)
            nxt = min(hour + timedelta(hours=1), self.end)
            out.append((hour, (nxt - t).total_seconds() / 3600))
            t = nxt
        return out

    def daily(self) -> list[tuple[datetime, float]]:
        """(day start, wall-clock hours that day)."""
        days: dict[datetime, float] = {}
        for hour, frac in self.hourly():
            day = hour.replace(hour=0)
            days[day] = days.get(day, 0.0) + frac
        return sorted(days.items())


def sagemaker_training_jobs(month: Month, seed: int) -> list[TrainingJob]:
    r = rng(seed, "sagemaker-training")
    mm = month.label[2:].replace("-", "")  # "2610"
    d = month.day
    jobs = [
        TrainingJob(
            "aws", f"llama-ft-base-{mm}02", "ml.p4d.24xlarge", 1, d(2, 10, 20), 14.5, False, 1.0
        ),
        TrainingJob(
            "aws", f"llama-lora-r16-{mm}05", "ml.g5.12xlarge", 1, d(5, 14, 5), 9.2, False, 1.0
        ),
        TrainingJob(
            "aws", f"llama-ft-full-v2-{mm}08", "ml.p4d.24xlarge", 2, d(8, 9, 40), 22.0, False, 1.0
        ),
        TrainingJob(
            "aws", f"distill-embed-v1-{mm}10", "ml.g5.12xlarge", 2, d(10, 18, 0), 12.0, True, 0.36
        ),
        # Week 3: the hyper-parameter sweep and the first preference-tuning runs.
        *[
            TrainingJob(
                "aws",
                f"hparam-sweep-{mm}15-{x}",
                "ml.p4d.24xlarge",
                1,
                d(15, 8 + 2 * i, 15 * i),
                26.0 + 2.0 * i,
                False,
                1.0,
            )
            for i, x in enumerate("abcd")
        ],
        TrainingJob(
            "aws", f"rlhf-dpo-run1-{mm}18", "ml.p4d.24xlarge", 2, d(18, 12, 30), 36.0, False, 1.0
        ),
        TrainingJob(
            "aws", f"rlhf-dpo-run2-spot-{mm}20", "ml.p4d.24xlarge", 2, d(20, 9, 0), 30.0, True, 0.32
        ),
        TrainingJob(
            "aws", f"llama-ft-full-v3-{mm}26", "ml.p4d.24xlarge", 2, d(26, 10, 0), 20.0, False, 1.0
        ),
        TrainingJob(
            "aws", f"distill-embed-v2-{mm}27", "ml.g5.12xlarge", 2, d(27, 19, 0), 10.0, True, 0.34
        ),
    ]
    # Nightly evaluation on weekdays: small, on-demand, easy to move to spot.
    for day in range(1, month.days + 1):
        start = d(day, 6, r.randrange(0, 20))
        if start.weekday() < 5:
            jobs.append(
                TrainingJob(
                    "aws",
                    f"eval-nightly-{mm}{day:02d}",
                    "ml.g5.2xlarge",
                    1,
                    start,
                    round(r.uniform(1.4, 2.6), 2),
                    False,
                    1.0,
                )
            )
    return sorted(jobs, key=lambda j: (j.start, j.name))


SAGEMAKER_TRAIN_RATES = {"ml.p4d.24xlarge": 37.688, "ml.g5.12xlarge": 7.09, "ml.g5.2xlarge": 1.515}


def vertex_training_jobs(month: Month, seed: int) -> list[TrainingJob]:
    del seed  # the schedule is fixed; only ids derive from the month
    d = month.day
    specs = [
        ("gemma-ft-a2-8g-03", "a2-highgpu-8g", "NVIDIA_TESLA_A100", 8, d(3, 15, 0), 6.0, False),
        ("classifier-train-06", "n1-standard-8", "NVIDIA_TESLA_T4", 1, d(6, 2, 0), 3.1, False),
        ("classifier-train-13", "n1-standard-8", "NVIDIA_TESLA_T4", 1, d(13, 2, 0), 2.9, False),
        ("gemma-ft-a2-8g-16", "a2-highgpu-8g", "NVIDIA_TESLA_A100", 8, d(16, 9, 30), 10.0, False),
        ("gemma-sweep-spot-16a", "a2-highgpu-1g", "NVIDIA_TESLA_A100", 1, d(16, 12, 0), 12.0, True),
        ("gemma-sweep-spot-17b", "a2-highgpu-1g", "NVIDIA_TESLA_A100", 1, d(17, 12, 0), 11.5, True),
        ("gemma-sweep-spot-18c", "a2-highgpu-1g", "NVIDIA_TESLA_A100", 1, d(18, 12, 0), 12.5, True),
        ("classifier-train-20", "n1-standard-8", "NVIDIA_TESLA_T4", 1, d(20, 2, 0), 3.3, False),
        ("classifier-train-27", "n1-standard-8", "NVIDIA_TESLA_T4", 1, d(27, 2, 0), 3.0, False),
    ]
    return [
        TrainingJob(
            "gcp",
            name,
            machine,
            1,
            start,
            hours,
            spot,
            1.0,
            accel,
            count,
            digits_id("vertex-job", month.label, name),
        )
        for name, machine, accel, count, start, hours, spot in specs
    ]


# --- Vertex AI endpoints ------------------------------------------------------------------------
@dataclass(frozen=True)
class VertexEndpoint:
    display_name: str
    project: GcpProject
    machine_type: str
    accelerator_type: str
    accelerator_count: int
    replicas: int
    max_replicas: int
    vcpus: int
    ram_gib: float
    gpu_rate: float  # per GPU-hour (online prediction)
    core_rate: float  # per vCPU-hour
    ram_rate: float  # per GiB-hour
    family: str  # "A2" | "N1"
    gpu_label: str  # as SKU descriptions spell it
    profile: str
    peak_invocations: int
    month_label: str

    @property
    def endpoint_id(self) -> str:
        return digits_id("vertex-endpoint", self.month_label, self.display_name)

    @property
    def global_name(self) -> str:
        return (
            f"//aiplatform.googleapis.com/projects/{self.project.number}/locations/"
            f"{GCP_REGION}/endpoints/{self.endpoint_id}"
        )

    @property
    def labels(self) -> dict[str, str]:
        return {
            "workload": "inference",
            "env": "prod",
            "team": "ml-platform",
            "app": self.display_name,
        }


def vertex_endpoints(month: Month) -> tuple[VertexEndpoint, ...]:
    return (
        VertexEndpoint(
            "gemma-chat",
            GCP_PROD,
            "a2-highgpu-1g",
            "NVIDIA_TESLA_A100",
            1,
            1,
            2,
            12,
            85.0,
            2.9331,
            0.0412,
            0.0055,
            "A2",
            "NVIDIA Tesla A100",
            "busy",
            3200,
            month.label,
        ),
        VertexEndpoint(
            "doc-classifier",
            GCP_PROD,
            "n1-standard-4",
            "NVIDIA_TESLA_T4",
            1,
            2,
            2,
            4,
            15.0,
            0.4025,
            0.0437,
            0.0058,
            "N1",
            "NVIDIA Tesla T4",
            "overprovisioned",
            600,
            month.label,
        ),
    )


def vertex_timeline(ep: VertexEndpoint, month: Month, seed: int) -> list[EndpointHour]:
    r = rng(seed, f"vertex-endpoint:{ep.display_name}")
    out = []
    for ts in month.hours:
        demand = business(ts) * growth(ts, month, 1.05) * r.uniform(0.88, 1.12)
        invocations = int(ep.peak_invocations * demand)
        if ep.profile == "busy":
            util = min(92.0, 14.0 + 55.0 * demand + r.uniform(-4, 4))
        else:
            util = 1.5 + 6.0 * demand + r.uniform(-0.8, 1.2)
        out.append(EndpointHour(ts, float(ep.replicas), invocations, round(max(util, 0.0), 2)))
    return out


# --- Stand-alone GPU machines ---------------------------------------------------------------------
@dataclass(frozen=True)
class GpuMachine:
    resource_id: str
    provider: str
    instance_type: str
    gpu_count: int
    gpu_model: str
    region: str
    tags: tuple[tuple[str, str], ...]


AWS_GPU_INSTANCE = GpuMachine(
    "i-0a7c3e5f9b1d24680",
    "aws",
    "g5.12xlarge",
    4,
    "NVIDIA A10G",
    AWS_REGION,
    (
        ("user_workload", "inference"),
        ("user_env", "prod"),
        ("user_team", "ml-platform"),
        ("user_app", "vllm-gateway"),
    ),
)
GCP_GPU_VM_ID = digits_id("gce-instance", "research-gpu-vm-1")
GCP_GPU_VM = GpuMachine(
    f"//compute.googleapis.com/projects/{GCP_DEV.id}/zones/{GCP_REGION}-a/instances/"
    f"{GCP_GPU_VM_ID}",
    "gcp",
    "n1-standard-8",
    1,
    "NVIDIA Tesla T4",
    GCP_REGION,
    (("env", "dev"), ("team", "research")),
)


def gpu_machine_timeline(machine: GpuMachine, month: Month, seed: int) -> list[EndpointHour]:
    """Hourly GPU utilisation of a machine that is on all month and mostly idle."""
    r = rng(seed, f"gpu-machine:{machine.resource_id}")
    out = []
    for ts in month.hours:
        busy = office_hours(ts) and r.random() < 0.25
        util = r.uniform(25, 70) if busy else r.uniform(0.0, 4.0)
        out.append(EndpointHour(ts, 1.0, 0, round(util, 2)))
    return out


# --- Vertex AI Vector Search ---------------------------------------------------------------------
@dataclass(frozen=True)
class IndexEndpoint:
    display_name: str
    global_name: str
    machine_type: str
    replicas: int
    node_rate: float


def vector_index_endpoint(month: Month) -> IndexEndpoint:
    endpoint_id = digits_id("index-endpoint", month.label)
    return IndexEndpoint(
        "rag-index-endpoint",
        f"//aiplatform.googleapis.com/projects/{GCP_PROD.number}/locations/{GCP_REGION}"
        f"/indexEndpoints/{endpoint_id}",
        "e2-standard-16",
        2,
        0.75,
    )
