"""``deploy/aws-iam-policy.json`` grants exactly the read-only actions the collectors call.

The collectors' modules are read as source: every AWS service a module opens a client for
(``.client("s3", …)``), and every name in the module that is an API method of that service's
boto3 client, must be allowed by the policy — so a new call without a policy update fails
here, not in a customer's account.  The policy must also stay read-only.
"""

from __future__ import annotations

import ast
import fnmatch
import json
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[1]
POLICY = ROOT / "deploy" / "aws-iam-policy.json"
IAM_PREFIX = {"opensearchserverless": "aoss", "cloudwatch": "cloudwatch"}
# boto3 method → IAM action where the two differ.
SPECIAL = {("s3", "ListObjectsV2"): "s3:ListBucket", ("s3", "ListObjects"): "s3:ListBucket"}
NOT_API = {"can_paginate", "get_paginator", "get_waiter", "close", "generate_presigned_url"}
WRITE_VERBS = (
    "Create",
    "Delete",
    "Put",
    "Update",
    "Start",
    "Stop",
    "Modify",
    "Terminate",
    "Attach",
    "Detach",
    "Tag",
    "Untag",
    "Run",
    "Invoke",
    "Set",
    "Register",
)


def _modules() -> list[Path]:
    return sorted((ROOT / "collectors" / "aws").glob("*.py"))


def _calls(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    services = {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "client"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    }
    names = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    names |= {
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }
    actions = set()
    for service in services:
        client = boto3.session.Session(region_name="us-east-1").client(
            service,
            aws_access_key_id="x",
            aws_secret_access_key="x",
        )
        for method, operation in client.meta.method_to_api_mapping.items():
            if method in names and method not in NOT_API:
                prefix = IAM_PREFIX.get(service, client.meta.service_model.signing_name)
                actions.add(SPECIAL.get((service, operation), f"{prefix}:{operation}"))
    return actions


def _allowed() -> list[str]:
    doc = json.loads(POLICY.read_text())
    out: list[str] = []
    for stmt in doc["Statement"]:
        assert stmt["Effect"] == "Allow"
        acts = stmt["Action"]
        out.extend([acts] if isinstance(acts, str) else acts)
    return out


def test_policy_is_read_only() -> None:
    for action in _allowed():
        verb = action.split(":", 1)[1]
        assert not verb.startswith(WRITE_VERBS) or verb == "AssumeRole", action
        assert action != "*" and not action.endswith(":*"), action


@pytest.mark.parametrize("module", _modules(), ids=lambda p: p.name)
def test_every_call_is_allowed(module: Path) -> None:
    allowed = _allowed()
    missing = sorted(
        a for a in _calls(module) if not any(fnmatch.fnmatchcase(a, pattern) for pattern in allowed)
    )
    assert not missing, f"{module.name} calls actions missing from {POLICY.name}: {missing}"


def test_the_scan_sees_the_calls() -> None:
    """Guard against the scan finding nothing (and so passing vacuously)."""
    calls = _calls(ROOT / "collectors" / "aws" / "data_exports.py")
    assert {"s3:ListBucket", "s3:GetObject"} <= calls
    assert "ce:GetCostAndUsage" in _calls(ROOT / "collectors" / "aws" / "cost_explorer.py")
