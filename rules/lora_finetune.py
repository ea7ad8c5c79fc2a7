"""``lora-instead-of-full-finetune``: big fine-tuning jobs that update every weight.

Full fine-tuning keeps gradients and optimizer state for every parameter, which is why a 7–70B
model needs a node of eight 80 GB GPUs or more.  LoRA (Hu et al., 2021, arXiv 2106.09685) trains
low-rank adapters instead: 10,000× fewer trainable parameters and about 3× less GPU memory on
GPT-3 175B, with quality on par with full fine-tuning on the tasks studied; QLoRA (Dettmers et
al., 2023, arXiv 2305.14314) adds a 4-bit frozen base and fine-tunes a 65B model on a single
48 GB GPU.  A job that fits in a quarter of the GPUs costs about a quarter as much per hour.

The rule fires on a training job (inventory ``resource_type = training_job``) that

* shows no sign of parameter-efficient fine-tuning: no ``hyperparameters`` key or value, and no
  word of the job name or tags, naming LoRA / QLoRA / PEFT / adapters (a key such as
  ``use_peft`` or ``lora_r`` set to ``false`` / ``0`` does not count as PEFT);
* is a fine-tune, not a pre-training run that LoRA cannot replace (``require_finetune``): a word
  such as ``ft``, ``finetune``, ``sft``, ``dpo``, ``rlhf`` or ``instruct`` in its name / tags /
  hyperparameters, a base-model hyperparameter (``model_name_or_path`` …), or a parsed model size;
* is not a trial of a hyperparameter-tuning (HPO) job, whose "tuning" is a search over settings,
  not a fine-tune to replace one for one: no ``tuning_job_arn`` / ``tuning_job_name`` in the
  inventory, no ``_tuning_objective_metric`` hyperparameter (SageMaker automatic model tuning
  adds it to every training job it launches), and no word of ``hpo_markers`` (``hpo``,
  ``hyperparameter``, ``hparam``, ``sweep`` …) in the job name or tags;
* and is big: ≥ ``min_gpus`` GPUs (instance count × GPUs per instance, from the inventory's
  ``gpu_count`` / ``accelerator_count`` or the small table below) or a base model of
  ≥ ``min_model_billions`` parameters (a size such as ``70b`` or ``8x7b`` in the job name,
  tags or hyperparameters).

Savings = GPU-hours × rate × (1 − ``lora_gpu_share``), where GPU-hours × rate is the job's own
effective cost of its instance-hour usage rows in the window, scaled to a 730-hour month (the
training cadence is assumed to continue, as for ``spot-training``).  ``lora_gpu_share`` (25 %)
is the share of the GPUs a LoRA / QLoRA run would need.  Confidence is low: adapters suit most
instruction and domain tuning, but not every task; run an evaluation before switching.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import Field
from sqlalchemy import select

from agent.store.schema import CostLineItem, Resource
from rules.base import CENT, Candidate, Rule, RuleConfig, RuleContext, RuleMeta, money
from rules.commitment_coverage import hourly_unit
from rules.queries import resource_costs

# GPUs (or Trainium chips) per instance, by instance type without the SageMaker ``ml.`` prefix.
GPUS_PER_INSTANCE: dict[str, int] = {
    "p4d.24xlarge": 8,
    "p4de.24xlarge": 8,
    "p5.48xlarge": 8,
    "p5e.48xlarge": 8,
    "p5en.48xlarge": 8,
    "p3.2xlarge": 1,
    "p3.8xlarge": 4,
    "p3.16xlarge": 8,
    "p3dn.24xlarge": 8,
    "g4dn.12xlarge": 4,
    "g4dn.metal": 8,
    "g5.12xlarge": 4,
    "g5.24xlarge": 4,
    "g5.48xlarge": 8,
    "g6.12xlarge": 4,
    "g6.24xlarge": 4,
    "g6.48xlarge": 8,
    "g6e.12xlarge": 4,
    "g6e.24xlarge": 4,
    "g6e.48xlarge": 8,
    "trn1.2xlarge": 1,
    "trn1.32xlarge": 16,
    "trn1n.32xlarge": 16,
    "trn2.48xlarge": 16,
    "g2-standard-24": 2,
    "g2-standard-48": 4,
    "g2-standard-96": 8,
}
# Single-GPU families (any other size of g4dn / g5 / g6 / g6e, the smaller g2-standard types).
_SINGLE_GPU = re.compile(r"^(g4dn|g5|g6|g6e)\.\d*x?large$|^g2-standard-(4|8|12|16|32)$")
# GCP accelerator-optimized types carry the GPU count: a2-highgpu-8g, a3-megagpu-8g, a2-ultragpu-4g.
_GCP_ACCEL = re.compile(r"^a\d+-[a-z]+-(\d+)g$")
# Parameter counts written as 70b, 1.5b, 8x7b (a mixture of experts: counted n × size).
_SIZE = re.compile(r"(?<![a-z0-9.])(?:(\d+)x)?(\d+(?:\.\d+)?)b(?![a-z0-9])")
_WORDS = re.compile(r"[^a-z0-9]+")
TUNING_HYPERPARAMETER = "_tuning_objective_metric"  # SageMaker HPO adds it to each trial job
_OFF = frozenset({"", "0", "false", "no", "none", "off", "null", "disabled"})


def gpus_per_instance(instance_type: str | None) -> int | None:
    """GPUs of one instance of ``instance_type`` (``ml.p4d.24xlarge``, ``a2-highgpu-8g``)."""
    if not instance_type:
        return None
    name = instance_type.lower().removeprefix("ml.")
    if name in GPUS_PER_INSTANCE:
        return GPUS_PER_INSTANCE[name]
    if _SINGLE_GPU.match(name):
        return 1
    accel = _GCP_ACCEL.match(name)
    return int(accel.group(1)) if accel else None


def model_billions(texts: Iterable[str]) -> float | None:
    """The largest parameter count (in billions) written in any of ``texts``."""
    sizes = []
    for text in texts:
        for experts, size in _SIZE.findall(text.lower()):
            sizes.append(float(size) * (int(experts) if experts else 1))
    return max(sizes) if sizes else None


class LoraConfig(RuleConfig):
    min_gpus: int = Field(8, ge=1, description="GPUs of a job that is worth a look")
    min_model_billions: float = Field(30.0, gt=0, description="or a base model at least this big")
    lora_gpu_share: Decimal = Field(
        Decimal("0.25"), gt=0, lt=1, description="share of the GPUs a LoRA/QLoRA run needs"
    )
    peft_markers: tuple[str, ...] = Field(
        ("lora", "qlora", "peft", "adapter", "ia3", "dora"),
        description="words (or word prefixes) that mean parameter-efficient fine-tuning",
    )
    finetune_markers: tuple[str, ...] = Field(
        (
            "ft",
            "finetune",
            "finetuned",
            "finetuning",
            "tune",
            "tuning",
            "sft",
            "dpo",
            "rlhf",
            "orpo",
            "kto",
            "instruct",
        ),
        description="words that mark a fine-tune (LoRA cannot replace pre-training)",
    )
    hpo_markers: tuple[str, ...] = Field(
        (
            "hpo",
            "hpt",
            "hyperparameter",
            "hyperparameters",
            "hyperparam",
            "hparam",
            "hparams",
            "sweep",
        ),
        description="words of a job name / tag that mark a hyperparameter-tuning trial",
    )
    base_model_keys: tuple[str, ...] = Field(
        ("model_name_or_path", "base_model", "model_id", "pretrained_model", "model_name"),
        description="hyperparameters naming the model being fine-tuned",
    )
    require_finetune: bool = Field(True, description="skip jobs not recognisably fine-tunes")
    min_monthly_savings: Decimal = Field(Decimal("10"), ge=0, description="smaller is noise")


@dataclass(frozen=True)
class _Job:
    name: str
    gpus: int | None
    gpu_source: str
    billions: float | None
    peft: str | None  # what gave PEFT away
    finetune: str | None  # what marks it a fine-tune
    hpo: str | None  # what marks it a hyperparameter-tuning trial
    hyperparameters_known: bool


class LoraInsteadOfFullFinetune(Rule[LoraConfig]):
    meta = RuleMeta(
        rule_id="lora-instead-of-full-finetune",
        title="Fine-tune with LoRA / QLoRA instead of all weights",
        family="training",
        description=(
            "Full fine-tuning jobs (no PEFT hyperparameter) on {min_gpus} or more GPUs or of a "
            "{min_model_billions:g}B+ base model; LoRA / QLoRA adapters reach similar quality on "
            "a fraction of the GPUs."
        ),
        sources=(
            "https://arxiv.org/abs/2106.09685",
            "https://arxiv.org/abs/2305.14314",
            "https://huggingface.co/docs/peft/main/en/conceptual_guides/lora",
        ),
    )

    def evaluate(self, ctx: RuleContext) -> Iterable[Candidate]:
        cfg = self.config
        for rid, attrs, currency, cost in self._jobs(ctx):
            job = self._read(rid, attrs, cfg)
            big_gpus = job.gpus is not None and job.gpus >= cfg.min_gpus
            big_model = job.billions is not None and job.billions >= cfg.min_model_billions
            if job.peft or job.hpo or not (big_gpus or big_model):
                continue
            if cfg.require_finetune and not job.finetune:
                continue
            cost = money(cost)
            saved = cost * (1 - cfg.lora_gpu_share)
            monthly = ctx.monthly(saved).quantize(CENT)
            if monthly < cfg.min_monthly_savings:
                continue
            hours = _number(attrs.get("training_seconds"))
            gpu_hours = job.gpus * hours / 3600 if job.gpus and hours else None
            why = [f"{job.gpus} GPUs"] if big_gpus else []
            why += [f"a {job.billions:g}B model"] if big_model else []
            yield Candidate(
                subject=rid,
                title=f"Fine-tuning without LoRA / PEFT on {' and '.join(why)}",
                recommendation=(
                    "Try LoRA / QLoRA adapters for this fine-tune on about "
                    f"{float(cfg.lora_gpu_share) * 100:g} % of the GPUs, and keep full "
                    "fine-tuning only if an evaluation shows a quality gap."
                ),
                monthly_savings=monthly,
                currency=currency,
                confidence="low",
                evidence={
                    "job_name": job.name,
                    "gpus": job.gpus,
                    "gpu_source": job.gpu_source,
                    "model_billions": job.billions,
                    "finetune_evidence": job.finetune,
                    "hyperparameters_known": job.hyperparameters_known,
                    "training_hours": round(hours / 3600, 2) if hours else None,
                    "gpu_hours": round(gpu_hours, 2) if gpu_hours else None,
                    "gpu_hour_rate": (
                        str((cost / Decimal(str(gpu_hours))).quantize(Decimal("0.0001")))
                        if gpu_hours
                        else None
                    ),
                    "cost_in_window": str(cost),
                    "lora_gpu_share": str(cfg.lora_gpu_share),
                    "savings_in_window": str(saved.quantize(CENT)),
                    "window_days": str(ctx.days),
                    "formula": "GPU-hours × rate (= job cost) × (1 − LoRA GPU share) × 730 h / "
                    "window hours",
                },
            )

    # -- SQL -------------------------------------------------------------------------------------
    @staticmethod
    def _jobs(ctx: RuleContext) -> Iterator[tuple[str, dict[str, Any], str, Any]]:
        """(job, attributes, currency, effective cost of its instance-hour rows in the window)."""
        r = Resource
        jobs = select(r.resource_id).where(r.resource_type == "training_job")
        cost = resource_costs(ctx, CostLineItem.resource_id.in_(jobs), hourly_unit())
        query = (
            select(cost.c.resource_id, r.attributes, cost.c.currency, cost.c.cost)
            .join(r, r.resource_id == cost.c.resource_id)
            .order_by(cost.c.resource_id, cost.c.currency)
        )
        for rid, attrs, currency, amount in ctx.conn.execute(query):
            if isinstance(attrs, str):
                attrs = json.loads(attrs)
            yield rid, attrs if isinstance(attrs, dict) else {}, currency, amount

    # -- reading the inventory -------------------------------------------------------------------
    @staticmethod
    def _read(rid: str, attrs: Mapping[str, Any], cfg: LoraConfig) -> _Job:
        name = str(attrs.get("job_name") or attrs.get("display_name") or rid.rsplit("/", 1)[-1])
        raw_hp = attrs.get("hyperparameters")
        hp: dict[str, str] = (
            {str(k): str(v) for k, v in raw_hp.items()} if isinstance(raw_hp, dict) else {}
        )
        tags = {**_dict(attrs.get("labels")), **_dict(attrs.get("tags"))}
        labelled = [name, *(f"{k} {v}" for k, v in tags.items())]

        def words(text: str) -> list[str]:
            return [w for w in _WORDS.split(text.lower()) if w]

        def is_peft(word: str) -> bool:
            return any(word.startswith(m) for m in cfg.peft_markers)

        peft = None
        for key, value in hp.items():
            named = any(is_peft(w) for w in words(key)) and value.strip().lower() not in _OFF
            if named or any(is_peft(w) for w in words(value)):
                peft = f"hyperparameter {key}={value}"
        for text in labelled:
            if peft is None and any(is_peft(w) for w in words(text)):
                peft = f"name/tag {text!r}"

        model_texts = [*labelled, *hp.values(), str(attrs.get("model_id") or "")]
        billions = model_billions(model_texts)
        finetune = None
        for text in [*labelled, *hp.keys(), *hp.values()]:
            hit = sorted(set(words(text)) & set(cfg.finetune_markers))
            if hit:
                finetune = f"{hit[0]!r} in {text!r}"
                break
        if finetune is None:
            base = [k for k in hp if k.lower() in cfg.base_model_keys]
            if base:
                finetune = f"hyperparameter {base[0]}={hp[base[0]]}"
            elif billions is not None:
                finetune = f"a {billions:g}B base model"

        hpo = None
        for key in ("tuning_job_arn", "tuning_job_name"):
            if attrs.get(key):
                hpo = f"{key} {attrs[key]}"
        if hpo is None and any(k.lower() == TUNING_HYPERPARAMETER for k in hp):
            hpo = f"hyperparameter {TUNING_HYPERPARAMETER} (set by automatic model tuning)"
        for text in labelled:
            hit = sorted(set(words(text)) & set(cfg.hpo_markers))
            if hpo is None and hit:
                hpo = f"{hit[0]!r} in {text!r}"

        gpus, source = LoraInsteadOfFullFinetune._gpus(attrs)
        return _Job(name, gpus, source, billions, peft, finetune, hpo, isinstance(raw_hp, dict))

    @staticmethod
    def _gpus(attrs: Mapping[str, Any]) -> tuple[int | None, str]:
        """Total GPUs of the job: instances × GPUs per instance."""
        count = _number(attrs.get("instance_count")) or _number(attrs.get("replica_count")) or 1
        for key in ("accelerator_count", "gpu_count"):
            per = _number(attrs.get(key))
            if per:
                return int(per * count), f"{key} × instance count"
        itype = attrs.get("instance_type") or attrs.get("machine_type")
        per_instance = gpus_per_instance(str(itype) if itype else None)
        if per_instance is None:
            return None, "unknown instance type"
        return int(per_instance * count), f"{itype} has {per_instance} per instance"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
