"""The whole configuration file as one model: the core sections plus the plug-in sections.

Everything the agent reads from the user's TOML file is validated here, once, before any work
starts: an unknown key or a wrong type is an error that names the key, so a typo never turns into
a silently ignored setting.  Precedence is ``--db`` > environment > file > defaults.

The plug-in sections are assembled from the registries, so the schema is complete without a
hand-kept list: ``[[sources]]`` is a union of every registered source type's model,
discriminated by ``type``, and ``[rules]`` a table with one entry per registered rule, typed by
that rule's config model.  ``Settings.model_json_schema()`` therefore describes every key a user
may write, and the example config, ``costagent rules`` and the README tables are generated from it
(:mod:`agent.example_config`, :mod:`agent.catalogue`).  This module sits above the collectors
and rules it assembles; the stages themselves only see :class:`agent.settings.CoreSettings`.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import ConfigDict, Field, ValidationError, field_validator, with_config
from typing_extensions import TypedDict

from agent import redact
from agent.settings import (
    DEFAULT_CONFIG_NAME,
    DEFAULT_DB_URL,
    JOB_NAMES,
    WORKLOADS,
    AnalysisConfig,
    ClassificationConfig,
    ClassificationRule,
    CoreSettings,
    DaemonConfig,
    DatabaseConfig,
    EmailConfig,
    JobName,
    LlmRequestsConfig,
    ReportConfig,
    ScheduleConfig,
    SlackConfig,
    Workload,
    config_path,
    format_validation_error,
    make_url_password,
    register_secrets,
)
from agent.validation import ConfigError
from collectors.base import SourceConfig, source_types, validate_source
from rules.base import RuleConfig, registered_rules, validate_rule_configs

__all__ = [
    "DEFAULT_CONFIG_NAME",
    "DEFAULT_DB_URL",
    "JOB_NAMES",
    "WORKLOADS",
    "AnalysisConfig",
    "ClassificationConfig",
    "ClassificationRule",
    "ConfigError",
    "CoreSettings",
    "DaemonConfig",
    "DatabaseConfig",
    "EmailConfig",
    "JobName",
    "LlmRequestsConfig",
    "ReportConfig",
    "ScheduleConfig",
    "Settings",
    "SlackConfig",
    "Workload",
    "config_path",
    "format_validation_error",
    "load_settings",
    "make_url_password",
    "register_secrets",
]


def _source_entry() -> Any:
    """One ``[[sources]]`` table: the registered source models, told apart by ``type``."""
    models = tuple(cls.config_model for cls in source_types().values())
    return Annotated[Union[models], Field(discriminator="type")]  # noqa: UP007 (runtime tuple)


def _rule_tables() -> Any:
    """``[rules]``: one optional table per registered rule id, typed by its config model."""
    fields = {rule_id: cls.config_model for rule_id, cls in registered_rules().items()}
    make_table: Any = TypedDict  # the functional form, with keys known only at run time
    return with_config(ConfigDict(extra="forbid"))(make_table("RuleTables", fields, total=False))


class Settings(CoreSettings):
    """The whole configuration file, plus ``COSTAGENT_*`` environment overrides."""

    if TYPE_CHECKING:
        sources: list[SourceConfig] = Field(default_factory=list)
        rules: dict[str, RuleConfig] = Field(default_factory=dict)
    else:
        sources: list[_source_entry()] = Field(
            default_factory=list, description="where billing and usage come from"
        )
        rules: _rule_tables() = Field(
            default_factory=dict, description="per-rule thresholds, by rule id"
        )

    @field_validator("sources", mode="before")
    @classmethod
    def _typed_sources(cls, raw: Any) -> Any:
        """Each table against its own type's model first, so a message names the source."""
        if not isinstance(raw, list):
            return raw
        typed = [validate_source(item) if isinstance(item, dict) else item for item in raw]
        names = [s.name for s in typed if isinstance(s, SourceConfig)]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique; repeated: {', '.join(dupes)}")
        return typed

    @field_validator("rules", mode="before")
    @classmethod
    def _known_rules(cls, raw: Any) -> Any:
        """``[rules.<rule_id>]``: an unknown id is named with the known ones."""
        return validate_rule_configs(raw) if isinstance(raw, dict) else raw

    def rule_settings(self) -> dict[str, dict[str, Any]]:
        """``[rules.*]`` as the rules get it: ``[llm_requests]`` gives every rule that reads the
        request log its default ``log_sample_rate`` and its ``prices`` (the rule's own value
        wins; its own prices win per model).  Only what the user wrote (and the shared values)
        is passed on, so each rule's own defaults apply to the rest."""
        shared = self.llm_requests
        merged = {
            rule_id: cfg.model_dump(exclude_unset=True) for rule_id, cfg in self.rules.items()
        }
        for rule_id, rule in registered_rules().items():
            fields = rule.config_model.model_fields
            values = merged.setdefault(rule_id, {})
            if "log_sample_rate" in fields:
                values.setdefault("log_sample_rate", shared.sample_rate)
            if "prices" in fields and shared.prices:
                values["prices"] = {**shared.prices, **(values.get("prices") or {})}
            if not values:
                del merged[rule_id]
        return merged


def load_settings(path: str | Path | None = None, db_url: str | None = None) -> Settings:
    """Read, validate and merge the configuration; raise ConfigError with a usable message."""
    file = config_path(path)
    data: dict[str, Any] = {}
    origin = "configuration"
    if file is not None:
        origin = str(file)
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(
                f"{file}: config file not found (create one with `costagent init`)"
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    env_url = os.environ.get("COSTAGENT_DATABASE_URL")
    if env_url:
        data.setdefault("database", {})
        data["database"] = {**data["database"], "url": env_url}
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, origin)) from None
    if db_url:
        settings = settings.model_copy(
            update={"database": settings.database.model_copy(update={"url": db_url})}
        )
    register_secrets(settings)
    redact.register(make_url_password(settings.database.url))
    return settings
