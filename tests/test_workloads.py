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
        # Bedrock models sold through AWS Marketplace ("Amazon Bedrock Edition"), named or by
        # their Marketplace product code
        (
            "AWS",
            "Claude 3 Haiku (Amazon Bedrock Edition)",
            "USE1-MP:USE1_InputTokenCount-Units",
            "inference",
        ),
        ("AWS", "7zgyu5r4ab12cd34ef56gh78", "USE1-MP:USE1_OutputTokenCount-Units", "inference"),
        (
            "AWS",
            "7zgyu5r4ab12cd34ef56gh78",
            "USW2-MP:USW2_input_tokens_standard-Units",
            "inference",
        ),
        # AWS product codes where the export names no product
        ("AWS", "AmazonES", "USE1-IndexingOCU", "vector_storage"),
        ("AWS", "AmazonES", "USE1-SearchOCU", "vector_storage"),
        ("AWS", "AmazonSageMaker", "USE1-Hosting:ml.g5.2xlarge", "inference"),
        # Azure and OCI rows of FOCUS exports
        ("Microsoft", "Azure AI Services", "gpt-4o-0513 Inp glbl Tokens", "inference"),
        ("Microsoft", "Azure OpenAI", "gpt-4o-mini-0718 Outp regnl Tokens", "inference"),
        ("Microsoft", "Foundry Models", "Llama-3.3-70B-Instruct Input Tokens", "inference"),
        ("Microsoft", "Azure Machine Learning", "Virtual Machines Dv2/DSv2 Series", "training"),
        ("Microsoft", "Azure Machine Learning", "Managed Online Endpoint NC6s v3", "inference"),
        ("Microsoft", "Azure AI Search", "Standard S1 Unit", "vector_storage"),
        ("Microsoft", "Azure Cognitive Search", "Basic Unit", "vector_storage"),
        ("Oracle", "GENERATIVE_AI", "Large Cohere - Input Characters", "inference"),
        ("Microsoft", "Virtual Machines", "Premium SSD Managed Disks", "other"),
    ],
)
def test_defaults(provider: str, service: str, usage: str, expected: str) -> None:
    assert Classifier().classify_one(provider, service, usage, "", None) == expected


def test_focus_generative_ai_subcategory_is_inference() -> None:
    """An LLM gateway's FOCUS export (LiteLLM) names the model as the service and tags the row
    with FOCUS's "Generative AI" subcategory."""
    c = Classifier()
    assert c.classify_one("litellm", "my-router", "", "", None, subcategory="Generative AI") == (
        "inference"
    )
    assert c.classify_one("openai", "gpt-4o-mini", "", "", None) == "inference"


@pytest.mark.parametrize(
    ("text", "model"),
    [
        ("Claude 3 Haiku (Amazon Bedrock Edition)", "Claude 3 Haiku"),
        ("Claude Sonnet 4.6 (Amazon Bedrock Edition)", "Claude Sonnet 4.6"),
        ("gpt-4o-mini", "gpt-4o-mini"),
        ("text-embedding-3-small", "text-embedding-3-small"),
        ("io1 provisioned IOPS", None),
    ],
)
def test_model_names(text: str, model: str | None) -> None:
    assert model_of(text) == model


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
