"""Column conversions shared by every format reader.

Each converter works on a whole Arrow column at once (the fast path) and only when that fails
walks the column value by value to find the first bad one, so that the user gets one line naming
file, row and column instead of a stack trace.  Readers never parse values themselves: they pick
and rename columns and call these.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from agent.store import bounds
from collectors.formats.currencies import ISO_4217

MONEY = pa.decimal128(38, 12)
#: Wide enough for a float's shortest repr (40 decimals, 36 integer digits) before rounding.
_WIDE_MONEY = pa.decimal256(76, 40)
TIMESTAMP = pa.timestamp("us")
_QUANTUM = Decimal("1e-12")


class InputError(Exception):
    """Bad input: one line naming the file, the row (1-based data row) and the column."""

    def __init__(self, path: str, message: str, row: int | None = None, column: str | None = None):
        self.path, self.row, self.column, self.detail = path, row, column, message
        where = [str(path)]
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column}")
        super().__init__(": ".join([", ".join(where), message]))


@dataclass(frozen=True)
class Where:
    """Where a batch came from, so converters can name the row of a bad value."""

    path: str
    row_offset: int  # data rows before this batch

    def error(self, index: int | None, column: str | None, message: str) -> InputError:
        row = None if index is None else self.row_offset + index + 1
        return InputError(self.path, message, row, column)


def _first_failure(
    values: Sequence[Any], check: Callable[[Any], object]
) -> tuple[int, Any, Exception] | None:
    for i, v in enumerate(values):
        if v is None:
            continue
        try:
            check(v)
        except Exception as exc:
            return i, v, exc
    return None


def _parse_decimal(value: Any) -> Decimal:
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("not a finite number")
        value = repr(value)
    d = Decimal(str(value).strip())
    if not d.is_finite():
        raise ValueError("not a finite number")
    return d


def _out_of_range(arr: pa.Array, limit: float) -> pa.Array:
    """Rows whose (numeric) value is not finite or not below ``limit`` in magnitude."""
    values = arr if pa.types.is_floating(arr.type) else pc.cast(arr, pa.float64())
    too_big = pc.greater_equal(pc.abs(values), limit)
    if pa.types.is_floating(values.type):
        too_big = pc.or_(too_big, pc.invert(pc.is_finite(values)))
    return pc.fill_null(too_big, False)


def _check_range(
    arr: pa.Array, shown: pa.Array, limit: float, where: Where, column: str, what: str
) -> None:
    bad = _out_of_range(arr, limit)
    if pc.any(bad).as_py():
        idx = pc.index(bad, True).as_py()
        raise where.error(idx, column, f"{_show(shown[idx].as_py())} {what}")


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return repr(text[:40] + "…") if len(text) > 40 else repr(text)


_MONEY_RANGE = f"is out of range for money (|amount| must be below {bounds.MONEY_LIMIT_TEXT})"
_MONEY_FLOAT_LIMIT = float(bounds.MONEY_LIMIT)


def to_money(arr: pa.Array | pa.ChunkedArray, where: Where, column: str) -> pa.Array:
    """Any numeric or text column as exact ``decimal128(38, 12)``; rounds half-even past 1e-12.

    Values at or past :data:`agent.store.bounds.MONEY_LIMIT` are bad input.  The range is
    checked on a float view of the input *before* any decimal cast, because Arrow's text →
    decimal cast wraps an over-long number around (a 200-digit cost becomes −1) instead of
    failing.
    """
    original = arr = _combine(arr)
    if pa.types.is_floating(arr.type):
        bad = pc.invert(pc.is_finite(arr)).fill_null(False)
        if pc.any(bad).as_py():
            idx = pc.index(bad, True).as_py()
            raise where.error(idx, column, f"{arr[idx].as_py()!r} is not a finite number")
        _check_range(arr, arr, _MONEY_FLOAT_LIMIT, where, column, _MONEY_RANGE)
        # Through the shortest repr, so 0.1 stays 0.1 instead of its binary expansion.
        arr = pc.cast(arr, pa.string())
    elif pa.types.is_decimal(arr.type) or pa.types.is_integer(arr.type):
        _check_range(arr, arr, _MONEY_FLOAT_LIMIT, where, column, _MONEY_RANGE)
        if pa.types.is_decimal(arr.type) and arr.type == MONEY:
            return arr
    elif pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        arr = pc.utf8_trim_whitespace(pc.cast(arr, pa.string()))
        try:
            as_float = pc.cast(arr, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass  # not all plain numbers: the value-by-value path below names the bad one
        else:
            _check_range(as_float, original, _MONEY_FLOAT_LIMIT, where, column, _MONEY_RANGE)
    if not pa.types.is_floating(original.type):  # a float's repr rarely fits 12 decimals
        try:
            return pc.cast(arr, MONEY)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    try:
        # More than 12 decimals (a float's shortest repr often has 17 digits): parse wider and
        # round half-even to 12 decimals in Arrow — the same values as the Python path below,
        # without a Decimal per row (3M of them cost ~3 s of a 1M-row CUR import).
        wide = pc.cast(arr, _WIDE_MONEY)
        return pc.cast(pc.round(wide, ndigits=12, round_mode="half_to_even"), MONEY)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass  # not a plain number somewhere: find and name it
    values = arr.to_pylist()
    out: list[Decimal | None] = []
    for i, v in enumerate(values):
        if v is None or v == "":
            out.append(None)
            continue
        try:
            d = _parse_decimal(v)
        except (InvalidOperation, ValueError, TypeError):
            raise where.error(i, column, f"{_show(v)} is not a number") from None
        if abs(d) >= bounds.MONEY_LIMIT:
            raise where.error(i, column, f"{_show(v)} {_MONEY_RANGE}")
        out.append(d.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN))
    return pa.array(out, type=MONEY)


_QUANTITY_RANGE = f"is out of range (a finite number below {bounds.QUANTITY_LIMIT_TEXT} is needed)"


def to_float(arr: pa.Array | pa.ChunkedArray, where: Where, column: str) -> pa.Array:
    """A finite double below :data:`agent.store.bounds.QUANTITY_LIMIT` in magnitude.

    NaN, ±infinity and overflowing text such as ``1e400`` are bad input: one of them in a
    usage amount or a metric would turn every sum and average over it into NaN."""
    original = arr = _combine(arr)
    if not (pa.types.is_floating(arr.type) and arr.type.bit_width == 64):
        try:
            if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
                arr = pc.utf8_trim_whitespace(arr)
            arr = pc.cast(arr, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            bad = _first_failure(arr.to_pylist(), _finite_float)
            if bad is None:
                raise
            raise where.error(bad[0], column, f"{_show(bad[1])} is not a number") from None
    _check_range(arr, original, bounds.QUANTITY_LIMIT, where, column, _QUANTITY_RANGE)
    return arr


def _finite_float(v: Any) -> float:
    x = float(v)
    if not math.isfinite(x):
        raise ValueError("not finite")
    return x


def to_int(
    arr: pa.Array | pa.ChunkedArray, where: Where, column: str, minimum: int = 0
) -> pa.Array:
    """Whole numbers in ``minimum ≤ n <`` :data:`agent.store.bounds.COUNT_LIMIT` as int64."""
    arr = _combine(arr)
    what = f"is not a whole number from {minimum} to below {bounds.COUNT_LIMIT_TEXT}"
    if not pa.types.is_integer(arr.type):
        try:
            if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
                arr = pc.utf8_trim_whitespace(arr)
            arr = pc.cast(arr, pa.int64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            bad = _first_failure(arr.to_pylist(), lambda v: _bounded_int(v, minimum))
            if bad is None:
                raise
            raise where.error(bad[0], column, f"{_show(bad[1])} {what}") from None
    arr = pc.cast(arr, pa.int64())
    bad = pc.fill_null(
        pc.or_(pc.less(arr, minimum), pc.greater_equal(arr, bounds.COUNT_LIMIT)), False
    )
    if pc.any(bad).as_py():
        idx = pc.index(bad, True).as_py()
        raise where.error(idx, column, f"{_show(arr[idx].as_py())} {what}")
    return arr


def _bounded_int(v: Any, minimum: int) -> int:
    if isinstance(v, float) and not v.is_integer():
        raise ValueError("not whole")
    n = int(str(v).strip()) if not isinstance(v, int | float) else int(v)
    if not minimum <= n < bounds.COUNT_LIMIT:
        raise ValueError("out of range")
    return n


def _parse_ts(value: Any) -> datetime:
    if isinstance(value, datetime):
        dt = value
    else:
        text = str(value).strip()
        if text.endswith(" UTC"):
            text = text[:-4]
        dt = datetime.fromisoformat(text)
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt


_TIME_RANGE = f"is outside the supported range ({bounds.TIME_RANGE_TEXT})"


def to_timestamp(arr: pa.Array | pa.ChunkedArray, where: Where, column: str) -> pa.Array:
    """ISO 8601 text (with or without zone) or native timestamps, as naive UTC microseconds,
    from :data:`agent.store.bounds.EARLIEST` to before :data:`~agent.store.bounds.LATEST`."""
    original = _combine(arr)
    out = _timestamps(original, where, column)
    early = pc.less(out, pa.scalar(bounds.EARLIEST, TIMESTAMP))
    late = pc.greater_equal(out, pa.scalar(bounds.LATEST, TIMESTAMP))
    bad = pc.fill_null(pc.or_(early, late), False)
    if pc.any(bad).as_py():
        idx = pc.index(bad, True).as_py()
        raise where.error(idx, column, f"{_show(str(original[idx].as_py()))} {_TIME_RANGE}")
    return out


def _timestamps(arr: pa.Array, where: Where, column: str) -> pa.Array:
    arr = _combine(arr)
    if pa.types.is_timestamp(arr.type):
        if arr.type.tz is not None:
            arr = pc.cast(arr, pa.timestamp(arr.type.unit, tz="UTC"))
            arr = pc.local_timestamp(arr)
        return pc.cast(arr, TIMESTAMP)
    if pa.types.is_date(arr.type):
        return pc.cast(pc.cast(arr, pa.date32()), TIMESTAMP)
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        # BigQuery writes "2026-10-01 00:00:00 UTC"; Arrow's parser wants a "Z".
        arr = pc.replace_substring_regex(pc.cast(arr, pa.string()), r" UTC$", "Z")
        for target in (TIMESTAMP, pa.timestamp("us", tz="UTC")):
            try:
                out = pc.cast(arr, target)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue
            return _timestamps(out, where, column)
    values = arr.to_pylist()
    out_py: list[datetime | None] = []
    for i, v in enumerate(values):
        if v is None or v == "":
            out_py.append(None)
            continue
        try:
            out_py.append(_parse_ts(v))
        except (ValueError, TypeError):
            raise where.error(i, column, f"{v!r} is not a date-time (expected ISO 8601)") from None
    return pa.array(out_py, type=TIMESTAMP)


def to_str(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    arr = _combine(arr)
    if pa.types.is_string(arr.type):
        return arr
    if pa.types.is_dictionary(arr.type):
        arr = pc.cast(arr, pa.string())
        return arr
    return pc.cast(arr, pa.string())


def check_currency(arr: pa.Array, where: Where, column: str) -> pa.Array:
    """Upper-cased ISO 4217 codes; an unknown code is an error, never silently mixed money."""
    arr = pc.utf8_upper(pc.utf8_trim_whitespace(to_str(arr)))
    uniques = pc.unique(arr).to_pylist()
    bad = [u for u in uniques if u is not None and u not in ISO_4217]
    if bad:
        idx = pc.index(arr, bad[0]).as_py()
        raise where.error(idx, column, f"{bad[0]!r} is not an ISO 4217 currency code")
    return arr


def _loads_object(text: str) -> str:
    value = json.loads(text)
    if isinstance(value, list) and all(isinstance(v, dict) and "key" in v for v in value):
        # GCP labels as JSON: [{"key": …, "value": …}, …]
        out = _object_text(value)
        assert out is not None
        return out
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {type(value).__name__}")
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def to_json_object(arr: pa.Array | pa.ChunkedArray, where: Where, column: str) -> pa.Array:
    """Tags and other key/value columns as canonical JSON object text (or null).

    Accepts JSON text, Arrow maps (CUR 2.0 Parquet), lists of key/value structs (GCP labels) and
    structs.  Work is done once per distinct value: tag sets repeat on most line items.
    """
    arr = _combine(arr)
    if pa.types.is_dictionary(arr.type):
        arr = pc.cast(arr, arr.type.value_type)
    if pa.types.is_map(arr.type) and pa.types.is_string(arr.type.item_type):
        return _string_map_json(arr)
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        arr = pc.cast(arr, pa.string())
        uniq = pc.unique(arr)
        converted: list[str | None] = []
        for i, text in enumerate(uniq.to_pylist()):
            if text is None or text.strip() in ("", "{}", "[]"):
                converted.append(None if text is None or text.strip() == "" else "{}")
                continue
            try:
                converted.append(_loads_object(text))
            except ValueError as exc:
                row = pc.index(arr, uniq[i]).as_py()
                msg = str(exc) if str(exc).startswith("expected") else "not valid JSON"
                raise where.error(row, column, f"{msg}: {text[:60]!r}") from None
        return pc.take(pa.array(converted, pa.string()), pc.index_in(arr, uniq))
    values = arr.to_pylist()
    cache: dict[Any, str | None] = {}
    out: list[str | None] = []
    for i, v in enumerate(values):
        key = _hashable(v)
        if key not in cache:
            try:
                cache[key] = _object_text(v)
            except ValueError as exc:
                raise where.error(i, column, str(exc)) from None
        out.append(cache[key])
    return pa.array(out, pa.string())


_KV, _ENTRY, _NULL = "\x1f", "\x1e", "\x00"


def _string_map_json(arr: pa.MapArray) -> pa.Array:
    """Map<string, string> (CUR 2.0 ``resource_tags``) as JSON text without a per-row loop.

    Each map is flattened to one ``key␟value␞…`` string with Arrow kernels; only the distinct
    strings (a few hundred tag sets in a million line items) are decoded in Python.
    """
    keys = pc.cast(arr.keys, pa.string())
    items = pc.fill_null(pc.cast(arr.items, pa.string()), _NULL)
    pairs = pc.binary_join_element_wise(keys, items, _KV)
    lists = pa.ListArray.from_arrays(arr.offsets, pairs)
    joined = pc.if_else(arr.is_null(), pa.scalar(None, pa.string()), pc.binary_join(lists, _ENTRY))
    uniq = pc.unique(joined)
    texts: list[str | None] = []
    for flat in uniq.to_pylist():
        if flat is None:
            texts.append(None)
            continue
        obj = {}
        for entry in flat.split(_ENTRY) if flat else []:
            key, _, value = entry.partition(_KV)
            if value != _NULL:
                obj[key] = value
        texts.append(json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False))
    return pc.take(pa.array(texts, pa.string()), pc.index_in(joined, uniq))


def _hashable(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _hashable(x)) for k, x in v.items()))
    return v


def _object_text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, dict):
        obj = {str(k): x for k, x in v.items() if x is not None}
    elif isinstance(v, list):
        obj = {}
        for item in v:
            if isinstance(item, tuple) and len(item) == 2:  # Arrow map entries
                obj[str(item[0])] = item[1]
            elif isinstance(item, dict) and "key" in item:
                obj[str(item["key"])] = item.get("value")
            else:
                raise ValueError(f"expected key/value pairs, got {item!r}")
    else:
        raise ValueError(f"expected a JSON object, got {type(v).__name__}")
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _combine(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        return arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    return arr


def null_column(n: int, type_: pa.DataType) -> pa.Array:
    return pa.nulls(n, type=type_)


def pick(batch: pa.RecordBatch | pa.Table, names: Iterable[str]) -> pa.Array | None:
    """The first of ``names`` present in the batch (exports rename columns between versions)."""
    cols = set(batch.schema.names)
    for n in names:
        if n in cols:
            return _combine(batch.column(n))
    return None


def lookup(arr: pa.Array, mapping: Mapping[str, str | None]) -> pa.Array:
    """Map string values through a dict, vectorised over distinct values."""
    arr = to_str(arr)
    uniq = pc.unique(arr)
    mapped = pa.array(
        [mapping.get(u) if u is not None else None for u in uniq.to_pylist()], pa.string()
    )
    return pc.take(mapped, pc.index_in(arr, uniq))


def require(arr: pa.Array, where: Where, column: str) -> pa.Array:
    """Fail on the first null of a column the format makes mandatory."""
    if arr.null_count:
        idx = pc.index(arr.is_null(), True).as_py()
        raise where.error(idx, column, "value is required but missing")
    return arr


def json_rows(columns: Mapping[str, pa.Array]) -> pa.Array:
    """One JSON object per row from several columns (nulls left out; all-null rows → null).

    Built with Arrow string kernels: each column becomes a ``"name":value`` fragment (null where
    the value is null) and the fragments are joined skipping nulls.  Only values Arrow cannot
    render as JSON itself (nested types, control characters) go through ``json.dumps``.
    """
    names = list(columns)
    if not names:
        raise ValueError("json_rows needs at least one column")
    arrays = [_combine(columns[n]) for n in names]
    if all(pa.types.is_string(a.type) for a in arrays):
        few = _json_rows_by_combination(names, arrays)
        if few is not None:
            return few
    fragments = []
    for name in names:
        prefix = json.dumps(name) + ":"
        fragments.append(pc.binary_join_element_wise(prefix, json_values(columns[name]), ""))
    # The leading "{" is never null: with every input null, pyarrow 26's skip mode drops the
    # row instead of yielding "" (the array comes out shorter), so one input must be non-null.
    body = pc.binary_join_element_wise("{", *fragments, ",", null_handling="skip")
    text = pc.binary_join_element_wise(
        pc.replace_substring(body, "{,", "{", max_replacements=1), "}", ""
    )
    if len(text) != len(fragments[0]):
        raise AssertionError("json_rows lost rows")
    return pc.if_else(pc.equal(text, "{}"), pa.scalar(None, pa.string()), text)


_FEW_COMBINATIONS = 4096


def _json_rows_by_combination(names: list[str], arrays: list[pa.Array]) -> pa.Array | None:
    """:func:`json_rows` for text columns with few distinct combinations (a CUR's line item
    type, product family, pricing term…): one ``json.dumps`` per combination, then a take,
    instead of four string kernels per column over every row.  None when there are many."""
    key = pc.binary_join_element_wise(*(pc.fill_null(a, _NULL) for a in arrays), _KV)
    uniq = pc.unique(key)
    if len(uniq) > _FEW_COMBINATIONS:
        return None
    texts: list[str | None] = []
    for combo in uniq.to_pylist():
        values = combo.split(_KV)
        if len(values) != len(names):  # a value holds the separator: the general path
            return None
        obj = {n: v for n, v in zip(names, values, strict=True) if v != _NULL}
        texts.append(json.dumps(obj, separators=(",", ":"), ensure_ascii=False) if obj else None)
    return pc.take(pa.array(texts, pa.string()), pc.index_in(key, uniq))


def json_values(arr: pa.Array) -> pa.Array:
    """Each value as JSON text (null stays null)."""
    arr = _combine(arr)
    t = arr.type
    if pa.types.is_dictionary(t):
        return json_values(pc.cast(arr, t.value_type))
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        arr = pc.cast(arr, pa.string())
        if not pc.any(pc.match_substring_regex(arr, r"[\x00-\x1f]")).as_py():
            escaped = pc.replace_substring(pc.replace_substring(arr, "\\", "\\\\"), '"', '\\"')
            return pc.binary_join_element_wise('"', escaped, '"', "")
    elif pa.types.is_integer(t) or pa.types.is_floating(t):
        return pc.cast(arr, pa.string())
    elif pa.types.is_boolean(t):
        return pc.if_else(arr, "true", "false")
    out = [None if v is None else json.dumps(_plain(v), default=str) for v in arr.to_pylist()]
    return pa.array(out, pa.string())


def _plain(v: Any) -> Any:
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, datetime):
        return v.isoformat()
    return v


def map_value(arr: pa.Array | pa.ChunkedArray, key: str) -> pa.Array:
    """One key of a key/value column: an Arrow map or struct (Parquet) or JSON object text.

    CUR 2.0 keeps most product attributes in the ``product`` map and the GCP export nests
    ``service.description``; this pulls one field out without materialising every row as a
    Python object.  Scalars come back as text; nested values as JSON text.
    """
    arr = _combine(arr)
    if pa.types.is_map(arr.type):
        return to_str(pc.map_lookup(arr, key, "first"))
    if pa.types.is_struct(arr.type):
        if arr.type.get_field_index(key) < 0:
            return pa.nulls(len(arr), pa.string())
        field = pc.struct_field(arr, key)
        nested = pa.types.is_nested(field.type)
        return json_values(field) if nested else to_str(field)
    arr = to_str(arr)
    uniq = pc.unique(arr)
    values: list[str | None] = []
    for text in uniq.to_pylist():
        try:
            obj = json.loads(text) if text else None
        except ValueError:
            obj = None
        value = obj.get(key) if isinstance(obj, dict) else None
        if value is None:
            values.append(None)
        elif isinstance(value, dict | list):
            values.append(json.dumps(value, separators=(",", ":"), ensure_ascii=False))
        elif isinstance(value, bool):
            values.append("true" if value else "false")
        else:
            values.append(str(value))
    return pc.take(pa.array(values, pa.string()), pc.index_in(arr, uniq))


_MONEY37 = pa.decimal128(37, 12)


def money_add(a: pa.Array, b: pa.Array) -> pa.Array:
    """Exact ``a + b`` of money columns (decimal(38) + decimal(38) would need precision 39;
    money values fit 37 digits)."""
    return pc.cast(pc.add(pc.cast(a, _MONEY37), pc.cast(b, _MONEY37)), MONEY)


def money_sub(a: pa.Array, b: pa.Array) -> pa.Array:
    """Exact ``a − b`` of money columns."""
    return pc.cast(pc.subtract(pc.cast(a, _MONEY37), pc.cast(b, _MONEY37)), MONEY)


def blank_to_null(arr: pa.Array | None) -> pa.Array | None:
    """Empty strings as nulls (exports write "" for absent values)."""
    if arr is None:
        return None
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)


def first_present(*arrays: pa.Array | None) -> pa.Array | None:
    """Row-wise the first non-empty value among the columns a file has (None if it has none)."""
    present = [blank_to_null(a) for a in arrays if a is not None]
    if not present:
        return None
    return present[0] if len(present) == 1 else pc.coalesce(*present)
