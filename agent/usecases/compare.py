"""Design comparisons on measured traffic: RAG vs fine-tuning for one app.

The ``rag-vs-finetune`` rule reviews the apps of ``[rules.rag-vs-finetune.apps.*]`` on the
daemon's schedule; ``costagent compare rag-vs-finetune`` reviews one app on demand, with
``--set KEY=VALUE`` overrides merged over that app's table, so a what-if ("at 86 % accuracy?")
needs no config edit.  The merge and the window live here, not in the command.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine

from agent.config import Settings
from agent.store.findings import end_of_data
from agent.usecases.analysis import window_days
from agent.validation import first_problem
from rules.base import RuleContext
from rules.rag_vs_finetune import RagApp, RagVsFinetuneConfig, Unpriced, evidence, review

#: ``--set`` keys whose value is a list, given comma-separated
_LIST_KEYS = frozenset({"vector_store_resources"})


class BadComparison(ValueError):
    """The comparison cannot be made as asked: a malformed ``--set``, a key neither the config
    nor ``--set`` gives, a model nothing prices.  A usage error: the message says what to set."""


@dataclass(frozen=True)
class RagVsFinetune:
    """One app's comparison, as asked: its settings (config merged with ``--set``), the rule's
    shared ones (private prices, the log's sample rate) and the days of traffic to measure."""

    app: str
    config: RagApp
    rule: RagVsFinetuneConfig
    window_days: int


def rag_vs_finetune(
    settings: Settings, app: str, overrides: Sequence[str] = (), days: int | None = None
) -> RagVsFinetune:
    """The comparison of ``app``: ``[rules.rag-vs-finetune.apps.<app>]`` with the ``KEY=VALUE``
    ``overrides`` over it, over ``days`` (default: ``[analysis] window_days``).

    Validated before the store is opened, so a bad ``--set`` is reported as such; raises
    :class:`BadComparison`.
    """
    rule_values = dict(settings.rule_settings().get("rag-vs-finetune", {}))
    configured: dict[str, Any] = rule_values.pop("apps", {}).get(app, {})
    rule = RagVsFinetuneConfig.model_validate(rule_values)  # prices, sample rate
    values = dict(configured)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise BadComparison(f"--set {item!r}: expected KEY=VALUE")
        key = key.strip()
        values[key] = [v for v in value.split(",") if v] if key in _LIST_KEYS else value
    try:
        config = RagApp.model_validate(values)
    except ValidationError as exc:
        where = f"[rules.rag-vs-finetune.apps.{app}]"
        raise BadComparison(f"{first_problem(exc)} (give it in {where} or --set)") from None
    return RagVsFinetune(app, config, rule, window_days(settings, days))


def measure(engine: Engine, asked: RagVsFinetune) -> dict[str, object] | None:
    """The comparison's facts over the last ``asked.window_days`` days of data (a backfilled or
    demo store is measured where its traffic is); None: the app made no chat requests then.
    Raises :class:`BadComparison` for a model nothing prices."""
    end = end_of_data(engine)
    with engine.connect() as conn:
        ctx = RuleContext(conn, end - timedelta(days=asked.window_days), end)
        try:
            reviewed = review(ctx, asked.app, asked.config, asked.rule)
        except Unpriced as exc:
            raise BadComparison(f"{exc} (or --set)") from None
    return None if reviewed is None else evidence(asked.config, *reviewed)
