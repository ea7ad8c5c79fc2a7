"""Day and month arithmetic of collection windows, shared by the API collectors.

Windows are half-open ``[lo, hi)`` in whole UTC days.  Collectors that replace *day* slices
(Cost Explorer, the BigQuery billing export) list the days of a window to empty them even when
no row arrives; they cut long windows at month boundaries so each month is one request/query and
one transaction (a year's backfill does not hold one giant transaction open).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta


def days(lo: date, hi: date) -> Iterator[date]:
    d = lo
    while d < hi:
        yield d
        d += timedelta(days=1)


def months(lo: date, hi: date) -> Iterator[tuple[date, date]]:
    """[lo, hi) cut at month boundaries."""
    start = lo
    while start < hi:
        nxt = (start.replace(day=1) + timedelta(days=32)).replace(day=1)
        end = min(nxt, hi)
        yield start, end
        start = end
