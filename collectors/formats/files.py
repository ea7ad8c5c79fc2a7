"""Reading export files as streams of raw Arrow batches, whatever their container.

CSV (plain, gzip or a one-file ZIP, as the legacy CUR offers), Parquet and newline-delimited
JSON (plain or gzip) are read in bounded batches so memory does not grow with file size.  CSV
values stay text (``NULL`` and empty are nulls) and are parsed by the readers' converters, which
know which column is money and which is a date.

Every way a file can be broken — a download cut short, a corrupt compressed stream, a byte that
is not UTF-8, an over-long JSON line — is an :class:`InputError` naming the file and the data row
where it happens.  Arrow's streaming CSV reader does not know the row of a parse error, so on
that (rare) path the file is read again with Python's ``csv`` module up to the fault.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from agent.store import bounds
from collectors.formats.common import InputError, Where
from collectors.formats.deliveries import is_period_folder, select_local

BATCH_ROWS = 16_384
JSON_BATCH_ROWS = 20_000
JSON_BATCH_BYTES = 16 << 20
CSV_BLOCK_BYTES = 8 << 20
NULL_TEXTS = ["NULL", "null", ""]
DATA_SUFFIXES = (
    ".csv",
    ".csv.gz",
    ".csv.zip",
    ".zip",
    ".parquet",
    ".jsonl",
    ".ndjson",
    ".json",
    ".jsonl.gz",
    ".ndjson.gz",
    ".json.gz",
)
_CSV_NAMES = (".csv", ".csv.gz", ".tsv")
_JSON_NAMES = (".jsonl", ".ndjson", ".json", ".jsonl.gz", ".ndjson.gz", ".json.gz")
#: What reading a damaged file raises, from Arrow, zlib, gzip, zipfile and the codecs.
READ_ERRORS = (
    pa.ArrowInvalid,
    OSError,
    EOFError,
    zlib.error,
    UnicodeDecodeError,
    zipfile.BadZipFile,
)
_CORRUPT = "compressed data is corrupt or cut short"


@dataclass(frozen=True)
class RawBatch:
    batch: pa.RecordBatch
    where: Where


def container(path: Path) -> str:
    name = path.name.lower()
    if name.endswith((".parquet", ".parq")):
        return "parquet"
    if name.endswith(".zip"):
        inner = _zip_member(path).lower()
        if inner.endswith(_CSV_NAMES):
            return "csv"
        if inner.endswith(_JSON_NAMES):
            return "jsonl"
        raise InputError(str(path), f"ZIP holds {inner!r}: only a CSV or JSONL file is read")
    if name.endswith(_CSV_NAMES):
        return "csv"
    if name.endswith(_JSON_NAMES):
        return "jsonl"
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head == b"PAR1":
        return "parquet"
    raise InputError(
        str(path), "unknown file type (expected .csv[.gz|.zip], .parquet or .jsonl[.gz])"
    )


def _zip_member(path: Path) -> str:
    """The one data file inside a ZIP (AWS's ``.csv.zip`` holds exactly one)."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = [
                i.filename
                for i in zf.infolist()
                if not i.is_dir() and not i.filename.startswith(("__MACOSX/", "."))
            ]
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(str(path), f"not a readable ZIP file: {_short(exc)}") from None
    if len(names) != 1:
        raise InputError(
            str(path), f"ZIP holds {len(names)} files; unzip it and import the folder instead"
        )
    return names[0]


def expand(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files given, and the data files found under directories given.

    Below a directory, manifests and ``metadata/`` folders are skipped, and in an export's
    period folder only the current delivery is taken (see :mod:`collectors.formats.deliveries`).
    A file named on the command line is always read, as given.
    """
    out: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found = _data_files(path)
            if not found:
                raise InputError(str(path), "directory holds no .csv, .parquet or .jsonl files")
            out.extend(_current_deliveries(path, found))
        elif path.is_file():
            out.append(path)
        else:
            raise InputError(str(path), "no such file or directory")
    return out


def _data_files(root: Path) -> list[Path]:
    return [
        f
        for f in sorted(root.rglob("*"))
        if f.is_file()
        and f.name.lower().endswith(DATA_SUFFIXES)
        and "manifest" not in f.name.lower()
        and "metadata" not in f.relative_to(root).parts[:-1]
        and not any(part.startswith(".") for part in f.relative_to(root).parts)
    ]


def _current_deliveries(root: Path, found: list[Path]) -> list[Path]:
    """Group files by the export period folder they sit in; keep each period's current ones."""
    by_period: dict[Path, list[Path]] = {}
    loose: list[Path] = []
    for f in found:
        folder = _period_folder(root, f)
        if folder is None:
            loose.append(f)
        else:
            by_period.setdefault(folder, []).append(f)
    chosen = list(loose)
    for folder, files in by_period.items():
        chosen.extend(select_local(folder, files))
    return sorted(chosen)


def _period_folder(root: Path, file: Path) -> Path | None:
    """The nearest folder above ``file`` (up to ``root`` itself) that holds one export period."""
    for folder in file.parents:
        if is_period_folder(folder.name):
            return folder
        if folder == root:
            return None
    return None


@contextmanager
def _open_binary(path: Path) -> Iterator[IO[bytes]]:
    """The file's bytes, decompressed (gzip, or the one member of a ZIP)."""
    name = path.name.lower()
    if name.endswith(".gz"):
        with gzip.GzipFile(path, "rb") as gz:
            yield cast(IO[bytes], gz)  # typeshed types GzipFile as BufferedIOBase only
    elif name.endswith(".zip"):
        with zipfile.ZipFile(path) as zf, zf.open(_zip_member(path)) as member:
            yield member
    else:
        with open(path, "rb") as fh:
            yield fh


def columns_of(path: Path) -> list[str]:
    """The raw column names, read cheaply (header line, Parquet footer, first JSON object)."""
    kind = container(path)
    try:
        if kind == "parquet":
            return list(pq.ParquetFile(path).schema_arrow.names)
        if kind == "csv":
            with _open_binary(path) as fh:
                first = fh.readline(bounds.JSON_LINE_BYTES)
            header = next(csv.reader([first.decode("utf-8-sig")]), None)
            if not header:
                raise InputError(str(path), "empty file: no header line")
            return header
        return list(first_object(path))
    except UnicodeDecodeError:
        raise InputError(str(path), "the header line is not UTF-8 text", 0) from None
    except READ_ERRORS as exc:
        what = "not a readable Parquet file (truncated?)" if kind == "parquet" else _CORRUPT
        raise InputError(str(path), f"{what}: {_short(exc)}") from None


def first_object(path: Path) -> dict[str, Any]:
    """A JSON file's first object (its row 1): what detection looks inside when the column
    names alone cannot tell two formats apart (saved API pages all have ``data``)."""
    for _, obj, _ in _json_objects(path):
        return obj
    raise InputError(str(path), "empty file: no JSON object")


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
        with _csv_stream(path) as stream:
            reader = pacsv.open_csv(stream, read_options=read, convert_options=convert)
            for batch in reader:
                yield RawBatch(batch, Where(str(path), offset))
                offset += batch.num_rows
    except READ_ERRORS as exc:
        row, problem = locate_csv_fault(path, len(header))
        if row is None:
            row, problem = offset + 1, f"malformed CSV: {_short(exc)}"
        raise InputError(str(path), problem, row) from None


@contextmanager
def _csv_stream(path: Path) -> Iterator[Any]:
    if path.name.lower().endswith(".zip"):
        with _open_binary(path) as member:
            yield member
    else:  # Arrow decompresses gzip itself, in C
        with pa.input_stream(str(path), compression="detect") as stream:
            yield stream


def locate_csv_fault(path: Path, width: int) -> tuple[int | None, str]:
    """(data row, what is wrong) of the first record that breaks a CSV file, or (None, "").

    Reads decoded line by line, so a bad byte is pinned to its record even inside a quoted
    value spanning lines; blank lines are not rows (as in Arrow's numbering).
    """
    row = 0
    try:
        with _open_binary(path) as fh:
            reader = csv.reader(_decoded_lines(fh))
            next(reader, None)
            for record in reader:
                if not record:
                    continue
                row += 1
                if len(record) != width:
                    if not _stream_intact(path):
                        return row, _CORRUPT
                    return row, (
                        f"expected {width} fields, found {len(record)} "
                        "(a download cut short, or a stray quote or delimiter)"
                    )
    except UnicodeDecodeError as exc:
        if not _stream_intact(path):
            return row + 1, _CORRUPT
        return row + 1, f"not UTF-8 text (byte {exc.object[exc.start : exc.start + 1]!r})"
    except csv.Error as exc:
        return row + 1, f"malformed CSV: {exc}" if _stream_intact(path) else _CORRUPT
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile):
        return row + 1, _CORRUPT
    return None, ""


def _stream_intact(path: Path) -> bool:
    """Whether a compressed file decompresses to its end without error (True if plain).

    A corrupt deflate stream yields garbage for a while before zlib notices, so a garbled row
    in a compressed file is first blamed on the compression, not on the row (error path only).
    """
    if not path.name.lower().endswith((".gz", ".zip")):
        return True
    try:
        with _open_binary(path) as fh:
            while fh.read(1 << 20):
                pass
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile):
        return False
    return True


def _decoded_lines(fh: IO[bytes]) -> Iterator[str]:
    first = True
    while True:
        raw = fh.readline(bounds.JSON_LINE_BYTES + 1)
        if not raw:
            return
        yield raw.decode("utf-8-sig" if first else "utf-8")
        first = False


def _json_objects(path: Path) -> Iterator[tuple[int, dict[str, Any], int]]:
    """(data row, object, bytes of its line) for each non-blank line; rows are line numbers.

    Lines are read with a bound (:data:`agent.store.bounds.JSON_LINE_BYTES`), so one huge line
    cannot take the memory a whole file would.  A file that is one JSON *document* instead — a
    pretty-printed object (an API answer saved with ``curl``) or an array of objects (LiteLLM's
    ``/spend/logs``) — is read whole within that same bound; its rows are the array's elements.
    """
    lineno = 0
    first = True  # no object yet: a document may start here
    try:
        with _open_binary(path) as fh:
            while True:
                raw = fh.readline(bounds.JSON_LINE_BYTES + 1)
                if not raw:
                    return
                lineno += 1
                if len(raw) > bounds.JSON_LINE_BYTES:
                    raise InputError(str(path), f"line longer than {bounds.JSON_LINE_TEXT}", lineno)
                line = raw.strip()
                if not line:
                    continue
                started, first = first, False
                try:
                    text = line.decode("utf-8-sig" if lineno == 1 else "utf-8")
                except UnicodeDecodeError as exc:
                    bad = exc.object[exc.start : exc.start + 1]
                    problem = f"not UTF-8 text (byte {bad!r})" if _stream_intact(path) else _CORRUPT
                    raise InputError(str(path), problem, lineno) from None
                try:
                    obj = json.loads(text)
                except ValueError:
                    if started and _opens_document(text):
                        yield from _json_document(path)
                        return
                    problem = "not valid JSON" if _stream_intact(path) else _CORRUPT
                    raise InputError(str(path), problem, lineno) from None
                if isinstance(obj, list) and started:
                    yield from _elements(path, obj, len(raw))
                    return
                if not isinstance(obj, dict):
                    raise InputError(str(path), "each line must be a JSON object", lineno)
                yield lineno, obj, len(raw)
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
        raise InputError(str(path), f"{_CORRUPT}: {_short(exc)}", lineno + 1) from None


def _opens_document(first_line: str) -> bool:
    """Whether a first line that is not JSON by itself opens a multi-line document: pretty
    printers put the opening bracket alone on it, and an array opens with ``[``.  A JSON-lines
    file whose first object is broken (``{"a": 1``) stays a bad row 1, not a document."""
    text = first_line.lstrip("\ufeff").strip()
    return text in ("{", "[") or text.startswith("[")


def _json_document(path: Path) -> Iterator[tuple[int, dict[str, Any], int]]:
    """A file that is one JSON document, read whole (within the line bound)."""
    with _open_binary(path) as fh:
        raw = fh.read(bounds.JSON_LINE_BYTES + 1)
    if len(raw) > bounds.JSON_LINE_BYTES:
        raise InputError(
            str(path),
            f"a JSON document larger than {bounds.JSON_LINE_TEXT}: write it as JSON lines "
            "(one object per line, e.g. `jq -c '.[]'`)",
        )
    try:
        doc = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        bad = exc.object[exc.start : exc.start + 1]
        raise InputError(str(path), f"not UTF-8 text (byte {bad!r})") from None
    except ValueError as exc:
        # json reports the line of the fault; that is the row a person can find
        line = getattr(exc, "lineno", None)
        raise InputError(str(path), "not valid JSON", line) from None
    if isinstance(doc, dict):
        yield 1, doc, len(raw)
    elif isinstance(doc, list):
        yield from _elements(path, doc, len(raw))
    else:
        raise InputError(str(path), "the document must be a JSON object or an array of objects")


def _elements(path: Path, doc: list[Any], size: int) -> Iterator[tuple[int, dict[str, Any], int]]:
    """An array's objects, numbered from 1 (the row a message names is the element)."""
    share = size // max(len(doc), 1)
    for index, obj in enumerate(doc, 1):
        if not isinstance(obj, dict):
            raise InputError(str(path), "each element of the array must be a JSON object", index)
        yield index, obj, share


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
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            # Mixed types across rows (12 and "12"), or an integer past 64 bits: keep text and
            # let the converter judge (and name the row).
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
    size = 0
    for lineno, obj, nbytes in _json_objects(path):
        if not records:
            first_line = lineno
        if columns is None:
            keys.update(dict.fromkeys(obj))
        # Rows are numbered by line; blank lines would shift a batch-relative index.
        if lineno != last_line + 1 and records:
            yield RawBatch(_records_to_batch(records, list(keys)), Where(str(path), first_line - 1))
            records, first_line, size = [], lineno, 0
        records.append(obj)
        last_line = lineno
        size += nbytes
        # rows or bytes, whichever comes first: a line of an OTLP export holds a whole batch of
        # spans, and 20,000 of them would be the whole file in memory at once
        if len(records) >= JSON_BATCH_ROWS or size >= JSON_BATCH_BYTES:
            yield RawBatch(_records_to_batch(records, list(keys)), Where(str(path), first_line - 1))
            records, size = [], 0
    if records:
        yield RawBatch(_records_to_batch(records, list(keys)), Where(str(path), first_line - 1))
