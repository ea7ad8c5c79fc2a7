"""Workload classification: inference, vector_storage, training or other (DESIGN.md §5).

Precedence, strongest first: the workload tag on the line item (``workload``, or ``user_workload``
as AWS spells user tags), then the user's ``[classification]`` rules, then the defaults below.
Work is done once per distinct (provider, service, usage type, description, tags[, resource])
combination, never per row: a month of CUR has millions of rows but a few thousand combinations.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

import pyarrow as pa
import pyarrow.compute as pc

from agent.settings import ClassificationConfig, ClassificationRule

_SEP = "\x1f"

# Values users put in a workload tag, mapped to the four workloads.
TAG_SYNONYMS = {
    "inference": "inference",
    "serving": "inference",
    "serve": "inference",
    "prediction": "inference",
    "online-inference": "inference",
    "training": "training",
    "train": "training",
    "fine-tuning": "training",
    "finetuning": "training",
    "fine_tuning": "training",
    "vector_storage": "vector_storage",
    "vector-storage": "vector_storage",
    "vector": "vector_storage",
    "vectordb": "vector_storage",
    "vector_db": "vector_storage",
    "embeddings-store": "vector_storage",
    "other": "other",
}


@dataclass(frozen=True)
class DefaultRule:
    """A built-in rule: a service pattern and a pattern on usage type / SKU description."""

    workload: str
    service: re.Pattern[str]
    text: re.Pattern[str]
    why: str


def _r(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


ANY = _r(r"")
#: AWS product codes as the names rules match on: an export without product names (a legacy
#: CUR with few columns) names the service by its code (``AmazonES``), which no name pattern knows.
PRODUCT_NAMES = {
    "AmazonES": "Amazon OpenSearch Service",
    "AmazonSageMaker": "Amazon SageMaker",
    "AmazonBedrock": "Amazon Bedrock",
    "AmazonBedrockService": "Amazon Bedrock",
    "AmazonKendra": "Amazon Kendra",
    "AmazonEC2": "Amazon Elastic Compute Cloud",
    "AmazonEKS": "Amazon Elastic Kubernetes Service",
    "AmazonECS": "Amazon Elastic Container Service",
    "AmazonS3": "Amazon Simple Storage Service",
}
DEFAULT_RULES: tuple[DefaultRule, ...] = (
    # Training first: "Bedrock model customization" and "Vertex AI custom training" also match
    # the service-wide inference rules below.
    DefaultRule("training", _r(r"sagemaker"), _r(r"train"), "SageMaker training usage"),
    DefaultRule(
        "training",
        _r(r"bedrock"),
        _r(r"customi[sz]ation|fine.?tun|continued.?pre"),
        "Bedrock model customization",
    ),
    DefaultRule(
        "training", _r(r"vertex|ai platform"), _r(r"train|tuning"), "Vertex AI training / tuning"
    ),
    DefaultRule(
        "vector_storage",
        _r(r"opensearch"),
        _r(r"ocu|serverless|vector"),
        "OpenSearch Serverless (OCU)",
    ),
    DefaultRule(
        "vector_storage",
        _r(r"vertex|ai platform"),
        _r(r"vector search|matching engine|index serving|index build"),
        "Vertex AI Vector Search",
    ),
    DefaultRule("vector_storage", _r(r"pinecone"), ANY, "Pinecone"),
    DefaultRule(
        "vector_storage", _r(r"bedrock"), _r(r"knowledge.?base"), "Bedrock Knowledge Bases"
    ),
    DefaultRule(
        "vector_storage",
        _r(r"azure (?:ai|cognitive) search"),
        ANY,
        "Azure AI Search (formerly Cognitive Search)",
    ),
    DefaultRule(
        "inference",
        _r(r"sagemaker"),
        _r(r"host|serverlessinf|asyncinf|inference"),
        "SageMaker hosting / serverless / async inference",
    ),
    DefaultRule("inference", _r(r"bedrock"), ANY, "Bedrock tokens and provisioned throughput"),
    DefaultRule(
        "inference",
        ANY,
        _r(r"-MP:.*(?:token|provisionedthroughput|modelunits)"),
        "Bedrock models sold through AWS Marketplace (Amazon Bedrock Edition)",
    ),
    DefaultRule(
        "inference",
        _r(r"vertex|ai platform"),
        _r(r"predict|online|serving|endpoint|gemini|token|character|generative"),
        "Vertex AI prediction and model serving",
    ),
    DefaultRule("inference", _r(r"gemini|generative language"), ANY, "Gemini API tokens"),
    DefaultRule(
        "inference",
        _r(r"azure openai|azure ai services|cognitive services|foundry (?:models|tools)"),
        ANY,
        "Azure OpenAI and Azure AI services",
    ),
    DefaultRule(
        "inference",
        _r(r"azure machine learning"),
        _r(r"endpoint|inference|deployment"),
        "Azure Machine Learning online endpoints",
    ),
    DefaultRule("training", _r(r"azure machine learning"), ANY, "Azure Machine Learning compute"),
    DefaultRule(
        "inference",
        _r(r"generative[ _-]?ai"),
        ANY,
        "FOCUS Generative AI services (LLM gateways, OCI Generative AI)",
    ),
    DefaultRule(
        "inference",
        _r(r"\b(?:openai|anthropic|mistral|cohere|deepseek|together|fireworks|groq)\b"),
        ANY,
        "LLM API providers",
    ),
    DefaultRule("inference", ANY, _r(r"gemini|claude|llama|mistral|\btokens?\b"), "LLM token SKUs"),
)

_MODEL_PATTERNS = (
    _r(r"\b(ml\.[a-z0-9-]+\.[a-z0-9]+)"),
    _r(r"\b((?:p[2-6][a-z]*|g[3-6][a-z]*|inf[12]|trn[12]n?|dl[12]q?)\.[0-9]*[a-z]*large)\b"),
    _r(r"\b(a[23]-(?:high|mega|ultra|edge)gpu-[0-9a-z]+|g2-standard-[0-9]+)\b"),
    _r(r"\b(gemini[ -][0-9.]+[ -](?:pro|flash(?:[ -]lite)?|ultra|nano))"),
    _r(r"\b(claude[ -]?[0-9.]*[ -]?(?:opus|sonnet|haiku|instant)[ -]?[0-9.]*)"),
    _r(r"\b((?:meta[ -])?llama[ -]?[0-9.]+[a-z0-9 .-]*?[0-9]+b)"),
    _r(r"\b(titan[ -](?:text|embed)[a-z0-9 -]*?v[0-9])"),
    _r(r"\b(gpt-[0-9][a-z0-9.-]*|o[1-9](?:-mini|-pro|-preview)?|text-embedding-[a-z0-9-]+)\b"),
    _r(r"\b((?:nvidia[ -])?(?:tesla[ -])?(?:a100|h100|h200|l4|t4|v100|a10g|l40s)(?:[ -]80gb)?)\b"),
)


def model_of(text: str) -> str | None:
    """Model or instance family named in a usage type or SKU description, when recognisable."""
    for pattern in _MODEL_PATTERNS:
        m = pattern.search(text)
        if m:
            return m.group(1).strip(" -.")
    return None


class Classifier:
    """Classifies canonical cost tables; built once per import from the configuration."""

    def __init__(self, config: ClassificationConfig | None = None) -> None:
        self.config = config or ClassificationConfig()
        self.tag_keys = (self.config.tag_key, f"user_{self.config.tag_key}")
        self.rules = tuple(self.config.rules)
        self.uses_resource = any(r.resource for r in self.rules)

    def tag_workload(self, tags_json: str | None) -> str | None:
        if not tags_json:
            return None
        try:
            tags = json.loads(tags_json)
        except ValueError:
            return None
        if not isinstance(tags, dict):
            return None
        for key in self.tag_keys:
            value = tags.get(key)
            if isinstance(value, str):
                workload = TAG_SYNONYMS.get(value.strip().lower())
                if workload:
                    return workload
        return None

    def classify_one(
        self,
        provider: str,
        service: str,
        usage_type: str,
        description: str,
        tags_json: str | None,
        resource: str = "",
        subcategory: str = "",
    ) -> str:
        tagged = self.tag_workload(tags_json)
        if tagged:
            return tagged
        for rule in self.rules:
            if _user_rule_matches(rule, provider, service, usage_type, resource, tags_json):
                return rule.workload
        # The defaults' service patterns see the provider, the service (and, for an AWS product
        # code, its name) and the FOCUS service subcategory ("Generative AI").
        who = " ".join(filter(None, (provider, service, PRODUCT_NAMES.get(service), subcategory)))
        text = f"{usage_type} {description}"
        for d in DEFAULT_RULES:
            if d.service.search(who) and d.text.search(text):
                return d.workload
        return "other"

    def tag_model(self, tags_json: str | None) -> str | None:
        """A model named by a ``model`` tag (LLM gateways tag their rows with it)."""
        if not tags_json or "model" not in tags_json:
            return None
        try:
            tags = json.loads(tags_json)
        except ValueError:
            return None
        value = tags.get("model", tags.get("user_model")) if isinstance(tags, dict) else None
        return value.strip() or None if isinstance(value, str) else None

    def classify(self, table: pa.Table) -> tuple[pa.Array, pa.Array]:
        """(x_workload, x_model) for every row, computed per distinct combination."""
        names = [
            "provider_name",
            "service_name",
            "x_usage_type",
            "charge_description",
            "tags",
            "service_subcategory",
        ]
        if self.uses_resource:
            names.append("resource_id")
        parts = [pc.fill_null(table.column(n).combine_chunks(), "") for n in names]
        key = pc.binary_join_element_wise(*parts, _SEP)
        uniq = pc.unique(key)
        workloads: list[str] = []
        models: list[str | None] = []
        for combo in uniq.to_pylist():
            fields = combo.split(_SEP)
            provider, service, usage, desc, tags, subcategory = fields[:6]
            resource = fields[6] if self.uses_resource else ""
            workloads.append(
                self.classify_one(
                    provider, service, usage, desc, tags or None, resource, subcategory
                )
            )
            models.append(
                self.tag_model(tags) or model_of(usage) or model_of(desc) or model_of(service)
            )
        idx = pc.index_in(key, uniq)
        return (
            pc.take(pa.array(workloads, pa.string()), idx),
            pc.take(pa.array(models, pa.string()), idx),
        )


def _glob(pattern: str | None, value: str) -> bool:
    return pattern is None or fnmatchcase(value.lower(), pattern.lower())


def _user_rule_matches(
    rule: ClassificationRule,
    provider: str,
    service: str,
    usage_type: str,
    resource: str,
    tags_json: str | None,
) -> bool:
    if not (
        _glob(rule.provider, provider)
        and _glob(rule.service, service)
        and _glob(rule.usage_type, usage_type)
        and _glob(rule.resource, resource)
    ):
        return False
    if rule.tag is None:
        return True
    key, _, pattern = rule.tag.partition("=")
    try:
        tags = json.loads(tags_json) if tags_json else {}
    except ValueError:
        return False
    value = tags.get(key) if isinstance(tags, dict) else None
    return isinstance(value, str) and fnmatchcase(value.lower(), pattern.lower())


def workload_names() -> Sequence[str]:
    return ("inference", "vector_storage", "training", "other")
