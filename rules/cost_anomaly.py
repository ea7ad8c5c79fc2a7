"""``cost-anomaly``: a usage type that costs far more than the same weekday usually does.

Cloud spend has a strong weekly rhythm (weekday traffic, weekend batch jobs), so a day is
compared with the same weekday of the previous ``baseline_weeks`` (4) weeks, per (provider,
service, usage type, region, currency) — a new instance family, a runaway job or a forgotten
endpoint shows up as its own usage type.  The test is Iglewicz & Hoaglin's modified z-score
(NIST/SEMATECH e-Handbook of Statistical Methods, §1.3.5.17), which uses the median and the
median absolute deviation (MAD) instead of mean and standard deviation, so one earlier spike
does not hide the next:

    z = 0.6745 × (x − median) / MAD,   flagged when z ≥ 3.5 (their recommended cut-off),

and, so that a rounding-level wobble is not news, the excess must also be ≥ ``min_increase``
(20 %) of the median and ≥ ``min_excess`` ($50).

**MAD = 0** (more than half the baseline days equal, e.g. ``[500, 100, 100, 100]``): the MAD
says nothing about the spread, and treating z as infinite would flag every day after one
earlier step.  The rule then falls back, as IBM's implementation of the modified z-score does,
to the mean absolute deviation around the median: z = (x − median) / (1.253314 × MeanAD)
(1.253314 = √(π/2) makes MeanAD comparable to a standard deviation; for the example and x = 500:
400 / 125.33 = 3.19, not flagged).  Only a baseline that is entirely flat (MeanAD = 0 too) gives
z = ∞ for any increase, which the 20 % and dollar floors then judge.  Only increases are
reported (a drop saves money).

**Which baselines count.**  A day is judged only when at least ``min_baseline_weeks`` (2) of its
``baseline_weeks`` same weekdays are *covered* (the provider has billing rows that day; before the
store's history begins a day is unknown, not zero) and the usage type already had cost on the
oldest of them: a series that started inside the baseline window has zeros there that mean "did
not exist yet", not "cost nothing", so a usage type that starts at $500 a day is never a spike
against ``[500, 0, 0, 0]``.  Two is the documented minimum: the first weeks of a store's
history (a backfilled month, the demo) are judged against what is there instead of skipped —
with two baseline days the median is their mean and the MAD half their difference, a coarse but
honest scale.  Such a usage type is **new** instead: its first day with cost in the whole
look-back (no cost on any covered day before it) falls in the judged days and it reaches
``min_excess`` a day; the weeks before that first day must be measured (``min_baseline_weeks``
of its same weekdays covered, as for a judged day), or the start of the store's history would
make everything new.

**One finding per usage type and kind** (``<service>|<usage type>|<region>|new`` or ``…|spike``),
whatever days it covers: the daily analysis of a step change updates one finding (its first
seen, acknowledgement or suppression kept) instead of raising one per day.  Its title names the
day a new usage type appeared, or a spike's worst day (largest excess); its figure and
``evidence.day`` are the worst day's, and the evidence lists every flagged day.  A finding no
longer produced (its days have left the judged week) is resolved.

Which days: **every day of the window** (or only its last ``recent_days``, when set), each
against its own preceding same weekdays, so a 4× spike ten days before the end of a backfilled
month is seen like yesterday's; the rule **looks back** ``baseline_weeks`` before the window
start (``ctx.start``) for the first days' baselines.  A covered day without rows for the usage
type counts as zero.  A step change is flagged on the days it stands out (its first week: after
that the baseline holds the new level) and stays one finding.

Portability: the database sums cost per (provider, service, usage type, region, currency, day)
from the ``cost_daily`` rollup; Python computes the medians over at most 5 values per group on
those aggregated rows.

Savings: the worst day's excess (actual − expected) × 30 days, what it would cost if it
persisted — while it persists: when the window's last day is back within the floors of the
worst day's expected cost, the spike is over (a sweep, a backfill), its saving is 0 and the
evidence gives what it cost (``excess_incurred``); scaling a finished one-off to a month would
overstate what a team can bank.  Low confidence (an anomaly may be a planned launch).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from statistics import median
from typing import Any, NamedTuple

from pydantic import Field
from sqlalchemy import func, select

from agent.store.daily_sums import daily_costs, total
from agent.store.findings import ANOMALY_KEY, AnomalyFacts
from rules.base import CENT, Candidate, Rule, RuleConfig, RuleContext, RuleMeta, money

Z_FACTOR = Decimal("0.6745")  # Φ⁻¹(0.75): makes the MAD comparable to a standard deviation
MEAN_AD_FACTOR = Decimal("1.253314")  # √(π/2): 1.253314 × MeanAD ≈ σ for normal data


class RobustZ(NamedTuple):
    """A value's modified z-score against a baseline, and the numbers behind it."""

    median: Decimal
    mad: Decimal
    mean_ad: Decimal  # mean absolute deviation around the median (the MAD = 0 fallback)
    z: Decimal | None  # None: +∞ (a flat baseline and a value above it)
    scale: str  # "mad", "mean_ad" (MAD = 0) or "flat" (every baseline value equal)


def robust_z(value: Decimal, baseline: list[Decimal]) -> RobustZ:
    """Modified z-score of ``value`` against ``baseline``: 0.6745 (x − median) / MAD, or with
    MAD = 0 (x − median) / (1.253314 MeanAD); +∞ (None) only above a flat baseline."""
    mid = Decimal(median(baseline))
    deviations = [abs(b - mid) for b in baseline]
    mad = Decimal(median(deviations))
    mean_ad = sum(deviations, Decimal(0)) / len(deviations)
    if mad > 0:
        return RobustZ(mid, mad, mean_ad, Z_FACTOR * (value - mid) / mad, "mad")
    if mean_ad > 0:
        return RobustZ(mid, mad, mean_ad, (value - mid) / (MEAN_AD_FACTOR * mean_ad), "mean_ad")
    return RobustZ(mid, mad, mean_ad, None if value > mid else Decimal(0), "flat")


@dataclass(frozen=True)
class _Day:
    """One flagged day of a usage type."""

    day: date
    actual: Decimal
    expected: Decimal
    score: RobustZ | None  # None for a new usage type
    baseline: list[dict[str, str]]

    @property
    def excess(self) -> Decimal:
        return self.actual - self.expected

    def evidence(self) -> dict[str, Any]:
        z = self.score.z if self.score is not None else None
        return {
            "day": self.day.isoformat(),
            "actual": str(self.actual),
            "expected_median": str(self.expected),
            "robust_z": "inf" if z is None else str(z.quantize(Decimal("0.01"))),
        }


class CostAnomalyConfig(RuleConfig):
    recent_days: int | None = Field(
        None,
        ge=1,
        le=366,
        description="judge only the last N days of the window (default: every day of it)",
        examples=[7],
    )
    baseline_weeks: int = Field(4, ge=2, le=8, description="same weekdays to compare with")
    min_baseline_weeks: int = Field(
        2, ge=2, description="covered baseline days needed (a young store: what it has)"
    )
    z_threshold: Decimal = Field(Decimal("3.5"), gt=0, description="Iglewicz & Hoaglin cut-off")
    min_increase: Decimal = Field(Decimal("0.20"), ge=0, description="excess over the median")
    min_excess: Decimal = Field(Decimal("50"), ge=0, description="excess in currency per day")
    persist_days: int = Field(30, ge=1, description="days the excess is assumed to last")
    charge_categories: tuple[str, ...] = Field(
        ("Usage",), min_length=1, description="FOCUS charge categories compared"
    )


class CostAnomaly(Rule[CostAnomalyConfig]):
    meta = RuleMeta(
        rule_id="cost-anomaly",
        title="Cost anomaly",
        family="anomalies",
        description=(
            "Daily cost of a service and usage type far above the same weekday of the previous "
            "{baseline_weeks} weeks (modified z-score ≥ {z_threshold}, +{min_increase:.0%} and "
            "+${min_excess}), or a new SKU / region above $50 a day."
        ),
        sources=(
            "https://www.itl.nist.gov/div898/handbook/eda/section3/eda35h.htm",
            "Iglewicz, B. and Hoaglin, D. (1993), How to Detect and Handle Outliers, ASQC",
        ),
    )

    def evaluate(self, ctx: RuleContext) -> Iterable[Candidate]:
        cfg = self.config
        end = ctx.end.date()
        window = max((end - ctx.start.date()).days, 1)
        judged = min(cfg.recent_days, window) if cfg.recent_days else window
        recent = [end - timedelta(days=i) for i in range(judged, 0, -1)]
        since = recent[0] - timedelta(weeks=cfg.baseline_weeks)
        covered: dict[str, set[date]] = {}  # per provider: days with any of its billing rows
        daily: dict[tuple[str, str, str, str, str], dict[date, Decimal]] = {}
        for provider, service, usage, region, currency, day, cost in self._daily(ctx, cfg, since):
            key = (str(provider), str(service), str(usage), str(region or ""), str(currency))
            daily.setdefault(key, {})[_day(day)] = money(cost)
            covered.setdefault(str(provider), set()).add(_day(day))
        need = min(cfg.min_baseline_weeks, cfg.baseline_weeks)
        for key in sorted(daily):
            days = daily[key]
            with_cost = [d for d, c in days.items() if c > 0]
            if not with_cost:
                continue
            first = min(with_cost)
            measured = covered.get(key[0], set())
            # Young (no cost before ``first`` in the look-back): new if the weeks before it are
            # measured.  Its later days are still judged as spikes below, against baselines
            # that all lie after ``first``.
            young = first >= recent[0]
            if young and len(_same_weekdays(first, cfg.baseline_weeks, measured)) >= need:
                flagged = [
                    _Day(d, days[d], Decimal(0), None, [])
                    for d in recent
                    if d >= first and days.get(d, Decimal(0)) >= cfg.min_excess
                ]
                if flagged:
                    yield self._candidate(cfg, key, "new", flagged, days.get(recent[-1]))
            spikes = []
            for day in recent:
                actual = days.get(day, Decimal(0))
                known = _same_weekdays(day, cfg.baseline_weeks, measured)
                if actual < cfg.min_excess or len(known) < need or first > min(known):
                    continue  # too small, too little history, or the series began inside it
                score = self._judge(cfg, actual, [days.get(d, Decimal(0)) for d in known])
                if score is not None:
                    baseline = [
                        {"day": d.isoformat(), "cost": str(days.get(d, Decimal(0)))} for d in known
                    ]
                    spikes.append(_Day(day, actual, score.median, score, baseline))
            if spikes:
                yield self._candidate(cfg, key, "spike", spikes, days.get(recent[-1]))

    @staticmethod
    def _candidate(
        cfg: CostAnomalyConfig,
        key: tuple[str, str, str, str, str],
        kind: str,
        flagged: list[_Day],
        last: Decimal | None,
    ) -> Candidate:
        """One finding for a usage type's flagged days: the worst day named, all listed.

        ``last`` is the usage type's cost on the window's last day: still elevated, the excess
        is what the spike will cost a month if it persists; back to normal, it was a one-off
        (a sweep, a backfill) — nothing left to save, and a monthly figure would overstate it,
        so the saving is 0 and the evidence says what it cost (``excess_incurred``)."""
        provider, service, usage, region, currency = key
        # the whole grouping key: one usage type billed in two currencies (two payers) or by
        # two providers is two series, never one fingerprint
        group = f"{provider}|{service}|{usage}|{region or 'global'}|{currency}"
        worst = max(flagged, key=lambda f: (f.excess, -f.day.toordinal()))
        named = flagged[0] if kind == "new" else worst
        more = f" (+{len(flagged) - 1} more day{'s' if len(flagged) > 2 else ''})"
        when = f"{named.day:%a %d %b}{more if len(flagged) > 1 else ''}"
        if kind == "new":
            title = f"New cost since {when}: {service} {usage}"
            what = (
                f"started {usage} on {named.day.isoformat()} (up to "
                f"{worst.actual.quantize(CENT)} {currency} a day, none before)"
            )
        else:
            title = f"Cost spike on {when}: {service} {usage}"
            what = (
                f"raised {usage} on {named.day.isoformat()} ({named.actual.quantize(CENT)} "
                f"{currency} against an expected {named.expected.quantize(CENT)})"
            )
        still = last or Decimal(0)
        floor = max(cfg.min_excess, cfg.min_increase * worst.expected)
        ongoing = still - worst.expected >= floor
        incurred = sum((f.excess for f in flagged), Decimal(0))
        if not ongoing:
            title += " (over)"
            what += (
                f"; it cost {incurred.quantize(CENT)} {currency} more than usual and has "
                "stopped — make sure it was planned"
            )
        score = worst.score
        evidence: dict[str, Any] = {
            "kind": kind,
            "provider": provider,
            "service": service,
            "usage_type": usage,
            "region": region or None,
            **worst.evidence(),
            "weekday": f"{worst.day:%A}",
            "first_day": flagged[0].day.isoformat(),
            "flagged_days": [f.evidence() for f in flagged],
            "excess": str(worst.excess),
            "excess_incurred": str(incurred),
            "last_day_cost": str(still),
            "ongoing": ongoing,
            "persist_days": cfg.persist_days,
            "formula": (
                "(actual − median of same weekdays) × persist days, worst flagged day, while the "
                "last day of the window is still elevated; 0 once it is over"
            ),
        }
        evidence[ANOMALY_KEY] = AnomalyFacts(
            day=worst.day,
            service=service,
            usage_type=usage,
            expected=worst.expected,
            actual=worst.actual,
        ).model_dump(mode="json")
        if score is not None:
            evidence.update(
                mad=str(score.mad),
                mean_ad=str(score.mean_ad),
                scale=score.scale,
                baseline=worst.baseline,
            )
        return Candidate(
            subject=f"{group}|{kind}",
            title=title,
            recommendation=f"Check what {what} and stop it if it was not planned.",
            monthly_savings=(worst.excess * cfg.persist_days if ongoing else Decimal(0)).quantize(
                CENT
            ),
            currency=currency,
            confidence="low",
            evidence=evidence,
            resource_id=group,
        )

    @staticmethod
    def _judge(cfg: CostAnomalyConfig, actual: Decimal, baseline: list[Decimal]) -> RobustZ | None:
        """The score when ``actual`` is a spike against ``baseline``, else None."""
        score = robust_z(actual, baseline)
        if score.z is not None and score.z < cfg.z_threshold:
            return None
        excess = actual - score.median
        if excess < cfg.min_excess or excess < cfg.min_increase * score.median:
            return None
        return score

    # -- SQL -------------------------------------------------------------------------------------
    @staticmethod
    def _daily(ctx: RuleContext, cfg: CostAnomalyConfig, since: date) -> list[tuple[Any, ...]]:
        """Cost per (provider, service, usage type, region, currency, day) since ``since``."""
        d = daily_costs.c
        usage = func.coalesce(d.usage_label, d.sku_id, "")
        query = (
            select(
                d.provider_name,
                d.service_name,
                usage,
                d.region_id,
                d.billing_currency,
                d.day,
                total(),
            )
            .where(
                d.charge_period_start >= _midnight(since),
                d.charge_period_start < ctx.end,
                d.charge_category.in_(cfg.charge_categories),
            )
            .group_by(
                d.provider_name, d.service_name, usage, d.region_id, d.billing_currency, d.day
            )
        )
        return [tuple(r) for r in ctx.conn.execute(query)]


def _same_weekdays(day: date, weeks: int, measured: set[date]) -> list[date]:
    """The same weekday of the ``weeks`` weeks before ``day`` that have billing data, newest
    first."""
    candidates = (day - timedelta(weeks=w) for w in range(1, weeks + 1))
    return [d for d in candidates if d in measured]


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


def _day(value: Any) -> date:
    """A ``date(...)`` result: a date on PostgreSQL, ISO text on SQLite."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
