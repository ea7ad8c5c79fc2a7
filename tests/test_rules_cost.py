"""The cost-family rules on SQLite and PostgreSQL: ``lora-instead-of-full-finetune``,
``commitment-coverage``, ``stale-artifacts``, ``cross-region-traffic`` and ``cost-anomaly``.

Each scenario seeds billing rows (and inventory) through the collectors' loader, runs
``analyze`` with a fixed ``now`` and checks who fires and for how much, against figures worked
by hand in the comments.  The window is the 30 whole UTC days before ``NOW``'s midnight:
2026-10-21 00:00 → 2026-11-20 00:00, 720 hours.  The last test runs the five on the demo month.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from agent.config import load_settings
from agent.store.engine import open_store
from agent.store.findings import list_findings, set_status
from collectors.load import load, table
from rules.base import configured_rules
from rules.commitment_coverage import nearest_rank
from rules.cost_anomaly import robust_z
from rules.engine import analyze
from rules.lora_finetune import gpus_per_instance, model_billions

NOW = datetime(2026, 11, 20, 12, 0)
END = datetime(2026, 11, 20)
START = END - timedelta(days=30)
HOURS = 720
MINE = (
    "lora-instead-of-full-finetune",
    "commitment-coverage",
    "stale-artifacts",
    "cross-region-traffic",
    "cost-anomaly",
)


def row(start: datetime, amount: Any, hours: int = 1, **extra: Any) -> dict[str, Any]:
    """One billing row (AWS SageMaker hosting unless ``extra`` says otherwise)."""
    amount = Decimal(str(amount))
    tags = extra.pop("tags", None)
    return {
        "provider_name": extra.pop("provider", "AWS"),
        "billing_account_id": extra.pop("account", "123456789012"),
        "billing_period_start": start.replace(day=1, hour=0),
        "charge_period_start": start,
        "charge_period_end": start + timedelta(hours=hours),
        "charge_category": "Usage",
        "billed_cost": amount,
        "effective_cost": amount,
        "billing_currency": "USD",
        "service_name": extra.pop("service", "Amazon SageMaker"),
        "pricing_unit": extra.pop("unit", "Hrs"),
        "pricing_category": extra.pop("category", "Standard"),
        "x_usage_type": extra.pop("usage_type", "USE1-Hosting:ml.g5.xlarge"),
        "region_id": extra.pop("region", "us-east-1"),
        "tags": json.dumps(tags) if tags is not None else None,
        **extra,
    }


def hourly(amount: Any, hours: range = range(HOURS), **extra: Any) -> list[dict[str, Any]]:
    """One row per hour of the window; hour 0 is 2026-10-21 00:00."""
    return [row(START + timedelta(hours=h), amount, **extra) for h in hours]


def daily(amounts: dict[datetime, Any], **extra: Any) -> list[dict[str, Any]]:
    return [row(day, amount, hours=24, **extra) for day, amount in amounts.items()]


def days(first: datetime, last: datetime) -> list[datetime]:
    """Every midnight from ``first`` to ``last`` inclusive."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def resource(rid: str, rtype: str, provider: str = "AWS", **attrs: Any) -> dict[str, Any]:
    return {
        "resource_id": rid,
        "provider_name": provider,
        "resource_type": rtype,
        "region_id": attrs.pop("region", "us-east-1"),
        "observed_at": NOW,
        "attributes": json.dumps(attrs),
    }


def seed(
    engine: Engine, costs: list[dict[str, Any]], resources: list[dict[str, Any]] | None = None
) -> None:
    tables: list[Any] = [("cost", table("cost", costs))]
    if resources:
        tables.append(("resources", table("resources", resources)))
    load(engine, load_settings(None), "seed", tables)


def run(engine: Engine, rule_id: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Analyze with only ``rule_id``; its open findings by subject."""
    rules = [r for r in configured_rules({rule_id: config or {}}) if r.rule_id == rule_id]
    result = analyze(engine, rules, window_days=30, now=NOW)
    assert result.errors == {}
    return {f["subject"]: f for f in list_findings(engine, "open") if f["rule_id"] == rule_id}


# -- helpers ----------------------------------------------------------------------------------
def test_pure_helpers() -> None:
    # Nearest rank: 10 % of 20 values → the 2nd smallest.
    assert nearest_rank([Decimal(v) for v in range(20, 0, -1)], 10) == Decimal(2)
    assert nearest_rank([], 10) == 0
    # median 101, |dev| = 1, 3, 5, 1 → MAD 2; z = 0.6745 × 299 / 2 = 100.83775.
    score = robust_z(Decimal(400), [Decimal(v) for v in (100, 104, 96, 102)])
    assert (score.median, score.mad, score.z, score.scale) == (101, 2, Decimal("100.83775"), "mad")
    # One step in the baseline: median 100, |dev| = 400, 0, 0, 0 → MAD 0, so the mean absolute
    # deviation 100 scales it: z = 400 / (1.253314 × 100) = 3.19 < 3.5 — not a spike again.
    step = robust_z(Decimal(500), [Decimal(v) for v in (500, 100, 100, 100)])
    assert (step.mad, step.mean_ad, step.scale) == (0, 100, "mean_ad")
    assert step.z is not None and step.z.quantize(Decimal("0.01")) == Decimal("3.19")
    flat = robust_z(Decimal(5), [Decimal(1)] * 4)  # a flat baseline: +∞ above it
    assert (flat.z, flat.scale) == (None, "flat")
    assert gpus_per_instance("ml.p4d.24xlarge") == 8
    assert gpus_per_instance("a2-highgpu-4g") == 4
    assert gpus_per_instance("ml.g5.2xlarge") == 1
    assert gpus_per_instance("ml.m5.xlarge") is None
    assert model_billions(["meta-llama/Llama-3.1-70B-Instruct"]) == 70
    assert model_billions(["mixtral-8x7b-ft"]) == 56
    assert model_billions(["hparam-sweep-261015-b", "exploration"]) is None


# -- lora-instead-of-full-finetune ------------------------------------------------------------
TRAIN = "USE1-Train:ml.p4d.24xlarge"
ARN = "arn:aws:sagemaker:us-east-1:123456789012:training-job/"
GCP_JOB = "//aiplatform.googleapis.com/projects/1/locations/us-central1/customJobs/"


def test_lora_fires_on_big_full_finetunes_only(engine: Engine) -> None:
    at = START + timedelta(days=5)
    p4d = {"instance_type": "ml.p4d.24xlarge", "instance_count": 2, "training_seconds": 36000}
    jobs: dict[str, dict[str, Any]] = {
        # 16 GPUs, PEFT explicitly off: a full fine-tune.
        "sft-70b": {**p4d, "hyperparameters": {"use_peft": "false", "epochs": "3"}},
        # The same job with LoRA adapters: left alone.
        "sft-70b-lora": {**p4d, "hyperparameters": {"lora_r": "16", "epochs": "3"}},
        # 16 GPUs but pre-training (nothing marks a fine-tune): LoRA cannot replace it.
        "pretrain-run-7": {**p4d, "hyperparameters": {"epochs": "1"}},
        # A fine-tune on 4 GPUs of an 8B model: small.
        "llama-8b-ft": {"instance_type": "ml.g5.12xlarge", "instance_count": 1},
        # Trials of hyperparameter-tuning jobs ("tuning" is no fine-tune marker for them):
        # launched by SageMaker automatic model tuning, and named for an HPO sweep.
        "llama-tuning-003-1a2b3c4d": {
            **p4d,
            "hyperparameters": {"_tuning_objective_metric": "validation:loss", "epochs": "3"},
        },
        "sft-70b-hpo-trial-7": {**p4d, "hyperparameters": {"epochs": "3"}},
    }
    costs = [
        *(
            row(at + timedelta(hours=h), "75.376", resource_id=ARN + name, usage_type=TRAIN)
            for name in (
                "sft-70b",
                "sft-70b-lora",
                "pretrain-run-7",
                "llama-tuning-003-1a2b3c4d",
                "sft-70b-hpo-trial-7",
            )
            for h in range(10)
        ),
        *(
            row(
                at + timedelta(hours=h),
                "7.09",
                resource_id=ARN + "llama-8b-ft",
                usage_type="USE1-Train:ml.g5.12xlarge",
            )
            for h in range(40)
        ),
        # The job's EBS volume is not GPU time: left out of the cost.
        row(
            at,
            "5",
            resource_id=ARN + "sft-70b",
            usage_type="USE1-Train:VolumeUsage.gp2",
            unit="GB-Mo",
        ),
        # Vertex: 4 A100s, but a 56B (8 × 7B) base model.
        *daily(
            {at: 100, at + timedelta(days=1): 100},
            provider="Google Cloud",
            service="Vertex AI",
            unit="hour",
            usage_type=None,
            charge_description="Custom training: A100 GPU running in Americas",
            region="us-central1",
            resource_id=GCP_JOB + "42",
            account="01A-GCP",
        ),
    ]
    inventory = [
        *(
            resource(ARN + name, "training_job", job_name=name, **attrs)
            for name, attrs in jobs.items()
        ),
        resource(
            GCP_JOB + "42",
            "training_job",
            "Google Cloud",
            display_name="mixtral-8x7b-ft",
            machine_type="a2-highgpu-4g",
            accelerator_count=4,
            replica_count=1,
        ),
    ]
    seed(engine, costs, inventory)
    found = run(engine, "lora-instead-of-full-finetune")
    assert sorted(found) == [GCP_JOB + "42", ARN + "sft-70b"]
    # sft-70b: 10 h × 2 × $37.688 = $753.76 of GPU time (the $5 volume left out);
    # × (1 − 0.25) = $565.32 in 720 h → × 730 / 720 = $573.17 a month.
    big = found[ARN + "sft-70b"]
    assert big["monthly_savings"] == Decimal("573.17")
    assert big["confidence"] == "low"
    assert big["evidence"]["gpus"] == 16
    assert big["evidence"]["gpu_hours"] == 160.0  # 16 GPUs × 10 h
    assert big["evidence"]["cost_in_window"] == "753.760000000000"
    # mixtral: $200 × 0.75 = $150 → × 730 / 720 = $152.08.
    moe = found[GCP_JOB + "42"]
    assert moe["monthly_savings"] == Decimal("152.08")
    assert moe["evidence"]["gpus"] == 4
    assert moe["evidence"]["model_billions"] == 56

    # With require_finetune off the pre-training run fires too; the LoRA job still does not.
    loose = run(engine, "lora-instead-of-full-finetune", {"require_finetune": False})
    assert ARN + "pretrain-run-7" in loose and ARN + "sft-70b-lora" not in loose


# -- commitment-coverage ----------------------------------------------------------------------
def test_commitment_coverage_commits_to_the_hourly_floor(engine: Engine) -> None:
    gpu_vm = "//compute.googleapis.com/projects/p/zones/us-central1-a/instances/research"
    costs = [
        # Always-on endpoint: $10 every hour …
        *hourly("10", resource_id="ep-a"),
        # … plus a training burst of 100 hours at $37.688: the floor stays $10.
        *hourly("37.688", hours=range(200, 300), usage_type=TRAIN, resource_id="job-b"),
        # Bedrock tokens (not committable) and EC2 already under a Savings Plan: ignored.
        *hourly(
            "100",
            service="Amazon Bedrock",
            usage_type="USE1-Claude3.5Sonnet-input-tokens",
            unit="1K tokens",
        ),
        *hourly(
            "5",
            service="Amazon Elastic Compute Cloud",
            usage_type="BoxUsage:g5.12xlarge",
            category="Committed",
            commitment_discount_id="arn:aws:savingsplans::1:sp/x",
            tags={"user_workload": "inference"},
            resource_id="i-1",
        ),
        # GCP: a training VM billed per day, $48 a day = $2 every hour.
        *daily(
            dict.fromkeys(days(START, END - timedelta(days=1)), 48),
            provider="Google Cloud",
            account="01A-GCP",
            service="Compute Engine",
            unit="hour",
            usage_type=None,
            charge_description="Nvidia Tesla A100 GPU running in Americas",
            region="us-central1",
            resource_id=gpu_vm,
            tags={"workload": "training"},
        ),
        # A Cost Explorer account: rows without a pricing category are on demand; $4 an hour.
        *hourly("4", account="222233334444", category=None),
        # Another account's endpoint is off for 120 of 720 hours (17 % > 10 %): floor $0.
        *hourly("10", hours=range(0, 300), account="999999999999", resource_id="ep-z"),
        *hourly("10", hours=range(420, HOURS), account="999999999999", resource_id="ep-z"),
    ]
    seed(engine, costs)
    found = run(engine, "commitment-coverage")
    sagemaker = "AWS|123456789012|AWS SageMaker Savings Plan"
    gcp = "Google Cloud|01A-GCP|GCP Compute flexible CUD"
    explorer = "AWS|222233334444|AWS SageMaker Savings Plan"
    assert sorted(found) == [sagemaker, explorer, gcp]
    # $4 × 730 h × 20 % = $584.00.
    assert found[explorer]["monthly_savings"] == Decimal("584.00")
    # 620 hours at $10, 100 at $47.688: the 72nd smallest of 720 is $10;
    # $10 × 730 h × 20 % = $1,460.00; the plan to buy: $10 × (1 − 0.20) = $8.00/h.
    f = found[sagemaker]
    assert f["monthly_savings"] == Decimal("1460.00")
    assert f["confidence"] == "medium"
    assert Decimal(f["evidence"]["hourly_floor"]) == 10
    assert f["evidence"]["hours_in_series"] == HOURS
    assert f["evidence"]["suggested_hourly_commitment"] == "8.00"
    assert "8.00 USD/h" in f["recommendation"]
    # $48 / 24 = $2 every hour × 730 × 28 % = $408.80.
    assert found[gcp]["monthly_savings"] == Decimal("408.80")

    # With a 35 % plan discount configured: $10 × 730 × 0.35 = $2,555.00.
    cfg = {"discounts": {"AWS SageMaker Savings Plan": "0.35"}}
    assert run(engine, "commitment-coverage", cfg)[sagemaker]["monthly_savings"] == Decimal(
        "2555.00"
    )


# -- stale-artifacts --------------------------------------------------------------------------
def test_stale_artifacts_fires_on_growing_model_buckets(engine: Engine) -> None:
    storage = {"service": "Amazon Simple Storage Service", "unit": "GB-Mo"}
    gcs = {
        "provider": "Google Cloud",
        "account": "01A-GCP",
        "service": "Cloud Storage",
        "unit": "gibibyte month",
        "usage_type": None,
        "charge_description": "Standard Storage US Multi-region",
        "region": "us",
    }
    weeks = END - timedelta(days=28)  # 2026-10-23: the four whole weeks before the end

    def growing(base: float, step: float) -> dict[datetime, float]:
        """Per day: ``base`` (the two days before the four weeks too), + ``step`` a week."""
        out = {START: base, START + timedelta(days=1): base}
        for d in range(28):
            out[weeks + timedelta(days=d)] = base + step * (d // 7)
        return out

    costs = [
        # Checkpoints rising $70 → $77 → $84 → $91 a week.
        *daily(
            growing(10, 1),
            usage_type="TimedStorage-ByteHrs",
            resource_id="team-checkpoints",
            **storage,
        ),
        # A GCS bucket tagged for model artifacts: $140 → $154 → $168 → $182 a week.
        *daily(
            growing(20, 2),
            resource_id="//storage.googleapis.com/projects/_/buckets/ml-data",
            resource_name="ml-data",
            tags={"purpose": "model-artifacts"},
            **gcs,
        ),
        # Near misses: flat; growing but not a model bucket; growing only in Glacier (tiered).
        *daily(
            growing(10, 0),
            usage_type="TimedStorage-ByteHrs",
            resource_id="model-registry",
            **storage,
        ),
        *daily(
            growing(10, 1), usage_type="TimedStorage-ByteHrs", resource_id="web-assets", **storage
        ),
        *daily(
            growing(10, 1),
            usage_type="TimedStorage-GlacierByteHrs",
            resource_id="old-ckpt-archive",
            **storage,
        ),
        # Requests on the checkpoint bucket are not storage: they do not count.
        *daily(
            {weeks: 500},
            usage_type="Requests-Tier1",
            resource_id="team-checkpoints",
            service="Amazon Simple Storage Service",
            unit="1K Requests",
        ),
    ]
    seed(engine, costs)
    found = run(engine, "stale-artifacts")
    gcs_bucket = "//storage.googleapis.com/projects/_/buckets/ml-data"
    assert sorted(found) == [gcs_bucket, "team-checkpoints"]
    # $91 last week × 730 / 168 h = $395.42 a month × 50 % = $197.71.
    ckpt = found["team-checkpoints"]
    assert ckpt["monthly_savings"] == Decimal("197.71")
    assert ckpt["confidence"] == "medium"
    assert [p["hot_storage_cost"][:6] for p in ckpt["evidence"]["periods"]] == [
        "70.000",
        "77.000",
        "84.000",
        "91.000",
    ]
    assert ckpt["evidence"]["growth"] == "0.3000"
    # $182 × 730 / 168 × 50 % = $395.42; matched on its tag, a model bucket: low confidence.
    assert found[gcs_bucket]["monthly_savings"] == Decimal("395.42")
    assert found[gcs_bucket]["confidence"] == "low"
    assert found[gcs_bucket]["evidence"]["matched"] == "*model*"

    # Asking for 40 % growth over the four weeks: 30 % is not enough, ml-data's 30 % neither.
    assert run(engine, "stale-artifacts", {"min_growth": 0.4}) == {}


# -- cross-region-traffic ---------------------------------------------------------------------
def test_cross_region_traffic_attributes_rag_transfer(engine: Engine) -> None:
    collection = "arn:aws:aoss:us-east-1:123456789012:collection/rag-docs"
    month = days(START, END - timedelta(days=1))
    opensearch = {"service": "Amazon OpenSearch Service", "unit": "GB"}
    costs = [
        # The vector store in us-east-1 ships retrieval results to us-west-2: $4 a day.
        *daily(
            dict.fromkeys(month, 4),
            usage_type="USE1-USW2-AWS-Out-Bytes",
            resource_id=collection,
            pricing_quantity=200.0,
            **opensearch,
        ),
        *daily(
            dict.fromkeys(month, 20),
            usage_type="USE1-ServerlessSearch-OCU",
            resource_id=collection,
            service="Amazon OpenSearch Service",
            unit="OCU-Hr",
        ),
        # The endpoint it feeds, in us-west-2.
        *daily(
            dict.fromkeys(month, 50),
            usage_type="USW2-Hosting:ml.g5.xlarge",
            resource_id="arn:aws:sagemaker:us-west-2:123456789012:endpoint/chat",
            region="us-west-2",
        ),
        # Google: inter-region egress without a resource, $3 a day.
        *daily(
            dict.fromkeys(month, 3),
            provider="Google Cloud",
            account="01A-GCP",
            service="Compute Engine",
            unit="gibibyte",
            usage_type=None,
            charge_description="Network Inter Region Data Transfer Out from Americas to EMEA",
            region="us-central1",
        ),
        # Near misses: cross-AZ traffic within a region; inter-region below the $50 floor.
        *daily(
            dict.fromkeys(month, 10),
            usage_type="DataTransfer-Regional-Bytes",
            service="Amazon Elastic Compute Cloud",
            unit="GB",
            resource_id="i-1",
        ),
        *daily(
            dict.fromkeys(month, 1),
            usage_type="USE1-EUW1-AWS-Out-Bytes",
            service="Amazon Elastic Compute Cloud",
            unit="GB",
            resource_id="i-2",
        ),
    ]
    seed(engine, costs, [resource(collection, "opensearch_collection", type="VECTORSEARCH")])
    found = run(engine, "cross-region-traffic")
    rag = f"{collection}|us-east-1->us-west-2"
    google = "Compute Engine|us-central1->EMEA"
    assert sorted(found) == [google, rag]
    # $4 × 30 days = $120 in 720 h → × 730 / 720 = $121.67 a month.
    f = found[rag]
    assert f["monthly_savings"] == Decimal("121.67")
    assert f["confidence"] == "medium"
    assert f["evidence"]["resource_role"] == "vector_storage"
    assert f["evidence"]["inference_regions"] == ["us-west-2"]
    assert f["evidence"]["vector_store_regions"] == ["us-east-1"]
    assert f["evidence"]["transfer_quantity"] == 6000.0
    # $3 × 30 = $90 → × 730 / 720 = $91.25; not tied to a RAG resource: low confidence.
    assert found[google]["monthly_savings"] == Decimal("91.25")
    assert found[google]["confidence"] == "low"
    # A $150 floor leaves neither.
    assert run(engine, "cross-region-traffic", {"min_monthly_cost": "150"}) == {}


# -- cost-anomaly -----------------------------------------------------------------------------
def test_cost_anomaly_uses_the_same_weekday(engine: Engine) -> None:
    # Judged: the last 7 days (Fri 13 – Thu 19 Nov), each against its 4 previous same weekdays,
    # which reach back to Fri 16 Oct: before the window's start (21 Oct).
    history = days(datetime(2026, 10, 16), datetime(2026, 11, 19))
    hosting = {d: 100 for d in history}
    # Thursdays: 102, 96, 104, 100, then 400 on Thu 19 Nov.
    hosting.update(
        {
            datetime(2026, 10, 22): 102,
            datetime(2026, 10, 29): 96,
            datetime(2026, 11, 5): 104,
            datetime(2026, 11, 12): 100,
            datetime(2026, 11, 19): 400,
        }
    )
    lam = {d: 10 for d in history}
    lam[datetime(2026, 11, 18)] = 40  # +300 %, but only +$30: under the $50 floor
    noisy = {d: 1000 for d in history}
    noisy.update(
        {  # Tuesdays 900, 1300, 700, 1000, then 1500 on Tue 17 Nov
            datetime(2026, 10, 20): 900,
            datetime(2026, 10, 27): 1300,
            datetime(2026, 11, 3): 700,
            datetime(2026, 11, 10): 1000,
            datetime(2026, 11, 17): 1500,
        }
    )
    new = dict.fromkeys(days(datetime(2026, 11, 16), datetime(2026, 11, 19)), 500)
    young = {d: 100 for d in days(datetime(2026, 11, 6), datetime(2026, 11, 19))}
    young[datetime(2026, 11, 19)] = 1000  # only 1 covered baseline week: not judged
    costs = [
        *daily(hosting),
        *daily(lam, service="AWS Lambda", usage_type="USE1-Request", unit="Requests"),
        *daily(noisy, service="Amazon EC2", usage_type="BoxUsage:p4d.24xlarge"),
        *daily(new, usage_type="USW2-Hosting:ml.p5.48xlarge", region="us-west-2"),
        *daily(
            young,
            provider="Google Cloud",
            account="01A-GCP",
            service="Vertex AI",
            usage_type=None,
            charge_description="Gemini 2.5 Pro input tokens",
            region="us-central1",
            unit="count",
        ),
    ]
    seed(engine, costs)
    found = run(engine, "cost-anomaly")
    spike = "AWS|Amazon SageMaker|USE1-Hosting:ml.g5.xlarge|us-east-1|USD|spike"
    appeared = "AWS|Amazon SageMaker|USW2-Hosting:ml.p5.48xlarge|us-west-2|USD|new"
    assert sorted(found) == [spike, appeared]
    # Median of 102, 96, 104, 100 = 101; MAD = median(1, 5, 3, 1) = 2;
    # z = 0.6745 × (400 − 101) / 2 = 100.84 ≥ 3.5; excess $299 (296 %) → × 30 = $8,970.00.
    f = found[spike]
    assert f["monthly_savings"] == Decimal("8970.00")
    assert f["confidence"] == "low"
    ev = f["evidence"]
    assert (ev["day"], ev["kind"], ev["robust_z"]) == ("2026-11-19", "spike", "100.84")
    assert Decimal(ev["expected_median"]) == 101 and Decimal(ev["actual"]) == 400
    assert [b["day"] for b in ev["baseline"]] == [
        "2026-11-12",
        "2026-11-05",
        "2026-10-29",
        "2026-10-22",
    ]
    # The p5 usage type is new on Mon 16 Nov (one finding for its four days): $500 × 30 =
    # $15,000.00.
    assert found[appeared]["monthly_savings"] == Decimal("15000.00")
    new_ev = found[appeared]["evidence"]
    assert (new_ev["kind"], new_ev["first_day"]) == ("new", "2026-11-16")
    assert [d["day"] for d in new_ev["flagged_days"]] == [
        "2026-11-16",
        "2026-11-17",
        "2026-11-18",
        "2026-11-19",
    ]
    assert (ev["ongoing"], ev["excess_incurred"]) == (True, "299.000000000000")
    # The noisy Tuesday: median 950, MAD 150, z = 0.6745 × 550 / 150 = 2.47 < 3.5: not flagged;
    # with a cut-off of 2.4 it is — and it is over (Thu 19 Nov is back at $1,000, within $50 of
    # the expected $950): a one-off of $550, nothing to save a month, so $0.00.
    loose = run(engine, "cost-anomaly", {"z_threshold": "2.4"})
    noisy_day = "AWS|Amazon EC2|BoxUsage:p4d.24xlarge|us-east-1|USD|spike"
    assert loose[noisy_day]["monthly_savings"] == Decimal("0.00")
    assert loose[noisy_day]["title"].endswith("(over)")
    noisy_ev = loose[noisy_day]["evidence"]
    assert (noisy_ev["ongoing"], Decimal(noisy_ev["excess_incurred"])) == (False, 550)


def test_one_usage_type_in_two_currencies_is_two_anomalies(engine: Engine) -> None:
    """Two payers bill the same usage type in USD and EUR: two series, two fingerprints (one
    subject would have been one finding for two — the analysis must never collide)."""
    new = dict.fromkeys(days(datetime(2026, 11, 16), datetime(2026, 11, 19)), 500)
    # any older day of another usage type makes the provider's weeks "measured"
    history = {d: 100 for d in days(datetime(2026, 10, 16), datetime(2026, 11, 19))}
    seed(
        engine,
        [
            *daily(history),
            *daily(new, usage_type="USW2-Hosting:ml.p5.48xlarge", region="us-west-2"),
            *daily(
                new,
                usage_type="USW2-Hosting:ml.p5.48xlarge",
                region="us-west-2",
                billing_currency="EUR",
                account="999988887777",
            ),
        ],
    )
    found = run(engine, "cost-anomaly")
    subjects = sorted(s for s in found if s.endswith("|new"))
    assert subjects == [
        "AWS|Amazon SageMaker|USW2-Hosting:ml.p5.48xlarge|us-west-2|EUR|new",
        "AWS|Amazon SageMaker|USW2-Hosting:ml.p5.48xlarge|us-west-2|USD|new",
    ]
    assert {found[s]["currency"] for s in subjects} == {"EUR", "USD"}


# -- the demo month ---------------------------------------------------------------------------
def test_cost_rules_on_the_demo_month(tmp_path: Path) -> None:
    from agent.demo import DATA_DIR
    from collectors.importer import import_paths

    engine = open_store(f"sqlite:///{tmp_path / 'demo.db'}")
    import_paths(engine, [DATA_DIR], load_settings(None))

    def findings(config: dict[str, dict[str, Any]]) -> dict[tuple[str, str], Decimal]:
        rules = [r for r in configured_rules(config) if r.rule_id in MINE]
        result = analyze(engine, rules, window_days=30, now=datetime(2026, 11, 1))
        assert result.errors == {}
        return {
            (f["rule_id"], f["subject"]): f["monthly_savings"]
            for f in list_findings(engine, status="open")
            if f["rule_id"] in MINE
        }

    job = "arn:aws:sagemaker:us-east-1:111122223333:training-job/"
    vertex = "//aiplatform.googleapis.com/projects/123456789012/locations/us-central1/customJobs/"
    lora = "lora-instead-of-full-finetune"
    expected = {
        # Fine-tunes on 2 × p4d (16 GPUs) or 1 × p4d / a2-highgpu-8g (8 GPUs), no PEFT sign:
        # job cost × 0.75 × 730 / 720 (the sweep and the LoRA job are left alone).
        (lora, job + "rlhf-dpo-run1-261018"): Decimal("2063.42"),  # $2,713.536
        (lora, job + "llama-ft-full-v2-261008"): Decimal("1260.98"),  # $1,658.272
        (lora, job + "llama-ft-full-v3-261026"): Decimal("1146.34"),  # $1,507.52
        (lora, job + "rlhf-dpo-run2-spot-261020"): Decimal("550.24"),  # $723.6096 (spot)
        (lora, job + "llama-ft-base-261002"): Decimal("415.55"),  # $546.476
        (lora, vertex + "3615137028304527416"): Decimal("236.95"),  # gemma-ft-a2-8g-16
        (lora, vertex + "1820035477204421137"): Decimal("142.17"),  # gemma-ft-a2-8g-03
        # The SageMaker floor: 2 × $7.09 + 3 × $0.99 + $1.515 + the $0.7364 notebook =
        # $19.4014/h × 730 × 20 % = $2,832.60.
        ("commitment-coverage", "AWS|111122223333|AWS SageMaker Savings Plan"): Decimal("2832.60"),
        # 24,000 GB growing 0.02 %/h: last week $141.0859 × 730 / 168 × 50 % = $306.53.
        ("stale-artifacts", "synthetic-model-artifacts"): Decimal("306.53"),
    }
    # cross-region-traffic: the demo bills no inter-region transfer.  cost-anomaly judges every
    # day of the month with two or more covered same-weekday baselines, so the week-3 burst is
    # seen: the p4d training usage type on Fri 16 Oct ($2,468.564 against 9 and 2 Oct,
    # $577.883 and $515.069: median $546.476, MAD $31.407, z = 0.6745 × 1,922.088 / 31.407 =
    # 41.28), Sun 18, Mon 19 and Tue 27 Oct; and the managed-spot usage type new on 20 Oct.
    # Both are over by 31 Oct (the last day is back to normal): one-offs, $0 a month, what
    # they cost in the evidence.
    p4d = "AWS|Amazon SageMaker|USE1-Train:ml.p4d.24xlarge"
    spike = ("cost-anomaly", f"{p4d}|us-east-1|USD|spike")
    spot = ("cost-anomaly", f"{p4d}-Spot|us-east-1|USD|new")
    assert findings({}) == {**expected, spike: Decimal("0.00"), spot: Decimal("0.00")}
    opened = {f["subject"]: f["evidence"] for f in list_findings(engine, status="open")}
    ev, spot_ev = opened[spike[1]], opened[spot[1]]
    assert [d["day"] for d in ev["flagged_days"]] == [
        "2026-10-16", "2026-10-18", "2026-10-19", "2026-10-27",
    ]  # fmt: skip
    # excess: (2,468.564 − 546.476) + 866.824 + 1,809.024 + 452.256 = 5,050.192
    assert (ev["ongoing"], Decimal(ev["excess_incurred"])) == (False, Decimal("5050.192"))
    assert (ev["day"], ev["robust_z"], ev["scale"]) == ("2026-10-16", "41.28", "mad")
    assert (spot_ev["first_day"], Decimal(spot_ev["excess_incurred"])) == (
        "2026-10-20",
        Decimal("723.6096"),  # 2 × $361.8048
    )
    # Judging only the last 7 days with 3 baseline weeks (the rule before): Tue 27 Oct
    # ($452.256) against 20, 13, 6 Oct ($37.688, 0, 0): z = 452.256 / (1.253314 × 12.5627) =
    # 28.72 → one finding, over too.
    relaxed = findings({"cost-anomaly": {"min_baseline_weeks": 3, "recent_days": 7}})
    assert [k for k in relaxed if k[0] == "cost-anomaly"] == [spike]
    opened = {f["subject"]: f["evidence"] for f in list_findings(engine, status="open")}
    ev = opened[spike[1]]
    assert (ev["day"], ev["robust_z"], ev["scale"]) == ("2026-10-27", "28.72", "mean_ad")


def test_cost_anomaly_reports_a_step_change_once_across_daily_runs(engine: Engine) -> None:
    """Two step changes on Tue 10 Nov, analysed every day for two weeks: the g5 usage type
    (billed $100 a day since 1 Oct) jumps to $500, and a p5 usage type starts at $500 a day.
    Each is one finding whose fingerprint, first_seen and status survive the daily runs; no run
    re-flags either as a new event once the other same-weekdays start to hold the new level."""
    step = datetime(2026, 11, 10)
    before = days(datetime(2026, 10, 1), step - timedelta(days=1))
    after = days(step, datetime(2026, 11, 23))
    seed(
        engine,
        [
            *daily({**dict.fromkeys(before, 100), **dict.fromkeys(after, 500)}),
            *daily(dict.fromkeys(after, 500), usage_type="USE1-Hosting:ml.p5.48xlarge"),
        ],
    )
    grown = "cost-anomaly:AWS|Amazon SageMaker|USE1-Hosting:ml.g5.xlarge|us-east-1|USD|spike"
    started = "cost-anomaly:AWS|Amazon SageMaker|USE1-Hosting:ml.p5.48xlarge|us-east-1|USD|new"
    # judging the last 7 days only (``recent_days``), as a daily job that wants news
    chosen = configured_rules({"cost-anomaly": {"recent_days": 7}})
    rules = [r for r in chosen if r.rule_id == "cost-anomaly"]
    first_run = datetime(2026, 11, 11, 6)
    for n in range(14):  # 11 Nov … 24 Nov, each judging the 7 days before
        now = first_run + timedelta(days=n)
        result = analyze(engine, rules, window_days=30, now=now)
        assert result.errors == {}
        assert result.new == (2 if n == 0 else 0), now
        rows = {f["fingerprint"]: f for f in list_findings(engine)}
        assert set(rows) == {grown, started}, now  # never a third finding
        live = {fp for fp, f in rows.items() if f["status"] != "resolved"}
        # The p5 type is new while 10 Nov is among the judged days (runs of 11–17 Nov).  The
        # g5 jump: 10–16 Nov each stand out against a flat $100 (z = ∞, +$400); 17 Nov against
        # 500, 100, 100, 100 does not (MAD 0 → MeanAD 100: z = 400 / 125.33 = 3.19), nor do the
        # later days; so the spike is judged until 16 Nov leaves the week (run of 24 Nov).
        assert live == {fp for fp, on in ((started, n < 7), (grown, n < 13)) if on}, now
        if n == 0:
            assert set_status(engine, started, "acknowledged", reason="planned p5 launch")
        if n < 7:
            assert rows[started]["status"] == ("open" if n == 0 else "acknowledged")
            assert rows[started]["first_seen"] == first_run
            # $500 × 30 = $15,000.00; the flat-$100 g5 baseline: $400 excess × 30 = $12,000.00.
            assert rows[started]["monthly_savings"] == Decimal("15000.00")
            assert rows[grown]["monthly_savings"] == Decimal("12000.00")
            assert rows[started]["evidence"]["first_day"] == "2026-11-10"
        if n < 13:
            assert rows[grown]["first_seen"] == first_run


def test_cost_anomaly_judges_every_day_of_the_window_and_a_young_store(engine: Engine) -> None:
    """A 4× spike ten days before the window's end, in a store whose history began three weeks
    before it: the rule judged only the last 7 days against 4 covered weeks, so it saw
    nothing.  Now every day with two covered same weekdays is judged."""
    history = days(datetime(2026, 10, 20), datetime(2026, 11, 19))  # from Tue 20 Oct
    hosting = dict.fromkeys(history, Decimal(200))
    hosting[datetime(2026, 11, 10)] = Decimal(800)  # Tue 10 Nov: 4× the usual day
    seed(engine, daily(hosting))
    found = run(engine, "cost-anomaly")
    spike = "AWS|Amazon SageMaker|USE1-Hosting:ml.g5.xlarge|us-east-1|USD|spike"
    assert sorted(found) == [spike]
    ev = found[spike]["evidence"]
    # against Tue 3 Nov and Tue 27 Oct ($200, $200; 20 Oct is a third): flat, z = ∞, +$600
    assert (ev["day"], ev["robust_z"], Decimal(ev["excess"])) == ("2026-11-10", "inf", 600)
    assert [b["day"] for b in ev["baseline"]] == ["2026-11-03", "2026-10-27", "2026-10-20"]
    # over by Thu 19 Nov ($200 again): $600 once, nothing a month
    assert found[spike]["monthly_savings"] == Decimal("0.00")
    assert (ev["ongoing"], Decimal(ev["excess_incurred"])) == (False, 600)
    # the old reading — the last 7 days, 4 covered weeks — misses it
    assert run(engine, "cost-anomaly", {"recent_days": 7, "min_baseline_weeks": 4}) == {}
