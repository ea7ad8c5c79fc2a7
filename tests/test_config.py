"""Configuration: typos and wrong types are errors naming the key; precedence is right."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from agent.config import ConfigError, load_settings
from tests.helpers import cli


def _cfg(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "costagent.toml"
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[database]\nurll = 'sqlite:///x.db'\n", "database.urll: unknown key"),
        ("[classification]\ntag_key = 3\n", "classification.tag_key"),
        ("[[sources]]\nname = 'x'\ntype = 'nope'\n", "unknown source type 'nope'"),
        ("[[sources]]\nname = 'x'\ntype = 'local_files'\n", "paths: Field required"),
        (
            "[[sources]]\nname = 'x'\ntype = 'local_files'\npaths = []\nbucket = 'b'\n",
            "bucket: unknown key",
        ),
        ("[[classification.rules]]\nworkload = 'gpu'\n", "classification.rules.0.workload"),
        ("[schedule]\ncollect = '* * * * *'\nreport_at = 1\n", "schedule.report_at"),
        ("[report\n", "not valid TOML"),
    ],
)
def test_config_errors_name_the_key(tmp_path: Path, text: str, fragment: str) -> None:
    path = _cfg(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert fragment in str(info.value)
    assert str(path) in str(info.value)
    r = cli("--config", str(path), "db", "upgrade")
    assert r.exit_code == 2 and fragment in r.stderr


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _cfg(tmp_path, "[database]\nurl = 'sqlite:///file.db'\n")
    assert load_settings(path).database.url == "sqlite:///file.db"
    monkeypatch.setenv("COSTAGENT_DATABASE_URL", "sqlite:///env.db")
    assert load_settings(path).database.url == "sqlite:///env.db"
    assert load_settings(path, "sqlite:///flag.db").database.url == "sqlite:///flag.db"


def test_init_writes_a_valid_commented_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    r = cli("init")
    assert r.exit_code == 0, r.output
    text = (tmp_path / "costagent.toml").read_text()
    assert text.count("#") > 20
    settings = load_settings(tmp_path / "costagent.toml")
    assert settings.database.url == "sqlite:///costagent.db"
    assert (tmp_path / "costagent.db").exists()
    r = cli("db", "current")
    current, head = r.stdout.split()[1], r.stdout.split()[3]
    assert current == head


def test_missing_config_file(tmp_path: Path) -> None:
    r = cli("--config", str(tmp_path / "absent.toml"), "db", "upgrade")
    assert r.exit_code == 2 and "costagent init" in r.stderr


def test_llm_requests_defaults_reach_every_request_log_rule(tmp_path: Path) -> None:
    """``[llm_requests]`` is declared once; a rule's own value wins (per model for prices)."""
    path = _cfg(
        tmp_path,
        "[llm_requests]\nsample_rate = 0.01\n"
        '[llm_requests.prices."m-a"]\ninput = 1\noutput = 2\n'
        '[llm_requests.prices."m-b"]\ninput = 5\n'
        "[rules.prompt-caching]\nlog_sample_rate = 0.5\n"
        '[rules.prompt-caching.prices."m-b"]\ninput = 4\n',
    )
    merged = load_settings(path).rule_settings()
    assert merged["prompt-caching"]["log_sample_rate"] == 0.5  # its own
    assert merged["response-cache"]["log_sample_rate"] == Decimal("0.01")  # the shared one
    assert merged["rag-vs-finetune"]["log_sample_rate"] == Decimal("0.01")
    assert merged["prompt-caching"]["prices"] == {
        "m-a": {"input": 1, "output": 2},
        "m-b": {"input": 4},
    }
    assert merged["batch-inference"]["prices"]["m-b"] == {"input": 5}
    assert "log_sample_rate" not in merged.get("idle-gpu", {})  # not a request-log rule
    assert "idle-gpu" not in merged


def test_a_bad_shared_price_names_the_model_and_key(tmp_path: Path) -> None:
    path = _cfg(tmp_path, '[llm_requests.prices."m-a"]\ninput = 1\noutptu = 2\n')
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert "llm_requests.prices: m-a.outptu: unknown key (typo?)" in str(info.value)
