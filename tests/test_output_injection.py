"""Strings from the store and from clouds reach people as the literal text they are.

Anyone who can tag a cloud resource or name an endpoint controls these strings.  Through real
``costagent`` processes: a resource id ``a[/b]c`` (rich markup that crashed ``summary``), a
service name ``[link=…]`` (an OSC-8 hyperlink), tag values and ids holding ESC / OSC sequences
(which reached the terminal raw), and cells that a spreadsheet runs as formulas.  Every command
prints them literally, exits 0, shows control characters as visible escapes and writes CSV cells
that open as text; error messages are literal too; and the HTML report stays under Gmail's clip
size whatever the store holds.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Connection, insert

from agent.store.engine import open_store
from agent.store.schema import CollectionRun, Finding
from tests.conftest import ROOT

ESC = "\x1b"
MARKUP_ID = "a[/b]c"
LINK_SERVICE = "[link=https://evil.example]x[/link]"
ESC_ID = ESC + "[31mred-" + "r" * 8
FORMULA_ACCOUNT = '=HYPERLINK("http://evil.example","click")'
DDE_ACCOUNT = "+cmd|' /C calc'!A0"
#: A tag value (JSON-escaped in the file) that retitles the terminal and turns it red.
OSC_TAG = "\\u001b]0;pwned\\u0007\\u001b[31mred"
FILE_NAME = "bill[red]x[].csv"


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    env.pop("COSTAGENT_DATABASE_URL", None)
    env.pop("COSTAGENT_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "agent", *args], cwd=cwd, env=env, capture_output=True, text=True
    )


def _ok(result: subprocess.CompletedProcess[str], data: bool = False) -> str:
    """Exit 0, no traceback, no raw ESC on stderr (nor on stdout unless it carries ``data``
    for a pipe: CSV keeps the stored bytes exact); returns stdout."""
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert ESC not in result.stderr
    if not data:
        assert ESC not in result.stdout
        assert "\x07" not in result.stdout and "\x9b" not in result.stdout
    return result.stdout


def _on_a_terminal(*args: str, cwd: Path) -> str:
    """stdout of ``costagent args`` when it is a terminal (a pseudo-terminal here)."""
    import pty

    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    env.pop("COSTAGENT_DATABASE_URL", None)
    env.pop("COSTAGENT_CONFIG", None)
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent", *args], cwd=cwd, env=env, stdout=follower,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(timeout=60) == 0
    return b"".join(chunks).decode()


def _hostile_export(tmp: Path) -> Path:
    header = [
        "BilledCost",
        "EffectiveCost",
        "BillingAccountId",
        "BillingCurrency",
        "BillingPeriodStart",
        "ChargePeriodStart",
        "ChargePeriodEnd",
        "ProviderName",
        "ServiceName",
        "ResourceId",
        "Tags",
    ]
    period = ["USD", "2026-10-01T00:00:00Z", "2026-10-02T00:00:00Z", "2026-10-03T00:00:00Z"]
    rows = [
        ["1.5", "1.5", FORMULA_ACCOUNT, *period, "AWS", LINK_SERVICE, MARKUP_ID,
         '{"team":"' + OSC_TAG + '"}'],
        ["2.5", "2.5", DDE_ACCOUNT, *period, "AWS", "Amazon EC2", ESC_ID, "{}"],
    ]  # fmt: skip
    path = tmp / FILE_NAME
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    return path


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A SQLite store holding the hostile export, imported through the CLI."""
    result = _run("--db", "t.db", "import", str(_hostile_export(tmp_path)), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return tmp_path


def test_import_prints_a_markup_file_name_literally(tmp_path: Path) -> None:
    out = _ok(_run("--db", "t.db", "import", str(_hostile_export(tmp_path)), cwd=tmp_path))
    assert FILE_NAME in out


def test_summary_prints_hostile_ids_and_names_literally(store: Path) -> None:
    out = _ok(_run("--db", "t.db", "summary", cwd=store))
    assert MARKUP_ID in out
    assert "[link=https://evil" in out
    assert "\\x1b[31mred" in out  # the ESC made visible, not sent


def test_sql_table_and_csv_are_literal_and_neutralised(store: Path) -> None:
    query = (
        "SELECT resource_id, service_name, billing_account_id, tags FROM cost_line_items "
        "ORDER BY resource_id"
    )
    table = _ok(_run("--db", "t.db", "sql", query, cwd=store))
    assert MARKUP_ID in table and "[link=" in table and "\\x1b" in table

    raw = _ok(_run("--db", "t.db", "sql", "--format", "csv", query, cwd=store), data=True)
    assert ESC_ID in raw  # a pipe gets the exact stored text
    rows = list(csv.reader(io.StringIO(raw)))
    cells = [c for row in rows[1:] for c in row]
    assert "'" + FORMULA_ACCOUNT in cells and "'" + DDE_ACCOUNT in cells
    assert not any(c.startswith(("=", "+", "@")) for c in cells)
    assert MARKUP_ID in cells  # text that is no formula is left alone

    on_screen = _on_a_terminal("--db", "t.db", "sql", "--format", "csv", query, cwd=store)
    assert ESC not in on_screen and "\\x1b[31mred-" in on_screen


def test_csv_keeps_plain_negative_numbers_as_numbers(store: Path) -> None:
    raw = _ok(_run("--db", "t.db", "sql", "--format", "csv", "SELECT -12.5 AS x, '-3' AS y",
                   cwd=store))  # fmt: skip
    assert list(csv.reader(io.StringIO(raw)))[1] == ["-12.5", "-3"]


def _hostile_finding(store: Path, title: str = "Idle " + MARKUP_ID, copies: int = 1) -> None:
    engine = open_store(f"sqlite:///{store / 't.db'}")
    now = datetime(2026, 10, 3)
    with engine.begin() as conn:
        for n in range(copies):
            _insert_finding(conn, now, title, suffix="" if n == 0 else f"-{n}")
    engine.dispose()


def _insert_finding(conn: Connection, now: datetime, title: str, suffix: str) -> None:
    conn.execute(
        insert(Finding).values(
            fingerprint="idle:" + MARKUP_ID + suffix,
            rule_id="idle-endpoint",
            subject=ESC_ID + suffix,
            status="open",
            first_seen=now,
            last_seen=now,
            monthly_savings=Decimal("12.34"),
            currency="USD",
            confidence="high",
            title=title,
            recommendation=FORMULA_ACCOUNT,
            resource_id=MARKUP_ID,
        )
    )


def test_findings_table_and_csv(store: Path) -> None:
    _hostile_finding(store)
    table = _ok(_run("--db", "t.db", "findings", cwd=store))
    assert MARKUP_ID in table or "idle:a[/b]" in table

    raw = _ok(_run("--db", "t.db", "findings", "--format", "csv", cwd=store), data=True)
    cells = [c for row in list(csv.reader(io.StringIO(raw)))[1:] for c in row]
    assert "'" + FORMULA_ACCOUNT in cells
    assert not any(c.startswith(("=", "+", "@")) for c in cells)


def test_findings_ack_of_a_markup_fingerprint_is_a_clean_error(store: Path) -> None:
    result = _run("--db", "t.db", "findings", "ack", "foo[/]", cwd=store)
    assert result.returncode == 1, result.stderr  # no such finding, as for any other id
    assert "Traceback" not in result.stderr
    assert "foo[/]" in result.stderr


def test_status_prints_hostile_source_names_and_errors_literally(store: Path) -> None:
    engine = open_store(f"sqlite:///{store / 't.db'}")
    now = datetime.now(UTC).replace(tzinfo=None)
    with engine.begin() as conn:
        conn.execute(
            insert(CollectionRun).values(
                source="src" + MARKUP_ID, kind="import", rows=0, status="failed",
                error="AccessDenied for [bold]" + ESC + "]0;pwned" + "\x07", started_at=now,
                finished_at=now,
            )
        )  # fmt: skip
    engine.dispose()
    out = _ok(_run("--db", "t.db", "status", cwd=store))
    assert "src" + MARKUP_ID in out
    as_json = json.loads(_ok(_run("--db", "t.db", "status", "--format", "json", cwd=store)))
    assert as_json  # machine output still parses


def test_error_messages_are_literal_text(tmp_path: Path) -> None:
    (tmp_path / "empty.toml").write_text("")
    result = _run("--config", "empty.toml", "--db", "t.db", "collect", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "[[sources]]" in result.stderr
    missing = _run("--db", "t.db", "import", "no[/b]such" + ESC + "[2J.csv", cwd=tmp_path)
    assert missing.returncode == 2
    assert "no[/b]such\\x1b[2J.csv" in missing.stderr and ESC not in missing.stderr


def test_html_report_stays_under_the_gmail_clip_whatever_the_store_holds(store: Path) -> None:
    _hostile_finding(store, title="T" * 100_000 + "<script>", copies=300)
    out = store / "report.html"
    _ok(_run("--db", "t.db", "report", "--latest", "--format", "html", "--out", str(out),
             cwd=store))  # fmt: skip
    size = out.stat().st_size
    assert size <= 102 * 1024, size
    assert "<script" not in out.read_text().lower()
