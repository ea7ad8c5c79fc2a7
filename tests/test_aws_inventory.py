"""``aws_inventory`` against moto in server mode, plus local fakes for what moto lacks.

Resources are created through boto3 in moto (SageMaker, Application Auto Scaling, OpenSearch
Serverless, EC2); the collector is configured as a user would (``endpoint_url``, and
``endpoint_urls`` for one service) and run through the pipeline.  moto has no Bedrock provisioned
throughput and no training/billable seconds, so ``tests.aws_fakes`` answers those over HTTP.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from sqlalchemy import Engine, select

from agent.config import load_settings
from agent.pipeline import SourceOutcome, collect_all
from agent.store.schema import CollectionRun, Resource
from collectors.aws.inventory import AwsInventoryConfig
from collectors.base import validate_source
from tests import aws_fakes
from tests.aws_servers import free_port

ACCOUNT = "123456789012"  # moto's default account
ROLE = f"arn:aws:iam::{ACCOUNT}:role/sagemaker"
PT_ARN = f"arn:aws:bedrock:us-east-1:{ACCOUNT}:provisioned-model/abcd1234efgh"
PT_ARN_2 = f"arn:aws:bedrock:us-east-1:{ACCOUNT}:provisioned-model/ijkl5678mnop"
HAIKU = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku"
TITAN = "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0"
HF = "ml.g4dn.xlarge"  # moto rejects newer instance types in endpoint configs


# -- seeding moto --------------------------------------------------------------------------------
def client(url: str, service: str, region: str = "us-east-1", **creds: str) -> Any:
    return boto3.client(service, region_name=region, endpoint_url=url, **creds)


def endpoint(
    sm: Any, name: str, *variants: tuple[str, str, int], tags: dict[str, str] | None = None
) -> None:
    """An endpoint with one model per variant (name, instance type, count)."""
    for variant, _, _ in variants:
        sm.create_model(
            ModelName=f"{name}-{variant}",
            ExecutionRoleArn=ROLE,
            PrimaryContainer={"Image": "123.dkr.ecr.us-east-1.amazonaws.com/llm:1"},
        )
    sm.create_endpoint_config(
        EndpointConfigName=f"{name}-cfg",
        ProductionVariants=[
            {
                "VariantName": v,
                "ModelName": f"{name}-{v}",
                "InstanceType": itype,
                "InitialInstanceCount": n,
            }
            for v, itype, n in variants
        ],
    )
    sm.create_endpoint(
        EndpointName=name,
        EndpointConfigName=f"{name}-cfg",
        Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()],
    )


def scaling(url: str, endpoint_name: str, variant: str, lo: int, hi: int, policy: bool) -> None:
    aas = client(url, "application-autoscaling")
    resource = f"endpoint/{endpoint_name}/variant/{variant}"
    dim = "sagemaker:variant:DesiredInstanceCount"
    aas.register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=resource,
        ScalableDimension=dim,
        MinCapacity=lo,
        MaxCapacity=hi,
    )
    if policy:
        aas.put_scaling_policy(
            PolicyName="invocations",
            ServiceNamespace="sagemaker",
            ResourceId=resource,
            ScalableDimension=dim,
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": 70.0,
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
                },
            },
        )


def training_job(sm: Any, name: str, spot: bool) -> None:
    sm.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": "img:1", "TrainingInputMode": "File"},
        RoleArn=ROLE,
        InputDataConfig=[
            {
                "ChannelName": "train",
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://d/in"}},
            }
        ],
        OutputDataConfig={"S3OutputPath": "s3://d/out"},
        ResourceConfig={"InstanceType": "ml.p3.2xlarge", "InstanceCount": 2, "VolumeSizeInGB": 50},
        StoppingCondition={"MaxRuntimeInSeconds": 7200, "MaxWaitTimeInSeconds": 14400},
        EnableManagedSpotTraining=spot,
        HyperParameters={"epochs": "3", "hf_token": "hf_SuperSecretValue"},
        Tags=[{"Key": "workload", "Value": "training"}],
    )


def seed_sagemaker(url: str, region: str = "us-east-1", **creds: str) -> None:
    sm = client(url, "sagemaker", region, **creds)
    endpoint(sm, "Chat-Prod", ("AllTraffic", HF, 2), tags={"env": "prod", "team": "ml"})
    endpoint(sm, "embed-prod", ("AllTraffic", "ml.m5.xlarge", 3))
    endpoint(sm, "ab-test", ("A", HF, 1), ("B", "ml.m5.xlarge", 1))
    training_job(sm, "ft-spot-1", spot=True)
    sm.create_notebook_instance(
        NotebookInstanceName="Research-NB",
        InstanceType="ml.p3.2xlarge",
        RoleArn=ROLE,
        VolumeSizeInGB=200,
        Tags=[{"Key": "team", "Value": "research"}],
    )


def seed(url: str) -> None:
    seed_sagemaker(url)
    scaling(url, "Chat-Prod", "AllTraffic", 2, 4, policy=True)
    scaling(url, "ab-test", "A", 1, 3, policy=False)  # a target without a policy never scales
    aoss = client(url, "opensearchserverless")
    aoss.create_security_policy(
        name="rag-enc",
        type="encryption",
        policy=json.dumps(
            {
                "Rules": [{"ResourceType": "collection", "Resource": ["collection/rag-docs-prod"]}],
                "AWSOwnedKey": False,
                "KmsARN": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/rag",
            }
        ),
    )
    aoss.create_collection(
        name="rag-docs-prod",
        type="VECTORSEARCH",
        standbyReplicas="ENABLED",
        tags=[{"key": "team", "value": "search"}],
    )
    ec2 = client(url, "ec2")
    ami = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    for itype, tags in (
        ("g4dn.xlarge", {"workload": "inference"}),
        ("p4d.24xlarge", {}),
        ("m5.large", {}),
    ):
        spec = [
            {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        ]
        ec2.run_instances(
            ImageId=ami,
            MinCount=1,
            MaxCount=1,
            InstanceType=itype,
            **({"TagSpecifications": spec} if tags else {}),
        )


THROUGHPUTS = [
    {
        "provisionedModelName": "claude-pt",
        "provisionedModelArn": PT_ARN,
        "modelArn": HAIKU,
        "desiredModelArn": HAIKU,
        "foundationModelArn": HAIKU,
        "modelUnits": 2,
        "desiredModelUnits": 2,
        "status": "InService",
        "commitmentDuration": "OneMonth",
        "commitmentExpirationTime": "2026-12-01T00:00:00Z",
        "creationTime": "2026-11-01T00:00:00Z",
        "lastModifiedTime": "2026-11-01T00:00:00Z",
    },
    {
        "provisionedModelName": "embed-pt",
        "provisionedModelArn": PT_ARN_2,
        "modelArn": TITAN,
        "desiredModelArn": TITAN,
        "foundationModelArn": TITAN,
        "modelUnits": 1,
        "desiredModelUnits": 1,
        "status": "InService",
        "creationTime": "2026-11-02T00:00:00Z",
        "lastModifiedTime": "2026-11-02T00:00:00Z",
    },
]


# -- running ---------------------------------------------------------------------------------------
def source(url: str, **extra: Any) -> dict[str, Any]:
    return {"name": "inv", "type": "aws_inventory", "endpoint_url": url, **extra}


def run(engine: Engine, raw: dict[str, Any]) -> SourceOutcome:
    settings = load_settings(None).model_copy(update={"sources": [validate_source(raw)]})
    [outcome] = collect_all(engine, settings)
    return outcome


def stored(engine: Engine) -> dict[str, Resource]:
    with engine.connect() as conn:
        return {r.resource_id: r for r in conn.execute(select(Resource)).all()}


@pytest.fixture
def fakes(aws: str) -> Iterator[tuple[aws_fakes.FakeAws, aws_fakes.FakeAws]]:
    """SageMaker (moto + training seconds) and Bedrock fakes, serving for one test."""
    times = aws_fakes.training_times(aws, {"ft-spot-1": (5400, 1620)})
    bedrock = aws_fakes.bedrock(THROUGHPUTS, {PT_ARN: {"team": "ml", "env": "prod"}})
    with times, bedrock:
        yield times, bedrock


def full_source(aws: str, sagemaker: str, bedrock: str, **extra: Any) -> dict[str, Any]:
    return source(aws, endpoint_urls={"sagemaker": sagemaker, "bedrock": bedrock}, **extra)


# -- tests -----------------------------------------------------------------------------------------
def test_every_resource_type(engine: Engine, aws: str, fakes: Any) -> None:
    seed(aws)
    times, bedrock = fakes
    outcome = run(engine, full_source(aws, times.url, bedrock.url))
    assert outcome.status == "ok", outcome.error
    assert outcome.warnings == ()
    res = stored(engine)

    chat = res[f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/chat-prod"]  # lowercased, as CUR
    assert (chat.resource_type, chat.provider_name, chat.region_id) == (
        "sagemaker_endpoint",
        "AWS",
        "us-east-1",
    )
    a = chat.attributes
    assert a["endpoint_name"] == "Chat-Prod"
    assert (a["instance_type"], a["instance_count"]) == (HF, 2)
    assert (a["autoscaling_min"], a["autoscaling_max"]) == (2, 4)
    assert a["variant_name"] == "AllTraffic" and a["model"] == "Chat-Prod-AllTraffic"
    assert a["serverless"] is False and a["status"] == "InService"
    assert a["tags"] == {"env": "prod", "team": "ml"}
    assert "autoscaling_unknown" not in a

    embed = res[f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/embed-prod"].attributes
    assert (embed["instance_type"], embed["instance_count"]) == ("ml.m5.xlarge", 3)
    assert (embed["autoscaling_min"], embed["autoscaling_max"]) == (None, None)

    ab = res[f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/ab-test"].attributes
    assert (ab["instance_type"], ab["instance_count"], ab["variant_name"]) == (None, 2, None)
    assert ab["autoscaling_min"] is None  # target registered, but no scaling policy
    assert [
        (v["variant_name"], v["instance_type"], v["instance_count"]) for v in ab["variants"]
    ] == [
        ("A", HF, 1),
        ("B", "ml.m5.xlarge", 1),
    ]

    job = res[f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:training-job/ft-spot-1"]
    assert job.resource_type == "training_job"
    j = job.attributes
    assert (j["instance_type"], j["instance_count"], j["managed_spot"]) == (
        "ml.p3.2xlarge",
        2,
        True,
    )
    assert (j["training_seconds"], j["billable_seconds"]) == (5400, 1620)
    assert j["hyperparameters"] == {"epochs": "3", "hf_token": "***"}
    assert j["tags"] == {"workload": "training"}
    assert times.calls == ["SageMaker.DescribeTrainingJob"]

    nb = res[f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:notebook-instance/research-nb"]
    assert nb.resource_type == "notebook_instance"
    assert nb.attributes["notebook_name"] == "Research-NB"
    assert (nb.attributes["instance_type"], nb.attributes["volume_size_gb"]) == (
        "ml.p3.2xlarge",
        200,
    )
    assert nb.attributes["tags"] == {"team": "research"}

    pt = res[PT_ARN]
    assert pt.resource_type == "bedrock_provisioned_throughput"
    assert (pt.attributes["model_units"], pt.attributes["commitment_duration"]) == (2, "OneMonth")
    assert pt.attributes["tags"] == {"team": "ml", "env": "prod"}
    assert res[PT_ARN_2].attributes["tags"] == {}  # found on the second page

    [coll] = [r for r in res.values() if r.resource_type == "opensearch_collection"]
    assert coll.resource_id.startswith(f"arn:aws:aoss:us-east-1:{ACCOUNT}:collection/")
    c = coll.attributes
    assert (c["collection_name"], c["type"], c["standby_replicas"]) == (
        "rag-docs-prod",
        "VECTORSEARCH",
        "ENABLED",
    )
    assert c["tags"] == {"team": "search"}

    gpus = {
        r.attributes["instance_type"]: r for r in res.values() if r.resource_type == "gpu_instance"
    }
    assert sorted(gpus) == ["g4dn.xlarge", "p4d.24xlarge"]  # m5.large is not a GPU machine
    g4 = gpus["g4dn.xlarge"]
    assert g4.resource_id.startswith("i-")
    assert (g4.attributes["gpu_count"], g4.attributes["gpu_model"]) == (1, "NVIDIA T4")
    assert g4.attributes["state"] == "running" and g4.attributes["purchase_option"] == "on-demand"
    assert g4.attributes["tags"] == {"workload": "inference"}
    assert gpus["p4d.24xlarge"].attributes["gpu_count"] == 8

    assert len(res) == 3 + 1 + 1 + 2 + 1 + 2
    assert outcome.rows == len(res)
    with engine.connect() as conn:
        details = conn.execute(select(CollectionRun.details)).scalar_one()
    assert (
        details["requests"]["sagemaker"] > 0 and details["requests"]["bedrock"] == 4
    )  # 2 pages, 2 tag lookups
    assert outcome.api_requests == sum(details["requests"].values())


def test_rerun_upserts(engine: Engine, aws: str, fakes: Any) -> None:
    seed(aws)
    times, bedrock = fakes
    raw = full_source(aws, times.url, bedrock.url)
    run(engine, raw)
    first = {k: (r.first_seen, r.last_seen) for k, r in stored(engine).items()}
    time.sleep(0.01)
    assert run(engine, raw).status == "ok"
    second = {k: (r.first_seen, r.last_seen) for k, r in stored(engine).items()}
    assert second.keys() == first.keys()  # no duplicates
    for key, (seen_first, seen_last) in second.items():
        assert seen_first == first[key][0]
        assert seen_last > first[key][1]


def test_failing_services_become_warnings(engine: Engine, aws: str, fakes: Any) -> None:
    seed(aws)
    times, _ = fakes
    closed = f"http://127.0.0.1:{free_port()}"
    with aws_fakes.denied("GET /provisioned-model-throughputs") as bedrock:
        raw = source(
            aws,
            endpoint_urls={
                "sagemaker": times.url,
                "bedrock": bedrock.url,
                "opensearchserverless": closed,
            },
            max_attempts=1,
            backoff_attempts=1,
        )
        outcome = run(engine, raw)
    assert outcome.status == "ok"
    bedrock_warning, aoss_warning = outcome.warnings
    assert bedrock_warning.startswith("bedrock_provisioned_throughput in us-east-1")
    assert "AccessDeniedException" in bedrock_warning
    assert aoss_warning.startswith("opensearch_collection in us-east-1")
    types = {r.resource_type for r in stored(engine).values()}
    assert types == {"sagemaker_endpoint", "training_job", "notebook_instance", "gpu_instance"}


def test_autoscaling_denied_marks_endpoints(engine: Engine, aws: str) -> None:
    seed_sagemaker(aws)
    with aws_fakes.denied("AnyScaleFrontendService.DescribeScalingPolicies") as aas:
        raw = source(
            aws,
            resource_types=["sagemaker_endpoint"],
            endpoint_urls={"application-autoscaling": aas.url},
        )
        outcome = run(engine, raw)
    assert outcome.status == "ok"
    assert len(outcome.warnings) == 1 and "autoscaling" in outcome.warnings[0]
    chat = stored(engine)[f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/chat-prod"].attributes
    assert chat["autoscaling_unknown"] is True and chat["autoscaling_min"] is None
    assert chat["instance_count"] == 2


def test_all_failing_fails_the_run(engine: Engine, aws: str) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    raw = source(
        closed,
        resource_types=["gpu_instance", "notebook_instance"],
        max_attempts=1,
        backoff_attempts=1,
    )
    outcome = run(engine, raw)
    assert outcome.status == "failed"
    assert outcome.error and "no resource type could be read" in outcome.error
    assert stored(engine) == {}


def test_regions_and_service_availability(engine: Engine, aws: str) -> None:
    """A region without OpenSearch Serverless is skipped with a warning; the rest is read there."""
    session = boto3.session.Session()
    lacking = sorted(
        set(session.get_available_regions("sagemaker"))
        - set(session.get_available_regions("opensearchserverless"))
    )[0]
    seed_sagemaker(aws)
    seed_sagemaker(aws, lacking)
    raw = source(
        aws,
        regions=["us-east-1", lacking],
        resource_types=["sagemaker_endpoint", "opensearch_collection"],
    )
    outcome = run(engine, raw)
    assert outcome.status == "ok"
    assert outcome.warnings == (
        f"opensearch_collection: opensearchserverless is not offered in {lacking}; skipped",
    )
    regions = {r.region_id for r in stored(engine).values()}
    assert regions == {"us-east-1", lacking}
    assert f"arn:aws:sagemaker:{lacking}:{ACCOUNT}:endpoint/chat-prod" in stored(engine)


def test_accounts_through_assumed_roles(engine: Engine, aws: str) -> None:
    roles = [f"arn:aws:iam::{acct}:role/costagent" for acct in ("111122223333", "444455556666")]
    sts = client(aws, "sts")
    for role in roles:
        creds = sts.assume_role(RoleArn=role, RoleSessionName="seed")["Credentials"]
        sm = client(
            aws,
            "sagemaker",
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )
        endpoint(sm, "Chat", ("AllTraffic", HF, 1))
    outcome = run(engine, source(aws, role_arns=roles, resource_types=["sagemaker_endpoint"]))
    assert outcome.status == "ok"
    assert sorted(stored(engine)) == [
        "arn:aws:sagemaker:us-east-1:111122223333:endpoint/chat",
        "arn:aws:sagemaker:us-east-1:444455556666:endpoint/chat",
    ]


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="endpoint_urls"):
        validate_source(source("http://x", endpoint_urls={"sagemkr": "http://y"}))
    with pytest.raises(ValueError, match="resource_types"):
        validate_source(source("http://x", resource_types=["lambda"]))
    cfg = validate_source(source("http://x"))
    assert isinstance(cfg, AwsInventoryConfig) and cfg.training_jobs_days == 35
