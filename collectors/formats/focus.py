"""FOCUS 1.0–1.3 exports (AWS, GCP, Azure, OCI, LLM gateways such as LiteLLM), CSV or Parquet.

FOCUS columns map 1:1 onto the store (PascalCase → snake_case).  Columns outside FOCUS and the
store are kept per row in ``x_raw`` so nothing the provider sent is lost.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import ClassVar

import pyarrow as pa

from collectors.formats.base import FormatReader, Target
from collectors.formats.canonical import (
    COST_SCHEMA,
    CURRENCY_COLUMNS,
    FLOAT_COLUMNS,
    JSON_COLUMNS,
    MONEY_COLUMNS,
    TIME_COLUMNS,
    conform,
)
from collectors.formats.common import (
    Where,
    check_currency,
    json_rows,
    require,
    to_float,
    to_json_object,
    to_money,
    to_str,
    to_timestamp,
)

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_REQUIRED = ("billed_cost", "billing_currency", "billing_period_start", "charge_period_start")
_STORE = frozenset(COST_SCHEMA.names)


def snake(name: str) -> str:
    """``BilledCost`` → ``billed_cost``; ``x_UsageType`` → ``x_usage_type``."""
    if name.startswith("x_"):
        return "x_" + snake(name[2:])
    return _CAMEL.sub("_", name).lower()


def _focus_key(name: str) -> str:
    return snake(name)


class FocusReader(FormatReader):
    name: ClassVar[str] = "focus"
    label: ClassVar[str] = "FOCUS"
    target: ClassVar[Target] = "cost"

    @classmethod
    def matches(cls, columns: frozenset[str]) -> bool:
        keys = {_focus_key(c) for c in columns}
        # FOCUS 1.3 deprecates ProviderName for ServiceProviderName: either names the provider.
        return {"billed_cost", "charge_period_start", "billing_currency"} <= keys and bool(
            {"provider_name", "service_provider_name"} & keys
        )

    @classmethod
    def file_column(cls, store_column: str, columns: Sequence[str]) -> str:
        return next((c for c in columns if _focus_key(c) == store_column), store_column)

    def convert(self, batch: pa.RecordBatch, where: Where) -> pa.Table:
        cols: dict[str, pa.Array] = {}
        extras: dict[str, pa.Array] = {}
        for raw_name in batch.schema.names:
            key = _focus_key(raw_name)
            arr = batch.column(raw_name)
            if key in _STORE and key not in cols:
                cols[key] = self._typed(key, arr, where, raw_name)
            else:  # nothing a FOCUS file carries is dropped
                extras[raw_name] = arr
        if "provider_name" not in cols and "service_provider_name" in cols:
            cols["provider_name"] = cols["service_provider_name"]
        for key in _REQUIRED:
            if key not in cols:
                raise where.error(None, _pascal(key), "required FOCUS column is missing")
            require(cols[key], where, _pascal(key))
        if extras:
            cols["x_raw"] = json_rows(extras)
        return conform(cols, COST_SCHEMA, batch.num_rows)

    @staticmethod
    def _typed(key: str, arr: pa.Array, where: Where, raw_name: str) -> pa.Array:
        if key in MONEY_COLUMNS:
            return to_money(arr, where, raw_name)
        if key in TIME_COLUMNS:
            return to_timestamp(arr, where, raw_name)
        if key in FLOAT_COLUMNS:
            return to_float(arr, where, raw_name)
        if key in JSON_COLUMNS:
            return to_json_object(arr, where, raw_name)
        if key in CURRENCY_COLUMNS:
            return check_currency(arr, where, raw_name)
        return to_str(arr)


def _pascal(key: str) -> str:
    return "".join(p.capitalize() for p in key.split("_"))
