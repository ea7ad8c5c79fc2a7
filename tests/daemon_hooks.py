"""Run the real ``costagent`` CLI with some job bodies replaced — for the daemon tests only.

``python -m tests.daemon_hooks <costagent arguments>`` is ``costagent`` itself (same entry
point, same process model, signals, lock and store); ``COSTAGENT_TEST_BODIES`` replaces the
bodies of some jobs, e.g. ``collect=hold_write,analyze=boom``, with the test bodies below.
Nothing here is part of the product: the product has no hook, this module patches its job
table before handing over to the CLI.

``COSTAGENT_TEST_MARK`` names a file a body writes when it reached its interesting point (so a
test knows, without sleeping, when to send a signal).
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from agent import jobs
from agent.store.schema import SourceState

HOLD_SECONDS = 40
MARK_KEY = "held-by-the-test-hook"


def _mark(text: str) -> None:
    mark = os.environ.get("COSTAGENT_TEST_MARK")
    if mark:
        Path(mark).write_text(text, encoding="utf-8")


def hold_write(ctx: jobs.JobContext) -> dict[str, Any]:
    """Write a row, then keep the write transaction open for 40 s, ignoring the stop request
    (a long load step: on SQLite it holds the database's only write lock)."""
    with ctx.engine.begin() as conn:
        conn.execute(
            insert(SourceState).values(
                source="test-hook",
                key=MARK_KEY,
                value={"held": True},
                updated_at=datetime.now(UTC).replace(tzinfo=None),
            )
        )
        _mark("holding")
        time.sleep(HOLD_SECONDS)
    return {}


def sleep_in_step(ctx: jobs.JobContext) -> dict[str, Any]:
    """Stay inside one step for 40 s without touching the database."""
    _mark("sleeping")
    time.sleep(HOLD_SECONDS)
    return {}


def boom(ctx: jobs.JobContext) -> dict[str, Any]:
    """A job with a bug: an unexpected exception, not a JobFailed."""
    raise RuntimeError("boom from the test hook")


def short(ctx: jobs.JobContext) -> dict[str, Any]:
    """A quarter of a second of work: long enough that two overlapping runs would show."""
    time.sleep(0.25)
    return {}


def many_steps(ctx: jobs.JobContext) -> dict[str, Any]:
    """200 steps of 50 ms: stops at the next step once a stop was requested."""
    _mark("stepping")
    for i in range(200):
        ctx.step(f"step {i}")
        time.sleep(0.05)
    return {}


BODIES = {f.__name__: f for f in (hold_write, sleep_in_step, boom, short, many_steps)}


def install(spec: str) -> None:
    for item in filter(None, spec.split(",")):
        job, _, body = item.partition("=")
        jobs.BODIES[job.strip()] = BODIES[body.strip()]


if __name__ == "__main__":
    install(os.environ.get("COSTAGENT_TEST_BODIES", ""))
    from agent.cli import main

    sys.argv[0] = "costagent"
    main()
