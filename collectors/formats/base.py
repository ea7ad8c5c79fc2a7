"""Format readers: detection from a file's columns, and the registry of formats.

A reader is declared once: its name, the table it feeds, a label for messages, the columns that
identify it, and one ``convert`` from a raw batch to the canonical shape.  Detection asks each
reader in registry order (most specific first) whether the columns are its own.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import ClassVar, Literal, TypeVar

import pyarrow as pa

from collectors.formats.common import Where

Target = Literal["cost", "metrics", "llm_requests", "llm_usage", "resources"]


class FormatReader(ABC):
    """Turns one raw batch of a file into the canonical Arrow shape of ``target``."""

    name: ClassVar[str]
    label: ClassVar[str]
    target: ClassVar[Target]
    #: ``x_source`` when the user names none; formats of one bill share it, so that a month
    #: imported once as CSV and once as Parquet replaces itself instead of counting twice.
    default_source: ClassVar[str | None] = None

    @classmethod
    def source(cls) -> str:
        return cls.default_source or cls.name

    @classmethod
    @abstractmethod
    def matches(cls, columns: frozenset[str]) -> bool:
        """True when a file with these raw column names is in this format."""

    @classmethod
    def columns_needed(cls, columns: frozenset[str]) -> list[str] | None:
        """The raw columns to read (None: all).  Lets Parquet skip the other hundred."""
        return None

    @classmethod
    def file_column(cls, store_column: str, columns: Sequence[str]) -> str:
        """The file's name for a store column, for messages about a value found bad after
        conversion (a NUL in ``resource_id`` is reported as the file's ``ResourceId``)."""
        return store_column

    @abstractmethod
    def convert(self, batch: pa.RecordBatch, where: Where) -> pa.Table:
        """The canonical table for this batch; raises InputError naming row and column."""


_READERS: list[type[FormatReader]] = []
R = TypeVar("R", bound=type[FormatReader])


def register_format(cls: R) -> R:
    """Class decorator; registration order is detection order."""
    if any(r.name == cls.name for r in _READERS):
        raise RuntimeError(f"format {cls.name!r} registered twice")
    _READERS.append(cls)
    return cls


def readers() -> list[type[FormatReader]]:
    _load_builtin()
    return list(_READERS)


def detect(columns: frozenset[str]) -> type[FormatReader] | None:
    for reader in readers():
        if reader.matches(columns):
            return reader
    return None


def reader_by_name(name: str) -> type[FormatReader]:
    for reader in readers():
        if reader.name == name:
            return reader
    raise KeyError(name)


_loaders: list[Callable[[], object]] = []


def _load_builtin() -> None:
    # Import order fixes detection order: specific formats before generic ones.
    from collectors.formats import (  # noqa: F401
        aws_cur,
        focus,
        gcp_billing,
        inventory,
        llm_requests,
        otel_spans,
        usage_metrics,
    )
