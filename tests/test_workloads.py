"""Workload classification: defaults per DESIGN.md §5, tag override, user rules."""

from __future__ import annotations

import json

import pytest

from agent.config import ClassificationConfig, ClassificationRule
from agent.workloads import Classifier, model_of


@pytest.mark.parametrize(
    ("provider", "service", "usage", "expected"),
    [
        ("AWS", "Amazon SageMaker", "USE1-Hosting:ml.g5.2xlarge", "inference"),
        ("AWS", "Amazon SageMaker", "USE1-Host:ml.m5.large", "inference"),
        ("AWS", "Amazon SageMaker", "USE1-ServerlessInf:Mem-4GB", "inference"),
        ("AWS", "Amazon SageMaker", "USE1-AsyncInf:ml.g5.xlarge", "inference"),
        ("AWS", "Amazon SageMaker", "USE1-Train:ml.p4d.24xlarge", "training"),
        ("AWS", "Amazon SageMaker", "USE1-Notebk:ml.t3.medium", "other"),
        ("AWS", "Amazon Bedrock", "USE1-Claude3.5Sonnet-input-tokens", "inference"),
        ("AWS", "Amazon Bedrock", "USE1-ModelCustomization-Training", "training"),
        ("AWS", "Amazon Bedrock", "USE1-KnowledgeBase-Storage", "vector_storage"),
        ("AWS", "Amazon OpenSearch Service", "USE1-SearchOCU", "vector_storage"),
        ("AWS", "Amazon OpenSearch Service", "USE1-ES:r6g.large.search", "other"),
        ("AWS", "Amazon Elastic Compute Cloud", "BoxUsage:g5.12xlarge", "other"),
        (
            "Google Cloud",
            "Vertex AI",
            "Vertex AI: Online/Batch Prediction NVIDIA Tesla T4 GPU running in Americas",
            "inference",
        ),
        (
            "Google Cloud",
            "Vertex AI",
            "Custom Training NVIDIA A100 GPU running in Americas",
            "training",
        ),
        ("Google Cloud", "Vertex AI", "Gemini 1.5 Flash Input Text", "inference"),
        (
            "Google Cloud",
            "Vertex AI",
            "Vector Search Index Serving e2-standard-16",
            "vector_storage",
        ),
        ("Google Cloud", "BigQuery", "Analysis", "other"),
        ("Pinecone", "Pinecone", "Serverless Storage", "vector_storage"),
    ],
)
def test_defaults(provider: str, service: str, usage: str, expected: str) -> None:
    assert Classifier().classify_one(provider, service, usage, "", None) == expected


def test_tag_overrides_everything() -> None:
    c = Classifier(ClassificationConfig(rules=[ClassificationRule(workload="other", service="*")]))
    for key in ("workload", "user_workload"):
        tags = json.dumps({key: "Serving"})
        assert c.classify_one("AWS", "Amazon EC2", "BoxUsage:g5.xlarge", "", tags) == "inference"
    unknown = json.dumps({"workload": "batch-jobs"})
    assert c.classify_one("AWS", "Amazon SageMaker", "Hosting", "", unknown) == "other"


def test_custom_tag_key_and_rules() -> None:
    c = Classifier(
        ClassificationConfig(
            tag_key="ai-workload",
            rules=[
                ClassificationRule(workload="vector_storage", resource="*pgvector*"),
                ClassificationRule(workload="training", service="Amazon Elastic*", tag="team=ml-*"),
            ],
        )
    )
    tags = json.dumps({"user_ai-workload": "training"})
    assert c.classify_one("AWS", "Amazon RDS", "x", "", tags) == "training"
    assert c.classify_one("AWS", "Amazon RDS", "x", "", None, "db-pgvector-1") == "vector_storage"
    team = json.dumps({"team": "ml-research"})
    assert c.classify_one("AWS", "Amazon Elastic Compute Cloud", "BoxUsage", "", team) == (
        "training"
    )


def test_model_of() -> None:
    assert model_of("USE1-Hosting:ml.g5.2xlarge") == "ml.g5.2xlarge"
    assert model_of("BoxUsage:p4d.24xlarge") == "p4d.24xlarge"
    assert model_of("Gemini 1.5 Flash Input Text") == "Gemini 1.5 Flash"
    assert model_of("S3 storage") is None
