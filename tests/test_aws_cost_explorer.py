"""``aws_cost_explorer`` against moto's Cost Explorer (queued canned responses, real HTTP).

moto answers ``GetCostAndUsage`` with the responses queued at
``/moto-api/static/ce/cost-and-usage-results``, one per request, so the tests control every
page: pagination, estimated days turning final, and the request budget.
"""

from __future__ import annotations

import json
import urllib.request
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from agent.store.money import money_sum
from agent.store.schema import CollectionRun
from agent.store.schema import CostLineItem as C
from collectors.aws.cost_explorer import AwsCostExplorerCollector, AwsCostExplorerConfig
from tests.helpers import cli
from tests.test_aws_data_exports import write_config

ACCOUNT = "123456789012"  # moto's account


def queue(url: str, *pages: dict[str, Any], account: str | None = None) -> None:
    payload: dict[str, Any] = {"results": list(pages)}
    if account:
        payload["account_id"] = account  # moto keeps one queue per account
    body = json.dumps(payload).encode()
    req = urllib.request.Request(
        f"{url}/moto-api/static/ce/cost-and-usage-results",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(req).read()


def group(
    service: str, usage: str, unblended: str, amortized: str, qty: str = "1"
) -> dict[str, Any]:
    return {
        "Keys": [service, usage],
        "Metrics": {
            "UnblendedCost": {"Amount": unblended, "Unit": "USD"},
            "AmortizedCost": {"Amount": amortized, "Unit": "USD"},
            "UsageQuantity": {"Amount": qty, "Unit": "N/A"},
        },
    }


def day(d: str, *groups: dict[str, Any], estimated: bool = False) -> dict[str, Any]:
    nxt = date.fromordinal(date.fromisoformat(d).toordinal() + 1).isoformat()
    return {
        "TimePeriod": {"Start": d, "End": nxt},
        "Groups": list(groups),
        "Total": {},
        "Estimated": estimated,
    }


def page(*days: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"ResultsByTime": list(days), "DimensionValueAttributes": []}
    if token:
        out["NextPageToken"] = token
    return out


def source(url: str, **extra: Any) -> dict[str, Any]:
    return {"name": "ce", "type": "aws_cost_explorer", "endpoint_url": url, **extra}


def by_day(engine: Engine) -> dict[str, tuple[Decimal, Decimal]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(C.x_slice, money_sum(C.billed_cost), money_sum(C.effective_cost))
            .group_by(C.x_slice)
            .order_by(C.x_slice)
        ).all()
    return {s.rsplit(":", 1)[1]: (b, e) for s, b, e in rows}


def last_run(engine: Engine) -> CollectionRun:
    with Session(engine) as s:
        run = s.scalars(select(CollectionRun).order_by(CollectionRun.id.desc())).first()
        assert run is not None
        return run


SAGEMAKER = "Amazon SageMaker"


def test_pages_followed_days_replaced_requests_counted(
    aws: str, engine: Engine, db_url: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "c.toml", [source(aws)])
    queue(
        aws,
        page(
            day("2026-11-01", group(SAGEMAKER, "USE1-Hosting:ml.g5.2xlarge", "36.36", "36.36")),
            day("2026-11-02", group(SAGEMAKER, "USE1-Train:ml.p4d.24xlarge", "75.376", "75.376")),
            token="page-2",
        ),
        page(
            day(
                "2026-11-03",
                group(SAGEMAKER, "USE1-Hosting:ml.g5.2xlarge", "30.0", "30.0"),
                group("Amazon Elastic Compute Cloud", "BoxUsage:g5.12xlarge", "5.672", "3.9704"),
                estimated=True,
            )
        ),
    )
    args = [
        "--config",
        str(config),
        "--db",
        db_url,
        "collect",
        "--since",
        "2026-11-01",
        "--until",
        "2026-11-03",
    ]
    result = cli(*args)
    assert result.exit_code == 0, result.output
    assert by_day(engine) == {
        "2026-11-01": (Decimal("36.36"), Decimal("36.36")),
        "2026-11-02": (Decimal("75.376"), Decimal("75.376")),
        "2026-11-03": (Decimal("35.672"), Decimal("33.9704")),
    }
    run = last_run(engine)
    assert (run.status, run.api_requests, run.api_cost) == ("ok", 2, Decimal("0.02"))
    with engine.connect() as conn:
        workloads = dict(
            conn.execute(
                select(C.x_usage_type, C.x_workload).where(C.service_name == SAGEMAKER)
            ).all()
        )
    assert workloads["USE1-Train:ml.p4d.24xlarge"] == "training"
    assert workloads["USE1-Hosting:ml.g5.2xlarge"] == "inference"

    # Next day: the estimated 3rd is final and lower, the 2nd now reports nothing at all.
    queue(
        aws,
        page(
            day("2026-11-02"),
            day("2026-11-03", group(SAGEMAKER, "USE1-Hosting:ml.g5.2xlarge", "29.5", "29.5")),
        ),
    )
    args[-3:] = ["2026-11-02", "--until", "2026-11-03"]
    assert cli(*args).exit_code == 0
    assert by_day(engine) == {
        "2026-11-01": (Decimal("36.36"), Decimal("36.36")),
        "2026-11-03": (Decimal("29.5"), Decimal("29.5")),
    }

    status = cli("--db", db_url, "status", "--format", "json")
    assert status.exit_code == 0, status.output
    (row,) = json.loads(status.stdout)["sources"]
    assert row["source"] == "ce" and row["requests (30 d)"] == 3 and row["cost (30 d)"] == "$0.03"


def test_request_budget_stops_cleanly_and_keeps_old_rows(
    aws: str, engine: Engine, db_url: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "c.toml", [source(aws, request_budget=1)])
    queue(aws, page(day("2026-11-01", group(SAGEMAKER, "USE1-Hosting:x", "1.5", "1.5"))))
    base = [
        "--config",
        str(config),
        "--db",
        db_url,
        "collect",
        "--since",
        "2026-11-01",
        "--until",
        "2026-11-01",
    ]
    assert cli(*base).exit_code == 0
    queue(
        aws,
        page(day("2026-11-01", group(SAGEMAKER, "USE1-Hosting:x", "9", "9")), token="more"),
        page(day("2026-11-01")),
    )
    # (moto answers a repeated identical request from its cache: ask for a wider window)
    result = cli(*base[:-1], "2026-11-02")
    assert result.exit_code == 0, result.output
    assert "request budget of 1 reached" in result.stderr
    assert by_day(engine) == {"2026-11-01": (Decimal("1.5"), Decimal("1.5"))}
    run = last_run(engine)
    assert run.status == "ok" and run.api_requests == 1
    assert "request budget" in run.details["warnings"][0]


def test_tag_grouping_keeps_service_usage_type_and_tag(
    aws: str, engine: Engine, db_url: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "c.toml", [source(aws, group_by_tag="workload")])
    queue(
        aws,
        page(
            day(
                "2026-11-01",
                group("Amazon Elastic Compute Cloud", "BoxUsage:g5.12xlarge", "10", "10"),
            )
        ),
        page(
            day(
                "2026-11-01",
                group("BoxUsage:g5.12xlarge", "workload$inference", "7", "7"),
                group("BoxUsage:g5.12xlarge", "workload$", "3", "3"),
            )
        ),
    )
    result = cli(
        "--config",
        str(config),
        "--db",
        db_url,
        "collect",
        "--since",
        "2026-11-01",
        "--until",
        "2026-11-01",
    )
    assert result.exit_code == 0, result.output
    with engine.connect() as conn:
        rows = conn.execute(
            select(C.service_name, C.x_usage_type, C.x_workload, C.billed_cost, C.tags).order_by(
                C.billed_cost
            )
        ).all()
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("Amazon Elastic Compute Cloud", "BoxUsage:g5.12xlarge", "other", Decimal("3")),
        ("Amazon Elastic Compute Cloud", "BoxUsage:g5.12xlarge", "inference", Decimal("7")),
    ]
    assert rows[1][4] == {"user_workload": "inference"}


def test_window_is_trailing_days_and_the_month_on_first_run() -> None:
    cfg = AwsCostExplorerConfig(name="ce", trailing_days=3)
    c = AwsCostExplorerCollector(cfg)
    today = date(2026, 11, 25)
    assert c._window(today, None, None, None) == (date(2026, 11, 1), date(2026, 11, 26))
    assert c._window(today, {"end": "2026-11-25"}, None, None) == (
        date(2026, 11, 22),
        date(2026, 11, 26),
    )
    # A run missed for a week: the gap is filled.
    assert c._window(today, {"end": "2026-11-15"}, None, None)[0] == date(2026, 11, 15)
    # Early in a month the trailing window reaches into the previous one.
    assert c._window(date(2026, 12, 2), {"end": "2026-12-02"}, None, None)[0] == date(2026, 11, 29)


def test_assumed_roles_collect_each_account_and_keep_secrets_out(
    aws: str, engine: Engine, db_url: str, tmp_path: Path
) -> None:
    roles = [
        "arn:aws:iam::111111111111:role/costagent-read",
        "arn:aws:iam::222222222222:role/costagent-read",
    ]
    config = write_config(
        tmp_path / "c.toml", [source(aws, role_arns=roles, external_id="s3cr3t-ext-id")]
    )
    queue(
        aws,
        page(day("2026-11-01", group(SAGEMAKER, "USE1-Hosting:x", "1", "1"))),
        account="111111111111",
    )
    queue(
        aws,
        page(day("2026-11-01", group(SAGEMAKER, "USE1-Hosting:x", "2", "2"))),
        account="222222222222",
    )
    result = cli(
        "-v",
        "--config",
        str(config),
        "--db",
        db_url,
        "collect",
        "--since",
        "2026-11-01",
        "--until",
        "2026-11-01",
    )
    assert result.exit_code == 0, result.output
    with engine.connect() as conn:
        accounts = dict(
            conn.execute(
                select(C.billing_account_id, money_sum(C.billed_cost)).group_by(
                    C.billing_account_id
                )
            ).all()
        )
    assert set(accounts) == {"111111111111", "222222222222"}
    assert sum(accounts.values()) == Decimal("3")
    run = last_run(engine)
    assert run.details["requests"]["sts"] == 4  # AssumeRole + GetCallerIdentity per account
    everything = result.output + result.stderr + json.dumps(run.details)
    assert "s3cr3t-ext-id" not in everything and "wJalr" not in everything
