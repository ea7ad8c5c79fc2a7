"""Inventory JSON lines: ``resource_id, provider_name, resource_type, region_id, observed_at,
attributes`` (an object: instance type and count, autoscaling, spot, tags, ...)."""

from __future__ import annotations

from typing import ClassVar

import pyarrow as pa

from collectors.formats.base import FormatReader, Target
from collectors.formats.canonical import RESOURCE_SCHEMA, conform
from collectors.formats.common import Where, pick, require, to_json_object, to_str, to_timestamp


class InventoryReader(FormatReader):
    name: ClassVar[str] = "inventory"
    label: ClassVar[str] = "inventory"
    target: ClassVar[Target] = "resources"

    @classmethod
    def matches(cls, columns: frozenset[str]) -> bool:
        return {"resource_id", "resource_type", "attributes"} <= columns

    def convert(self, batch: pa.RecordBatch, where: Where) -> pa.Table:
        cols: dict[str, pa.Array] = {
            "resource_id": require(to_str(batch.column("resource_id")), where, "resource_id"),
            "resource_type": require(to_str(batch.column("resource_type")), where, "resource_type"),
            "attributes": to_json_object(batch.column("attributes"), where, "attributes"),
        }
        for name in ("provider_name", "region_id"):
            arr = pick(batch, [name])
            if arr is not None:
                cols[name] = to_str(arr)
        observed = pick(batch, ["observed_at"])
        if observed is not None:
            cols["observed_at"] = to_timestamp(observed, where, "observed_at")
        return conform(cols, RESOURCE_SCHEMA, batch.num_rows)
