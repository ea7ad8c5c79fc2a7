"""What the store holds: the ranges every imported value must fall in, or it is bad input.

A value outside these bounds is refused at import (exit 2, file, row and column) instead of
being stored and breaking a later command, or worse, being wrapped or clamped on the way in:
Arrow's text → decimal cast wraps a 200-digit number to −1, SQLite's ``CAST(1e20 AS INTEGER)``
clamps to 2⁶³−1, and a charge dated 9999-12-31 overflows the first date arithmetic done on it.
The limits are far past anything a real bill carries and well inside what every column holds:

- **money** (costs, unit prices): ``|x| < 10¹⁵`` in the billing currency.  PostgreSQL's
  ``NUMERIC(30, 12)`` holds 10¹⁸; SQLite keeps a double per value, which represents every
  decimal of up to 15 significant digits exactly, and the rollup's integer parts of a sum stay
  far below 2⁶³.
- **quantities** (usage amounts, metric values, latencies): finite and ``|x| < 10²⁴`` (a year of
  one petabyte in byte-seconds is 3·10²²).  NaN and infinity are refused.
- **counts** (tokens, periods): whole numbers ``0 ≤ n < 10¹⁵``.
- **times**: from 2000-01-01 (before any cloud bill) to before 2100-01-01.
- **text**: no NUL character (PostgreSQL text cannot hold one).
- **a JSON line**: at most 16 MiB (a billing row or a request record is a few kB).
"""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

MONEY_LIMIT = Decimal(10) ** 15
MONEY_LIMIT_TEXT = "10^15"
QUANTITY_LIMIT = 1e24
QUANTITY_LIMIT_TEXT = "10^24"
COUNT_LIMIT = 10**15
COUNT_LIMIT_TEXT = "10^15"
EARLIEST = datetime(2000, 1, 1)
LATEST = datetime(2100, 1, 1)  # exclusive
TIME_RANGE_TEXT = "2000-01-01 to 2099-12-31"
JSON_LINE_BYTES = 16 << 20
JSON_LINE_TEXT = "16 MiB"

#: Identifier columns that are keys of indexes; PostgreSQL's B-tree keys stop at ~2,700 bytes,
#: and no provider's id comes near this (an ARN is at most 2,048 characters, real ones ~200).
ID_COLUMNS = frozenset(
    {"resource_id", "billing_account_id", "sub_account_id", "metric", "stat", "x_line_key"}
)
ID_CHARS = 512


NOT_WHOLE = "a whole number"
NOT_A_COUNT = f"a count between 0 and {COUNT_LIMIT_TEXT}"


def checked_count(value: Any, text: bool = False) -> int:
    """``value`` as a count ``0 ≤ n < 10¹⁵``: an int, or a float or Decimal that is whole (and,
    with ``text``, decimal digits — OTLP/JSON writes 64-bit integers as strings).  Otherwise
    ``ValueError`` saying what it is not (:data:`NOT_WHOLE`, :data:`NOT_A_COUNT`); the range is
    checked before ``int()``, so a ``Decimal('1e100000000')`` never becomes a huge integer."""
    if text and isinstance(value, str):
        digits = value.strip()
        if not digits.lstrip("-").isdigit():
            raise ValueError(NOT_WHOLE)
        if len(digits) > 20:
            raise ValueError(NOT_A_COUNT)
        value = int(digits)
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError(NOT_WHOLE)
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise ValueError(NOT_WHOLE)
    if isinstance(value, Decimal) and not (value.is_finite() and value == value.to_integral()):
        raise ValueError(NOT_WHOLE)
    if not 0 <= value < COUNT_LIMIT:
        raise ValueError(NOT_A_COUNT)
    return int(value)


class ValueRejected(ValueError):
    """A value the store cannot hold; ``row`` is the 0-based row of the table checked."""

    def __init__(self, column: str, row: int, message: str) -> None:
        self.column, self.row, self.message = column, row, message
        super().__init__(f"row {row + 1}, column {column}: {message}")


def check_table(table: pa.Table, json_columns: frozenset[str] = frozenset()) -> None:
    """Refuse text the store cannot hold: NUL characters (PostgreSQL text and JSONB reject
    them, ``\u0000`` escapes included) and over-long identifiers.  Raises :class:`ValueRejected`
    for the first bad value, so callers that know the file and row can say where it is.

    The NUL test first scans each column's character data as one buffer (memchr speed, no copy)
    and only a hit is pinned to its row, so clean data — every real file — costs one pass of
    bytes per column.
    """
    for name in table.column_names:
        column = table.column(name)
        if not pa.types.is_string(column.type):
            continue
        # In JSON text a NUL is written \u0000: a backslash anywhere means look closer.
        needles = (b"\x00", b"\\") if name in json_columns else (b"\x00",)
        if any(_in_bytes(chunk, n) for chunk in column.chunks for n in needles):
            arr = column.combine_chunks()
            bad = pc.match_substring(arr, "\x00")
            if name in json_columns:  # JSON text writes a NUL as \u0000
                bad = pc.or_(bad, pc.match_substring(arr, "\\u0000"))
            row = _first(bad)
            if row is not None:
                raise ValueRejected(name, row, "text holds a NUL character")
        if name in ID_COLUMNS:
            row = _first(pc.greater(pc.utf8_length(column), ID_CHARS))
            if row is not None:
                raise ValueRejected(name, row, f"identifier longer than {ID_CHARS} characters")


def _in_bytes(arr: pa.Array, needle: bytes) -> bool:
    """Whether the byte ``needle`` occurs anywhere in a string array's character data (a
    superset of its values: a hit only means "look closer").  ``bytes.find`` of one byte is
    memchr; the copy it needs is a memcpy."""
    _, offsets, data = arr.buffers()
    if data is None or len(arr) == 0:
        return False
    ends = memoryview(offsets).cast("i")
    start, end = ends[arr.offset], ends[arr.offset + len(arr)]
    found: int = data.slice(start, end - start).to_pybytes().find(needle)
    return found >= 0


def _first(mask: pa.Array) -> int | None:
    mask = pc.fill_null(mask, False)
    if not pc.any(mask).as_py():
        return None
    return int(pc.index(mask, True).as_py())
