"""What a rule is: metadata declared once on the class, a pydantic config, SQL in ``evaluate``.

A rule subclasses :class:`Rule` and sets ``rule_id``, ``title``, ``family``, ``description``,
``sources`` and ``config_model`` as class attributes; defining the class registers it (a missing
attribute or a second class with the same id fails at import, not at 3 a.m.).  Every threshold
is a field of ``config_model`` with its default, so ``[rules.<rule_id>]`` in the config can
override it and a misspelt key is an error at load time.

Rules read the store only (``cost_line_items``, ``usage_metrics``, ``resources``,
``llm_requests``, ``sku_prices``) through the connection in :class:`RuleContext`, aggregate in
SQL, and yield :class:`Candidate` findings whose ``evidence`` holds every input of the savings
formula, so a user can recompute the figure by hand.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import Connection

from agent.store.money import to_decimal
from agent.validation import first_problem

Confidence = Literal["high", "medium", "low"]
HOURS_PER_MONTH = Decimal(730)  # the FinOps convention: 8,760 h / 12
CENT = Decimal("0.01")


class RuleConfig(BaseModel):
    """Settings every rule has; each rule subclasses this with its thresholds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True


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
class RuleContext:
    """What a rule may look at: the store and the analysis window [start, end).

    ``cache`` lets shared facts (:mod:`rules.resource_facts`) be computed once per analysis
    when several rules ask the same question.  ``warnings`` collects what a rule could not
    judge and the user can fix (a model without a price): the engine files each under the rule
    that raised it, so ``costagent analyze`` shows it instead of burying it in a log.
    """

    conn: Connection
    start: datetime
    end: datetime
    cache: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)
    warnings: list[str] = field(default_factory=list, compare=False, repr=False)

    def warn(self, message: str) -> None:
        """Report something the user should fix (each message once per rule, however often)."""
        if message not in self.warnings:
            self.warnings.append(message)

    @property
    def days(self) -> Decimal:
        return Decimal((self.end - self.start).total_seconds()) / Decimal(86_400)

    def monthly(self, amount: Decimal) -> Decimal:
        """An amount observed over the window, scaled to a 730-hour month."""
        hours = self.days * 24
        return amount * HOURS_PER_MONTH / hours if hours else Decimal(0)


_REGISTRY: dict[str, type[Rule]] = {}
_REQUIRED = ("rule_id", "title", "family", "description", "sources")


class Rule(ABC):
    """Base class: subclasses declare their metadata and implement :meth:`evaluate`."""

    rule_id: ClassVar[str]
    title: ClassVar[str]
    family: ClassVar[str]
    description: ClassVar[str]
    sources: ClassVar[tuple[str, ...]]
    config_model: ClassVar[type[RuleConfig]] = RuleConfig

    def __init__(self, config: RuleConfig | None = None) -> None:
        self.config = config if config is not None else self.config_model()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if inspect.isabstract(cls):
            return
        missing = [a for a in _REQUIRED if not hasattr(cls, a)]
        if missing:
            raise TypeError(f"rule {cls.__name__} does not declare {', '.join(missing)}")
        if cls.rule_id in _REGISTRY:
            raise TypeError(f"rule id {cls.rule_id!r} declared twice")
        _REGISTRY[cls.rule_id] = cls

    @abstractmethod
    def evaluate(self, ctx: RuleContext) -> Iterable[Candidate]:
        """Yield findings for the window; SQL aggregations, never a loop over line items."""


def registered_rules() -> dict[str, type[Rule]]:
    """Every built-in rule, by id (importing the modules registers them)."""
    import rules.catalogue  # noqa: F401

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


class RuleSelection(list[Rule]):
    """The enabled rules, plus the ids of the registered rules the config turned off.

    A plain list to every caller that runs rules; :func:`rules.engine.analyze` also reads
    ``disabled``, so that findings of a rule switched off do not stay open for ever.  (A list
    built by filtering it is a plain list again: running a hand-picked subset of rules says
    nothing about the others.)
    """

    def __init__(self, enabled: Iterable[Rule] = (), disabled: Iterable[str] = ()) -> None:
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
