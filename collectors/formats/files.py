"""Reading export files as streams of raw Arrow batches, whatever their container.

CSV (optionally gzip), Parquet and newline-delimited JSON are read in bounded batches so memory
does not grow with file size.  CSV values stay text (``NULL`` and empty are nulls) and are parsed
by the readers' converters, which know which column is money and which is a date.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from collectors.formats.common import InputError, Where

BATCH_ROWS = 16_384
JSON_BATCH_ROWS = 20_000
CSV_BLOCK_BYTES = 8 << 20
NULL_TEXTS = ["NULL", "null", ""]
DATA_SUFFIXES = (
    ".csv",
    ".csv.gz",
    ".parquet",
    ".jsonl",
    ".ndjson",
    ".json",
    ".jsonl.gz",
    ".ndjson.gz",
    ".json.gz",
)


@dataclass(frozen=True)
class RawBatch:
    batch: pa.RecordBatch
    where: Where


def container(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".parquet") or name.endswith(".parq"):
        return "parquet"
    if name.endswith((".csv", ".csv.gz", ".tsv")):
        return "csv"
    if name.endswith((".jsonl", ".ndjson", ".json", ".jsonl.gz", ".ndjson.gz", ".json.gz")):
        return "jsonl"
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head == b"PAR1":
        return "parquet"
    raise InputError(str(path), "unknown file type (expected .csv[.gz], .parquet or .jsonl)")


def expand(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files given, and data files found under directories given (sorted, manifests skipped)."""
    out: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found = [
                f
                for f in sorted(path.rglob("*"))
                if f.is_file()
                and f.name.lower().endswith(DATA_SUFFIXES)
                and "manifest" not in f.name.lower()
                and "metadata" not in f.relative_to(path).parts[:-1]
                and not f.name.startswith(".")
            ]
            if not found:
                raise InputError(str(path), "directory holds no .csv, .parquet or .jsonl files")
            out.extend(found)
        elif path.is_file():
            out.append(path)
        else:
            raise InputError(str(path), "no such file or directory")
    return out


def _open_binary(path: Path) -> BinaryIO:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def columns_of(path: Path) -> list[str]:
    """The raw column names, read cheaply (header line, Parquet footer, first JSON object)."""
    kind = container(path)
    try:
        if kind == "parquet":
            return list(pq.ParquetFile(path).schema_arrow.names)
        if kind == "csv":
            with _open_binary(path) as fh:
                text = io.TextIOWrapper(fh, encoding="utf-8-sig", newline="")
                header = next(csv.reader(text), None)
            if not header:
                raise InputError(str(path), "empty file: no header line")
            return header
        for _, obj in _json_objects(path):
            return list(obj)
        raise InputError(str(path), "empty file: no JSON object")
    except (pa.ArrowInvalid, OSError, EOFError, UnicodeDecodeError) as exc:
        what = (
            "not a readable Parquet file (truncated?)"
            if kind == "parquet"
            else (f"cannot read {kind}")
        )
        raise InputError(str(path), f"{what}: {_short(exc)}") from None


def batches(path: Path, columns: list[str] | None = None) -> Iterator[RawBatch]:
    kind = container(path)
    if kind == "parquet":
        yield from _parquet(path, columns)
    elif kind == "csv":
        yield from _csv(path, columns)
    else:
        yield from _jsonl(path, columns)


def _short(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__


def _parquet(path: Path, columns: list[str] | None) -> Iterator[RawBatch]:
    offset = 0
    try:
        pf = pq.ParquetFile(path)
        for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=columns):
            yield RawBatch(batch, Where(str(path), offset))
            offset += batch.num_rows
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(
            str(path), f"not a readable Parquet file (truncated?): {_short(exc)}", offset + 1
        ) from None


def _csv(path: Path, columns: list[str] | None) -> Iterator[RawBatch]:
    header = columns_of(path)
    dupes = sorted({c for c in header if header.count(c) > 1})
    if dupes:
        raise InputError(str(path), f"duplicate column names in header: {', '.join(dupes)}")
    convert = pacsv.ConvertOptions(
        column_types={c: pa.string() for c in header},
        null_values=NULL_TEXTS,
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
        include_columns=columns,
    )
    read = pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES, encoding="utf8")
    offset = 0
    try:
        with pa.input_stream(str(path), compression="detect") as stream:
            reader = pacsv.open_csv(stream, read_options=read, convert_options=convert)
            for batch in reader:
                yield RawBatch(batch, Where(str(path), offset))
                offset += batch.num_rows
    except (pa.ArrowInvalid, OSError, EOFError) as exc:
        raise InputError(str(path), f"malformed CSV: {_short(exc)}", offset + 1) from None


def _json_objects(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(data row, object) for each non-blank line; row numbers are line numbers."""
    with _open_binary(path) as fh:
        for lineno, raw in enumerate(fh, start=1):
            line = raw.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                raise InputError(str(path), "not valid JSON", lineno) from None
            if not isinstance(obj, dict):
                raise InputError(str(path), "each line must be a JSON object", lineno)
            yield lineno, obj


def _records_to_batch(records: list[dict[str, Any]], keys: list[str]) -> pa.RecordBatch:
    """Columns from JSON objects.  Nested objects and arrays stay JSON text (exactly as sent,
    no keys invented by Arrow's struct inference); readers decode the ones they need."""
    arrays = []
    for key in keys:
        values = [r.get(key) for r in records]
        if any(isinstance(v, dict | list) for v in values):
            arrays.append(
                pa.array(
                    [None if v is None else json.dumps(v, separators=(",", ":")) for v in values],
                    pa.string(),
                )
            )
            continue
        try:
            arrays.append(pa.array(values))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            # Mixed types across rows (12 and "12"): keep text and let the converter judge.
            arrays.append(
                pa.array(
                    [
                        None if v is None else v if isinstance(v, str) else json.dumps(v)
                        for v in values
                    ],
                    pa.string(),
                )
            )
    return pa.RecordBatch.from_arrays(arrays, names=keys)


def _jsonl(path: Path, columns: list[str] | None) -> Iterator[RawBatch]:
    """JSON lines in batches; ``Where.row_offset`` is the line before the batch's first line."""
    records: list[dict[str, Any]] = []
    keys: dict[str, None] = dict.fromkeys(columns or [])
    first_line = 1
    last_line = 0
    try:
        for lineno, obj in _json_objects(path):
            if not records:
                first_line = lineno
            if columns is None:
                keys.update(dict.fromkeys(obj))
            # Rows are numbered by line; blank lines would shift a batch-relative index.
            if lineno != last_line + 1 and records:
                yield RawBatch(
                    _records_to_batch(records, list(keys)), Where(str(path), first_line - 1)
                )
                records, first_line = [], lineno
            records.append(obj)
            last_line = lineno
            if len(records) >= JSON_BATCH_ROWS:
                yield RawBatch(
                    _records_to_batch(records, list(keys)), Where(str(path), first_line - 1)
                )
                records = []
        if records:
            yield RawBatch(_records_to_batch(records, list(keys)), Where(str(path), first_line - 1))
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise InputError(str(path), f"cannot read: {_short(exc)}") from None
