"""How the report writes money, changes and times — shared by every renderer so they agree.

Money is always written in its own currency (``$1,234.56``, ``€1,234.56``, ``1,234.56 GBP``):
a bare number invites adding dollars to euros.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from agent.report.model import Line, Report
from agent.terminal import visible

#: the most characters of one store value (id, name, tag) any renderer shows
MAX_VALUE = 200


def clip(value: object, limit: int = MAX_VALUE) -> str:
    """A store value as shown in a report: at most ``limit`` characters, its start and end
    kept around a "…" (an ARN's account and its resource name both stay readable), control
    characters made visible.  Every value passes here, so no input — a 100,000-character
    resource id — can push the HTML past Gmail's clipping size or a Slack block past its
    limit."""
    text = visible("" if value is None else str(value))
    if len(text) <= limit:
        return text
    head = (limit - 1) * 2 // 3
    return text[:head] + "…" + text[len(text) - (limit - 1 - head) :]


SYMBOLS = {"USD": "$", "EUR": "€"}
#: ISO 4217 minor units of the currencies that do not have two (JPY and KRW have none, BHD
#: three): ``¥1,234.00`` would suggest a precision the currency does not have
MINOR_UNITS = {
    **{c: 0 for c in ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG")},
    **{c: 0 for c in ("RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF")},
    **{c: 3 for c in ("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND")},
    **{c: 4 for c in ("CLF", "UYW")},
}


def minor_units(currency: str) -> int:
    return MINOR_UNITS.get(currency, 2)


def money(amount: Decimal | None, currency: str, cents: bool = True) -> str:
    """``$1,234.56``; ``cents=False`` rounds to whole units.  Decimals follow ISO 4217."""
    if amount is None:
        return "–"
    places = minor_units(currency) if cents else 0
    q = amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
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


def short_id(value: str) -> str:
    """A resource id as a person reads it: the last segment of an ARN or resource path
    (``…:endpoint/chat-prod`` → ``chat-prod``); ``app:…`` subjects are already short."""
    if value.startswith("app:"):
        return value
    for sep in ("/", "|"):
        if sep in value:
            tail = value.rstrip(sep).rsplit(sep, 1)[-1]
            return tail or value
    if value.startswith("arn:"):
        return value.rsplit(":", 1)[-1] or value
    return value


def label(resource_id: str, name: str | None) -> tuple[str, str | None]:
    """(what to show, the full id to show beside it in small text — None when it adds nothing)."""
    short = name or short_id(resource_id)
    return short, (resource_id if resource_id != short else None)


def ack_command(fingerprint: str) -> str:
    """The command that acknowledges a finding, quoted for a shell (fingerprints can hold
    ``|`` and spaces: ``commitment-coverage:AWS|1111…|AWS SageMaker Savings Plan``)."""
    return f"costagent findings ack {shlex.quote(fingerprint)}"


def count(value: int | None) -> str:
    """A count with thousands separators; ``n/a`` where the source counts none."""
    return "n/a" if value is None else f"{value:,}"


def when(value: datetime | None) -> str:
    return "never" if value is None else f"{value:%Y-%m-%d %H:%M} UTC"


def savings_sentence(r: Report, bold: Callable[[str], str], esc: Callable[[str], str] = str) -> str:
    """The findings headline every renderer prints, in one wording: ``bold`` marks the total
    up in the renderer's syntax, ``esc`` escapes the plain parts for it."""
    total = ", ".join(money(v, c) for c, v in r.savings)
    since = f"{r.new_since:%Y-%m-%d %H:%M} UTC"
    split = confidence_split(r)
    return (
        esc(f"{r.open_findings} open findings would save ")
        + bold(esc(f"{total} a month"))
        + esc(
            f" (each resource counted once{': ' + split if split else ''}); "
            f"{len(r.new_findings)} new since {since}."
        )
    )


def confidence_split(r: Report) -> str:
    """``high $3,000.00 · medium $800.00 · low $9,100.00`` (per currency, ``;`` between)."""
    per: dict[str, list[str]] = {}
    for currency, level, amount in r.savings_by_confidence:
        per.setdefault(currency, []).append(f"{level} {money(amount, currency)}")
    return "; ".join(" · ".join(parts) for parts in per.values())


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
