"""Plug-ins declare themselves once, on typed models: a typo fails when the class is defined.

Every failing declaration below raises at class creation and registers nothing, so the
registries the rest of the suite sees stay as shipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import pytest
from pydantic import Field, ValidationError
from sqlalchemy import Engine

from agent.config import Settings
from agent.settings import CoreSettings
from collectors.base import (
    Collector,
    CollectorMeta,
    CollectResult,
    Day,
    SourceConfig,
    source_types,
)
from rules.base import Candidate, Rule, RuleConfig, RuleContext, RuleMeta, registered_rules


class _Cfg(RuleConfig):
    min_days: int = Field(7, ge=1)


def _meta(**extra: object) -> RuleMeta:
    values: dict[str, object] = {
        "rule_id": "test-rule",
        "title": "A test rule",
        "family": "storage",
        "description": "Fires after {min_days} days.",
        "sources": ("https://example.com",),
    }
    return RuleMeta.model_validate({**values, **extra})


def test_a_misspelt_rule_metadata_key_fails_at_import() -> None:
    with pytest.raises(ValidationError, match="famly"):
        _meta(famly="storage")
    with pytest.raises(ValidationError, match="family"):
        _meta(family="storage costs")  # not one of the families


def test_a_rule_names_its_config_once_in_its_class_line() -> None:
    with pytest.raises(TypeError, match="named once"):

        class _Typo(Rule[_Cfg]):
            meta = _meta()
            config_modle = _Cfg  # harmless: ignored, the class line names the config
            config_model = _Cfg

            def evaluate(self, ctx: RuleContext) -> Iterable[Candidate]:
                return ()

    assert "test-rule" not in registered_rules()


def test_a_rule_without_meta_or_with_a_stray_placeholder_fails() -> None:
    with pytest.raises(TypeError, match="declares no `meta"):

        class _NoMeta(Rule[_Cfg]):
            def evaluate(self, ctx: RuleContext) -> Iterable[Candidate]:
                return ()

    with pytest.raises(TypeError, match="min_dayz"):

        class _Stray(Rule[_Cfg]):
            meta = _meta(description="Fires after {min_dayz} days.")

            def evaluate(self, ctx: RuleContext) -> Iterable[Candidate]:
                return ()

    assert "test-rule" not in registered_rules()


def test_rule_config_is_typed_and_descriptions_render_thresholds() -> None:
    cls = registered_rules()["idle-endpoint"]
    default, custom = cls(), cls(cls.config_model.model_validate({"idle_days": 3}))
    assert "last 7 days" in default.describe()
    assert "last 3 days" in custom.describe()
    assert "{" not in "".join(rule().describe() for rule in registered_rules().values())


class _SrcCfg(SourceConfig):
    type: Literal["test_source"] = "test_source"


def test_a_collector_is_registered_under_its_config_type_literal() -> None:
    with pytest.raises(ValidationError, match="summry"):
        CollectorMeta.model_validate({"summry": "x"})

    with pytest.raises(TypeError, match="declares no `meta"):

        class _NoMeta(Collector[_SrcCfg]):
            def collect(
                self, engine: Engine, settings: CoreSettings, since: Day = None, until: Day = None
            ) -> CollectResult:
                return CollectResult()

    class _Loose(SourceConfig):
        type: str = "loose"

    with pytest.raises(TypeError, match="one Literal"):

        class _NotLiteral(Collector[_Loose]):
            meta = CollectorMeta(summary="x")

            def collect(
                self, engine: Engine, settings: CoreSettings, since: Day = None, until: Day = None
            ) -> CollectResult:
                return CollectResult()

    class _Shadow(SourceConfig):
        type: Literal["local_files"] = "local_files"

    with pytest.raises(TypeError, match="registered twice"):

        class _Twice(Collector[_Shadow]):
            meta = CollectorMeta(summary="x")

            def collect(
                self, engine: Engine, settings: CoreSettings, since: Day = None, until: Day = None
            ) -> CollectResult:
                return CollectResult()

    types = source_types()
    assert "test_source" not in types
    assert all(cls.type_name == name for name, cls in types.items())
    assert all(cls.config_model.model_fields["type"].default == n for n, cls in types.items())


def test_the_settings_schema_holds_every_source_type_and_rule() -> None:
    schema = Settings.model_json_schema()
    item = schema["properties"]["sources"]["items"]
    assert set(item["discriminator"]["mapping"]) == set(source_types())
    rules_ref = schema["properties"]["rules"]["$ref"].rsplit("/", 1)[1]
    assert set(schema["$defs"][rules_ref]["properties"]) == set(registered_rules())
    assert schema["$defs"][rules_ref]["additionalProperties"] is False
    assert "analysis" in schema["properties"]
