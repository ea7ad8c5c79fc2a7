"""The generated documentation stays generated: the checked-in example config and the README's
rule and source lists equal what the schema renders, the example loads, every value it shows
is one its key accepts, and every key of every section, source type and rule is in it.
``costagent rules`` lists the same rules."""

from __future__ import annotations

import json
import tomllib
import typing
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, TypeAdapter

from agent import catalogue, example_config, templates
from agent.config import Settings, load_settings
from collectors.base import source_types
from rules.base import registered_rules, validate_rule_configs
from tests.helpers import cli

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path", sorted(templates.generated_files(), key=str))
def test_checked_in_file_is_the_generated_text(path: Path) -> None:
    expected = templates.generated_files()[path]
    assert path.read_text(encoding="utf-8") == expected, (
        f"{path.relative_to(ROOT)} is stale: run `{example_config.REGENERATE}`"
    )


def test_init_writes_the_generated_example(tmp_path: Path) -> None:
    config = tmp_path / "costagent.toml"
    done = cli("--db", f"sqlite:///{tmp_path / 'ca.db'}", "init", "--path", str(config))
    assert done.exit_code == 0, done.output
    assert config.read_text(encoding="utf-8") == example_config.render()


def test_example_loads_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COSTAGENT_DATABASE_URL", raising=False)
    settings = load_settings(example_config.EXAMPLE_PATH)
    assert settings == Settings()  # every key shown commented out is at its default


def _active() -> dict[str, Any]:
    return tomllib.loads(example_config.render(active=True))


def test_uncommented_core_sections_and_rules_load() -> None:
    """Every key uncommented at once is still a valid config (sources apart: their examples
    name files and tables that exist only on the user's side)."""
    data = _active()
    data.pop("sources")
    rules = data.pop("rules")
    Settings(**data)
    validate_rule_configs(rules)


def test_every_value_shown_is_one_its_key_accepts() -> None:
    for shown in example_config.shown():
        info = shown.model.model_fields[shown.name]
        parsed = tomllib.loads(f"x = {example_config.toml_value(shown.value)}")["x"]
        constrained = (
            Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
        )
        adapter: TypeAdapter[Any] = TypeAdapter(constrained)
        adapter.validate_python(parsed)  # raises naming the problem


def test_one_source_block_per_type() -> None:
    blocks = {block["type"]: block for block in _active()["sources"]}
    assert sorted(blocks) == sorted(source_types())


# --- every key appears (an independent walk of the schema) -------------------------------------


def _nested(annotation: Any) -> type[BaseModel] | None:
    """The model inside ``M``, ``M | None``, ``list[M]`` or ``dict[str, M]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    args = typing.get_args(annotation)
    found = [m for arg in args[-1:] if (m := _nested(arg))] if args else []
    if not found and type(None) in args:
        found = [m for arg in args if (m := _nested(arg))]
    return found[0] if found else None


def _missing(model: type[BaseModel], table: Any, where: str) -> list[str]:
    if isinstance(table, list):  # an array of tables: its one example entry
        table = table[0]
    missing = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        if key not in table:
            missing.append(f"{where}.{key}")
            continue
        sub = _nested(info.annotation)
        value = table[key]
        if sub is not None and isinstance(value, dict | list) and value:
            entry = value if isinstance(value, list) or sub.model_fields.keys() & value else None
            if entry is None:  # dict[str, M]: one example entry under a chosen key
                key, entry = next(iter(value.items()))
            missing += _missing(sub, entry, f"{where}.{key}")
    return missing


def test_every_key_of_every_section_appears() -> None:
    data = _active()
    missing = []
    for name, info in Settings.model_fields.items():
        if name in ("sources", "rules"):
            continue
        model = _nested(info.annotation)
        assert model is not None and name in data, f"[{name}] missing"
        missing += _missing(model, data[name], name)
    assert not missing, f"the example lacks {missing}: run `{example_config.REGENERATE}`"


@pytest.mark.parametrize("source_type", sorted(source_types()))
def test_every_key_of_each_source_type_appears(source_type: str) -> None:
    blocks = {block["type"]: block for block in _active()["sources"]}
    model = source_types()[source_type].config_model
    assert not _missing(model, blocks[source_type], f"sources[{source_type}]")


@pytest.mark.parametrize("rule_id", sorted(registered_rules()))
def test_every_key_of_each_rule_appears(rule_id: str) -> None:
    table = _active()["rules"][rule_id]
    model = registered_rules()[rule_id].config_model
    assert not _missing(model, table, f"rules.{rule_id}")
    # a plain key shows the rule's own default (dict-of-model examples apart)
    for name, info in model.model_fields.items():
        if _nested(info.annotation) is None and not info.examples:
            value = model.model_validate({name: table[name]}).model_dump()[name]
            assert value == info.get_default(call_default_factory=True), f"{rule_id}.{name}"


def test_secrets_are_never_shown() -> None:
    text = example_config.render(active=True)
    assert 'external_id = "<secret>"' in text
    for shown in example_config.shown():
        if shown.name == "external_id":
            assert shown.value == example_config.SECRET_PLACEHOLDER


# --- the README ----------------------------------------------------------------------------------


def test_readme_lists_every_rule_and_source_type() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for rule_id in registered_rules():
        assert f"| `{rule_id}` |" in readme
    for source_type in source_types():
        assert f"| `{source_type}` |" in readme
    assert "../shared" not in readme, "describe the shared data, do not point outside the repo"


def test_readme_generated_lines_fit() -> None:
    body = catalogue.rules_markdown() + "\n" + catalogue.sources_markdown()
    prose = [line for line in body.splitlines() if not line.startswith("|")]
    assert all(len(line) <= 80 for line in prose if " " in line.strip())


# --- costagent rules -----------------------------------------------------------------------------


def test_rules_command_table_fits_80_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no costagent.toml: the defaults are described
    monkeypatch.delenv("COSTAGENT_CONFIG", raising=False)
    done = cli("rules")
    assert done.exit_code == 0, done.output
    assert max(len(line) for line in done.output.splitlines()) <= 80
    for rule_id in registered_rules():
        assert rule_id in done.output


def test_rules_command_json_uses_the_users_thresholds(tmp_path: Path) -> None:
    config = tmp_path / "costagent.toml"
    config.write_text(
        "[rules.idle-gpu]\nidle_days = 9\n[rules.spot-training]\nenabled = false\n",
        encoding="utf-8",
    )
    done = cli("--config", str(config), "rules", "--format", "json")
    assert done.exit_code == 0, done.output
    rows = {row["rule_id"]: row for row in json.loads(done.output)}
    assert sorted(rows) == sorted(registered_rules())
    assert "for 9 days" in rows["idle-gpu"]["description"]
    assert rows["spot-training"]["enabled"] is False
    assert all(row["sources"] and row["title"] and row["family"] for row in rows.values())
