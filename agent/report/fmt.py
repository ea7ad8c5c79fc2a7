"""How the report writes money, changes and times — shared by every renderer so they agree.

Money is always written in its own currency (``$1,234.56``, ``€1,234.56``, ``1,234.56 GBP``):
a bare number invites adding dollars to euros.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from agent.report.model import Line, Report

SYMBOLS = {"USD": "$", "EUR": "€"}
CENT = Decimal("0.01")


def money(amount: Decimal | None, currency: str, cents: bool = True) -> str:
    if amount is None:
        return "–"
    q = amount.quantize(CENT if cents else Decimal(1), rounding=ROUND_HALF_UP)
    sign = "-" if q < 0 else ""
    digits = f"{abs(q):,}"
    symbol = SYMBOLS.get(currency)
    if symbol:
        return f"{sign}{symbol}{digits}"
    return f"{sign}{digits} {currency}"


def unit_money(amount: Decimal | None, currency: str | None) -> str:
    """Unit costs are small: four significant decimals below a cent."""
    if amount is None or currency is None:
        return "–"
    if abs(amount) >= 1:
        return money(amount, currency)
    q = amount.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    symbol = SYMBOLS.get(currency)
    return f"{symbol}{q}" if symbol else f"{q} {currency}"


def change(pct: Decimal | None, current: Decimal = Decimal(0)) -> str:
    """``▲ 4%`` / ``▼ 12%`` / ``new`` (nothing the week before) / ``–``."""
    if pct is None:
        return "new" if current else "–"
    rounded = pct.quantize(Decimal(1), rounding=ROUND_HALF_UP)
    if rounded == 0:
        return "± 0%"
    return f"{'▲' if rounded > 0 else '▼'} {abs(rounded)}%"


def line_change(line: Line) -> str:
    return change(line.change, line.current)


def when(value: datetime | None) -> str:
    return "never" if value is None else f"{value:%Y-%m-%d %H:%M} UTC"


def week_span(report: Report) -> str:
    w = report.week
    return f"{w.first_day:%a %d %b %Y} – {w.last_day:%a %d %b %Y} ({w.timezone}, {w.hours} h)"


def workload_name(key: str) -> str:
    return key.replace("_", " ")


def subject(report: Report) -> str:
    """e.g. ``costagent weekly: $12,345.67 AI spend (▲ 4%) · $3,210/mo savings open — 2026-W47``."""
    cur = report.main_currency
    ai = report.ai_in(cur)
    parts = [f"{report.title}: "]
    if ai is None:
        parts.append(f"{money(Decimal(0), cur)} AI spend")
    else:
        parts.append(f"{money(ai.current, cur)} AI spend ({line_change(ai)})")
    if len({t.currency for t in report.total}) > 1:
        parts.append(" + other currencies")
    saving = report.savings_in(cur)
    if saving:
        parts.append(f" · {money(saving, cur, cents=False)}/mo savings open")
    parts.append(f" — {report.week.label}")
    return "".join(parts)
