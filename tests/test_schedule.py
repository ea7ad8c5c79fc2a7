"""Schedule logic on a controllable clock (time_machine): cron in the configured zone, crontab
weekday numbering, and misfire + coalesce (a host that slept through runs catches up once)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from apscheduler.events import EVENT_JOB_MISSED, JobEvent
from apscheduler.executors.debug import DebugExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from agent.config import ConfigError, Settings, load_settings
from agent.scheduler import add_jobs, cron_trigger, next_runs

BERLIN = ZoneInfo("Europe/Berlin")


def settings(**daemon: Any) -> Settings:
    return Settings(
        report={"timezone": "Europe/Berlin"},
        schedule={
            "collect": "off",
            "collect_metrics": "off",
            "analyze": "0 9 * * *",
            "report": "0 9 * * 1",
        },
        daemon=daemon,
    )


def test_weekly_report_next_run_is_monday_0900_local() -> None:
    s = Settings(report={"timezone": "Europe/Berlin"})
    with time_machine.travel(datetime(2026, 11, 25, 12, 0, tzinfo=UTC), tick=False):
        upcoming = next_runs(s)
    report = upcoming["report"]
    assert report is not None
    assert report.tzinfo is not None and report.utcoffset() == timedelta(hours=1)
    assert (report.date().isoformat(), report.strftime("%A %H:%M")) == (
        "2026-11-30",
        "Monday 09:00",
    )
    assert upcoming["collect"] == datetime(2026, 11, 25, 18, 0, tzinfo=BERLIN)
    assert upcoming["collect_metrics"] == datetime(2026, 11, 25, 13, 15, tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("before", "fires_utc", "offset"),
    [
        # spring forward: 2026-03-29 02:00 → 03:00; 09:00 CEST is 07:00 UTC
        (datetime(2026, 3, 28, 12, 0, tzinfo=UTC), datetime(2026, 3, 29, 7, 0, tzinfo=UTC), 2),
        # fall back: 2026-10-25 03:00 → 02:00; 09:00 CET is 08:00 UTC
        (datetime(2026, 10, 24, 12, 0, tzinfo=UTC), datetime(2026, 10, 25, 8, 0, tzinfo=UTC), 1),
    ],
)
def test_cron_fires_at_0900_local_across_dst(
    before: datetime, fires_utc: datetime, offset: int
) -> None:
    trigger = cron_trigger("0 9 * * *", BERLIN)
    fire = trigger.get_next_fire_time(None, before.astimezone(BERLIN))
    assert fire == fires_utc
    assert (fire.hour, fire.utcoffset()) == (9, timedelta(hours=offset))
    # the day before the change also fired at 09:00 local: 23 h (spring) / 25 h (autumn) apart
    day_before = trigger.get_next_fire_time(None, (before - timedelta(days=1)).astimezone(BERLIN))
    assert day_before.hour == 9
    elapsed = fire.astimezone(UTC) - day_before.astimezone(UTC)
    assert elapsed == timedelta(hours=23 if offset == 2 else 25)


def test_crontab_weekday_numbers_mean_what_crontab_means() -> None:
    # APScheduler's from_crontab would read "1" as Tuesday; the daemon keeps crontab's Monday.
    wed = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    for expr, day in [
        ("0 9 * * 1", "Monday"),
        ("0 9 * * 0", "Sunday"),
        ("0 9 * * 7", "Sunday"),
        ("0 9 * * 5", "Friday"),
        ("0 9 * * mon", "Monday"),
    ]:
        fire = cron_trigger(expr, UTC).get_next_fire_time(None, wed)
        assert fire.strftime("%A") == day, expr
    weekdays = cron_trigger("0 9 * * 1-5", UTC)
    t, seen = wed, []
    for _ in range(7):
        t = weekdays.get_next_fire_time(None, t + timedelta(seconds=1))
        seen.append(t.strftime("%a"))
    assert seen == ["Thu", "Fri", "Mon", "Tue", "Wed", "Thu", "Fri"]


def test_bad_cron_fails_at_load_naming_the_key(tmp_path: Any) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[schedule]\nanalyze = "30 6 * *"\n')
    with pytest.raises(ConfigError, match=r"schedule\.analyze: .*expected 5 fields"):
        load_settings(cfg)
    cfg.write_text('[schedule]\nreport = "0 9 * * mon-fry"\n')
    with pytest.raises(ConfigError, match=r"schedule\.report: .*fry"):
        load_settings(cfg)
    cfg.write_text('[daemon]\nrun_on_start = ["colect"]\n')
    with pytest.raises(ConfigError, match=r"daemon\.run_on_start\.0"):
        load_settings(cfg)


def _sleep_through(
    s: Settings, asleep_from: datetime, wake: datetime
) -> tuple[list[str], list[str]]:
    """Start a scheduler at ``asleep_from`` (paused: the host sleeps), resume at ``wake``.

    The jobs run on the scheduler's thread (DebugExecutor) with the daemon's real job options
    (add_jobs); returns the jobs that ran and the jobs whose run was missed beyond the grace.
    """
    ran: list[str] = []
    missed: list[str] = []
    with time_machine.travel(asleep_from, tick=False) as clock:
        sched = BackgroundScheduler(timezone=BERLIN, executors={"default": DebugExecutor()})
        sched.add_listener(lambda e: missed.append(_job(e)), EVENT_JOB_MISSED)
        add_jobs(sched, s, ran.append)
        sched.start(paused=True)
        try:
            clock.move_to(wake)
            sched.resume()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # until every due job was processed
                jobs = sched.get_jobs()
                if all(j.next_run_time > wake for j in jobs):
                    break
                time.sleep(0.01)
            else:
                raise AssertionError("scheduler did not process the due jobs")
        finally:
            sched.shutdown(wait=True)
    return ran, missed


def _job(event: JobEvent) -> str:
    return str(event.job_id)


def test_daily_job_missed_three_days_runs_once_on_wake() -> None:
    # Asleep from Monday 08:00 to Thursday 10:00 Berlin: analyze's 09:00 runs on Mon, Tue, Wed
    # and Thu were all missed; coalesce makes them one run, inside the 6 h grace.
    ran, missed = _sleep_through(
        settings(),
        datetime(2026, 11, 23, 8, 0, tzinfo=BERLIN),
        datetime(2026, 11, 26, 10, 0, tzinfo=BERLIN),
    )
    assert ran.count("analyze") == 1
    assert "analyze" not in missed


def test_report_missed_for_three_days_runs_once_within_grace() -> None:
    # The weekly report was due Monday 09:00; the host wakes Thursday.  With a grace of four
    # days it is sent once on wake; analyze (daily, missed 4 times) also runs once.
    ran, missed = _sleep_through(
        settings(misfire_grace_seconds=4 * 86400),
        datetime(2026, 11, 23, 8, 0, tzinfo=BERLIN),
        datetime(2026, 11, 26, 10, 0, tzinfo=BERLIN),
    )
    assert sorted(ran) == ["analyze", "report"]
    assert missed == []


def test_report_later_than_the_grace_is_skipped_until_next_week() -> None:
    # Default grace 6 h: a report 3 days late is not sent (an old week's report on a Thursday
    # would surprise); `costagent run --once report` sends it by hand.
    ran, missed = _sleep_through(
        settings(),
        datetime(2026, 11, 23, 8, 0, tzinfo=BERLIN),
        datetime(2026, 11, 26, 10, 0, tzinfo=BERLIN),
    )
    assert "report" not in ran and missed == ["report"]


def test_report_a_few_hours_late_is_sent_once() -> None:
    ran, missed = _sleep_through(
        settings(),
        datetime(2026, 11, 23, 8, 0, tzinfo=BERLIN),
        datetime(2026, 11, 23, 13, 30, tzinfo=BERLIN),
    )
    assert sorted(ran) == ["analyze", "report"] and missed == []
