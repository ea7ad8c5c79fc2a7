"""Exact money on both databases.

PostgreSQL keeps ``NUMERIC(30, 12)`` and sums it exactly.  (DESIGN.md says scale 10; real FOCUS
exports carry 11 decimals, e.g. the FOCUS sample's Microsoft rows, so the store keeps 12.)
SQLite has no decimal type: a NUMERIC column holds an IEEE double, exact for a line item's ~15
significant digits but not for a sum of many.  So every sum the agent itself reports goes through
:func:`money_sum`, which on SQLite splits each value into its whole part and two six-digit
fractional parts, adds each as integers (exact, no practical overflow) and hands back a
``Decimal``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Numeric
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

SCALE = 12
PRECISION = 30
QUANTUM = Decimal(1).scaleb(-SCALE)


def to_decimal(value: Any) -> Decimal | None:
    """A stored value as an exact Decimal of the store's scale (floats via shortest repr)."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value.quantize(QUANTUM)
    if isinstance(value, float):
        return Decimal(repr(value)).quantize(QUANTUM)
    return Decimal(value).quantize(QUANTUM)


class Money(TypeDecorator[Decimal]):
    """``NUMERIC(30, 12)`` that always reads back as a ``Decimal`` of scale 12."""

    impl = Numeric(PRECISION, SCALE, asdecimal=False)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return float(value)
        return Decimal(value) if not isinstance(value, Decimal) else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return to_decimal(value)


class _MoneySumType(TypeDecorator[Decimal]):
    impl = Numeric(38, SCALE, asdecimal=False)
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            whole, micro, pico = str(value).split(":")
            total = Decimal(whole) + Decimal(micro).scaleb(-6) + Decimal(pico).scaleb(-12)
            return total.quantize(QUANTUM)
        return to_decimal(value)


class money_sum(FunctionElement[Decimal]):
    """``SUM`` of a money column, exact on every database; yields ``Decimal``."""

    type = _MoneySumType()
    name = "money_sum"
    inherit_cache = True

    def __init__(self, expr: ColumnElement[Any] | QueryableAttribute[Any]) -> None:
        super().__init__(expr)


@compiles(money_sum)
def _money_sum_default(element: money_sum, compiler: SQLCompiler, **kw: Any) -> str:
    return f"SUM({compiler.process(element.clauses, **kw)})"


@compiles(money_sum, "sqlite")
def _money_sum_sqlite(element: money_sum, compiler: SQLCompiler, **kw: Any) -> str:
    x = f"({compiler.process(element.clauses, **kw)})"
    frac = f"({x} - CAST({x} AS INTEGER)) * 1000000"
    micro = f"CAST({frac} AS INTEGER)"
    pico = f"CAST(ROUND(({frac} - {micro}) * 1000000) AS INTEGER)"
    return (
        f"(CAST(SUM(CAST({x} AS INTEGER)) AS TEXT) || ':' || "
        f"CAST(SUM({micro}) AS TEXT) || ':' || CAST(SUM({pico}) AS TEXT))"
    )
