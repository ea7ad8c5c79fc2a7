"""``costagent report`` end to end on the demo database (SQLite file, in-process CLI)."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import time_machine

from agent.store.engine import open_store
from tests.helpers import cli


def test_report_on_the_demo(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    assert cli("demo", "--path", str(db)).exit_code == 0
    url = f"sqlite:///{db}"

    out = tmp_path / "r.html"
    result = cli("--db", url, "report", "--latest", "--format", "html", "--out", str(out))
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    # The demo month is October 2026; its last full ISO week is W43 (19–25 Oct).
    assert "2026-W43" in html
    for section in (
        "Spend by workload",
        "Top services",
        "Top resources",
        "AI unit costs",
        "Savings findings",
        "Anomalies",
        "Data freshness",
    ):
        assert section in html, section
    # --out embeds the chart so a browser shows it; email uses cid: instead.
    (b64,) = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert base64.b64decode(b64).startswith(b"\x89PNG")
    assert "cid:" not in html

    # the demo's request log is a 0.5 % sample: `demo` writes the config that says so
    config = db.with_suffix(".toml")
    assert "[llm_requests]\nsample_rate = 0.005" in config.read_text(encoding="utf-8")
    with time_machine.travel(datetime(2026, 12, 7, 9, tzinfo=UTC), tick=False):
        result = cli("--config", str(config), "--db", url, "report", "--latest", "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["week"]["label"] == "2026-W43" and data["main_currency"] == "USD"
    assert all(isinstance(t["current"], str) for t in data["total"])  # Decimal as strings
    # --latest picks the week from the data, but the report is generated now
    assert data["generated_at"] == "2026-12-07T09:00:00"
    (usd,) = [u for u in data["llm_unit_costs"] if u["app"] is None]
    apps = [u for u in data["llm_unit_costs"] if u["app"] is not None]
    logged = [u for u in apps if u["logged_requests"]]  # the gateway log: a 0.5 % sample
    assert logged and all(u["requests"] == u["logged_requests"] * 200 for u in logged)
    # OpenAI / Anthropic usage reports: complete counts per project / workspace; Anthropic's
    # counts no requests, so its apps have no per-request figure (and the total leaves it out)
    direct = {u["app"]: u for u in apps if not u["logged_requests"]}
    assert direct["proj_SyntheticWebChat0001"]["requests"] > 0
    assert direct["wrkspc_01SyntheticCodingAgent"]["requests"] is None
    assert direct["wrkspc_01SyntheticCodingAgent"]["per_1m_tokens"] is not None
    assert usd["requests"] == sum(u["requests"] or 0 for u in apps)
    assert Decimal(usd["cost"]) == sum(Decimal(u["cost"]) for u in apps)
    assert data["endpoint_unit_costs"][0]["per_1k_invocations"] is not None

    result = cli("--db", url, "report", "--latest", "--format", "slack")
    payload = json.loads(result.stdout)
    assert payload["blocks"][0]["type"] == "header" and len(payload["blocks"]) <= 50

    md_file = tmp_path / "r.md"
    assert cli("--db", url, "report", "--latest", "--out", str(md_file)).exit_code == 0
    assert md_file.read_text(encoding="utf-8").startswith("# costagent weekly: $")

    week = cli("--db", url, "report", "--week-ending", "2026-10-18", "--format", "json")
    assert json.loads(week.stdout)["week"]["label"] == "2026-W42"


def test_report_bad_usage(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    open_store(url).dispose()  # report reads a store; it never creates one
    both = cli("--db", url, "report", "--latest", "--week-ending", "2026-10-18")
    assert both.exit_code == 2 and "exclude" in both.stderr
    assert cli("--db", url, "report", "--week-ending", "18/10/2026").exit_code == 2
    no_channel = cli("--db", url, "report", "--send")
    assert no_channel.exit_code == 2 and "[report.email]" in no_channel.stderr
    bad_tz = tmp_path / "c.toml"
    bad_tz.write_text('[report]\ntimezone = "Mars/Olympus"\n', encoding="utf-8")
    result = cli("--config", str(bad_tz), "--db", url, "report")
    assert result.exit_code == 2 and "Mars/Olympus" in result.stderr
