"""One configuration model for the whole agent.

Everything the agent reads from the user's TOML file is validated here, once, before any work
starts: an unknown key or a wrong type is an error that names the key, so a typo never turns into
a silently ignored setting.  Precedence is ``--db`` > environment > file > defaults.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from collectors.base import SourceConfig, validate_source

DEFAULT_DB_URL = "sqlite:///costagent.db"
DEFAULT_CONFIG_NAME = "costagent.toml"
WORKLOADS = ("inference", "vector_storage", "training", "other")
Workload = Literal["inference", "vector_storage", "training", "other"]


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseConfig(_Strict):
    url: str = DEFAULT_DB_URL


class ClassificationRule(_Strict):
    """A user rule: every given pattern must match (shell-style globs, case-insensitive)."""

    workload: Workload
    provider: str | None = None
    service: str | None = None
    usage_type: str | None = None
    resource: str | None = None
    tag: str | None = Field(default=None, description="key=value; value may be a glob")

    @field_validator("tag")
    @classmethod
    def _tag_has_equals(cls, value: str | None) -> str | None:
        if value is not None and "=" not in value:
            raise ValueError("tag must be written key=value")
        return value


class ClassificationConfig(_Strict):
    tag_key: str = "workload"
    rules: list[ClassificationRule] = Field(default_factory=list)


class EmailConfig(_Strict):
    smtp_host: str
    smtp_port: int = 587
    starttls: bool = True
    ssl: bool = False
    from_: str = Field(alias="from")
    to: list[str]


class SlackConfig(_Strict):
    webhook_url_env: str | None = None
    token_env: str | None = None
    channel: str | None = None


class ReportConfig(_Strict):
    timezone: str = "UTC"
    email: EmailConfig | None = None
    slack: SlackConfig | None = None


class ScheduleConfig(_Strict):
    collect: str = "0 */6 * * *"
    analyze: str = "30 6 * * *"
    report: str = "0 9 * * 1"


class Settings(BaseSettings):
    """The whole configuration file, plus ``COSTAGENT_*`` environment overrides."""

    model_config = SettingsConfigDict(
        env_prefix="COSTAGENT_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    database: DatabaseConfig = DatabaseConfig()
    sources: list[SourceConfig] = Field(default_factory=list)
    classification: ClassificationConfig = ClassificationConfig()
    rules: dict[str, dict[str, Any]] = Field(default_factory=dict)
    report: ReportConfig = ReportConfig()
    schedule: ScheduleConfig = ScheduleConfig()

    @field_validator("sources", mode="before")
    @classmethod
    def _typed_sources(cls, raw: Any) -> Any:
        if not isinstance(raw, list):
            return raw
        typed = [validate_source(item) if isinstance(item, dict) else item for item in raw]
        names = [s.name for s in typed if isinstance(s, SourceConfig)]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique; repeated: {', '.join(dupes)}")
        return typed

    @field_validator("rules")
    @classmethod
    def _known_rules(cls, raw: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """``[rules.<rule_id>]`` is checked against each rule's config model at load time."""
        from rules.base import validate_rule_configs

        validate_rule_configs(raw)
        return raw

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file arrives as init kwargs; the environment must win over it.
        return (env_settings, init_settings)


def config_path(explicit: str | Path | None) -> Path | None:
    """The file to read: ``--config``, else ``$COSTAGENT_CONFIG``, else ./costagent.toml if any."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("COSTAGENT_CONFIG")
    if env:
        return Path(env)
    default = Path(DEFAULT_CONFIG_NAME)
    return default if default.exists() else None


def format_validation_error(err: ValidationError, origin: str) -> str:
    """One line per problem, each naming the dotted key, e.g. ``sources.0.bucket``."""
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key (typo?)"
        parts.append(f"{origin}: {loc}: {msg}")
    return "; ".join(parts)


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
    return settings
