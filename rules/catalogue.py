"""The built-in rules: importing this module imports every rule module of the package.

Each rule lives in its own module and registers itself when its class is defined
(:class:`rules.base.Rule`), so adding a rule is adding a file — no list to keep in step.
"""

from __future__ import annotations

import importlib
import pkgutil

import rules

_NOT_RULES = frozenset(
    {
        "base",
        "catalogue",
        "daily",
        "engine",
        "queries",
        "resource_facts",
        "llm_prices",
        "rag_cost",
    }
)

for _module in pkgutil.iter_modules(rules.__path__):
    if _module.name not in _NOT_RULES and not _module.name.startswith("_"):
        importlib.import_module(f"rules.{_module.name}")
