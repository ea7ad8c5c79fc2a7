"""A synthetic GCP Cloud Billing export to BigQuery, as newline-delimited JSON, one row per day.

The fields are those of the *detailed usage cost* table (``gcp_billing_export_resource_v1_*``):
the standard usage cost schema (``billing_account_id``, ``service{id,description}``,
``sku{id,description}``, ``usage_start_time``/``usage_end_time``, ``project{...}``, ``labels``,
``system_labels``, ``location{...}``, ``export_time``, ``cost``, ``currency``,
``currency_conversion_rate``, ``usage{amount,unit,amount_in_pricing_units,pricing_unit}``,
``credits[{name,amount,full_name,id,type}]``, ``invoice{month}``, ``cost_type``,
``adjustment_info``, ``cost_at_list``, ...) plus ``resource{name,global_name}`` and ``price``.
Timestamps are written as a ``bq extract`` to JSON writes them (``2026-10-01 00:00:00 UTC``);
every key is present on every row (null or ``[]`` when empty) so a reader sees one shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from agent.demo._common import Ledger, Month, business, growth, hex_id, rng
from agent.demo._scenario import (
    GCP_BILLING_ACCOUNT,
    GCP_DEV,
    GCP_GPU_VM,
    GCP_PROD,
    GCP_REGION,
    GcpProject,
    vector_index_endpoint,
    vertex_endpoints,
    vertex_timeline,
    vertex_training_jobs,
)

PROVIDER = "Google Cloud"
SERVICES = {
    "Vertex AI": "C7E2-9256-1C43",
    "Compute Engine": "6F81-5844-456A",
    "Cloud Storage": "95FF-2EF5-5EA1",
    "BigQuery": "24E6-581D-38E5",
}
ORG_NUMBER = "987654321098"
GIB = 1024**3
TIB = 1024**4

# Vertex AI custom training, per unit-hour (on-demand; Spot is ~70 % less).
_TRAIN_GPU = {
    "NVIDIA_TESLA_A100": ("NVIDIA Tesla A100", 2.9331),
    "NVIDIA_TESLA_T4": ("NVIDIA Tesla T4", 0.4025),
}
_MACHINES = {  # vCPUs, GiB, family
    "a2-highgpu-8g": (96, 680.0, "A2"),
    "a2-highgpu-1g": (12, 85.0, "A2"),
    "n1-standard-8": (8, 30.0, "N1"),
}
_CORE_RATE = {"A2": 0.0412, "N1": 0.0437}
_RAM_RATE = {"A2": 0.0055, "N1": 0.0058}
_SPOT = 0.3


@dataclass(frozen=True)
class Unit:
    """How a SKU is metered: usage unit, pricing unit and how many usage units make one."""

    usage_unit: str
    pricing_unit: str
    per_pricing_unit: float


HOUR = Unit("seconds", "hour", 3600.0)
GIB_HOUR = Unit("byte-seconds", "gibibyte hour", 3600.0 * GIB)
COUNT = Unit("count", "count", 1.0)
TEBIBYTE = Unit("bytes", "tebibyte", float(TIB))
GIBIBYTE = Unit("bytes", "gibibyte", float(GIB))
REQUESTS = Unit("requests", "requests", 1.0)


def _ts(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%d %H:%M:%S UTC")


def _sku_id(service: str, sku: str) -> str:
    h = hex_id("gcp-sku", service, sku, length=12).upper()
    return f"{h[:4]}-{h[4:8]}-{h[8:]}"


def _pairs(labels: dict[str, str] | None) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in sorted((labels or {}).items())]


class GcpBuilder:
    def __init__(self, month: Month, seed: int, ledger: Ledger) -> None:
        self.month = month
        self.seed = seed
        self.ledger = ledger
        self.rows: list[dict[str, Any]] = []
        self.r = rng(seed, "gcp-export-time")
        self.gib_month = Unit("byte-seconds", "gibibyte month", float(GIB) * 3600 * 24 * month.days)

    def add(
        self,
        *,
        day: int,
        service: str,
        sku: str,
        pricing_amount: float,
        rate: float,
        unit: Unit,
        workload: str,
        project: GcpProject = GCP_PROD,
        labels: dict[str, str] | None = None,
        resource: tuple[str, str] | None = None,
        location: tuple[str, str | None, str | None] = (GCP_REGION, GCP_REGION, None),
        credits: list[tuple[str, str, float]] | None = None,
    ) -> float:
        """One daily row; returns its cost.  ``credits``: (name, type, fraction of cost)."""
        if pricing_amount <= 0:
            return 0.0
        start = self.month.day(day)
        end = start + timedelta(days=1)
        per = unit.per_pricing_unit
        cost = round(pricing_amount * rate, 6)
        credit_list: list[dict[str, Any]] = [
            {
                "name": name,
                "amount": round(-cost * fraction, 6),
                "full_name": None,
                "id": name.replace(" ", ""),
                "type": kind,
            }
            for name, kind, fraction in (credits or [])
            if round(cost * fraction, 6) > 0
        ]
        export = end + timedelta(
            hours=2,
            minutes=self.r.randrange(0, 180),
            seconds=self.r.randrange(0, 60),
            microseconds=self.r.randrange(0, 1_000_000),
        )
        loc, region, zone = location
        row: dict[str, Any] = {
            "billing_account_id": GCP_BILLING_ACCOUNT,
            "service": {"id": SERVICES[service], "description": service},
            "sku": {"id": _sku_id(service, sku), "description": sku},
            "usage_start_time": _ts(start),
            "usage_end_time": _ts(end),
            "project": {
                "id": project.id,
                "number": project.number,
                "name": project.name,
                "labels": _pairs({"env": "prod" if project is GCP_PROD else "dev"}),
                "ancestry_numbers": f"/{ORG_NUMBER}/{project.number}/",
            },
            "labels": _pairs(labels),
            "system_labels": [],
            "location": {"location": loc, "country": "US", "region": region, "zone": zone},
            "resource": None
            if resource is None
            else {"name": resource[0], "global_name": resource[1]},
            "tags": [],
            "price": {
                "effective_price": rate,
                "tier_start_amount": 0.0,
                "unit": unit.pricing_unit,
                "pricing_unit_quantity": 1.0,
            },
            "transaction_type": "GOOGLE",
            "seller_name": "Google",
            "export_time": export.strftime("%Y-%m-%d %H:%M:%S.%f UTC"),
            "cost": cost,
            "currency": "USD",
            "currency_conversion_rate": 1.0,
            "usage": {
                "amount": round(pricing_amount * per, 3),
                "unit": unit.usage_unit,
                "amount_in_pricing_units": round(pricing_amount, 6),
                "pricing_unit": unit.pricing_unit,
            },
            "credits": credit_list,
            "invoice": {"month": self.month.compact, "publisher_type": "GOOGLE"},
            "cost_type": "regular",
            "adjustment_info": None,
            "cost_at_list": cost,
        }
        self.rows.append(row)
        credit_total = sum(float(c["amount"]) for c in credit_list)
        self.ledger.credits[PROVIDER] += credit_total
        self.ledger.add(PROVIDER, workload, cost + credit_total, cost + credit_total, start)
        return cost


def build(month: Month, seed: int, ledger: Ledger) -> list[dict[str, Any]]:
    b = GcpBuilder(month, seed, ledger)
    _vertex_endpoints(b, month, seed)
    _gemini(b, month, seed)
    _vector_search(b, month, seed)
    _vertex_training(b, month, seed)
    _bigquery(b, month, seed)
    _storage(b, month, seed)
    _compute(b, month)
    b.rows.sort(
        key=lambda r: (
            r["usage_start_time"],
            r["service"]["description"],
            r["sku"]["description"],
            (r["resource"] or {}).get("name") or "",
        )
    )
    ledger.rows["gcp-billing"] = len(b.rows)
    return b.rows


def _vertex_endpoints(b: GcpBuilder, month: Month, seed: int) -> None:
    for ep in vertex_endpoints(month):
        hours_by_day: dict[int, float] = {}
        for h in vertex_timeline(ep, month, seed):
            day = h.ts.day
            hours_by_day[day] = hours_by_day.get(day, 0.0) + h.instances
        resource = (ep.display_name, ep.global_name)
        for day, node_hours in sorted(hours_by_day.items()):
            for sku, amount, rate, unit in (
                (
                    f"Online/Batch Prediction: {ep.gpu_label} GPU running in Americas",
                    node_hours * ep.accelerator_count,
                    ep.gpu_rate,
                    HOUR,
                ),
                (
                    f"Online/Batch Prediction: {ep.family} Instance Core running in Americas",
                    node_hours * ep.vcpus,
                    ep.core_rate,
                    HOUR,
                ),
                (
                    f"Online/Batch Prediction: {ep.family} Instance Ram running in Americas",
                    node_hours * ep.ram_gib,
                    ep.ram_rate,
                    GIB_HOUR,
                ),
            ):
                b.add(
                    day=day,
                    service="Vertex AI",
                    sku=sku,
                    pricing_amount=amount,
                    rate=rate,
                    unit=unit,
                    workload="inference",
                    labels=ep.labels,
                    resource=resource,
                )


# (SKU, USD per pricing unit, unit, peak units per hour, weekly growth, night batch per hour)
_GEMINI = (
    ("Gemini 2.5 Flash Text Input Tokens", 0.30e-6, COUNT, 1.2e6, 1.06, 9.0e6),
    ("Gemini 2.5 Flash Text Output Tokens", 2.50e-6, COUNT, 0.12e6, 1.06, 0.5e6),
    ("Gemini 2.5 Pro Text Input Tokens", 1.25e-6, COUNT, 0.45e6, 1.10, 0.0),
    ("Gemini 2.5 Pro Text Output Tokens", 10.0e-6, COUNT, 0.045e6, 1.10, 0.0),
    ("Text Embedding 005 Input Characters", 0.025e-6, COUNT, 9.0e6, 1.03, 0.0),
)


def _gemini(b: GcpBuilder, month: Month, seed: int) -> None:
    r = rng(seed, "gemini")
    for sku, rate, unit, peak, weekly, night in _GEMINI:
        per_day: dict[int, float] = {}
        for ts in month.hours:
            amount = peak * business(ts) * growth(ts, month, weekly) * r.uniform(0.85, 1.15)
            if night and 1 <= (ts.hour - 4) % 24 < 4:  # the summarizer's nightly run
                amount += night * growth(ts, month, weekly) * r.uniform(0.9, 1.1)
            per_day[ts.day] = per_day.get(ts.day, 0.0) + amount
        for day, amount in sorted(per_day.items()):
            b.add(
                day=day,
                service="Vertex AI",
                sku=sku,
                pricing_amount=round(amount),
                rate=rate,
                unit=unit,
                workload="inference",
                labels={"app": "summarizer" if "Embedding" not in sku else "doc-search"},
            )


def _vector_search(b: GcpBuilder, month: Month, seed: int) -> None:
    r = rng(seed, "vector-search")
    ix = vector_index_endpoint(month)
    resource = (ix.display_name, ix.global_name)
    labels = {"env": "prod", "team": "search"}
    for day in range(1, month.days + 1):
        b.add(
            day=day,
            service="Vertex AI",
            sku=f"Vector Search: Index Serving {ix.machine_type} running in Americas",
            pricing_amount=ix.replicas * 24.0,
            rate=ix.node_rate,
            unit=HOUR,
            workload="vector_storage",
            labels=labels,
            resource=resource,
        )
        b.add(
            day=day,
            service="Vertex AI",
            sku="Vector Search: Streaming Update running in Americas",
            pricing_amount=round(r.uniform(0.8, 1.6), 4),
            rate=0.45,
            unit=GIBIBYTE,
            workload="vector_storage",
            labels=labels,
            resource=resource,
        )
        if month.day(day).weekday() == 6:
            b.add(
                day=day,
                service="Vertex AI",
                sku="Vector Search: Index Building running in Americas",
                pricing_amount=round(r.uniform(13, 16), 3),
                rate=3.0,
                unit=GIBIBYTE,
                workload="vector_storage",
                labels=labels,
                resource=resource,
            )


def _vertex_training(b: GcpBuilder, month: Month, seed: int) -> None:
    for job in vertex_training_jobs(month, seed):
        vcpus, ram, family = _MACHINES[job.instance_type]
        gpu_label, gpu_rate = _TRAIN_GPU[job.accelerator or ""]
        factor = _SPOT if job.spot else 1.0
        spot = "Spot Preemptible " if job.spot else ""
        labels = {"workload": "training", "team": "research", "job": job.name}
        resource = (job.name, job.global_name)
        for day_start, hours in job.daily():
            for sku, amount, rate, unit in (
                (
                    f"Vertex AI Training: {spot}{gpu_label} GPU running in Americas",
                    hours * job.accelerator_count,
                    gpu_rate * factor,
                    HOUR,
                ),
                (
                    f"Vertex AI Training: {spot}{family} Instance Core running in Americas",
                    hours * vcpus,
                    _CORE_RATE[family] * factor,
                    HOUR,
                ),
                (
                    f"Vertex AI Training: {spot}{family} Instance Ram running in Americas",
                    hours * ram,
                    _RAM_RATE[family] * factor,
                    GIB_HOUR,
                ),
            ):
                b.add(
                    day=day_start.day,
                    service="Vertex AI",
                    sku=sku,
                    pricing_amount=round(amount, 6),
                    rate=round(rate, 6),
                    unit=unit,
                    workload="training",
                    labels=labels,
                    resource=resource,
                )


def _bigquery(b: GcpBuilder, month: Month, seed: int) -> None:
    r = rng(seed, "bigquery")
    free_left = 1.0  # TiB of on-demand analysis free each month
    for day in range(1, month.days + 1):
        weekday = month.day(day).weekday() < 5
        tib = round(r.uniform(0.8, 2.2) if weekday else r.uniform(0.2, 0.6), 4)
        free = min(free_left, tib)
        free_left -= free
        b.add(
            day=day,
            service="BigQuery",
            sku="Analysis",
            pricing_amount=tib,
            rate=6.25,
            unit=TEBIBYTE,
            workload="other",
            credits=[("Free tier", "FREE_TIER", free / tib)] if free > 0 else None,
        )
        b.add(
            day=day,
            service="BigQuery",
            sku="Active Logical Storage",
            pricing_amount=8192.0 * (1 + 0.003 * day) / month.days,
            rate=0.02,
            unit=b.gib_month,
            workload="other",
        )
        b.add(
            day=day,
            service="BigQuery",
            sku="Long Term Logical Storage",
            pricing_amount=20480.0 / month.days,
            rate=0.01,
            unit=b.gib_month,
            workload="other",
        )


def _storage(b: GcpBuilder, month: Month, seed: int) -> None:
    r = rng(seed, "gcs")
    buckets = (
        (
            "synthetic-gcp-training-corpus",
            40960.0,
            "training",
            {"workload": "training", "team": "research"},
        ),
        ("synthetic-gcp-bq-staging", 3072.0, "other", {"team": "data"}),
    )
    us = ("us", None, None)
    for name, gib, workload, labels in buckets:
        resource = (name, f"//storage.googleapis.com/projects/_/buckets/{name}")
        for day in range(1, month.days + 1):
            b.add(
                day=day,
                service="Cloud Storage",
                sku="Standard Storage US Multi-region",
                pricing_amount=gib * (1 + 0.002 * day) / month.days,
                rate=0.026,
                unit=b.gib_month,
                workload=workload,
                labels=labels,
                resource=resource,
                location=us,
            )
            class_a = r.uniform(150, 600) if workload == "training" else r.uniform(400, 900)
            class_b = r.uniform(2000, 9000) if workload == "training" else r.uniform(100, 400)
            b.add(
                day=day,
                service="Cloud Storage",
                sku="Multi-Region Standard Class A Operations",
                pricing_amount=round(class_a * 1000),
                rate=0.01e-3,
                unit=REQUESTS,
                workload=workload,
                labels=labels,
                resource=resource,
                location=us,
            )
            b.add(
                day=day,
                service="Cloud Storage",
                sku="Multi-Region Standard Class B Operations",
                pricing_amount=round(class_b * 1000),
                rate=0.0004e-3,
                unit=REQUESTS,
                workload=workload,
                labels=labels,
                resource=resource,
                location=us,
            )
    staging = (
        "synthetic-gcp-bq-staging",
        "//storage.googleapis.com/projects/_/buckets/synthetic-gcp-bq-staging",
    )
    for day in range(1, month.days + 1):
        b.add(
            day=day,
            service="Cloud Storage",
            sku="Network Data Transfer Out via Carrier Peering Network - Americas Based",
            pricing_amount=round(r.uniform(20, 50), 4),
            rate=0.12,
            unit=GIBIBYTE,
            workload="other",
            labels={"team": "data"},
            resource=staging,
            location=us,
        )


def _sud_fraction(day: int, days: int) -> float:
    """N1 sustained use discount of the day's usage: 0, 20, 40, 60 % by quarter of the month."""
    quarter = min(3, int(4 * (day - 0.5) / days))
    return (0.0, 0.2, 0.4, 0.6)[quarter]


def _compute(b: GcpBuilder, month: Month) -> None:
    vm = GCP_GPU_VM
    resource = ("research-gpu-vm-1", vm.resource_id)
    labels = dict(vm.tags)
    zone = (f"{GCP_REGION}-a", GCP_REGION, f"{GCP_REGION}-a")
    for day in range(1, month.days + 1):
        sud = _sud_fraction(day, month.days)
        credits = [("Sustained Usage Discount", "SUSTAINED_USAGE_DISCOUNT", sud)] if sud else None
        for sku, amount, rate, unit in (
            ("N1 Predefined Instance Core running in Americas", 8 * 24.0, 0.031611, HOUR),
            ("N1 Predefined Instance Ram running in Americas", 30 * 24.0, 0.004237, GIB_HOUR),
            ("Nvidia Tesla T4 GPU running in Americas", 24.0, 0.35, HOUR),
        ):
            b.add(
                day=day,
                service="Compute Engine",
                sku=sku,
                pricing_amount=amount,
                rate=rate,
                unit=unit,
                workload="other",
                project=GCP_DEV,
                labels=labels,
                resource=resource,
                location=zone,
                credits=credits,
            )
        b.add(
            day=day,
            service="Compute Engine",
            sku="Balanced PD Capacity",
            pricing_amount=500.0 / month.days,
            rate=0.10,
            unit=b.gib_month,
            workload="other",
            project=GCP_DEV,
            labels=labels,
            resource=resource,
            location=zone,
        )
