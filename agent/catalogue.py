"""What the agent knows how to do, from the plug-in registries: rules and source types.

Why one module: ``costagent rules`` and the README's rule and source tables say the same thing
about the same metadata (:class:`rules.base.RuleMeta`, :class:`collectors.base.CollectorMeta`),
so both are rendered here and nothing is typed twice.  The README keeps its tables between
``<!-- generated:rules -->`` / ``<!-- generated:sources -->`` markers; ``python -m
agent.example_config --write`` rewrites them and a test fails when they are stale.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

from agent.example_config import toml_value
from collectors.base import source_types
from rules.base import registered_rules

README_PATH = Path(__file__).resolve().parents[1] / "README.md"
SHORT_VALUE = 40  # a longer default (a table of plans, a list of markers) is named, not shown


def rule_rows(rule_settings: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """One row per registered rule, its description rendered with the thresholds in use.

    ``rule_settings`` is :meth:`agent.config.Settings.rule_settings` (the user's overrides),
    or None for the defaults — what the README shows.
    """
    overrides = rule_settings or {}
    rows = []
    for rule_id, cls in registered_rules().items():
        config = cls.config_model.model_validate(overrides.get(rule_id, {}))
        rows.append(
            {
                "rule_id": rule_id,
                "family": cls.meta.family,
                "title": cls.meta.title,
                "description": cls(config).describe(),
                "enabled": config.enabled,
                "sources": list(cls.meta.sources),
            }
        )
    return rows


def source_rows() -> list[dict[str, str]]:
    """One row per registered source type: its ``type`` name, daemon job and summary."""
    return [
        {"type": name, "job": cls.meta.job, "summary": cls.meta.summary}
        for name, cls in source_types().items()
    ]


# --- the README -------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def rules_markdown() -> str:
    """A short table (id, family, title) and, below it, each rule's description wrapped at 80
    columns: one row per rule would be hundreds of columns wide."""
    rows = rule_rows()
    lines = ["| rule | family | title |", "|---|---|---|"]
    lines += [f"| `{r['rule_id']}` | {r['family']} | {_cell(r['title'])} |" for r in rows]
    lines.append("")
    for r in rows:
        lines += _wrap(
            f"- `{r['rule_id']}`: {r['description']} Defaults: {_defaults(r['rule_id'])}."
        )
    return "\n".join(lines)


_KEEP = "\x00"  # stands for a space inside a code span while wrapping


def _wrap(text: str) -> list[str]:
    """Wrapped at 80 columns, never inside a code span (`key = value` stays on one line)."""
    whole = re.sub(r"`[^`]*`", lambda m: m.group(0).replace(" ", _KEEP), text)
    lines = textwrap.wrap(
        whole, 80, subsequent_indent="  ", break_on_hyphens=False, break_long_words=False
    )
    return [line.replace(_KEEP, " ") for line in lines]


def _defaults(rule_id: str) -> str:
    """The rule's thresholds at their defaults, ``key = value`` (TOML, as the user writes it)."""
    model = registered_rules()[rule_id].config_model
    shown = []
    for name, info in model.model_fields.items():
        if name == "enabled":  # every rule has it, said above the list
            continue
        default = info.get_default(call_default_factory=True)
        if default is None:  # an optional key: unset unless the user sets it
            shown.append(f"`{name}` unset")
            continue
        value = toml_value(default)
        shown.append(f"`{name} = {value}`" if len(value) <= SHORT_VALUE else f"`{name}`")
    return ", ".join(shown)


def sources_markdown() -> str:
    lines = ["| type | job | what it reads |", "|---|---|---|"]
    lines += [f"| `{r['type']}` | {r['job']} | {_cell(r['summary'])} |" for r in source_rows()]
    return "\n".join(lines)


def readme_with_tables(readme: str) -> str:
    """``readme`` with the text between each pair of generated markers replaced."""
    for name, body in (("rules", rules_markdown()), ("sources", sources_markdown())):
        pattern = re.compile(
            rf"(<!-- generated:{name} -->\n)(?:.*?\n)?(<!-- /generated:{name} -->)", re.DOTALL
        )
        match = pattern.search(readme)
        if match is None:
            raise ValueError(f"README.md lacks the <!-- generated:{name} --> markers")
        start, end = match.span()
        readme = f"{readme[:start]}{match.group(1)}{body}\n{match.group(2)}{readme[end:]}"
    return readme
