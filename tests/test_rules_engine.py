"""The rules engine and ``spot-training``, on SQLite and PostgreSQL.

Data goes in through the same loader the collectors use (``collectors.load``); catalog prices
are rows of ``sku_prices`` as ``gcp_billing_api`` writes them.  Savings are checked against
figures worked by hand in the comments.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select, text

from agent.config import load_settings
from agent.store.findings import list_findings, set_status, total_savings
from agent.store.schema import Finding, SkuPrice
from collectors.load import load, table
from rules.base import configured_rules, validate_rule_configs
from rules.engine import analyze
from rules.spot_training import SpotTraining, SpotTrainingConfig
from tests.helpers import cli

NOW = datetime(2026, 11, 20, 12, 0)
AWS_JOB = "arn:aws:sagemaker:us-east-1:123456789012:training-job/llama-ft-7"
AWS_SPOT_JOB = "arn:aws:sagemaker:us-east-1:123456789012:training-job/llama-ft-spot"
GCP_JOB = "//compute.googleapis.com/projects/ml-prod/zones/us-central1-a/instances/trainer-a100"
SHORT_JOB = "arn:aws:sagemaker:us-east-1:123456789012:training-job/smoke-test"
A100 = "A100-ONDEMAND"
A100_SPOT = "A100-SPOT"


def cost_row(
    resource: str, day: int, amount: str, base: datetime = datetime(2026, 11, 1), **extra: Any
) -> dict[str, Any]:
    start = base + timedelta(days=day - 1)
    return {
        "provider_name": extra.pop("provider", "AWS"),
        "billing_account_id": "123456789012",
        "billing_period_start": datetime(2026, 11, 1),
        "billing_period_end": datetime(2026, 12, 1),
        "charge_period_start": start,
        "charge_period_end": start + timedelta(days=1),
        "charge_category": "Usage",
        "billed_cost": Decimal(amount),
        "effective_cost": Decimal(amount),
        "billing_currency": "USD",
        "service_name": extra.pop("service", "Amazon SageMaker"),
        "x_usage_type": extra.pop("usage_type", "USE1-Train:ml.p4d.24xlarge"),
        "resource_id": resource,
        **extra,
    }


def job(rid: str, provider: str, **attrs: Any) -> dict[str, Any]:
    return {
        "resource_id": rid,
        "provider_name": provider,
        "resource_type": "training_job",
        "region_id": "us-east-1",
        "observed_at": NOW,
        "attributes": json.dumps(attrs),
    }


def seed(engine: Engine, costs: list[dict[str, Any]], resources: list[dict[str, Any]]) -> None:
    settings = load_settings(None)
    load(engine, settings, "seed", [("cost", table("cost", costs))])
    load(engine, settings, "inv", [("resources", table("resources", resources))])


def prices(engine: Engine) -> None:
    """An A100 on-demand SKU at $2.933908/h and its Spot twin at $0.88017240/h (list prices)."""
    base = {
        "provider_name": "Google Cloud",
        "x_source": "gcp-billing",
        "service_id": "6F81-5844-456A",
        "service_name": "Compute Engine",
        "resource_family": "Compute",
        "resource_group": "GPU",
        "regions": ["us-central1", "us-east1"],
        "pricing_unit": "h",
        "currency": "USD",
        "tier_start": Decimal(0),
        "fetched_at": NOW,
    }
    with engine.begin() as conn:
        conn.execute(
            insert(SkuPrice),
            [
                {
                    **base,
                    "sku_id": A100,
                    "description": "Nvidia Tesla A100 GPU running in Americas",
                    "usage_type": "OnDemand",
                    "unit_price": Decimal("2.933908"),
                },
                {
                    **base,
                    "sku_id": A100_SPOT,
                    "description": "Spot Preemptible Nvidia Tesla A100 GPU running in Americas",
                    "usage_type": "Preemptible",
                    "unit_price": Decimal("0.8801724"),
                },
            ],
        )


def scenario(engine: Engine, base: datetime = datetime(2026, 11, 1)) -> None:
    """Days 2–8 after ``base`` (default: November 2026, inside the window ending at NOW)."""
    costs = [
        # AWS on-demand job: 4 days × $500 = $2,000 in the window.
        *(cost_row(AWS_JOB, d, "500", base) for d in (2, 3, 4, 5)),
        # AWS spot job (history: 36,000 training s, 10,800 billable s → 70 % realised).
        cost_row(AWS_SPOT_JOB, 6, "150", base, pricing_category="Dynamic"),
        # A 20-minute smoke test: left alone.
        cost_row(SHORT_JOB, 7, "40", base),
        # GCP GPU trainer: $1,000 of A100 (catalog discount 70 %) + $200 of a SKU the
        # catalog does not know (falls back to the default 60 %).
        cost_row(
            GCP_JOB,
            8,
            "1000",
            base,
            provider="Google Cloud",
            service="Compute Engine",
            usage_type="Nvidia Tesla A100 GPU running in Americas",
            sku_id=A100,
        ),
        cost_row(
            GCP_JOB,
            8,
            "200",
            base,
            provider="Google Cloud",
            service="Compute Engine",
            usage_type="N1 Predefined Instance Core running in Americas",
            sku_id="N1-CORE",
        ),
    ]
    resources = [
        job(AWS_JOB, "AWS", managed_spot=False, training_seconds=4 * 86_400),
        job(
            AWS_SPOT_JOB, "AWS", managed_spot=True, training_seconds=36_000, billable_seconds=10_800
        ),
        job(SHORT_JOB, "AWS", managed_spot=False, training_seconds=1_200),
        job(GCP_JOB, "Google Cloud", scheduling_strategy="STANDARD", training_seconds=86_400),
    ]
    seed(engine, costs, resources)
    prices(engine)


def run(engine: Engine, raw: dict[str, Any] | None = None, now: datetime = NOW) -> Any:
    return analyze(engine, configured_rules(raw or {}), window_days=30, now=now)


def test_spot_training_prices_the_what_if_from_catalog_history_and_default(
    engine: Engine,
) -> None:
    scenario(engine)
    result = run(engine)
    assert result.errors == {}
    found = {f["subject"]: f for f in list_findings(engine)}
    assert set(found) == {AWS_JOB, GCP_JOB}  # spot job and 20-minute job left alone
    # Window = 30 days = 720 h; monthly = in-window savings × 730 / 720.
    # AWS: $2,000 × 0.70 (realised: 1 − 10,800/36,000) = $1,400 → × 730/720 = $1,419.44
    aws = found[AWS_JOB]
    assert aws["monthly_savings"] == Decimal("1419.44")
    assert aws["confidence"] == "medium"
    assert aws["evidence"]["by_sku"][0]["discount_source"] == "realised"
    # GCP: $1,000 × (1 − 0.8801724/2.933908 = 0.70) + $200 × 0.60 = $820 → $831.39
    gcp = found[GCP_JOB]
    assert gcp["monthly_savings"] == Decimal("831.39")
    assert gcp["confidence"] == "low"  # part of it rests on the default discount
    by_sku = {s["sku_id"]: s for s in gcp["evidence"]["by_sku"]}
    assert by_sku[A100]["discount"] == "0.7000" and by_sku[A100]["discount_source"] == "catalog"
    assert by_sku["N1-CORE"]["discount_source"] == "default"
    assert gcp["evidence"]["on_demand_cost_in_window"] == "1200.000000000000"


def test_findings_keep_first_seen_and_status_and_resolve(engine: Engine) -> None:
    scenario(engine)
    first = run(engine)
    assert first.new == 2
    fp = f"spot-training:{AWS_JOB}"
    assert set_status(engine, fp, "acknowledged", reason="next quarter")
    later = NOW + timedelta(days=1)
    second = run(engine, now=later)
    assert (second.new, second.resolved) == (0, 0)
    rows = {f["fingerprint"]: f for f in list_findings(engine)}
    assert rows[fp]["status"] == "acknowledged"
    assert rows[fp]["first_seen"] == NOW and rows[fp]["last_seen"] == later
    # The job switches to spot: its finding resolves; the other stays open.
    seed(engine, [], [job(AWS_JOB, "AWS", managed_spot=True, training_seconds=4 * 86_400)])
    third = run(engine, now=later + timedelta(hours=1))
    assert third.resolved == 1
    assert {f["fingerprint"]: f["status"] for f in list_findings(engine)} == {
        fp: "resolved",
        f"spot-training:{GCP_JOB}": "open",
    }


def test_suppression_lapses_at_its_date(engine: Engine) -> None:
    scenario(engine)
    run(engine)
    fp = f"spot-training:{GCP_JOB}"
    set_status(engine, fp, "suppressed", until=NOW + timedelta(days=2), reason="migrating")
    run(engine, now=NOW + timedelta(days=1))
    assert {f["fingerprint"]: f["status"] for f in list_findings(engine)}[fp] == "suppressed"
    run(engine, now=NOW + timedelta(days=3))
    assert {f["fingerprint"]: f["status"] for f in list_findings(engine)}[fp] == "open"


def _finding_row(fp: str, status: str) -> dict[str, Any]:
    rule_id, _, subject = fp.partition(":")
    return {
        "fingerprint": fp,
        "rule_id": rule_id,
        "subject": subject,
        "status": status,
        "first_seen": NOW - timedelta(days=9),
        "last_seen": NOW - timedelta(days=1),
        "monthly_savings": Decimal("99"),
        "currency": "USD",
        "confidence": "low",
        "title": "t",
        "recommendation": "r",
        "evidence": {},
    }


def test_findings_of_a_disabled_or_removed_rule_are_resolved(engine: Engine) -> None:
    scenario(engine)
    run(engine)
    aws, gcp = f"spot-training:{AWS_JOB}", f"spot-training:{GCP_JOB}"
    set_status(engine, aws, "acknowledged")
    set_status(engine, gcp, "suppressed", reason="migrating")
    # Findings of a rule an upgrade removed (no longer registered): one open, one suppressed.
    with engine.begin() as conn:
        conn.execute(
            insert(Finding),
            [_finding_row("old-rule:a", "open"), _finding_row("old-rule:b", "suppressed")],
        )

    def statuses() -> dict[str, str]:
        return {f["fingerprint"]: f["status"] for f in list_findings(engine)}

    # A hand-picked subset of rules says nothing about the others: spot-training's findings
    # stay as they are (the removed rule's open one is resolved all the same).
    subset = [r for r in configured_rules({}) if r.rule_id == "idle-gpu"]
    assert analyze(engine, subset, window_days=30, now=NOW).retired == {"old-rule": 1}
    assert (statuses()[aws], statuses()["old-rule:a"]) == ("acknowledged", "resolved")
    # Turned off: its acknowledged finding resolves (it leaves the totals), the suppressed one
    # stays suppressed.
    off = configured_rules({"spot-training": {"enabled": False}})
    assert off.disabled == ("spot-training",)
    result = analyze(engine, off, window_days=30, now=NOW + timedelta(hours=1))
    assert result.retired == {"spot-training": 1} and result.resolved == 1
    assert "spot-training" not in result.produced
    found = statuses()
    assert (found[aws], found[gcp]) == ("resolved", "suppressed")
    assert (found["old-rule:a"], found["old-rule:b"]) == ("resolved", "suppressed")
    assert total_savings(list_findings(engine, "open")) == {}
    # Turned on again: the finding comes back open, first_seen kept.
    run(engine, now=NOW + timedelta(hours=2))
    rows = {f["fingerprint"]: f for f in list_findings(engine)}
    assert (rows[aws]["status"], rows[aws]["first_seen"]) == ("open", NOW)
    assert rows[gcp]["status"] == "suppressed"


def test_a_rule_that_raises_keeps_its_findings(engine: Engine) -> None:
    scenario(engine)
    run(engine)
    fp = f"spot-training:{AWS_JOB}"
    set_status(engine, fp, "acknowledged")
    # spot-training reads the inventory: without its table the rule raises (a real SQL error).
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE resources RENAME TO resources_gone"))
    rules = [r for r in configured_rules({}) if r.rule_id == "spot-training"]
    result = analyze(engine, rules, window_days=30, now=NOW + timedelta(days=1))
    assert list(result.errors) == ["spot-training"]
    assert (result.resolved, result.retired) == (0, {})
    rows = {f["fingerprint"]: f for f in list_findings(engine)}
    assert rows[fp]["status"] == "acknowledged" and rows[fp]["last_seen"] == NOW
    assert rows[f"spot-training:{GCP_JOB}"]["status"] == "open"


def test_totals_count_a_resource_once() -> None:
    findings = [
        {
            "subject": "a",
            "monthly_savings": Decimal("100"),
            "currency": "USD",
            "evidence": {},
            "resource_id": "ep-1",
        },
        {
            "subject": "b",
            "monthly_savings": Decimal("60"),
            "currency": "USD",
            "evidence": {},
            "resource_id": "ep-1",
        },
        {"subject": "c", "monthly_savings": Decimal("5.5"), "currency": "USD", "resource_id": None},
        {"subject": "d", "monthly_savings": Decimal("7"), "currency": "EUR", "resource_id": None},
    ]
    assert total_savings(findings) == {"USD": Decimal("105.5"), "EUR": Decimal("7")}


def test_rule_config_overrides_and_typos_fail_at_load(tmp_path: Path) -> None:
    configs = validate_rule_configs({"spot-training": {"default_discount": "0.5"}})
    cfg = configs["spot-training"]
    assert isinstance(cfg, SpotTrainingConfig) and cfg.default_discount == Decimal("0.5")
    with pytest.raises(ValueError, match=r"rules.spot-training.min_hour: unknown key"):
        validate_rule_configs({"spot-training": {"min_hour": 2}})
    with pytest.raises(ValueError, match="unknown rule id"):
        validate_rule_configs({"spot-trainig": {}})
    assert "spot-training" not in {
        r.rule_id for r in configured_rules({"spot-training": {"enabled": False}})
    }
    bad = tmp_path / "c.toml"
    bad.write_text("[rules.spot-training]\nmin_hour = 2\n")
    result = cli("--config", str(bad), "findings")
    assert result.exit_code == 2
    assert "min_hour: unknown key" in result.output
    assert SpotTraining.rule_id == "spot-training" and SpotTraining.sources


def test_cli_analyze_and_findings_json(engine: Engine, db_url: str) -> None:
    scenario(engine, base=datetime.now(UTC).replace(tzinfo=None) - timedelta(days=20))
    result = cli("--db", db_url, "analyze", "--window-days", "30", "--format", "json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["findings_by_rule"]["spot-training"] == 2
    listed = cli("--db", db_url, "findings", "--status", "open", "--format", "json")
    assert listed.exit_code == 0, listed.output
    items = json.loads(listed.output)
    assert [set(i) for i in items] == [
        {
            "fingerprint",
            "rule_id",
            "subject",
            "title",
            "recommendation",
            "monthly_savings",
            "currency",
            "confidence",
            "evidence",
            "status",
            "first_seen",
            "last_seen",
            "resource_id",
        }
    ] * 2
    fp = items[0]["fingerprint"]
    assert cli("--db", db_url, "findings", "suppress", fp, "--until", "2099-01-01").exit_code == 0
    assert fp not in {
        i["fingerprint"]
        for i in json.loads(
            cli("--db", db_url, "findings", "--status", "open", "--format", "json").output
        )
    }
    missing = cli("--db", db_url, "findings", "ack", "spot-training:nope")
    assert missing.exit_code == 1 and "costagent findings" in missing.output
    csv_text = cli("--db", db_url, "findings", "--format", "csv").output
    csv_rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert csv_text.startswith("fingerprint,rule_id,subject") and len(csv_rows) == 2
    # evidence is a JSON document, not a Python dict repr
    by_fp = {i["fingerprint"]: i for i in items}
    for row in csv_rows:
        assert json.loads(row["evidence"]) == by_fp[row["fingerprint"]]["evidence"]
    with engine.connect() as conn:
        assert conn.execute(select(Finding.status).where(Finding.fingerprint == fp)).scalar() == (
            "suppressed"
        )
