"""CSV cells that a spreadsheet opens as text, never as a formula.

A tag value ``=HYPERLINK("http://evil", "click")`` or ``+cmd|' /C calc'!A0`` written to CSV as
is runs as a formula in Excel, LibreOffice or Google Sheets when someone opens the export.
Following OWASP's CSV-injection advice, a text cell that starts with ``=``, ``+``, ``-``, ``@``,
a tab or a carriage return (or their full-width forms) gets a leading ``'``, which spreadsheets
show as text and hide.  Numbers — real numbers, and text that is a plain number such as
``-12.5`` — are left as they are, so scripts reading the CSV still get numbers.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

_FORMULA_START = tuple("=+-@\t\r\uff1d\uff0b\uff0d\uff20")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def cell(value: Any) -> Any:
    """``value`` ready for ``csv.writer``: None as empty, formula-like text neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float | Decimal):
        return value
    text = str(value)
    if text.startswith(_FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text
