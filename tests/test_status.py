"""``costagent status``: the JSON shape and its figures on a small store (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import time_machine
from alembic import command
from sqlalchemy import Engine, event, insert, select

from agent import daemon_lock
from agent.store import daily
from agent.store.engine import alembic_config, current_revision, head_revision, make_engine
from agent.store.schema import (
    CollectionRun,
    CostLineItem,
    DaemonLock,
    Delivery,
    Finding,
    JobRun,
    LlmRequest,
    UsageMetric,
)
from tests.helpers import cli

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # a Wednesday
T = NOW.replace(tzinfo=None)


def db_clock(engine: Engine) -> datetime:
    """The database's own time: heartbeats are written and aged on it, not on ours."""
    with engine.connect() as conn:
        value = conn.execute(select(daemon_lock.db_now())).scalar_one()
    assert isinstance(value, datetime)
    return value


def fill(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(CostLineItem),
            [
                {
                    "x_source": "aws-cur",
                    "x_slice": "aws-cur:1:2026-11",
                    "x_workload": "inference",
                    "charge_period_start": T - timedelta(days=d, hours=1),
                    "effective_cost": Decimal("1.10"),
                    "billing_currency": "USD",
                }
                for d in (1, 2, 3)
            ]
            + [
                {
                    "x_source": "gcp-bq",
                    "x_slice": "gcp-bq:2026-11-20",
                    "x_workload": "training",
                    "charge_period_start": datetime(2026, 11, 20),
                    "effective_cost": Decimal("5"),
                    "billing_currency": "EUR",
                }
            ],
        )
        daily.rebuild(conn)  # as every load does: status reads billing freshness from it
        conn.execute(
            insert(UsageMetric),
            [
                {
                    "resource_id": "ep-1",
                    "metric": "invocations",
                    "ts": T - timedelta(hours=h),
                    "period_s": 3600,
                    "value": 1.0,
                    "stat": "Sum",
                    "x_source": "aws-metrics",
                }
                for h in (2, 3)
            ],
        )
        conn.execute(
            insert(LlmRequest).values(
                x_request_key="k1",
                ts=datetime(2026, 11, 24, 23, 59, 1),
                model="m",
                operation="chat",
                x_source="gateway",
            )
        )
        conn.execute(
            insert(CollectionRun).values(
                source="aws-cur",
                kind="aws_data_exports",
                status="ok",
                rows=3,
                started_at=T - timedelta(hours=1),
                finished_at=T - timedelta(hours=1),
                api_requests=2,
            )
        )
        runs = [
            ("collect", "ok", None, 5),
            ("collect", "failed", "aws-cur: AccessDenied", 4),
            ("collect", "failed", "aws-cur: AccessDenied", 3),
            ("collect", "failed", "aws-cur: AccessDenied", 2),
            ("analyze", "failed", "boom", 4),
            ("analyze", "ok", None, 3),
        ]
        for job, status, error, hours in runs:
            conn.execute(
                insert(JobRun).values(
                    job=job,
                    status=status,
                    error=error,
                    started_at=T - timedelta(hours=hours),
                    finished_at=T - timedelta(hours=hours) + timedelta(minutes=1),
                )
            )
        for channel, status, error, days in [
            ("email", "ok", None, 9),
            ("email", "failed", "SMTP 535 authentication failed", 2),
            ("slack-webhook", "ok", None, 2),
        ]:
            conn.execute(
                insert(Delivery).values(
                    channel=channel,
                    target="finops@example.com" if channel == "email" else "#finops",
                    report_period="2026-W47",
                    status=status,
                    attempts=3 if error else 1,
                    error=error,
                    started_at=T - timedelta(days=days),
                    finished_at=T - timedelta(days=days),
                )
            )
        for fp, subject, amount, currency, status in [
            ("idle-endpoint:ep-1", "ep-1", "100.50", "USD", "open"),
            ("overprovisioned-endpoint:ep-1", "ep-1", "40", "USD", "open"),  # same resource
            ("spot-training:job-1", "job-1", "20.25", "USD", "open"),
            ("idle-gpu:vm-1", "vm-1", "7", "EUR", "open"),
            ("idle-gpu:vm-2", "vm-2", "1000", "EUR", "resolved"),
        ]:
            conn.execute(
                insert(Finding).values(
                    fingerprint=fp,
                    rule_id=fp.split(":")[0],
                    subject=subject,
                    status=status,
                    first_seen=T,
                    last_seen=T,
                    monthly_savings=Decimal(amount),
                    currency=currency,
                    confidence="high",
                    title="t",
                    recommendation="r",
                    resource_id=subject,
                )
            )


def write_config(tmp_path: Path, daemon: str = "") -> str:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'[report]\ntimezone = "Europe/Berlin"\n[schedule]\ncollect_metrics = "off"\n{daemon}\n'
    )
    return str(cfg)


def status(db_url: str, cfg: str, *args: str) -> tuple[int, str, str]:
    with time_machine.travel(NOW, tick=False):
        r = cli("--config", cfg, "--db", db_url, "status", *args)
    return r.exit_code, r.stdout, r.stderr


def hold_lock(engine: Engine, acquired_at: datetime, heartbeat_age: timedelta) -> None:
    """The lock row of a daemon on ops-1, its heartbeat ``heartbeat_age`` old on the database's
    clock."""
    with engine.begin() as conn:
        conn.execute(
            insert(DaemonLock).values(
                name="daemon",
                holder="costagent@ops-1 pid 4242",
                host="ops-1",
                pid=4242,
                acquired_at=acquired_at,
                heartbeat_at=db_clock(engine) - heartbeat_age,
            )
        )


def test_status_json_shape_and_figures(engine: Engine, db_url: str, tmp_path: Path) -> None:
    fill(engine)
    hold_lock(engine, acquired_at=T - timedelta(days=2), heartbeat_age=timedelta(seconds=20))
    code, out, err = status(db_url, write_config(tmp_path), "--format", "json")
    assert code == 0, err
    s = json.loads(out)
    assert set(s) == {
        "generated_at",
        "timezone",
        "sources",
        "freshness",
        "daemon",
        "jobs",
        "deliveries",
        "open_monthly_savings",
    }
    assert s["generated_at"] == "2026-11-25T12:00:00" and s["timezone"] == "Europe/Berlin"
    # the existing sources table, its columns unchanged
    (src,) = s["sources"]
    assert src["source"] == "aws-cur" and src["requests (30 d)"] == 2 and src["cost"] == "$0.00"
    none = {"cost": None, "metrics": None, "llm_requests": None, "llm_usage": None}
    assert s["freshness"] == [
        {"source": "aws-cur", **none, "cost": "2026-11-24T11:00:00"},
        {"source": "aws-metrics", **none, "metrics": "2026-11-25T10:00:00"},
        {"source": "gateway", **none, "llm_requests": "2026-11-24T23:59:01"},
        {"source": "gcp-bq", **none, "cost": "2026-11-20T00:00:00"},
    ]
    age = s["daemon"].pop("heartbeat_age_seconds")
    assert 20 <= age < 80  # 20 s on the database's clock, plus however long the test took
    assert s["daemon"] == {
        "running": True,
        "holder": "costagent@ops-1 pid 4242",
        "since": "2026-11-23T12:00:00",
        "stale": False,
    }
    jobs = {j["job"]: j for j in s["jobs"]}
    assert list(jobs) == ["collect", "collect_metrics", "analyze", "report"]
    assert jobs["collect"] == {
        "job": "collect",
        "schedule": "0 */6 * * *",
        "last_status": "failed",
        "last_started": "2026-11-25T10:00:00",
        "last_finished": "2026-11-25T10:01:00",
        "last_error": "aws-cur: AccessDenied",
        "failed_in_a_row": 3,
        "next_run": "2026-11-25T18:00:00+01:00",  # 13:00 Berlin now → 18:00
    }
    assert jobs["analyze"]["last_status"] == "ok" and jobs["analyze"]["failed_in_a_row"] == 0
    assert jobs["analyze"]["next_run"] == "2026-11-26T06:30:00+01:00"
    assert jobs["report"]["last_status"] is None
    assert jobs["report"]["next_run"] == "2026-11-30T09:00:00+01:00"  # Monday 09:00 local
    assert (
        jobs["collect_metrics"]["schedule"] == "off" and jobs["collect_metrics"]["next_run"] is None
    )
    deliveries = {d["channel"]: d for d in s["deliveries"]}
    assert deliveries["email"]["status"] == "failed"
    assert deliveries["email"]["error"] == "SMTP 535 authentication failed"
    assert (
        deliveries["email"]["attempts"] == 3
        and deliveries["email"]["when"] == "2026-11-23T12:00:00"
    )
    assert deliveries["slack-webhook"]["status"] == "ok"
    # each resource once (ep-1: the larger of its two findings), currencies never added
    savings = {k: Decimal(v) for k, v in s["open_monthly_savings"].items()}
    assert savings == {"EUR": Decimal("7"), "USD": Decimal("120.75")}

    # the healthcheck: the daemon is alive, but collect failed 3 times in a row
    code, out, err = status(db_url, write_config(tmp_path), "--check")
    assert code == 1
    assert "unhealthy: job collect failed 3 times in a row: aws-cur: AccessDenied" in err
    code, out, err = status(
        db_url, write_config(tmp_path, "[daemon]\ncheck_failed_runs = 4"), "--check"
    )
    assert (code, out.strip()) == (0, "healthy"), err

    # the table view shows every part
    code, out, err = status(db_url, write_config(tmp_path))
    assert code == 0, err
    for part in (
        "sources",
        "data freshness",
        "daemon: running: costagent@ops-1 pid 4242",
        "jobs",
        "last delivery per channel",
        "open findings save",
    ):
        assert part in out
    # csv stays the sources table
    code, out, _ = status(db_url, write_config(tmp_path), "--format", "csv")
    assert code == 0 and out.splitlines()[0].startswith("source,kind,last run,status")


def test_status_without_daemon_and_stale_heartbeat(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path)
    code, out, err = status(db_url, cfg, "--format", "json")
    assert code == 0, err
    s = json.loads(out)
    assert s["daemon"]["running"] is False and s["daemon"]["holder"] is None
    assert s["sources"] == [] and s["freshness"] == [] and s["deliveries"] == []
    assert s["open_monthly_savings"] == {}
    code, _, err = status(db_url, cfg, "--check")
    assert code == 1 and "unhealthy: daemon not running (no lock held)" in err
    code, out, _ = status(db_url, cfg)
    assert code == 0 and "daemon: not running" in out

    hold_lock(engine, acquired_at=T - timedelta(hours=2), heartbeat_age=timedelta(minutes=10))
    code, out, _ = status(db_url, cfg, "--format", "json")
    d = json.loads(out)["daemon"]
    assert (d["running"], d["stale"]) == (False, True)
    assert 600 <= d["heartbeat_age_seconds"] < 660  # 10 min on the database's clock
    code, _, err = status(db_url, cfg, "--check")
    assert code == 1
    assert re.search(r"daemon heartbeat is 6[0-5]\d s old \(costagent@ops-1 pid 4242\)", err)
    assert daemon_lock.read(engine) is not None  # status only reads


@contextmanager
def statements() -> Iterator[list[str]]:
    """Every SQL statement any engine runs inside the block (SQLAlchemy's event API)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement.lower())

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


BIG = ("cost_line_items", "cost_daily", "usage_metrics", "llm_requests", "collection_runs")


def test_check_reads_only_the_lock_and_the_job_runs(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    fill(engine)
    cfg = write_config(tmp_path, "[daemon]\ncheck_failed_runs = 4")
    hold_lock(engine, acquired_at=T, heartbeat_age=timedelta(0))
    with statements() as seen:
        code, out, err = status(db_url, cfg, "--check")
    assert (code, out.strip()) == (0, "healthy"), err
    tables = {t for t in (*BIG, "findings", "deliveries") if any(t in s for s in seen)}
    assert tables == set()
    assert any("from daemon_lock" in s for s in seen) and any("from job_runs" in s for s in seen)
    # the full status reads freshness from the rollup and indexes, never the line items
    with statements() as seen:
        code, _out, err = status(db_url, cfg, "--format", "json")
    assert code == 0, err
    assert not any("cost_line_items" in s for s in seen)
    assert not any("group by" in s and ("usage_metrics" in s or "llm_requests" in s) for s in seen)


def test_check_never_migrates(db_url: str, tmp_path: Path) -> None:
    engine = make_engine(db_url)
    try:
        cfg = alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0005")
        code, _out, err = status(db_url, write_config(tmp_path), "--check")
        assert code == 1
        expected = f"database schema is at revision 0005, this costagent expects {head_revision()}"
        assert f"unhealthy: {expected}" in err
        assert current_revision(engine) == "0005"  # a healthcheck leaves the schema alone
    finally:
        engine.dispose()


def test_configured_sources_that_never_ran_are_listed(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    fill(engine)  # aws-cur has a run; the two below do not
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[[sources]]\nname = "aws-cur"\ntype = "local_files"\npaths = ["/nonexistent"]\n'
        '[[sources]]\nname = "new-export"\ntype = "local_files"\npaths = ["/nonexistent"]\n'
    )
    code, out, err = status(db_url, str(cfg), "--format", "json")
    assert code == 0, err
    sources = {s["source"]: s for s in json.loads(out)["sources"]}
    assert list(sources) == ["aws-cur", "new-export"]
    assert sources["aws-cur"]["status"] == "ok"
    fresh = sources["new-export"]
    assert (fresh["kind"], fresh["status"], fresh["last run"]) == ("local_files", "never run", None)
    assert (fresh["runs (30 d)"], fresh["failed"]) == (0, 0)
    code, out, _ = status(db_url, str(cfg), "--format", "csv")
    assert code == 0 and "new-export,local_files,,never run," in out
