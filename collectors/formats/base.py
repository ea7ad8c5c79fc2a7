"""Format readers: detection from a file's columns, and the registry of formats.

A reader is declared once: its name, the table it feeds, a label for messages, the columns that
identify it, and one ``convert`` from a raw batch to the canonical shape.  Defining a subclass
that sets ``name`` registers it; :func:`agent.plugins.discover` imports the package's modules, so
a new format is a new module.  Detection asks each reader whether the columns are its own, in
``precedence`` order (lower first: the more specific formats), then by module name and order
of definition — never by which module happened to be imported first.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar, Literal

import pyarrow as pa

from agent.plugins import discover
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

    #: detection order; a reader whose columns are a superset of another's goes first
    precedence: ClassVar[int] = 100

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            return  # a shared base of several readers (e.g. the CUR variants)
        missing = [a for a in ("label", "target") if not hasattr(cls, a)]
        if missing:
            raise TypeError(f"format {cls.__name__} does not declare {', '.join(missing)}")
        if any(r.name == cls.name for r in _READERS):
            raise TypeError(f"format {cls.name!r} registered twice")
        _READERS.append(cls)

    @classmethod
    def source(cls) -> str:
        return cls.default_source or cls.name

    @classmethod
    @abstractmethod
    def matches(cls, columns: frozenset[str]) -> bool:
        """True when a file with these raw column names is in this format."""

    @classmethod
    def matches_sample(cls, first: Mapping[str, Any] | None) -> bool:
        """Whether a file whose columns :meth:`matches` is this format, judged by its first
        object (JSON files; None for CSV and Parquet).  Formats whose files share their
        top-level keys — saved API pages are all ``data``, ``has_more``, ``next_page`` — look
        inside; the rest need not."""
        return True

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
        """The canonical table for this batch; raises InputError naming row and column.

        A reader that knows the slices of its rows better than the target's default (billing
        account and month for costs) adds an ``x_slice`` column of keys without the source
        (``costs:2026-10-05``); the importer prefixes the source.  ``llm_usage`` rows always
        carry one."""

    def covered(self) -> Iterator[str]:
        """Slice keys (as in ``x_slice``) of everything read so far, also those without a row
        — the importer empties them, so a day a provider now reports empty is emptied."""
        return iter(())


_READERS: list[type[FormatReader]] = []


def readers() -> list[type[FormatReader]]:
    """Every format, in detection order."""
    discover("collectors.formats")
    order = {r: i for i, r in enumerate(_READERS)}  # definition order within a module
    return sorted(_READERS, key=lambda r: (r.precedence, r.__module__, order[r]))


def detect(
    columns: frozenset[str], first: Mapping[str, Any] | None = None
) -> type[FormatReader] | None:
    """The first reader (in :func:`readers` order) whose columns and first object match."""
    for reader in readers():
        if reader.matches(columns) and reader.matches_sample(first):
            return reader
    return None


def reader_by_name(name: str) -> type[FormatReader]:
    for reader in readers():
        if reader.name == name:
            return reader
    raise KeyError(name)
