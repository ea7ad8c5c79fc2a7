"""The collector protocol and the registry of source types.

A source type is declared once: its ``type`` name, its pydantic config model and the collector
class live together, registered by a decorator.  The configuration loader looks the type up here
and validates the ``[[sources]]`` entry against that model, so an unknown key or a missing field in
one source is an error at startup that names the key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.validation import first_problem


class SourceConfig(BaseModel):
    """Fields every source has; each source type subclasses this with its own fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="appears as x_source")
    type: str


@dataclass(frozen=True)
class CollectResult:
    """What one collector run did; stored in ``collection_runs``.

    ``api_cost`` is what the run's API calls cost the user (Cost Explorer bills $0.01 a request,
    BigQuery by bytes scanned), as a decimal string; ``warnings`` are shown and stored (e.g. a
    request budget that stopped the run early).
    """

    slices: tuple[str, ...] = ()
    rows: int = 0
    api_requests: int = 0
    api_cost: str = "0"
    warnings: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    window: tuple[Any, Any] | None = None


class Collector(Protocol):
    """A collector pulls one source into the store (through the shared loader)."""

    config_model: ClassVar[type[SourceConfig]]

    def collect(
        self, engine: Any, settings: Any, since: Any = None, until: Any = None
    ) -> CollectResult: ...


_REGISTRY: dict[str, type[Any]] = {}
C = TypeVar("C", bound=type[Any])


def register(type_name: str) -> Callable[[C], C]:
    """Class decorator: make ``type_name`` a valid ``[[sources]] type``."""

    def deco(cls: C) -> C:
        if type_name in _REGISTRY:
            raise RuntimeError(f"source type {type_name!r} registered twice")
        model = cls.config_model
        if model.model_fields["type"].annotation is str:
            raise RuntimeError(f"{cls.__name__}.config_model must narrow `type` to a Literal")
        _REGISTRY[type_name] = cls
        return cls

    return deco


def source_types() -> dict[str, type[Any]]:
    _load_builtin()
    return dict(_REGISTRY)


def _load_builtin() -> None:
    # Importing the modules runs their @register decorators.
    import collectors.aws.bedrock_logs
    import collectors.aws.cost_explorer
    import collectors.aws.data_exports
    import collectors.aws.inventory
    import collectors.aws.metrics
    import collectors.gcp.billing_api
    import collectors.gcp.billing_export
    import collectors.gcp.vertex
    import collectors.llm.anthropic_usage
    import collectors.llm.litellm_db
    import collectors.llm.openai_usage  # noqa: F401
    from collectors import local_files  # noqa: F401


def validate_source(raw: dict[str, Any]) -> SourceConfig:
    """Validate one ``[[sources]]`` table against the model of its ``type``."""
    types = source_types()
    kind = raw.get("type")
    if kind not in types:
        known = ", ".join(sorted(types))
        raise ValueError(f"unknown source type {kind!r}; known types: {known}")
    model: type[SourceConfig] = types[kind].config_model
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(f"source {raw.get('name', '?')!r}: {first_problem(exc)}") from None


def collector_for(config: SourceConfig) -> Any:
    return source_types()[config.type](config)
