"""No secret reaches a log, the database, a report or an error — at any verbosity.

Every failing source and channel, run by real processes with ``-v`` in both log formats: an AWS
export source assuming a role with an ``external_id`` (moto's STS hands out real-looking keys
and a session token; botocore logs its requests and the response at DEBUG), an SMTP server that
rejects the password, a Slack webhook that answers 404 quoting its own secret path, a Slack bot
whose token is refused.  Then every line printed and every row of every table is searched for
the secrets, for fragments of them, and for the shapes of AWS credentials.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import MetaData, select

from agent.redact import redact
from agent.store.engine import open_store
from tests.conftest import ROOT
from tests.slack_server import FakeSlack, slack_server
from tests.smtp_server import SMTP_USER, smtp_server

EXTERNAL_ID = "ext-Zq8vRm2pLk4Wx7nT"
SMTP_SECRET = "smtp-Hj5sKq9wVb3Rt6Yp"
SLACK_PATH_SECRET = "hooksecretQ7mK2xP9vL4nR8sT"
BOT_TOKEN = "xoxb-111122223333-444455556666-AbCdEfGhIjKlMnOpQrStUvWx"
SECRETS = (EXTERNAL_ID, SMTP_SECRET, SLACK_PATH_SECRET, BOT_TOKEN)
#: what an AWS credential looks like wherever it was printed
SHAPES = (
    re.compile(r"\bASIA[A-Z0-9]{16}\b"),
    re.compile(r"(?i)secret_?access_?key[\s:='\">b]{1,8}[A-Za-z0-9/+]{12,}"),
    re.compile(r"(?i)session_?token[\s:='\">b]{1,8}[A-Za-z0-9/+%]{12,}"),
    re.compile(r"(?i)security-token[ :='\">b]{1,8}[A-Za-z0-9/+%]{12,}"),
    re.compile(r"(?i)external_?id[\s:='\">b]{1,8}[A-Za-z0-9-]{6,}"),
)


def _fragments(secret: str, size: int = 10) -> set[str]:
    return {secret[i : i + size] for i in range(0, len(secret) - size + 1)}


def leaks(text: str) -> list[str]:
    found = [s for s in SECRETS for f in _fragments(s) if f in text][:1]
    found += [m.group(0) for shape in SHAPES for m in shape.finditer(text)]
    return found


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with slack_server() as fake:
        yield fake


def _config(tmp: Path, db: str, moto: str, smtp_port: int, slack: FakeSlack) -> Path:
    path = tmp / "costagent.toml"
    path.write_text(
        f"""
[database]
url = "{db}"

[[sources]]
name = "aws-cur"
type = "aws_data_exports"
bucket = "no-such-bucket-for-costagent"
region = "us-east-1"
endpoint_url = "{moto}"
role_arns = ["arn:aws:iam::123456789012:role/costagent-reader"]
external_id = "{EXTERNAL_ID}"
max_attempts = 1
backoff_attempts = 1

[[sources]]
name = "aws-inventory"
type = "aws_inventory"
region = "us-east-1"
endpoint_url = "{moto}"
role_arns = ["arn:aws:iam::123456789012:role/costagent-inventory"]
external_id = "{EXTERNAL_ID}"
max_attempts = 1
backoff_attempts = 1

[report.email]
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
starttls = false
from = "costagent@example.com"
to = ["finops@example.com"]
username = "{SMTP_USER}"
retry_delay = 0
attempts = 1

[report.slack]
channel = "#finops"
api_base_url = "{slack.api_url}"
retry_delay = 0
attempts = 1

[schedule]
collect_metrics = "off"

[daemon]
heartbeat_seconds = 1
""",
        encoding="utf-8",
    )
    return path


def _run(config: Path, *args: str, env: dict[str, str]) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "agent", "--config", str(config), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    return f"$ costagent {' '.join(args)} (exit {proc.returncode})\n{proc.stdout}\n{proc.stderr}"


def _tables(url: str) -> str:
    engine = open_store(url)
    meta = MetaData()
    meta.reflect(engine)
    out = []
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(select(table)):
                out.append(f"{table.name}: {json.dumps([str(v) for v in row])}")
    engine.dispose()
    return "\n".join(out)


def test_every_output_and_table_is_free_of_secrets(
    aws: str, db_url: str, tmp_path: Path, slack: FakeSlack
) -> None:
    slack.fail(
        "/services/",
        (404, {}, f"Cannot POST /services/T0ABCDEF/B0GHIJKL/{SLACK_PATH_SECRET}"),
        (404, {}, f"Cannot POST /services/T0ABCDEF/B0GHIJKL/{SLACK_PATH_SECRET}"),
    )
    slack.fail("/api/", (200, {}, {"ok": False, "error": "invalid_auth"}))
    slack.fail("/api/", (200, {}, {"ok": False, "error": "invalid_auth"}))
    with smtp_server(tmp_path, auth=True) as smtp:
        config = _config(tmp_path, db_url, aws, smtp.port, slack)
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "COSTAGENT_SMTP_PASSWORD": SMTP_SECRET,  # not the server's: login fails
            "SLACK_WEBHOOK_URL": f"{slack.base}/services/T0ABCDEF/B0GHIJKL/{SLACK_PATH_SECRET}",
            "SLACK_BOT_TOKEN": BOT_TOKEN,
        }
        env.pop("COSTAGENT_DATABASE_URL", None)
        outputs = [
            _run(config, "-v", "collect", env=env),
            _run(config, "-v", "report", "--send", "--force", env=env),
            _run(config, "-v", "run", "--once", "collect", "--log-format", "json", env=env),
            _run(config, "-v", "run", "--once", "collect", "--log-format", "text", env=env),
            _run(config, "-v", "run", "--once", "report", "--log-format", "json", env=env),
            _run(config, "status", "--format", "json", env=env),
            _run(config, "status", env=env),
        ]
    everything = "\n".join([*outputs, _tables(db_url)])
    if os.environ.get("COSTAGENT_TEST_DUMP"):
        Path(os.environ["COSTAGENT_TEST_DUMP"]).write_text(everything)

    # the runs did fail where they should, and said so
    assert "AssumeRole" in everything or "assume" in everything.lower()
    assert "NoSuchBucket" in everything or "no-such-bucket" in everything
    assert "invalid_auth" in everything and "404" in everything
    assert leaks(everything) == [], "\n".join(leaks(everything))


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (
            '{"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEv\\n-----END PRIVATE KEY-----\\n"}',
            "private_key",
        ),
        ("Authorization: Bearer ya29.a0AfB_byC1234567890abcdefghij", "Authorization"),
        ("token=xoxb-1234-5678-abcdefghijklmnop", "token="),
        ("POST https://hooks.slack.com/services/T0AAAA/B0BBBB/zzzzzzzzzzzzzzzzzzzzzzzz 404", "404"),
        ("<SessionToken>FwoGZXIvYXdzEJr//////////wEaDLongToken</SessionToken>", "SessionToken"),
        ("'X-Amz-Security-Token': b'FwoGZXIvYXdzEJr%2F%2F%2F%2F%2FwEaDLongToken'", "Token"),
        ("Action=AssumeRole&ExternalId=abc-123-secret&RoleArn=arn", "RoleArn=arn"),
        ("postgresql://costagent:hunter2pass@db.internal/costagent", "db.internal"),
        ("sk-ant-admin01-abcdefghijklmnopqrstuvwxyz0123", ""),
        ("AUTH PLAIN AHJlcG9ydC1ib3QAczNjcmV0", "AUTH"),
    ],
)
def test_credential_shapes_are_masked_in_any_text(text: str, kept: str) -> None:
    out = redact(text)
    assert "***" in out and kept in out
    for secret in (
        "MIIEv",
        "ya29.a0AfB",
        "abcdefghijklmnop",
        "zzzzzzzz",
        "FwoGZX",
        "abc-123-secret",
        "hunter2pass",
        "abcdefghijklmnopqrstuvwxyz",
        "AHJlcG9y",
    ):
        assert secret not in out, (secret, out)


def test_a_registered_webhook_masks_its_secret_not_the_words_of_its_path() -> None:
    """Registering a webhook once registered every path segment ("services" too): later
    texts lost their words, and another webhook's secret escaped the shape pattern."""
    from agent.redact import forget_all, register

    forget_all()
    try:
        register("https://hooks.slack.com/services/T0REG/B0REG/regsecretregsecretreg12", url=True)
        other = redact(
            "POST https://hooks.slack.com/services/T0AAAA/B0BBBB/zzzzzzzzzzzzzzzzzzzzzzzz 404"
        )
        assert "zzzzzzzz" not in other and "/services/T0AAAA/B0BBBB/" in other
        assert redact("the services team") == "the services team"
        assert "regsecret" not in redact("key regsecretregsecretreg12 leaked")
    finally:
        forget_all()
