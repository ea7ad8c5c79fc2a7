"""Analysis: the configured rules over the ``[analysis]`` window, their findings stored.

``costagent analyze``, ``costagent demo`` and the daemon's ``analyze`` job all run
:func:`analyze`: one rule selection (``[rules.*]`` with the shared ``[llm_requests]`` values)
and one window, so a finding the daemon reports is one the command shows.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from agent.config import Settings
from rules.base import configured_rules
from rules.engine import AnalyzeResult
from rules.engine import analyze as run_rules


def window_days(settings: Settings, days: int | None = None) -> int:
    """``days`` when a command was given it, else ``[analysis] window_days``: a command's
    ``--days``-style option overrides the setting for one run, it has no default of its own."""
    return settings.analysis.window_days if days is None else days


def analyze(
    engine: Engine, settings: Settings, days: int | None = None, now: datetime | None = None
) -> AnalyzeResult:
    """Run every enabled rule over the last ``days`` whole days before ``now`` (default: the
    ``[analysis]`` window ending today) and update the findings."""
    rules = configured_rules(settings.rule_settings())
    return run_rules(engine, rules, window_days(settings, days), now=now)
