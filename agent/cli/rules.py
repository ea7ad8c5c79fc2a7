"""``costagent rules``: the registered rules, described with the thresholds in force."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table

from agent.cli.app import errors, out, state


class RulesFormat(StrEnum):
    table = "table"
    json = "json"


def rules_(
    fmt: Annotated[RulesFormat, typer.Option("--format", help="Output format.")] = (
        RulesFormat.table
    ),
) -> None:
    """The registered rules: id, family, title, description with your thresholds, sources."""
    from agent.catalogue import rule_rows
    from agent.settings import config_path

    with errors():
        # a config file is optional here: without one the defaults are described
        configured = config_path(state.config) is not None
        rows = rule_rows(state.settings.rule_settings() if configured else None)
    if fmt == RulesFormat.json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table(show_lines=True)
    table.add_column("rule", no_wrap=True)  # ids are copied into [rules.<rule_id>]
    table.add_column("family", max_width=12, overflow="fold")
    table.add_column("what it finds", ratio=1, overflow="fold")
    for r in rows:
        off = "" if r["enabled"] else " (off)"
        table.add_row(r["rule_id"] + off, r["family"], f"{r['title']}: {r['description']}")
    out.print(table)
    out.print(f"{len(rows)} rule(s); details and sources: --format json", style="dim")
