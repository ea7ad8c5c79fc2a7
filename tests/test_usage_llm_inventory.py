"""Usage metrics, LLM request logs and inventory: idempotent loads with the right slices."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from agent.config import load_settings
from agent.store.schema import LlmRequest, Resource, UsageMetric
from collectors.importer import import_paths
from tests.helpers import cli

ARN = "arn:aws:sagemaker:us-east-1:111122223333:endpoint/chat-prod"


def _metrics_csv(path: Path, hours: range, value: float, extra: bool = True) -> Path:
    lines = [
        "timestamp,resource_id,metric,value,unit,stat,period_seconds"
        if extra
        else "timestamp,resource_id,metric,value"
    ]
    for h in hours:
        ts = f"2026-10-01T{h:02d}:00:00Z"
        lines.append(
            f"{ts},{ARN},invocations,{value},Count,Sum,3600"
            if extra
            else f"{ts},{ARN},invocations,{value}"
        )
    path.write_text("\n".join(lines) + "\n")
    return path


def _metrics(engine: Engine) -> list[tuple[int, float]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(UsageMetric.ts, UsageMetric.value).order_by(UsageMetric.ts)
        ).all()
    return [(ts.hour, v) for ts, v in rows]


def test_metrics_replace_their_time_range(engine: Engine, tmp_path: Path) -> None:
    s = load_settings(None)
    import_paths(engine, [_metrics_csv(tmp_path / "a.csv", range(0, 10), 5.0)], s)
    import_paths(engine, [_metrics_csv(tmp_path / "a.csv", range(0, 10), 5.0)], s)
    assert _metrics(engine) == [(h, 5.0) for h in range(10)]
    # A re-delivery of hours 4..6 with one datapoint gone (hour 5) and new values.
    f = _metrics_csv(tmp_path / "b.csv", range(4, 7), 9.0)
    f.write_text("\n".join(ln for ln in f.read_text().splitlines() if "T05:" not in ln) + "\n")
    import_paths(engine, [f], s)
    expected = (
        [(h, 5.0) for h in range(4)] + [(4, 9.0), (6, 9.0)] + [(h, 5.0) for h in range(7, 10)]
    )
    assert _metrics(engine) == expected


def test_metrics_defaults_and_duplicates(engine: Engine, db_url: str, tmp_path: Path) -> None:
    import_paths(
        engine, [_metrics_csv(tmp_path / "m.csv", range(2), 1.0, extra=False)], load_settings(None)
    )
    with engine.connect() as conn:
        stat, period = conn.execute(select(UsageMetric.stat, UsageMetric.period_s)).first()
    assert (stat, period) == ("Average", 3600)
    dup = _metrics_csv(tmp_path / "dup.csv", range(2), 1.0)
    dup.write_text(dup.read_text() + dup.read_text().splitlines()[1] + "\n")
    r = cli("--db", db_url, "import", str(dup))
    assert r.exit_code != 0 and "duplicate datapoint" in r.stderr


def _llm_log(path: Path) -> Path:
    calls = [
        {
            "ts": "2026-10-01T10:00:00Z",
            "provider": "bedrock",
            "model": "claude-3-5-sonnet",
            "operation": "chat",
            "app": "support-bot",
            "input_tokens": 1200,
            "output_tokens": 300,
            "cache_read_tokens": 0,
            "prompt_hash": "abc",
            "latency_ms": 840.5,
            "batch": False,
            "trace_id": "ignored",
        },
        # The same call twice (two users asked the same thing in the same millisecond).
        {
            "ts": "2026-10-01T10:00:01Z",
            "model": "titan-embed",
            "operation": "embeddings",
            "input_tokens": 500,
        },
        {
            "ts": "2026-10-01T10:00:01Z",
            "model": "titan-embed",
            "operation": "embeddings",
            "input_tokens": 500,
        },
    ]
    path.write_text("\n".join(json.dumps(c) for c in calls) + "\n")
    return path


def test_llm_requests_idempotent(engine: Engine, tmp_path: Path) -> None:
    s = load_settings(None)
    log = _llm_log(tmp_path / "calls.jsonl")
    import_paths(engine, [log], s)
    import_paths(engine, [log], s)
    with Session(engine) as session:
        rows = session.scalars(select(LlmRequest).order_by(LlmRequest.ts, LlmRequest.id)).all()
        assert len(rows) == 3
        first = rows[0]
        assert (first.app, first.output_tokens, first.batch) == ("support-bot", 300, False)
        assert rows[1].app is None and rows[1].output_tokens is None


def test_llm_bad_operation(db_url: str, tmp_path: Path) -> None:
    f = tmp_path / "calls.jsonl"
    f.write_text(
        json.dumps(
            {"ts": "2026-10-01T10:00:00Z", "model": "m", "operation": "chat", "input_tokens": 1}
        )
        + "\n"
        + json.dumps(
            {"ts": "2026-10-01T10:00:00Z", "model": "m", "operation": "rerank", "input_tokens": 1}
        )
        + "\n"
    )
    r = cli("--db", db_url, "import", str(f))
    assert r.exit_code == 2
    assert "calls.jsonl, row 2, column operation" in r.stderr


def test_inventory_upsert(engine: Engine, tmp_path: Path) -> None:
    s = load_settings(None)

    def snap(day: int, count: int) -> Path:
        f = tmp_path / f"inv{day}.jsonl"
        f.write_text(
            json.dumps(
                {
                    "resource_id": ARN,
                    "provider_name": "AWS",
                    "resource_type": "sagemaker_endpoint",
                    "region_id": "us-east-1",
                    "observed_at": f"2026-10-{day:02d}T00:00:00Z",
                    "attributes": {
                        "instance_type": "ml.g5.2xlarge",
                        "instance_count": count,
                        "tags": {"env": "prod"},
                    },
                }
            )
            + "\n"
        )
        return f

    import_paths(engine, [snap(5, 2)], s)
    import_paths(engine, [snap(9, 3)], s)
    import_paths(engine, [snap(1, 1)], s)  # an older snapshot arriving late
    import_paths(engine, [snap(9, 3)], s)
    with Session(engine) as session:
        rows = session.scalars(select(Resource)).all()
        n = session.scalar(select(func.count()).select_from(Resource))
    assert n == 1
    r = rows[0]
    assert (r.first_seen.day, r.last_seen.day) == (1, 9)
    assert r.attributes == {
        "instance_type": "ml.g5.2xlarge",
        "instance_count": 3,
        "tags": {"env": "prod"},
    }
