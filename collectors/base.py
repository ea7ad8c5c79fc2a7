"""The collector base and the registry of source types.

A source type is declared once: a :class:`SourceConfig` subclass whose ``type`` is a
``Literal`` (the name users write in ``[[sources]] type``), and a collector class that names that
model in its base, ``class MyCollector(Collector[MyConfig])``, with its other metadata in one
:class:`CollectorMeta`.  Defining the class registers it under the literal; a missing ``meta``, a
misspelt metadata key, a ``type`` that is not a single literal or a second class for one type
fails at import.  The settings model (:mod:`agent.config`) assembles its ``[[sources]]`` union
from this registry, so a new collector module is all it takes to add a source type.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from datetime import date
from typing import Any, ClassVar, Generic, Literal, TypeVar, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Engine

from agent.plugins import config_of, discover
from agent.settings import CoreSettings
from agent.store.runs import CollectResult
from agent.validation import first_problem

__all__ = [
    "CollectResult",
    "Collector",
    "CollectorMeta",
    "Day",
    "SourceConfig",
    "collector_for",
    "source_types",
    "validate_source",
]


class SourceConfig(BaseModel):
    """Fields every source has; each source type subclasses this with its own fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="appears as x_source")
    type: str = Field(description="the source type: picks the collector")


class CollectorMeta(BaseModel):
    """What a collector says about itself, once: shown by the README's source table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    summary: str = Field(min_length=1, description="one line: what the source reads")
    job: Literal["collect", "collect_metrics"] = Field(
        "collect",
        description="the daemon job that runs it: billing sources every 6 h, metrics and "
        "inventory hourly",
    )


ConfigT = TypeVar("ConfigT", bound=SourceConfig)
Day = date | None  # a bound of the days to collect; None: the source's own window
_REGISTRY: dict[str, type[Collector[Any]]] = {}


class Collector(ABC, Generic[ConfigT]):
    """A collector pulls one source into the store (through :func:`collectors.load.load`)."""

    meta: ClassVar[CollectorMeta]
    config_model: ClassVar[type[SourceConfig]]  # from the class line: Collector[ThatModel]
    type_name: ClassVar[str]  # from config_model's ``type`` literal

    def __init__(self, config: ConfigT) -> None:
        self.config = config

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        model = config_of(cls, Collector, SourceConfig)
        if model is None:
            return  # a generic intermediate base (e.g. the admin-API collectors' shared code)
        if not isinstance(cls.__dict__.get("meta"), CollectorMeta):
            raise TypeError(f"collector {cls.__name__} declares no `meta = CollectorMeta(...)`")
        if "config_model" in cls.__dict__:
            raise TypeError(f"{cls.__name__}: the config model is named once, in Collector[...]")
        cls.config_model = model
        cls.type_name = _type_literal(model)
        if inspect.isabstract(cls):
            raise TypeError(f"collector {cls.__name__} leaves abstract methods unimplemented")
        if cls.type_name in _REGISTRY:
            raise TypeError(f"source type {cls.type_name!r} registered twice")
        _REGISTRY[cls.type_name] = cls

    @abstractmethod
    def collect(
        self, engine: Engine, settings: CoreSettings, since: Day = None, until: Day = None
    ) -> CollectResult:
        """Load the source's data for [since, until) (default: its own incremental window)."""


def _type_literal(model: type[SourceConfig]) -> str:
    annotation = model.model_fields["type"].annotation
    values = get_args(annotation) if get_origin(annotation) is Literal else ()
    if len(values) != 1 or not isinstance(values[0], str):
        raise TypeError(f"{model.__name__}.type must be one Literal, e.g. Literal['my_source']")
    return values[0]


def source_types() -> dict[str, type[Collector[Any]]]:
    """Every source type, by its ``type`` name (importing the package's modules registers them)."""
    discover("collectors")
    return dict(sorted(_REGISTRY.items()))


def validate_source(raw: dict[str, Any]) -> SourceConfig:
    """Validate one ``[[sources]]`` table against the model of its ``type``."""
    types = source_types()
    kind = raw.get("type")
    if kind not in types:
        known = ", ".join(sorted(types))
        raise ValueError(f"unknown source type {kind!r}; known types: {known}")
    model = types[kind].config_model
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(f"source {raw.get('name', '?')!r}: {first_problem(exc)}") from None


def collector_for(config: SourceConfig) -> Collector[Any]:
    return source_types()[config.type](config)
