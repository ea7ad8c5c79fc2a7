"""GCP Cloud Billing export rows (BigQuery standard or detailed usage cost), mapped onto FOCUS.

The same rows arrive in three shapes: Parquet from ``bq extract`` keeps the nested records
(``service`` is a struct, ``credits`` a list of structs); newline-delimited JSON carries them as
objects (our JSON reader hands them over as JSON text); CSV cannot hold nested data, so a
flattening query names them ``service.description`` or ``service_description``.  ``_Row``
hides the difference so the mapping is written once.

Money: what Google invoices is ``cost`` plus the (negative) credits, so billed and effective
cost are both that net figure, summed exactly in decimals.  ``cost`` before credits is kept as
contracted cost and ``cost_at_list`` as list cost.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from agent.store import bounds
from collectors.formats.base import FormatReader, Target
from collectors.formats.canonical import COST_SCHEMA, conform
from collectors.formats.common import (
    MONEY,
    Where,
    check_currency,
    first_present,
    json_rows,
    json_values,
    lookup,
    map_value,
    money_add,
    require,
    to_float,
    to_json_object,
    to_money,
    to_str,
    to_timestamp,
)

_CATEGORY = {
    "regular": "Usage",
    "tax": "Tax",
    "adjustment": "Adjustment",
    "rounding_error": "Adjustment",
}
_SERVICE_CATEGORY = {
    "Vertex AI": "AI and Machine Learning",
    "Gemini API": "AI and Machine Learning",
    "Generative Language API": "AI and Machine Learning",
    "Cloud AI Platform": "AI and Machine Learning",
    "Compute Engine": "Compute",
    "Kubernetes Engine": "Compute",
    "Cloud Run": "Compute",
    "Cloud Storage": "Storage",
    "BigQuery": "Analytics",
    "Networking": "Networking",
    "Cloud Monitoring": "Management and Governance",
    "Cloud Logging": "Management and Governance",
}
_CUD_CREDIT = "COMMITTED_USAGE_DISCOUNT"
_NONE = pa.scalar(None, pa.string())


class _Row:
    """Field access that works for structs, JSON object text and flattened column names."""

    def __init__(self, batch: pa.RecordBatch) -> None:
        self.batch = batch
        self.names = set(batch.schema.names)

    def raw(self, name: str) -> pa.Array | None:
        return self.batch.column(name) if name in self.names else None

    def field(self, top: str, sub: str) -> tuple[pa.Array | None, str]:
        """(values, column name for messages) of ``top.sub``."""
        for flat in (f"{top}.{sub}", f"{top}_{sub}"):
            if flat in self.names:
                return self.batch.column(flat), flat
        parent = self.raw(top)
        if parent is None:
            return None, f"{top}.{sub}"
        return map_value(parent, sub), f"{top}.{sub}"

    def text(self, top: str, sub: str | None = None) -> pa.Array | None:
        arr = self.raw(top) if sub is None else self.field(top, sub)[0]
        if arr is None:
            return None
        arr = to_str(arr)
        return pc.if_else(pc.equal(arr, ""), _NONE, arr)


class GcpBillingReader(FormatReader):
    """Rows of ``gcp_billing_export_v1_*`` / ``gcp_billing_export_resource_v1_*``."""

    name: ClassVar[str] = "gcp_billing"
    label: ClassVar[str] = "GCP billing export"
    target: ClassVar[Target] = "cost"

    @classmethod
    def matches(cls, columns: frozenset[str]) -> bool:
        return {"billing_account_id", "cost", "currency", "usage_start_time"} <= columns

    def convert(self, batch: pa.RecordBatch, where: Where) -> pa.Table:
        row = _Row(batch)
        n = batch.num_rows
        for name in ("billing_account_id", "cost", "currency", "usage_start_time"):
            require(to_str(batch.column(name)), where, name)
        cost = to_money(batch.column("cost"), where, "cost")
        if "net_cost" in row.names:
            # A pushed-down query (collectors/gcp/billing_export.py) summed the credits in SQL.
            net = to_money(batch.column("net_cost"), where, "net_cost")
            cud = pc.fill_null(row.raw("has_cud_credit") or pa.nulls(n, pa.bool_()), False)
        else:
            credits, cud = self._credits(row, where, n)
            net = money_add(cost, credits)
        start = to_timestamp(batch.column("usage_start_time"), where, "usage_start_time")
        period_start = self._invoice_month(row, start, where)
        cost_type = row.text("cost_type")
        service = row.text("service", "description")
        sku = row.text("sku", "description")
        out: dict[str, pa.Array | None] = {
            "provider_name": pa.array(["Google Cloud"] * n, pa.string()),
            "publisher_name": row.text("seller_name"),
            "invoice_issuer_name": pa.array(["Google"] * n, pa.string()),
            "billing_account_id": to_str(batch.column("billing_account_id")),
            "sub_account_id": row.text("project", "id"),
            "sub_account_name": row.text("project", "name"),
            "billing_period_start": period_start,
            "billing_period_end": _next_month(period_start),
            "charge_period_start": start,
            "charge_period_end": self._time(row, "usage_end_time", where),
            "charge_category": (
                pc.fill_null(lookup(cost_type, _CATEGORY), "Usage")
                if cost_type is not None
                else pa.array(["Usage"] * n, pa.string())
            ),
            "charge_class": (
                pc.if_else(pc.equal(cost_type, "adjustment"), "Correction", _NONE)
                if cost_type is not None
                else None
            ),
            "charge_description": sku,
            "x_usage_type": sku,  # DESIGN §3: AWS usage type / GCP SKU description
            "charge_frequency": pa.array(["Usage-Based"] * n, pa.string()),
            "billed_cost": net,
            "effective_cost": net,
            "contracted_cost": cost,
            "list_cost": self._money(row, "cost_at_list", where),
            "contracted_unit_price": self._money_field(row, "price", "effective_price", where),
            "billing_currency": check_currency(batch.column("currency"), where, "currency"),
            "service_name": service,
            "service_category": (
                pc.fill_null(lookup(service, _SERVICE_CATEGORY), "Other")
                if service is not None
                else None
            ),
            "sku_id": row.text("sku", "id"),
            "region_id": first_present(
                row.text("location", "region"), row.text("location", "location")
            ),
            "region_name": row.text("location", "location"),
            "availability_zone": row.text("location", "zone"),
            "resource_id": first_present(
                row.text("resource", "global_name"), row.text("resource", "name")
            ),
            "resource_name": row.text("resource", "name"),
            "pricing_quantity": self._float(row, "usage", "amount_in_pricing_units", where),
            "pricing_unit": row.text("usage", "pricing_unit"),
            "consumed_quantity": self._float(row, "usage", "amount", where),
            "consumed_unit": row.text("usage", "unit"),
            "pricing_category": _pricing_category(cud, sku, cost_type, n),
            "commitment_discount_type": pc.if_else(cud, "Committed Use Discount", _NONE),
            "commitment_discount_status": pc.if_else(cud, "Used", _NONE),
            "tags": self._labels(row, where),
        }
        extras = {
            "cost_type": cost_type,
            "transaction_type": row.text("transaction_type"),
            "credits": _non_empty_json(row.raw("credits")),
            "credits_total": _nonzero_text(row.raw("credits_total")),
            "system_labels": _non_empty_json(row.raw("system_labels")),
            "project_labels": _non_empty_json(row.field("project", "labels")[0]),
            "adjustment_info": _non_empty_json(row.raw("adjustment_info")),
        }
        present = {k: v for k, v in extras.items() if v is not None}
        out["x_raw"] = json_rows(present) if present else None
        return conform({k: v for k, v in out.items() if v is not None}, COST_SCHEMA, n)

    # -- pieces ----------------------------------------------------------------------------------
    @staticmethod
    def _credits(row: _Row, where: Where, n: int) -> tuple[pa.Array, pa.Array]:
        """(sum of credit amounts per row, whether a committed-use discount credit applies)."""
        arr = row.raw("credits")
        zero = pa.array([Decimal(0)] * n, MONEY)
        no = pa.array([False] * n)
        if arr is None:
            return zero, no
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type):
            return _native_credits(arr, where, n)
        return _json_credits(to_str(arr), where)

    @staticmethod
    def _invoice_month(row: _Row, start: pa.Array, where: Where) -> pa.Array:
        """``invoice.month`` (``YYYYMM``) as the period start; the usage month when absent."""
        month, name = row.field("invoice", "month")
        usage_month = pc.floor_temporal(start, unit="month")
        if month is None:
            return usage_month
        text = to_str(month)
        valid = pc.match_substring_regex(text, r"^\d{4}(?:0[1-9]|1[0-2])$")
        bad = pc.invert(pc.fill_null(valid, True))
        if pc.any(bad).as_py():
            idx = pc.index(bad, True).as_py()
            raise where.error(idx, name, f"{text[idx].as_py()!r} is not a YYYYMM month")
        iso = pc.binary_join_element_wise(
            pc.utf8_slice_codeunits(text, 0, 4),
            "-",
            pc.utf8_slice_codeunits(text, 4, 6),
            "-01",
            "",
        )
        parsed = to_timestamp(iso, where, name)  # in range, like every other time
        return pc.coalesce(pc.cast(parsed, usage_month.type), usage_month)

    @staticmethod
    def _time(row: _Row, name: str, where: Where) -> pa.Array | None:
        arr = row.raw(name)
        return None if arr is None else to_timestamp(arr, where, name)

    @staticmethod
    def _money(row: _Row, name: str, where: Where) -> pa.Array | None:
        arr = row.raw(name)
        return None if arr is None else to_money(arr, where, name)

    @staticmethod
    def _money_field(row: _Row, top: str, sub: str, where: Where) -> pa.Array | None:
        arr, name = row.field(top, sub)
        return None if arr is None else to_money(arr, where, name)

    @staticmethod
    def _float(row: _Row, top: str, sub: str, where: Where) -> pa.Array | None:
        arr, name = row.field(top, sub)
        return None if arr is None else to_float(arr, where, name)

    @staticmethod
    def _labels(row: _Row, where: Where) -> pa.Array | None:
        arr = row.raw("labels")
        return None if arr is None else to_json_object(arr, where, "labels")


def _native_credits(arr: pa.Array, where: Where, n: int) -> tuple[pa.Array, pa.Array]:
    flat = pc.list_flatten(arr)
    parents = pc.list_parent_indices(arr)
    if len(flat) == 0:
        return pa.array([Decimal(0)] * n, MONEY), pa.array([False] * n)
    amounts = to_money(pc.struct_field(flat, "amount"), where, "credits.amount")
    types = (
        to_str(pc.struct_field(flat, "type"))
        if flat.type.get_field_index("type") >= 0
        else pa.nulls(len(flat), pa.string())
    )
    is_cud = pc.fill_null(pc.starts_with(types, _CUD_CREDIT), False)
    grouped = pa.table({"row": parents, "amount": pc.fill_null(amounts, 0), "cud": is_cud})
    sums = grouped.group_by("row").aggregate([("amount", "sum"), ("cud", "any")])
    rows = sums.column("row").to_pylist()
    total: list[Decimal] = [Decimal(0)] * n
    cud: list[bool] = [False] * n
    for r, amount, any_cud in zip(
        rows, sums.column("amount_sum").to_pylist(), sums.column("cud_any").to_pylist(), strict=True
    ):
        total[r], cud[r] = amount, bool(any_cud)
    return pa.array(total, MONEY), pa.array(cud)


def _json_credits(arr: pa.Array, where: Where) -> tuple[pa.Array, pa.Array]:
    """Credits as JSON text: decoded once per distinct value, amounts summed as decimals."""
    uniq = pc.unique(arr)
    totals: list[Decimal] = []
    cuds: list[bool] = []
    for text in uniq.to_pylist():
        try:
            items = json.loads(text, parse_float=Decimal) if text else []
            total = sum((Decimal(str(c.get("amount") or 0)) for c in items), start=Decimal(0))
            cud = any(str(c.get("type") or "").startswith(_CUD_CREDIT) for c in items)
        except (ValueError, TypeError, AttributeError, ArithmeticError):
            idx = pc.index(arr, text).as_py()
            raise where.error(
                idx, "credits", f"expected a list of credits with amounts: {str(text)[:60]!r}"
            ) from None
        if not total.is_finite() or abs(total) >= bounds.MONEY_LIMIT:
            idx = pc.index(arr, text).as_py()
            raise where.error(
                idx,
                "credits",
                f"credit amounts must be finite and below {bounds.MONEY_LIMIT_TEXT}: "
                f"{str(text)[:60]!r}",
            )
        totals.append(total)
        cuds.append(cud)
    idx = pc.index_in(arr, uniq)
    return (
        pc.take(pa.array(totals, MONEY), idx),
        pc.take(pa.array(cuds, pa.bool_()), idx),
    )


def _nonzero_text(arr: pa.Array | pa.ChunkedArray | None) -> pa.Array | None:
    """Pre-summed credits as decimal text for ``x_raw``; rows without credits leave it out."""
    if arr is None:
        return None
    text = to_str(arr)
    return pc.if_else(pc.match_substring_regex(text, r"^-?0*\.?0*$"), _NONE, text)


def _next_month(start: pa.Array) -> pa.Array:
    """First instant of the following month (the FOCUS period end is exclusive)."""
    shifted = pc.add(
        pc.floor_temporal(start, unit="month"), pa.scalar(32 * 86_400_000_000, pa.duration("us"))
    )
    return pc.floor_temporal(shifted, unit="month")


def _non_empty_json(arr: pa.Array | pa.ChunkedArray | None) -> pa.Array | None:
    """Nested values as JSON text, with empty lists/objects left out of ``x_raw``."""
    if arr is None:
        return None
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = json_values(arr) if pa.types.is_nested(arr.type) else to_str(arr)
    return pc.if_else(pc.is_in(arr, pa.array(["", "[]", "{}", "null"])), _NONE, arr)


def _pricing_category(
    cud: pa.Array, sku: pa.Array | None, cost_type: pa.Array | None, n: int
) -> pa.Array:
    """Committed when a CUD credit applies, Dynamic for Spot / preemptible SKUs, else Standard."""
    spot = (
        pc.fill_null(pc.match_substring_regex(sku, r"(?i)\b(spot|preemptible)\b"), False)
        if sku is not None
        else pa.array([False] * n)
    )
    usage = (
        pc.fill_null(pc.equal(cost_type, "regular"), True)
        if cost_type is not None
        else pa.array([True] * n)
    )
    return pc.if_else(
        cud, "Committed", pc.if_else(spot, "Dynamic", pc.if_else(usage, "Standard", _NONE))
    )
