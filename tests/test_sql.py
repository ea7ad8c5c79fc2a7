"""``costagent sql``: answers queries in three formats and the database refuses every write."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from agent.config import load_settings
from agent.store.engine import open_store
from collectors.importer import import_paths
from tests.helpers import cli, cost_snapshot

WRITES_BOTH = [
    "DELETE FROM cost_line_items",
    "DROP TABLE findings",
    "UPDATE cost_line_items SET billed_cost = 0",
    "INSERT INTO findings (fingerprint) VALUES ('x')",
    "CREATE TABLE evil (x int)",
    "DROP VIEW daily_cost",
    "SELECT 1; DELETE FROM cost_line_items",
]
WRITES_SQLITE = [
    "ATTACH DATABASE 'other.db' AS other",
    "PRAGMA writable_schema = ON",
    "PRAGMA journal_mode = DELETE",
    "VACUUM",
    "REINDEX",
]
WRITES_PG = [
    "COMMIT; DELETE FROM cost_line_items",
    "SET TRANSACTION READ WRITE",
    "WITH d AS (DELETE FROM cost_line_items RETURNING 1) SELECT count(*) FROM d",
    "TRUNCATE cost_line_items",
]


def _load(url: str, sample: Path) -> str:
    import_paths(open_store(url), [sample], load_settings(None))
    return url


@pytest.fixture
def loaded(db_url: str, focus_sample: Path) -> str:
    return _load(db_url, focus_sample)


def test_json_csv_table(loaded: str) -> None:
    q = (
        "SELECT provider, currency, COUNT(*) AS n FROM daily_cost GROUP BY provider, currency "
        "ORDER BY provider"
    )
    r = cli("--db", loaded, "sql", q, "--format", "json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert [d["provider"] for d in data] == ["AWS", "Microsoft", "Oracle"]
    assert set(data[0]) == {"provider", "currency", "n"}
    r = cli("--db", loaded, "sql", q, "--format", "csv")
    rows = list(csv.reader(io.StringIO(r.stdout)))
    assert rows[0] == ["provider", "currency", "n"] and len(rows) == 4
    r = cli("--db", loaded, "sql", q)
    assert r.exit_code == 0 and "Microsoft" in r.stdout


def test_views_answer(loaded: str) -> None:
    for view in ("daily_cost", "ai_spend", "open_findings"):
        r = cli("--db", loaded, "sql", f"SELECT COUNT(*) AS n FROM {view}", "--format", "json")
        assert r.exit_code == 0, (view, r.output)


CASES = [("sqlite_url", q) for q in WRITES_BOTH + WRITES_SQLITE] + [
    ("pg_url", q) for q in WRITES_BOTH + WRITES_PG
]


@pytest.mark.parametrize(("db", "query"), CASES)
def test_writes_refused(
    db: str,
    query: str,
    request: pytest.FixtureRequest,
    focus_sample: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = _load(str(request.getfixturevalue(db)), focus_sample)
    engine = open_store(url)
    monkeypatch.chdir(tmp_path)
    before = cost_snapshot(engine)
    r = cli("--db", url, "sql", query)
    assert r.exit_code == 1, r.output
    assert r.stderr.startswith("error:")
    assert cost_snapshot(engine) == before
    assert not (tmp_path / "other.db").exists()
    r = cli("--db", url, "sql", "SELECT COUNT(*) AS n FROM findings", "--format", "json")
    assert json.loads(r.stdout) == [{"n": 0}]
    engine.dispose()


def test_bad_query_exit_1(loaded: str) -> None:
    r = cli("--db", loaded, "sql", "SELECT nope FROM nowhere")
    assert r.exit_code == 1 and "query failed" in r.stderr
