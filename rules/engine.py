"""``costagent analyze``: run the enabled rules and keep ``findings`` up to date.

Findings are upserted by ``fingerprint`` (``rule_id:subject``), so a finding seen again keeps
its ``first_seen`` and the status a person gave it (acknowledged, suppressed); one a rule no
longer produces becomes ``resolved``; a resolved one that comes back is ``open`` again, and a
suppression whose ``--until`` date has passed lapses back to ``open``.  Everything happens in one
transaction: an interrupted analysis leaves yesterday's findings.  A rule that raises is
reported and its findings are left untouched (not resolved: a bug is not a fix).  Nor is
silence: a finding no rule produced is resolved only if a source it came from delivered data in
the window (the waste went away, or the resource itself — an endpoint deleted); when every such
source is silent there, or the window holds no data at all (it lies past the end of a
backfilled export), the finding keeps its status and ``kept`` says how many, per source.

A rule the config turns off (``enabled = false``) or that no longer exists (renamed, removed in
an upgrade) produces nothing any more, and nobody will ever resolve its findings by hand: its
open and acknowledged findings become ``resolved`` on the next analysis, so they leave the
report's totals.  Suppressed ones stay suppressed (that was a person's decision).  Only rules
known to be off count: running a hand-picked subset of rules leaves the others' findings alone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from agent.store.clock import utcnow
from agent.store.coverage import live_sources, sources_of
from agent.store.findings import TABLE
from rules.base import Candidate, Rule, RuleContext, RuleSelection, registered_rules

log = logging.getLogger(__name__)


@dataclass
class AnalyzeResult:
    window: tuple[datetime, datetime]
    produced: dict[str, int] = field(default_factory=dict)  # rule id → findings
    errors: dict[str, str] = field(default_factory=dict)  # rule id → error
    seconds: dict[str, float] = field(default_factory=dict)  # rule id → evaluation time
    warnings: dict[str, list[str]] = field(default_factory=dict)  # rule id → what to fix
    retired: dict[str, int] = field(default_factory=dict)  # rule off or gone → findings resolved
    new: int = 0
    resolved: int = 0
    #: findings no rule produced whose source had no data in the window: not judged, kept
    kept: dict[str, int] = field(default_factory=dict)  # "src, src" (or "") → findings
    #: sources with data in the window; empty: the window holds no data at all
    live_sources: frozenset[str] = frozenset()

    @property
    def no_data(self) -> bool:
        """Nothing in the window to judge (it lies past the end of the stored data)."""
        return not self.live_sources


def fingerprint(rule_id: str, subject: str) -> str:
    return f"{rule_id}:{subject}"


def analyze(
    engine: Engine,
    rules: Sequence[Rule[Any]],
    window_days: int,
    now: datetime | None = None,
    disabled: Collection[str] | None = None,
) -> AnalyzeResult:
    """Run ``rules`` over the last ``window_days`` whole days and upsert their findings.

    The window has no default here: it is the user's ``[analysis] window_days``, which the
    callers (``agent.usecases.analysis``) read from the settings.

    ``disabled``: ids of rules turned off, whose findings are resolved (default: those
    :func:`rules.base.configured_rules` left out, when ``rules`` is its result).
    """
    if disabled is None:
        disabled = rules.disabled if isinstance(rules, RuleSelection) else ()
    now = (now or utcnow()).replace(tzinfo=None, microsecond=0)
    # Whole UTC days, today excluded: daily billing rows are never cut in half, today's
    # incomplete data does not dilute averages, and reruns within a day agree.
    end = now.replace(hour=0, minute=0, second=0)
    start = end - timedelta(days=window_days)
    result = AnalyzeResult((start, end))
    with engine.connect() as conn, conn.begin():
        result.live_sources = live_sources(conn, start, end)
        ctx = RuleContext(conn, start, end)
        produced: dict[str, list[Candidate]] = {}
        for rule in rules:
            began = time.perf_counter()
            ctx.warnings.clear()
            try:
                with conn.begin_nested():
                    produced[rule.rule_id] = _unique_subjects(rule.rule_id, rule.evaluate(ctx))
            except Exception as exc:
                log.exception("rule %s failed", rule.rule_id)
                result.errors[rule.rule_id] = f"{type(exc).__name__}: {exc}"
                continue
            finally:
                result.seconds[rule.rule_id] = round(time.perf_counter() - began, 4)
                if ctx.warnings:
                    result.warnings[rule.rule_id] = list(ctx.warnings)
            result.produced[rule.rule_id] = len(produced[rule.rule_id])
        _upsert(conn, produced, now, result)
        running = {rule.rule_id for rule in rules}
        _retire(conn, set(disabled) - running, running, result)
    return result


def _unique_subjects(rule_id: str, candidates: Iterable[Candidate]) -> list[Candidate]:
    """The rule's candidates; two with one subject are that rule's bug (one fingerprint, two
    findings), reported as its error so the other rules' findings are still kept."""
    out = list(candidates)
    seen: set[str] = set()
    for c in out:
        if c.subject in seen:
            raise ValueError(f"rule {rule_id} produced subject {c.subject!r} twice")
        seen.add(c.subject)
    return out


def _upsert(
    conn: Connection, produced: dict[str, list[Candidate]], now: datetime, result: AnalyzeResult
) -> None:
    f = TABLE
    existing = {
        row.fingerprint: row
        for row in conn.execute(
            select(
                f.c.fingerprint, f.c.rule_id, f.c.status, f.c.status_until, f.c.resource_id
            ).where(f.c.rule_id.in_(list(produced)))
        )
    }
    seen: set[str] = set()
    for rule_id, candidates in produced.items():
        for c in candidates:
            fp = fingerprint(rule_id, c.subject)
            if fp in seen:
                raise ValueError(f"rule {rule_id} produced subject {c.subject!r} twice")
            seen.add(fp)
            values: dict[str, Any] = {
                "rule_id": rule_id,
                "subject": c.subject,
                "title": c.title,
                "recommendation": c.recommendation,
                "monthly_savings": c.monthly_savings,
                "currency": c.currency,
                "confidence": c.confidence,
                "evidence": c.evidence,
                "resource_id": c.overlap_key,
                "last_seen": now,
            }
            old = existing.get(fp)
            if old is None:
                conn.execute(
                    insert(f).values(fingerprint=fp, status="open", first_seen=now, **values)
                )
                result.new += 1
                continue
            status = old.status
            if status == "resolved" or (
                status == "suppressed" and old.status_until and old.status_until <= now
            ):
                values.update(status="open", status_until=None, status_reason=None)
            conn.execute(update(f).where(f.c.fingerprint == fp).values(**values))
    gone = {
        fp: row.resource_id
        for fp, row in existing.items()
        if fp not in seen and row.status != "resolved"
    }
    unseen = _unseen(conn, gone, result)
    for fp in gone:
        if fp not in unseen:
            conn.execute(update(f).where(f.c.fingerprint == fp).values(status="resolved"))
    result.resolved = len(gone) - len(unseen)


def _unseen(conn: Connection, gone: dict[str, str | None], result: AnalyzeResult) -> set[str]:
    """The findings of ``gone`` (fingerprint → resource) the rules could not have seen: every
    source their resource came from is silent in the window, or the window has no data at
    all.  Those keep their status (counted per source in ``result.kept``); the rest — their
    source delivered, the waste or the resource itself is gone — are resolved."""
    live = result.live_sources
    keys = {r for r in gone.values() if r is not None}
    origins = sources_of(conn, keys) if live and keys else {}
    unseen: set[str] = set()
    for fp, resource in gone.items():
        sources = origins.get(resource, set()) if resource is not None else set()
        if not live or (sources and not sources & live):
            unseen.add(fp)
            key = ", ".join(sorted(sources))
            result.kept[key] = result.kept.get(key, 0) + 1
    return unseen


def _retire(conn: Connection, disabled: set[str], running: set[str], result: AnalyzeResult) -> None:
    """Resolve the open / acknowledged findings of rules turned off (``disabled``) or no longer
    registered; suppressed findings keep their status."""
    f = TABLE
    live = ("open", "acknowledged")
    known = registered_rules()
    owners = {
        rule_id
        for (rule_id,) in conn.execute(
            select(f.c.rule_id).where(f.c.status.in_(live)).group_by(f.c.rule_id)
        )
    }
    retire = sorted(r for r in owners if r in disabled or (r not in known and r not in running))
    for rule_id in retire:
        done = conn.execute(
            update(f).where(f.c.rule_id == rule_id, f.c.status.in_(live)).values(status="resolved")
        )
        result.retired[rule_id] = int(done.rowcount or 0)
        result.resolved += result.retired[rule_id]
