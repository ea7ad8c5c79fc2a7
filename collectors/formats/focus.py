"""FOCUS 1.0–1.2 exports (AWS, GCP, Azure, OCI), CSV or Parquet.

FOCUS columns map 1:1 onto the store (PascalCase → snake_case).  Columns outside FOCUS and the
store are kept per row in ``x_raw`` so nothing the provider sent is lost.
"""

from __future__ import annotations

import re
from typing import ClassVar

import pyarrow as pa

from collectors.formats.base import FormatReader, Target, register_format
from collectors.formats.canonical import (
    COST_SCHEMA,
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
# FOCUS columns the store does not keep as their own column; dropped rather than stuffed in x_raw.
_FOCUS_ONLY = frozenset(
    {
        "BillingAccountType",
        "CapacityReservationStatus",
        "CommitmentDiscountQuantity",
        "CommitmentDiscountUnit",
        "InvoiceId",
        "PricingCurrency",
        "SkuPriceDetails",
        "PricingCurrencyContractedUnitPrice",
        "PricingCurrencyEffectiveCost",
        "PricingCurrencyListUnitPrice",
        "SubAccountType",
        "HostProviderName",
    }
)
_RENAMES = {"service_provider_name": "provider_name"}
_REQUIRED = ("billed_cost", "billing_currency", "billing_period_start", "charge_period_start")
_STORE = frozenset(COST_SCHEMA.names)


def snake(name: str) -> str:
    """``BilledCost`` → ``billed_cost``; ``x_UsageType`` → ``x_usage_type``."""
    if name.startswith("x_"):
        return "x_" + snake(name[2:])
    return _CAMEL.sub("_", name).lower()


def _focus_key(name: str) -> str:
    s = snake(name)
    return _RENAMES.get(s, s)


@register_format
class FocusReader(FormatReader):
    name: ClassVar[str] = "focus"
    label: ClassVar[str] = "FOCUS"
    target: ClassVar[Target] = "cost"

    @classmethod
    def matches(cls, columns: frozenset[str]) -> bool:
        keys = {_focus_key(c) for c in columns}
        return {"billed_cost", "charge_period_start", "billing_currency", "provider_name"} <= keys

    def convert(self, batch: pa.RecordBatch, where: Where) -> pa.Table:
        cols: dict[str, pa.Array] = {}
        extras: dict[str, pa.Array] = {}
        for raw_name in batch.schema.names:
            key = _focus_key(raw_name)
            arr = batch.column(raw_name)
            if key in _STORE and key not in cols:
                cols[key] = self._typed(key, arr, where, raw_name)
            elif raw_name not in _FOCUS_ONLY:
                extras[raw_name] = arr
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
        if key == "billing_currency":
            return check_currency(arr, where, raw_name)
        return to_str(arr)


def _pascal(key: str) -> str:
    return "".join(p.capitalize() for p in key.split("_"))
