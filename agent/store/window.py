"""A window of the store to read: a connection and a half-open time range [start, end).

The rules' :class:`rules.base.RuleContext` is one (with a cache of shared facts); the report
builds one for its week.  Store helpers that read a window (the LLM price grouping) take this
type, so the report can call them without the rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection


@dataclass(frozen=True)
class Window:
    """The store and a time range; ``warnings`` collects what the reader could not judge and
    the user can fix (each message once)."""

    conn: Connection
    start: datetime
    end: datetime
    warnings: list[str] = field(default_factory=list, compare=False, repr=False)

    def warn(self, message: str) -> None:
        """Report something the user should fix (each message once, however often)."""
        if message not in self.warnings:
            self.warnings.append(message)
