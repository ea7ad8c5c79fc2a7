"""Usage metrics CSV: ``timestamp,resource_id,metric,value`` [+ ``unit,stat,period_seconds``].

For metrics exported from a monitoring system that has no collector yet, or hand-made for tests.
Missing ``stat`` means ``Average`` and missing ``period_seconds`` means 3600 (hourly).
"""

from __future__ import annotations

from typing import ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from collectors.formats.base import FormatReader, Target
from collectors.formats.canonical import METRIC_SCHEMA, conform
from collectors.formats.common import Where, pick, require, to_float, to_int, to_str, to_timestamp

REQUIRED = frozenset({"timestamp", "resource_id", "metric", "value"})
DEFAULT_STAT = "Average"
DEFAULT_PERIOD_S = 3600


class UsageMetricsReader(FormatReader):
    name: ClassVar[str] = "usage_metrics"
    label: ClassVar[str] = "usage metrics"
    target: ClassVar[Target] = "metrics"

    @classmethod
    def matches(cls, columns: frozenset[str]) -> bool:
        return columns >= REQUIRED

    def convert(self, batch: pa.RecordBatch, where: Where) -> pa.Table:
        n = batch.num_rows
        cols = {
            "ts": require(
                to_timestamp(batch.column("timestamp"), where, "timestamp"), where, "timestamp"
            ),
            "resource_id": require(to_str(batch.column("resource_id")), where, "resource_id"),
            "metric": require(to_str(batch.column("metric")), where, "metric"),
            "value": require(to_float(batch.column("value"), where, "value"), where, "value"),
        }
        unit = pick(batch, ["unit"])
        if unit is not None:
            cols["unit"] = to_str(unit)
        stat = pick(batch, ["stat"])
        cols["stat"] = (
            pc.fill_null(to_str(stat), DEFAULT_STAT)
            if stat is not None
            else pa.array([DEFAULT_STAT] * n, pa.string())
        )
        period = pick(batch, ["period_seconds", "period_s"])
        if period is not None:
            period_arr = pc.fill_null(to_int(period, where, "period_seconds"), DEFAULT_PERIOD_S)
            if pc.any(pc.less_equal(period_arr, 0)).as_py():
                idx = pc.index(pc.less_equal(period_arr, 0), True).as_py()
                raise where.error(idx, "period_seconds", "must be a positive number of seconds")
            cols["period_s"] = period_arr
        else:
            cols["period_s"] = pa.array([DEFAULT_PERIOD_S] * n, pa.int64())
        return conform(cols, METRIC_SCHEMA, n)
