"""The canonical Arrow shapes that every format reader produces, one per target table.

Readers rename and convert; the loader only ever sees these shapes, so adding a format never
touches the loader and the loader's fast paths serve every format.
"""

from __future__ import annotations

import pyarrow as pa

from agent.store.schema import COST_COLUMNS
from collectors.formats.common import MONEY, TIMESTAMP

MONEY_COLUMNS = frozenset(
    {
        "billed_cost",
        "effective_cost",
        "list_cost",
        "contracted_cost",
        "list_unit_price",
        "contracted_unit_price",
        "pricing_currency_contracted_unit_price",
        "pricing_currency_effective_cost",
        "pricing_currency_list_unit_price",
        "x_allocated_cost",
        "x_allocated_unused_cost",
    }
)
TIME_COLUMNS = frozenset(
    {"billing_period_start", "billing_period_end", "charge_period_start", "charge_period_end"}
)
FLOAT_COLUMNS = frozenset({"pricing_quantity", "consumed_quantity", "commitment_discount_quantity"})
JSON_COLUMNS = frozenset(
    {
        "tags",
        "x_raw",
        "sku_price_details",
        "allocated_method_details",
        "allocated_tags",
        "contract_applied",
    }
)
CURRENCY_COLUMNS = frozenset({"billing_currency", "pricing_currency"})
LOADER_COLUMNS = frozenset({"x_source", "x_slice"})  # set by the loader, not by readers


def _cost_type(name: str) -> pa.DataType:
    if name in MONEY_COLUMNS:
        return MONEY
    if name in TIME_COLUMNS:
        return TIMESTAMP
    if name in FLOAT_COLUMNS:
        return pa.float64()
    return pa.string()


COST_SCHEMA = pa.schema([(c, _cost_type(c)) for c in COST_COLUMNS if c not in LOADER_COLUMNS])

METRIC_SCHEMA = pa.schema(
    [
        ("resource_id", pa.string()),
        ("metric", pa.string()),
        ("ts", TIMESTAMP),
        ("period_s", pa.int64()),
        ("value", pa.float64()),
        ("unit", pa.string()),
        ("stat", pa.string()),
        ("dimensions", pa.string()),
    ]
)

LLM_REQUEST_SCHEMA = pa.schema(
    [
        ("x_request_key", pa.string()),
        ("ts", TIMESTAMP),
        ("provider", pa.string()),
        ("model", pa.string()),
        ("operation", pa.string()),
        ("app", pa.string()),
        ("input_tokens", pa.int64()),
        ("output_tokens", pa.int64()),
        ("cache_read_tokens", pa.int64()),
        ("prompt_hash", pa.string()),
        ("latency_ms", pa.float64()),
        ("batch", pa.bool_()),
    ]
)

#: The admin APIs' bucketed usage (see agent.store.schema.LlmUsage for the token convention).
LLM_USAGE_SCHEMA = pa.schema(
    [
        ("x_slice", pa.string()),
        ("bucket_start", TIMESTAMP),
        ("bucket_end", TIMESTAMP),
        ("provider", pa.string()),
        ("operation", pa.string()),
        ("model", pa.string()),
        ("project_id", pa.string()),
        ("api_key_id", pa.string()),
        ("batch", pa.bool_()),
        ("service_tier", pa.string()),
        ("requests", pa.int64()),
        ("input_tokens", pa.int64()),
        ("cache_read_tokens", pa.int64()),
        ("cache_write_tokens", pa.int64()),
        ("output_tokens", pa.int64()),
    ]
)

RESOURCE_SCHEMA = pa.schema(
    [
        ("resource_id", pa.string()),
        ("provider_name", pa.string()),
        ("resource_type", pa.string()),
        ("region_id", pa.string()),
        ("observed_at", TIMESTAMP),
        ("attributes", pa.string()),
    ]
)

SCHEMAS = {
    "cost": COST_SCHEMA,
    "metrics": METRIC_SCHEMA,
    "llm_requests": LLM_REQUEST_SCHEMA,
    "llm_usage": LLM_USAGE_SCHEMA,
    "resources": RESOURCE_SCHEMA,
}


def conform(columns: dict[str, pa.Array], schema: pa.Schema, num_rows: int) -> pa.Table:
    """A table in ``schema``'s column order; absent columns become nulls.

    A column given with the wrong type is a reader bug, so it fails loudly here.
    """
    unknown = set(columns) - set(schema.names)
    if unknown:
        raise ValueError(f"reader produced unknown columns: {sorted(unknown)}")
    arrays = []
    for field in schema:
        arr = columns.get(field.name)
        if arr is None:
            arr = pa.nulls(num_rows, type=field.type)
        elif arr.type != field.type:
            arr = arr.cast(field.type)
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=schema)
