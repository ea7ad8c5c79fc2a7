"""The deployment files stay in step with the code: the example config loads and names every
key of every section and source type; the unit, image and compose file run the daemon as the
README says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from agent.config import (
    ClassificationConfig,
    DaemonConfig,
    DatabaseConfig,
    EmailConfig,
    ReportConfig,
    ScheduleConfig,
    SlackConfig,
    load_settings,
)
from collectors.base import source_types

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
EXAMPLE = DEPLOY / "costagent.example.toml"


def documented_keys(text: str) -> set[str]:
    """Keys written as ``key = …``, commented out as ``# key = …``, or tables ``[a.key]``."""
    keys = set(re.findall(r"^\s*#?\s*([A-Za-z_]+)\s*=", text, re.MULTILINE))
    tables = re.findall(r"^\s*#?\s*\[\[?([\w.-]+)\]\]?", text, re.MULTILINE)
    return keys | {t.rsplit(".", 1)[-1] for t in tables}


def test_example_config_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COSTAGENT_DATABASE_URL", raising=False)
    settings = load_settings(EXAMPLE)
    assert settings.database.url.startswith("sqlite:////var/lib/costagent/")
    assert {s.type for s in settings.sources} == set(source_types())
    assert settings.report.email is not None and settings.report.slack is not None
    assert settings.daemon.log_format == "json"
    assert set(settings.rules) >= {"spot-training", "idle-gpu"}


@pytest.mark.parametrize(
    "model",
    [
        DatabaseConfig,
        ClassificationConfig,
        ReportConfig,
        EmailConfig,
        SlackConfig,
        ScheduleConfig,
        DaemonConfig,
        *[cls.config_model for cls in source_types().values()],
    ],
    ids=lambda m: getattr(m, "__name__", str(m)),
)
def test_example_config_documents_every_key(model: type[BaseModel]) -> None:
    keys = documented_keys(EXAMPLE.read_text(encoding="utf-8"))
    fields = {f.alias or name for name, f in model.model_fields.items()}
    missing = fields - keys
    assert not missing, f"add {sorted(missing)} ({model.__name__}) to {EXAMPLE.name}"


def test_env_example_names_the_secrets() -> None:
    names = documented_keys((DEPLOY / "costagent.env.example").read_text(encoding="utf-8"))
    assert names >= {
        "COSTAGENT_SMTP_USERNAME",
        "COSTAGENT_SMTP_PASSWORD",
        "SLACK_WEBHOOK_URL",
        "SLACK_BOT_TOKEN",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "COSTAGENT_DATABASE_URL",
    }


def test_systemd_unit_runs_the_daemon_hardened() -> None:
    unit = (DEPLOY / "costagent.service").read_text(encoding="utf-8")
    lines = set(unit.splitlines())
    assert (
        "ExecStart=/opt/costagent/.venv/bin/costagent --config /etc/costagent/costagent.toml "
        "run --log-format json" in lines
    )
    for line in (
        "Type=simple",
        "Restart=on-failure",
        "User=costagent",
        "EnvironmentFile=/etc/costagent/costagent.env",
        "TimeoutStopSec=15",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "ReadWritePaths=/var/lib/costagent",
        "CapabilityBoundingSet=",
        "SystemCallFilter=@system-service",
    ):
        assert line in lines, line
    assert any(x.startswith("RestrictAddressFamilies=") for x in lines)


def test_image_and_compose() -> None:
    docker = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert "FROM python:3.11-slim" in docker and "USER costagent" in docker
    assert 'pip install ".[postgres]"' in docker
    assert 'CMD ["costagent", "status", "--check"]' in docker
    assert 'ENTRYPOINT ["costagent"]' in docker and docker.rstrip().endswith(
        'CMD ["run", "--log-format", "json"]'
    )
    compose = (DEPLOY / "compose.yaml").read_text(encoding="utf-8")
    for needle in (
        "image: postgres:16",
        "pg_isready",
        "condition: service_healthy",
        "env_file: ./costagent.env",
        "./costagent.toml:/etc/costagent/costagent.toml:ro",
        "pgdata:/var/lib/postgresql/data",
    ):
        assert needle in compose, needle
