"""The retry policy and the secret helpers, without any network."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.notify.retry import DeliveryError, PartlyDelivered, Retrier, RetryPolicy
from agent.secrets import MissingSecret, file_secret, redacting_logger


def flaky(failures: list[DeliveryError]) -> tuple[list[int], Callable[[], str]]:
    calls: list[int] = []

    def action() -> str:
        calls.append(1)
        if failures:
            raise failures.pop(0)
        return "sent"

    return calls, action


def test_transient_failures_back_off_exponentially() -> None:
    slept: list[float] = []
    retrier = Retrier(RetryPolicy(attempts=4, base_delay=0.5), slept.append)
    calls, action = flaky([DeliveryError("busy", transient=True)] * 3)
    assert retrier.run("x", action) == "sent"
    assert slept == [0.5, 1.0, 2.0] and len(calls) == 4 and retrier.attempts == 4


def test_retry_after_wins_when_longer_and_delays_are_capped() -> None:
    policy = RetryPolicy(attempts=5, base_delay=1.0, max_delay=30.0)
    assert policy.delay(1, retry_after=12) == 12
    assert policy.delay(2, retry_after=0) == 2
    assert policy.delay(9) == 30


def test_permanent_failure_is_raised_at_once() -> None:
    slept: list[float] = []
    retrier = Retrier(RetryPolicy(attempts=3, base_delay=1), slept.append)
    calls, action = flaky([DeliveryError("bad credentials", transient=False)])
    with pytest.raises(DeliveryError, match="bad credentials"):
        retrier.run("x", action)
    assert slept == [] and len(calls) == 1 and retrier.attempts == 1


def test_last_transient_failure_is_raised_after_all_attempts() -> None:
    retrier = Retrier(RetryPolicy(attempts=2, base_delay=0), lambda _: None)
    calls, action = flaky([DeliveryError(f"down {i}", transient=True) for i in range(5)])
    with pytest.raises(DeliveryError, match="down 1"):
        retrier.run("x", action)
    assert len(calls) == 2 and retrier.attempts == 2


def test_attempts_count_retries_across_steps() -> None:
    retrier = Retrier(RetryPolicy(attempts=3, base_delay=0), lambda _: None)
    assert retrier.attempts == 0
    _, first = flaky([DeliveryError("429", transient=True)])
    _, second = flaky([DeliveryError("500", transient=True)])
    retrier.run("post", first)
    retrier.run("upload", second)
    assert retrier.attempts == 3


def test_secret_file_first_line_and_clear_errors(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_text("hunter2-long-password\nignored\n")
    assert file_secret(path).get_secret_value() == "hunter2-long-password"
    assert "hunter2" not in repr(file_secret(path))
    with pytest.raises(MissingSecret, match=r"cannot read secrets file .*missing"):
        file_secret(tmp_path / "missing")
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(MissingSecret, match="is empty"):
        file_secret(tmp_path / "empty")


def test_redacting_logger_scrubs_secret_values(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    logger = redacting_logger("tests.notify", ("https://hooks.example/T1/B2/zzSecret",))
    logger.debug("Sending a request - url: %s", "https://hooks.example/T1/B2/zzSecret")
    assert "zzSecret" not in caplog.text
    assert "url: ***" in caplog.text


def test_partly_delivered_is_never_retried() -> None:
    """Half the report arrived: another try would send that half again."""
    retrier = Retrier(RetryPolicy(attempts=3, base_delay=0), lambda _: None)
    calls, action = flaky([PartlyDelivered("message posted, but the chart upload failed")])
    with pytest.raises(DeliveryError, match="chart upload failed") as raised:
        retrier.run("x", action)
    assert isinstance(raised.value, PartlyDelivered) and not raised.value.transient
    assert len(calls) == 1
