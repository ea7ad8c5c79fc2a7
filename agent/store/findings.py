"""Findings as the rest of the agent reads them: typed rows out of ``findings``, their status
changes, and the totals that count each resource once.

The rules engine writes findings; the report, ``status`` and the command line only read them.
Reading lives here in the store, not in ``rules``, so the report renders whatever findings
exist without importing a rule: the resource a finding's savings come from is its own column
(``resource_id``) and an anomaly carries a typed payload (:class:`AnomalyFacts`), so no reader
has to know a rule's id or the keys of its evidence.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypedDict, cast

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import Engine, Table, func, select, update

from agent.store.clock import utcnow
from agent.store.schema import CostLineItem, Finding, LlmRequest, LlmUsage

TABLE = cast(Table, Finding.__table__)
STATUSES = ("open", "acknowledged", "suppressed", "resolved")
#: What :func:`list_findings` returns and ``findings --format csv`` prints, in this order (new
#: fields go last, so a spreadsheet reading the columns by position keeps working).
FINDING_FIELDS = (
    "fingerprint",
    "rule_id",
    "subject",
    "title",
    "recommendation",
    "monthly_savings",
    "currency",
    "confidence",
    "evidence",
    "status",
    "first_seen",
    "last_seen",
    "resource_id",
)
#: The evidence key under which an anomaly's :class:`AnomalyFacts` are stored.
ANOMALY_KEY = "anomaly"


class FindingRow(TypedDict):
    """One stored finding (a dict, so JSON and CSV output take it as it is)."""

    fingerprint: str
    rule_id: str
    subject: str
    title: str
    recommendation: str
    monthly_savings: Decimal | None
    currency: str | None
    confidence: str
    evidence: dict[str, Any] | None
    status: str
    first_seen: datetime
    last_seen: datetime
    resource_id: str | None


class AnomalyFacts(BaseModel):
    """What an anomaly finding says happened, for the report's "unusual spend" list: the day, the
    charge that rose, and what it cost against what it usually costs (in the finding's
    currency)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    day: date
    service: str | None = None
    usage_type: str | None = None
    expected: Decimal
    actual: Decimal


def resource_of(row: FindingRow) -> str:
    """The resource whose savings the finding counts (its subject when it names none)."""
    return row["resource_id"] or row["subject"]


def anomaly_of(row: FindingRow) -> AnomalyFacts | None:
    """The finding's anomaly payload; None for a savings finding (or a payload an older
    version wrote in another shape: it is rewritten by the next analysis)."""
    payload = (row["evidence"] or {}).get(ANOMALY_KEY)
    if not isinstance(payload, dict):
        return None
    try:
        return AnomalyFacts.model_validate(payload)
    except ValidationError:
        return None


def list_findings(engine: Engine, status: str | None = None) -> list[FindingRow]:
    """Findings with exactly :data:`FINDING_FIELDS`, biggest savings first."""
    query = select(*(TABLE.c[name] for name in FINDING_FIELDS))
    if status:
        query = query.where(TABLE.c.status == status)
    with engine.connect() as conn:
        rows = [cast(FindingRow, dict(r._mapping)) for r in conn.execute(query)]
    # what is certain first (high, medium, low), biggest savings first within each
    rows.sort(
        key=lambda r: (
            certainty_rank(r["confidence"]),
            -(r["monthly_savings"] or 0),
            r["fingerprint"],
        )
    )
    return rows


def set_status(
    engine: Engine,
    fp: str,
    status: str,
    until: datetime | None = None,
    reason: str | None = None,
) -> bool:
    """ack / suppress / reopen one finding; False when the fingerprint is unknown."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}")
    with engine.begin() as conn:
        done = conn.execute(
            update(TABLE)
            .where(TABLE.c.fingerprint == fp)
            .values(status=status, status_until=until, status_reason=reason)
        )
    return bool(done.rowcount)


#: most certain first: how the report and ``findings`` order, and how totals are split
CONFIDENCES = ("high", "medium", "low")


def certainty_rank(confidence: str | None) -> int:
    """0 for high, 1 medium, 2 low, 3 anything else: sort key of "lead with what is certain"."""
    return CONFIDENCES.index(confidence) if confidence in CONFIDENCES else len(CONFIDENCES)


def _largest_per_resource(findings: Iterable[FindingRow]) -> dict[tuple[str, str], FindingRow]:
    """Each (currency, resource)'s largest finding: the one saving that can be banked."""
    best: dict[tuple[str, str], FindingRow] = {}
    for f in findings:
        key = (str(f["currency"] or "USD"), resource_of(f))
        old = best.get(key)
        if old is None or _amount(f) > _amount(old):
            best[key] = f
    return best


def _amount(f: FindingRow) -> Decimal:
    return Decimal(str(f["monthly_savings"] or 0))


def total_savings(findings: Iterable[FindingRow]) -> dict[str, Decimal]:
    """Monthly savings per currency, counting each resource once (its largest finding).

    Two findings on one endpoint (idle *and* over-provisioned) cannot both be banked: the
    resource can only be turned off once.
    """
    totals: dict[str, Decimal] = {}
    for (currency, _), f in _largest_per_resource(findings).items():
        totals[currency] = totals.get(currency, Decimal(0)) + _amount(f)
    return totals


def savings_by_confidence(findings: Iterable[FindingRow]) -> dict[str, dict[str, Decimal]]:
    """:func:`total_savings` split by confidence (each resource once, under the confidence of
    its largest finding): a manager defends the high figure, not the sum of hunches.  Per
    currency, the confidences in :data:`CONFIDENCES` order, zero ones left out."""
    split: dict[str, dict[str, Decimal]] = {}
    for (currency, _), f in _largest_per_resource(findings).items():
        level = str(f["confidence"] or "low")
        by = split.setdefault(currency, {})
        by[level] = by.get(level, Decimal(0)) + _amount(f)
    return {
        c: {k: by[k] for k in sorted(by, key=certainty_rank) if by[k]} for c, by in split.items()
    }


def end_of_data(engine: Engine) -> datetime:
    """Midnight after the newest charge, request or usage bucket in the store: ``now`` for
    analysing a past month (the demo, a backfilled store) as if it were today; a store that
    holds only LLM usage (admin APIs, gateway logs) has an end too."""
    with engine.connect() as conn:
        found = [
            conn.execute(select(func.max(column))).scalar()
            for column in (
                CostLineItem.charge_period_start,
                LlmRequest.ts,
                LlmUsage.bucket_start,
            )
        ]
    times = [datetime.fromisoformat(t) if isinstance(t, str) else t for t in found if t]
    if not times:
        return utcnow()
    newest = max(times)
    return newest.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
