"""``costagent import``: files in, slices replaced, all in one transaction.

Every file is detected from its columns before anything is written, so an unknown file fails
fast.  Then all files stream through their readers into one :class:`Loader` transaction: either
every slice of the command is replaced, or (on any error, or a kill) none is.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, Engine

from agent.settings import CoreSettings
from agent.store.bounds import ValueRejected
from agent.store.clock import utcnow
from agent.store.engine import retry_deadlocks
from agent.store.loader import Loader
from agent.store.runs import CollectResult, record_run
from agent.workloads import Classifier
from collectors.formats import files
from collectors.formats.base import FormatReader, detect, readers
from collectors.formats.common import InputError


@dataclass(frozen=True)
class PlannedFile:
    path: Path
    reader: type[FormatReader]
    size: int


@dataclass
class ImportSummary:
    files: list[tuple[str, str, int]] = field(default_factory=list)  # path, format, rows
    rows: dict[str, int] = field(default_factory=dict)
    slices: list[str] = field(default_factory=list)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


class ProgressSink(Protocol):
    """What the CLI's progress bar needs."""

    def start(self, total_files: int, total_bytes: int) -> None: ...
    def file(self, planned: PlannedFile) -> None: ...
    def rows(self, n: int) -> None: ...
    def file_done(self, planned: PlannedFile) -> None: ...


class NoProgress:
    def start(self, total_files: int, total_bytes: int) -> None:
        pass

    def file(self, planned: PlannedFile) -> None:
        pass

    def rows(self, n: int) -> None:
        pass

    def file_done(self, planned: PlannedFile) -> None:
        pass


def plan(paths: Iterable[str | os.PathLike[str]], fmt: str | None = None) -> list[PlannedFile]:
    """Expand directories and detect each file's format (no data read yet)."""
    planned = []
    by_name = {r.name: r for r in readers()}
    if fmt is not None and fmt not in by_name:
        raise InputError(fmt, f"unknown format; choose one of: {', '.join(sorted(by_name))}")
    for path in files.expand(paths):
        reader = by_name[fmt] if fmt else _detect(path)
        if reader is None:
            known = ", ".join(r.label for r in readers())
            raise InputError(
                str(path),
                f"unrecognised columns; known formats: {known} (see `costagent import --help`)",
            )
        planned.append(PlannedFile(path, reader, path.stat().st_size))
    return planned


def _detect(path: Path) -> type[FormatReader] | None:
    first = files.first_object(path) if files.container(path) == "jsonl" else None
    columns = list(first) if first is not None else files.columns_of(path)
    return detect(frozenset(columns), first)


def import_paths(
    engine: Engine,
    paths: Iterable[str | os.PathLike[str]],
    settings: CoreSettings,
    source: str | None = None,
    fmt: str | None = None,
    progress: ProgressSink | None = None,
    before_commit: Callable[[Connection], None] | None = None,
    record: bool = True,
) -> ImportSummary:
    """Load the files; replace every slice they contain; record the run.

    ``before_commit`` runs inside the load's transaction (collectors write what they loaded,
    e.g. S3 ETags, there, so memory and data commit together).  Collectors pass
    ``record=False``: the pipeline records one run per collector, not one per import.
    """
    sink: ProgressSink = progress or NoProgress()
    started = utcnow()
    planned = plan(paths, fmt)
    sink.start(len(planned), sum(p.size for p in planned))
    run_source = source or "import"
    try:

        def last_step(conn: Connection, summary: ImportSummary) -> None:
            if before_commit is not None:
                before_commit(conn)
            if record:
                _record(conn, run_source, started, "ok", summary, None)

        summary = retry_deadlocks(
            lambda: _load_all(engine, planned, settings, source, sink, last_step)
        )
    except BaseException as exc:
        if record:
            _record_failure(engine, run_source, started, exc)
        raise
    return summary


def _load_all(
    engine: Engine,
    planned: list[PlannedFile],
    settings: CoreSettings,
    source: str | None,
    sink: ProgressSink,
    last_step: Callable[[Connection, ImportSummary], None],
) -> ImportSummary:
    """Every file through one loader, in one transaction; ``last_step`` runs inside it."""
    summary = ImportSummary()
    with engine.connect() as conn, conn.begin():
        loader = Loader(conn, Classifier(settings.classification), sink.rows)
        for item in planned:
            sink.file(item)
            rows = _load_file(loader, item, source or item.reader.source())
            summary.files.append((str(item.path), item.reader.name, rows))
            sink.file_done(item)
        stats = loader.finish()
        summary.rows = {k: v for k, v in stats.rows.items() if v}
        summary.slices = list(stats.slices)
        last_step(conn, summary)
    return summary


def _load_file(loader: Loader, item: PlannedFile, source: str) -> int:
    reader = item.reader()
    columns = frozenset(files.columns_of(item.path))
    rows = 0
    for raw in files.batches(item.path, reader.columns_needed(columns)):
        try:
            table = reader.convert(raw.batch, raw.where)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, ArithmeticError) as exc:
            # A converter should have named the value; this net keeps the promise of one line
            # naming file and rows (exit 2) for whatever slipped past it.
            first = raw.where.row_offset + 1
            last = first + raw.batch.num_rows - 1
            raise InputError(
                str(item.path), f"rows {first}–{last}: cannot convert ({_first_line(exc)})"
            ) from None
        try:
            _write(loader, reader, table, source)
        except ValueRejected as exc:  # a value the store cannot hold (NUL, over-long id)
            column = reader.file_column(exc.column, raw.batch.schema.names)
            raise raw.where.error(exc.row, column, exc.message) from None
        rows += table.num_rows
    return rows


def _write(loader: Loader, reader: FormatReader, table: pa.Table, source: str) -> None:
    """One converted batch into the store; slices the reader keys itself are replaced first
    (all it has seen, rows or not), then its rows go in under them."""
    covered = [f"{source}:{key}" for key in reader.covered()]
    if reader.target == "llm_usage":
        loader.replace_usage_slices(covered)
        loader.write_llm_usage(_prefixed(table, source), source)
    elif reader.target == "cost":
        loader.replace_slices(covered)
        if "x_slice" in table.column_names:
            slices = _prefixed(table, source).column("x_slice").combine_chunks()
            loader.write_cost(table.drop_columns(["x_slice"]), source, slices=slices)
        else:
            loader.write_cost(table, source)
    else:
        writers: dict[str, Callable[[pa.Table, str], None]] = {
            "metrics": loader.write_metrics,
            "llm_requests": loader.write_llm_requests,
            "resources": loader.write_resources,
        }
        writers[reader.target](table, source)


def _prefixed(table: pa.Table, source: str) -> pa.Table:
    """The table with ``x_slice`` keys of this source (``openai:costs:2026-10-05``)."""
    index = table.schema.get_field_index("x_slice")
    keys = pc.binary_join_element_wise(source, table.column("x_slice"), ":")
    return table.set_column(index, "x_slice", keys)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _record(
    conn: Connection,
    source: str,
    started: datetime,
    status: str,
    summary: ImportSummary | None,
    error: str | None,
) -> None:
    result = None
    if summary is not None:
        files = [{"path": p, "format": f, "rows": r} for p, f, r in summary.files]
        result = CollectResult(
            slices=tuple(summary.slices), rows=summary.total_rows, details={"files": files}
        )
    record_run(conn, source, "import", started, status, result, error)


def _record_failure(engine: Engine, source: str, started: datetime, exc: BaseException) -> None:
    """Note the failed run in its own transaction (the import's own was rolled back)."""
    if isinstance(exc, KeyboardInterrupt | SystemExit):
        return
    try:
        with engine.begin() as conn:
            _record(conn, source, started, "failed", None, str(exc))
    except Exception:  # the database itself may be what failed; the original error matters
        pass
