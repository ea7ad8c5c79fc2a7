"""Retries with exponential backoff for one delivery, counted across its steps.

A channel raises ``DeliveryError`` saying whether trying again can help (a refused connection,
HTTP 5xx, Slack's 429 with ``Retry-After``) or not (bad credentials, unknown channel).  Only
transient errors are retried, after ``base_delay · 2ⁿ`` seconds (or the server's Retry-After,
if longer), capped; the sleep function is injectable so tests never wait.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
MAX_DELAY = 300.0  # seconds; a server asking for longer is not worth blocking a report run

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """One failed try.  ``transient``: another try may succeed; ``retry_after``: server's wish."""

    def __init__(self, message: str, *, transient: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after


class PartlyDelivered(DeliveryError):
    """The report did reach its readers in part — the email some recipients, the Slack message
    without its chart — and another step failed.  Never transient: sending again would repeat
    what already arrived; whoever records it should not count the channel as undelivered."""

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=False)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3  # tries per step, the first included
    base_delay: float = 2.0
    max_delay: float = MAX_DELAY

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds before retry number ``retry`` (1-based)."""
        backoff = self.base_delay * 2.0 ** (retry - 1)
        wanted = max(backoff, retry_after or 0.0)
        return min(wanted, self.max_delay)


class Retrier:
    """Runs the steps of one delivery; ``attempts`` = 1 + every retry any step needed."""

    def __init__(self, policy: RetryPolicy, sleep: Callable[[float], None] = time.sleep) -> None:
        self.policy = policy
        self._sleep = sleep
        self.retries = 0
        self.started = False

    @property
    def attempts(self) -> int:
        return self.retries + 1 if self.started else 0

    def run(self, what: str, action: Callable[[], T]) -> T:
        """``action()``, retried on transient ``DeliveryError`` up to the policy's attempts."""
        self.started = True
        for attempt in range(1, self.policy.attempts + 1):
            try:
                return action()
            except DeliveryError as exc:
                if not exc.transient or attempt == self.policy.attempts:
                    raise
                delay = self.policy.delay(attempt, exc.retry_after)
                log.info("%s failed (%s); retry %d in %.1fs", what, exc, attempt, delay)
                self.retries += 1
                self._sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")
