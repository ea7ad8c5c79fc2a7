"""The one clock of the store: naive UTC, as every timestamp column holds it.

The schema stores times without a zone (SQLite has none, and one convention for both databases
keeps comparisons exact), so "now" is UTC with the zone dropped — written once here rather than
as a private helper in every module that stamps a row.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now, in UTC, without tzinfo (the store's convention)."""
    return datetime.now(UTC).replace(tzinfo=None)
