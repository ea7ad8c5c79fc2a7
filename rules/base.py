"""What a rule is: metadata declared once, a pydantic config, SQL in ``evaluate``.

A rule subclasses ``Rule[ItsConfig]`` — the config model named once, in the class line, where the
type checker sees it (``self.config`` is an ``ItsConfig``) — and declares its metadata in one
frozen :class:`RuleMeta`; defining the class registers it.  A missing ``meta``, a misspelt
metadata key, a description naming a threshold the config lacks or a second class with the same
id fails at import, not at 3 a.m.  Every threshold is a field of the config with its default, so
``[rules.<rule_id>]`` in the config can override it and a misspelt key is an error at load time;
the description renders its thresholds from the config in use (:meth:`Rule.describe`).

Rules read the store only (``cost_line_items``, ``usage_metrics``, ``resources``,
``llm_requests``, ``sku_prices``) through the connection in :class:`RuleContext`, aggregate in
SQL, and yield :class:`Candidate` findings whose ``evidence`` holds every input of the savings
formula, so a user can recompute the figure by hand.
"""

from __future__ import annotations

import inspect
import string
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar, Generic, Literal, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.plugins import config_of, discover
from agent.store.money import to_decimal
from agent.store.window import Window
from agent.validation import first_problem

Confidence = Literal["high", "medium", "low"]
HOURS_PER_MONTH = Decimal(730)  # the FinOps convention: 8,760 h / 12
CENT = Decimal("0.01")


class RuleConfig(BaseModel):
    """Settings every rule has; each rule subclasses this with its thresholds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="false turns the rule off")


@dataclass(frozen=True)
class Candidate:
    """One finding as a rule produces it (the engine adds fingerprint, status and dates).

    ``resource_id`` names the resource the savings come from (default: ``subject``): two findings
    on one resource are both reported, but a total counts that resource's savings once.
    """

    subject: str
    title: str
    recommendation: str
    monthly_savings: Decimal
    currency: str
    confidence: Confidence
    evidence: dict[str, Any] = field(default_factory=dict)
    resource_id: str | None = None

    @property
    def overlap_key(self) -> str:
        return self.resource_id or self.subject


@dataclass(frozen=True)
class RuleContext(Window):
    """What a rule may look at: the store and the analysis window [start, end).

    ``cache`` lets shared facts (:mod:`rules.resource_facts`) be computed once per analysis
    when several rules ask the same question.  ``warnings`` collects what a rule could not
    judge and the user can fix (a model without a price): the engine files each under the rule
    that raised it, so ``costagent analyze`` shows it instead of burying it in a log.
    """

    cache: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def days(self) -> Decimal:
        return Decimal((self.end - self.start).total_seconds()) / Decimal(86_400)

    def monthly(self, amount: Decimal) -> Decimal:
        """An amount observed over the window, scaled to a 730-hour month."""
        hours = self.days * 24
        return amount * HOURS_PER_MONTH / hours if hours else Decimal(0)


Family = Literal[
    "anomalies",
    "architecture",
    "commitments",
    "idle resources",
    "llm tokens",
    "networking",
    "over-provisioned endpoints",
    "schedules",
    "storage",
    "training",
    "vector storage",
]


class RuleMeta(BaseModel):
    """What a rule says about itself, once: ``costagent rules`` and the README show it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule_id: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", description="[rules.<rule_id>]")
    title: str = Field(min_length=1)
    family: Family
    description: str = Field(
        min_length=1,
        description="what it finds and recommends; {field} renders a config threshold",
    )
    sources: tuple[str, ...] = Field(min_length=1, description="the documentation it rests on")


ConfigT = TypeVar("ConfigT", bound=RuleConfig)
_REGISTRY: dict[str, type[Rule[Any]]] = {}


class Rule(ABC, Generic[ConfigT]):
    """Base class: subclasses declare ``meta``, name their config in ``Rule[...]`` and
    implement :meth:`evaluate`."""

    meta: ClassVar[RuleMeta]
    config_model: ClassVar[type[RuleConfig]] = RuleConfig  # from the class line
    # Read from ``meta`` at class creation, for the many callers that ask ``rule.rule_id``.
    rule_id: ClassVar[str]
    title: ClassVar[str]
    family: ClassVar[str]
    sources: ClassVar[tuple[str, ...]]

    def __init__(self, config: ConfigT | None = None) -> None:
        # config_model *is* ConfigT (both come from the class line); the cast says so to mypy.
        self.config: ConfigT = config if config is not None else cast(ConfigT, self.config_model())

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "config_model" in cls.__dict__:
            raise TypeError(f"{cls.__name__}: the config model is named once, in Rule[...]")
        cls.config_model = config_of(cls, Rule, RuleConfig) or cls.config_model
        if inspect.isabstract(cls):
            return
        meta = cls.__dict__.get("meta")
        if not isinstance(meta, RuleMeta):
            raise TypeError(f"rule {cls.__name__} declares no `meta = RuleMeta(...)`")
        unknown = _placeholders(meta.description) - set(cls.config_model.model_fields)
        if unknown:
            raise TypeError(
                f"rule {meta.rule_id}: description names {', '.join(sorted(unknown))}, "
                f"not fields of {cls.config_model.__name__}"
            )
        if meta.rule_id in _REGISTRY:
            raise TypeError(f"rule id {meta.rule_id!r} declared twice")
        cls.rule_id, cls.title, cls.family = meta.rule_id, meta.title, meta.family
        cls.sources = meta.sources
        _REGISTRY[meta.rule_id] = cls

    def describe(self) -> str:
        """The description with this instance's thresholds filled in."""
        return self.meta.description.format(**dict(self.config))

    @abstractmethod
    def evaluate(self, ctx: RuleContext) -> Iterable[Candidate]:
        """Yield findings for the window; SQL aggregations, never a loop over line items."""


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def registered_rules() -> dict[str, type[Rule[Any]]]:
    """Every built-in rule, by id (importing the package's modules registers them)."""
    discover("rules")
    return dict(sorted(_REGISTRY.items()))


def validate_rule_configs(raw: dict[str, dict[str, Any]]) -> dict[str, RuleConfig]:
    """``[rules.<rule_id>]`` tables → validated configs; unknown ids and keys are errors."""
    known = registered_rules()
    out: dict[str, RuleConfig] = {}
    for rule_id, values in raw.items():
        if rule_id not in known:
            raise ValueError(f"rules.{rule_id}: unknown rule id; known: {', '.join(sorted(known))}")
        try:
            out[rule_id] = known[rule_id].config_model.model_validate(values or {})
        except ValidationError as exc:
            raise ValueError(f"rules.{rule_id}.{first_problem(exc)}") from None
    return out


class RuleSelection(list[Rule[Any]]):
    """The enabled rules, plus the ids of the registered rules the config turned off.

    A plain list to every caller that runs rules; :func:`rules.engine.analyze` also reads
    ``disabled``, so that findings of a rule switched off do not stay open for ever.  (A list
    built by filtering it is a plain list again: running a hand-picked subset of rules says
    nothing about the others.)
    """

    def __init__(self, enabled: Iterable[Rule[Any]] = (), disabled: Iterable[str] = ()) -> None:
        super().__init__(enabled)
        self.disabled: tuple[str, ...] = tuple(sorted(disabled))


def configured_rules(raw: dict[str, dict[str, Any]]) -> RuleSelection:
    """Instances of every enabled rule with the user's overrides applied (and, as
    ``disabled``, the ids of those ``enabled = false`` turned off)."""
    configs = validate_rule_configs(raw)
    rules = [cls(configs.get(rule_id)) for rule_id, cls in registered_rules().items()]
    return RuleSelection(
        [r for r in rules if r.config.enabled],
        [r.rule_id for r in rules if not r.config.enabled],
    )


def money(value: Any) -> Decimal:
    """A SQL aggregate (Decimal on PostgreSQL, float/str on SQLite) as a Decimal; None is 0."""
    return to_decimal(value) or Decimal(0)
