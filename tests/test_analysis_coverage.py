"""Silence is not a fix: ``analyze`` resolves a finding only when its source had data to judge.

Before, ``analyze`` measured its window from the wall clock and resolved every finding no rule
produced: on a store whose data ended months ago (a backfilled export, the demo) it resolved
every open and acknowledged finding, and the weekly report said "No open findings".  Now a
finding whose every source is silent in the window keeps its status (``kept_unjudged``), a
window without any data exits 1 naming ``--as-of latest``, and ``--as-of DATE|latest`` moves
the window.  On SQLite and PostgreSQL, data loaded through the collectors' loader.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from agent.config import load_settings
from agent.store.findings import list_findings, set_status
from collectors.load import load, table
from tests.helpers import cli
from tests.test_rules_engine import (
    A100,
    AWS_JOB,
    GCP_JOB,
    NOW,
    cost_row,
    job,
    prices,
    run,
    scenario,
)


def _statuses(engine: Engine) -> dict[str, str]:
    return {f["fingerprint"]: f["status"] for f in list_findings(engine)}


def test_a_window_past_the_data_resolves_nothing(engine: Engine) -> None:
    scenario(engine)
    first = run(engine)
    assert first.new == 2 and not first.no_data
    aws = f"spot-training:{AWS_JOB}"
    assert set_status(engine, aws, "acknowledged", reason="moving to spot in Q1")
    before = _statuses(engine)

    later = run(engine, now=NOW + timedelta(days=90))  # the data ended 3 months before
    assert later.no_data and later.resolved == 0
    assert sum(later.kept.values()) == 2
    assert _statuses(engine) == before  # the acknowledged one too


def test_a_silent_source_keeps_its_findings_a_live_one_resolves_its_own(engine: Engine) -> None:
    """GCP's export stopped; AWS keeps delivering, and its job is over (nothing to save now)."""
    settings = load_settings(None)
    gcp = {"provider": "Google Cloud", "service": "Compute Engine", "sku_id": A100,
           "usage_type": "Nvidia Tesla A100 GPU running in Americas"}  # fmt: skip
    load(engine, settings, "aws-cur", [("cost", table("cost", [
        cost_row(AWS_JOB, d, "500") for d in (2, 3, 4, 5)]))])  # fmt: skip
    load(engine, settings, "gcp-billing", [("cost", table("cost", [
        cost_row(GCP_JOB, 8, "1000", **gcp)]))])  # fmt: skip
    load(engine, settings, "inv", [("resources", table("resources", [
        job(AWS_JOB, "AWS", managed_spot=False, training_seconds=4 * 86_400),
        job(GCP_JOB, "Google Cloud", scheduling_strategy="STANDARD", training_seconds=86_400),
    ]))])  # fmt: skip
    prices(engine)
    assert run(engine).new == 2

    later = NOW + timedelta(days=40)
    load(engine, settings, "aws-cur", [("cost", table("cost", [
        cost_row("arn:aws:s3:::logs", 1, "3", base=later - timedelta(days=3), service="S3",
                 billing_period_start=datetime(2026, 12, 1)),
    ]))])  # fmt: skip
    result = run(engine, now=later)
    assert not result.no_data and result.live_sources == {"aws-cur"}
    assert result.resolved == 1 and result.kept == {"gcp-billing, inv": 1}
    assert _statuses(engine) == {
        f"spot-training:{AWS_JOB}": "resolved",
        f"spot-training:{GCP_JOB}": "open",
    }


def test_cli_as_of_latest_and_a_date(engine: Engine, db_url: str) -> None:
    scenario(engine, base=datetime(2026, 8, 1))  # August: long before today's window
    stale = cli("--db", db_url, "analyze")
    assert stale.exit_code == 1
    assert "no data in the analysis window" in stale.stderr
    assert "--as-of latest" in stale.stderr
    assert list_findings(engine) == []

    latest = cli("--db", db_url, "analyze", "--as-of", "latest", "--format", "json")
    assert latest.exit_code == 0, latest.output
    payload: dict[str, Any] = json.loads(latest.stdout)
    assert payload["window"][1] == "2026-08-09T00:00:00"  # midnight after the newest charge
    assert payload["findings_by_rule"]["spot-training"] == 2 and not payload["no_data"]

    # a day in the data's month, then one after it: the findings are kept, not resolved
    on_day = cli("--db", db_url, "analyze", "--as-of", "2026-08-20", "--format", "json")
    assert json.loads(on_day.stdout)["window"][1] == "2026-08-21T00:00:00"
    assert cli("--db", db_url, "analyze", "--as-of", "2026-12-01").exit_code == 1
    assert {f["status"] for f in list_findings(engine)} == {"open"}

    bad = cli("--db", db_url, "analyze", "--as-of", "yesterday")
    assert bad.exit_code == 2 and "--as-of 'yesterday'" in bad.stderr


def test_a_silent_source_is_named_in_the_warning(engine: Engine, db_url: str) -> None:
    scenario(engine, base=datetime(2026, 8, 1))
    assert cli("--db", db_url, "analyze", "--as-of", "latest").exit_code == 0
    settings = load_settings(None)
    load(engine, settings, "aws-cur", [("cost", table("cost", [
        cost_row("arn:aws:s3:::logs", 1, "3", base=datetime(2026, 11, 1), service="S3"),
    ]))])  # fmt: skip
    load(engine, settings, "inv2", [("resources", table("resources", [
        job("other", "AWS", managed_spot=True, training_seconds=10),
    ]))])  # fmt: skip
    result = cli("--db", db_url, "analyze", "--as-of", "2026-11-20")
    assert result.exit_code == 0, result.output
    assert "no data in the window from inv, seed: 2 finding(s) kept" in result.stdout


def test_the_end_of_an_llm_only_store_is_its_newest_bucket(engine: Engine) -> None:
    """A team that pays OpenAI directly may hold no billing export at all: ``--as-of latest``
    (and ``report --latest``) ends at its newest usage bucket, not at today."""
    from sqlalchemy import insert

    from agent.store.findings import end_of_data
    from agent.store.schema import LlmUsage

    with engine.begin() as conn:
        conn.execute(insert(LlmUsage), [{
            "x_source": "openai", "x_slice": "openai:completions:2026-08-09",
            "bucket_start": datetime(2026, 8, 9), "bucket_end": datetime(2026, 8, 10),
            "provider": "openai", "operation": "chat", "model": "gpt-4o", "requests": 3,
            "input_tokens": 10, "output_tokens": 1,
        }])  # fmt: skip
    assert end_of_data(engine) == datetime(2026, 8, 10)
