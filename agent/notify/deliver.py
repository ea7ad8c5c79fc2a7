"""Send one rendered report to every configured channel and record each delivery.

Delivery never raises: the daemon must keep its schedule when a mail server is down or a token
was revoked, so each channel's outcome — ok or failed, after how many attempts, and why — goes
into ``deliveries`` (and the return value) instead.  Rows name their target by recipients,
channel or environment variable, never by a webhook URL or a token.

With ``skip_delivered`` a channel (and target) that already has an ok delivery of the same
report period is skipped: the daemon's catch-up and retry runs, a repeated DST hour or a manual
``costagent report --send`` after the daemon's never send one week's report twice to anyone
(``--send --force`` does, on purpose).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert, select

from agent.config import Settings
from agent.notify.email import send_email
from agent.notify.retry import DeliveryError, PartlyDelivered, Retrier, RetryPolicy
from agent.notify.slack import send_bot, send_webhook
from agent.redact import redact
from agent.report.rendered import RenderedReport
from agent.secrets import MissingSecret
from agent.store.clock import utcnow
from agent.store.schema import Delivery

log = logging.getLogger(__name__)

Sender = Callable[[Retrier, dict[str, Any]], None]
DELIVERED = ("ok", "partial")  # statuses that count as "this period reached the channel"


@dataclass(frozen=True)
class DeliveryOutcome:
    channel: str  # email, slack-webhook, slack-bot
    target: str  # recipients, channel, or the env var naming the webhook
    status: str  # ok, partial (arrived, incompletely), failed, skipped (already delivered)
    attempts: int
    error: str | None = None


@dataclass(frozen=True)
class _Channel:
    name: str
    target: str
    policy: RetryPolicy
    send: Sender


def deliver_all(
    engine: Engine,
    settings: Settings,
    rendered: RenderedReport,
    *,
    now: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
    skip_delivered: bool = False,
) -> list[DeliveryOutcome]:
    """Deliver ``rendered`` to each configured channel, in order; one outcome per channel.

    ``now`` (naive UTC or aware) stands for the current time — the email's Date header and the
    recorded start/finish times are offset from it; ``sleep`` waits between retries.
    ``skip_delivered``: leave out channels that already got this period (status ``skipped``,
    not recorded again).
    """
    clock = _clock(now)
    done = _delivered(engine, rendered.period) if skip_delivered else set()
    outcomes = []
    for channel in _channels(settings, rendered, clock):
        if (channel.name, channel.target) in done:
            log.info(
                "report %s already delivered to %s (%s); not sent again",
                rendered.period,
                channel.name,
                channel.target,
            )
            outcomes.append(DeliveryOutcome(channel.name, channel.target, "skipped", 0))
            continue
        outcome = _deliver_one(engine, rendered, channel, clock, sleep)
        outcomes.append(outcome)
    return outcomes


def _delivered(engine: Engine, period: str) -> set[tuple[str, str | None]]:
    """(channel, target) pairs that got ``period``: ok, or partial — part of it arrived (some
    recipients, the message without its chart), so sending again would repeat that part.

    If the store cannot say, nothing counts as delivered: a duplicate report is better than a
    missing one.
    """
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(Delivery.channel, Delivery.target)
                .where(Delivery.report_period == period, Delivery.status.in_(DELIVERED))
                .distinct()
            ).all()
    except Exception as exc:
        log.warning("could not read earlier deliveries of %s: %s", period, redact(str(exc)))
        return set()
    return {(channel, target) for channel, target in rows}


def _channels(
    settings: Settings, rendered: RenderedReport, clock: Callable[[], datetime]
) -> list[_Channel]:
    channels = []
    email = settings.report.email
    if email is not None:
        channels.append(
            _Channel(
                "email",
                ", ".join(email.to),
                RetryPolicy(email.attempts, email.retry_delay),
                lambda r, d: d.update(send_email(rendered, email, r, clock())),
            )
        )
    slack = settings.report.slack
    if slack is not None:
        policy = RetryPolicy(slack.attempts, slack.retry_delay)
        if slack.uses_webhook:
            channels.append(
                _Channel(
                    "slack-webhook",
                    f"${slack.webhook_url_env}",
                    policy,
                    lambda r, d: send_webhook(rendered, slack, r, d),
                )
            )
        if slack.uses_bot:
            channels.append(
                _Channel(
                    "slack-bot",
                    slack.channel or "",
                    policy,
                    lambda r, d: send_bot(rendered, slack, r, d),
                )
            )
    return channels


def _deliver_one(
    engine: Engine,
    rendered: RenderedReport,
    channel: _Channel,
    clock: Callable[[], datetime],
    sleep: Callable[[float], None],
) -> DeliveryOutcome:
    started = clock()
    retrier = Retrier(channel.policy, sleep)
    details: dict[str, Any] = {}
    error: str | None = None
    partly = False
    try:
        channel.send(retrier, details)
    except PartlyDelivered as exc:  # some of it arrived: sending again would repeat that part
        error, partly = str(exc), True
    except (DeliveryError, MissingSecret) as exc:
        error = str(exc)
    except Exception as exc:  # a bug or an unforeseen client error must not stop the others
        log.debug("delivery to %s crashed", channel.name, exc_info=True)
        error = redact(f"{type(exc).__name__}: {exc}")
    status = "partial" if partly else "failed" if error else "ok"
    outcome = DeliveryOutcome(channel.name, channel.target, status, retrier.attempts, error)
    if error:
        log.warning(
            "report %s %s to %s (%s) after %d attempt(s): %s",
            rendered.period,
            "delivered incompletely" if partly else "not delivered",
            channel.name,
            channel.target,
            retrier.attempts,
            error,
        )
    else:
        log.info(
            "report %s delivered to %s (%s) in %d attempt(s)",
            rendered.period,
            channel.name,
            channel.target,
            retrier.attempts,
        )
    _record(engine, rendered.period, outcome, started, clock(), details)
    return outcome


def _record(
    engine: Engine,
    period: str,
    outcome: DeliveryOutcome,
    started: datetime,
    finished: datetime,
    details: dict[str, Any],
) -> None:
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(Delivery).values(
                    channel=outcome.channel,
                    target=outcome.target,
                    report_period=period,
                    status=outcome.status,
                    attempts=outcome.attempts,
                    error=outcome.error[:2000] if outcome.error else None,
                    started_at=started,
                    finished_at=finished,
                    details=details or None,
                )
            )
    except Exception as exc:  # the store failing must not turn a sent report into a crash
        log.error("could not record the %s delivery: %s", outcome.channel, redact(str(exc)))


def _clock(now: datetime | None) -> Callable[[], datetime]:
    """Naive-UTC time source; with ``now``, the first reading is ``now`` and time runs on
    from it at the real clock's pace (so later channels still start later)."""

    if now is None:
        return utcnow
    base = now.astimezone(UTC).replace(tzinfo=None) if now.tzinfo else now
    origin: list[datetime] = []  # set by the first reading, which is exactly ``now``

    def offset() -> datetime:
        current = utcnow()
        if not origin:
            origin.append(current)
        return base + (current - origin[0])

    return offset
