"""Logging for the daemon: one line per event on stdout, as text or as JSON lines.

journald and container runtimes collect stdout, so the daemon logs nowhere else.  JSON lines
(``ts, level, logger, message, job`` plus any ``extra=`` fields) let a log shipper filter by job
without parsing prose.  Every message passes through :func:`agent.redact.redact` on the way out:
an SDK error that echoes a token must not reach the journal.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from agent.redact import RedactingFilter, redact

#: The job the current thread is running; set by the daemon's job wrapper, read by the log.
current_job: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "costagent_job", default=None
)

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class _JobFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "job", None) is None:
            record.job = current_job.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (UTC, ISO 8601), level, logger, message, job, extras."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "job": getattr(record, "job", None),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in payload:
                payload[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            payload["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(payload, default=str)


class StdStreamHandler(logging.StreamHandler[TextIO]):
    """Log lines to ``sys.stdout`` / ``sys.stderr`` as it is when a record is emitted, not when
    the handler was made: a command run in-process (tests, a program embedding the CLI) swaps
    them per run, and a handler holding the previous run's closed stream would print "Logging
    error" into the next run's output."""

    def __init__(self, which: Literal["stdout", "stderr"]) -> None:
        super().__init__(getattr(sys, which))
        self.which = which

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = getattr(sys, self.which)
        super().emit(record)


class TextFormatter(logging.Formatter):
    """``2026-11-23 09:00:00,123 INFO agent.scheduler [report] message`` — redacted."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(jobtag)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        job = getattr(record, "job", None)
        record.jobtag = f" [{job}]" if job else ""
        return redact(super().format(record))


def setup_logging(fmt: str = "text", verbose: bool = False, stream: TextIO | None = None) -> None:
    """Route every logger to ``stream`` (stdout) in ``fmt``; replaces earlier handlers."""
    handler: logging.StreamHandler[TextIO] = (
        logging.StreamHandler(stream) if stream is not None else StdStreamHandler("stdout")
    )
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(_JobFilter())
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # APScheduler's own INFO lines ("Added job", "Running job") duplicate ours.
    for noisy in ("apscheduler", "botocore", "boto3", "urllib3", "google", "alembic"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)
