"""Schedule logic on a controllable clock (time_machine): cron in the configured zone, crontab
weekday numbering, misfire + coalesce (a host that slept through runs catches up once), runs
missed while the daemon was down, retries inside the grace, and one report per week and channel
(real store, a real local Slack webhook and SMTP server)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from apscheduler.events import EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobEvent
from apscheduler.executors.debug import DebugExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine, select, text

from agent.config import ConfigError, Settings, load_settings
from agent.cron import cron_trigger, next_runs, previous_fire
from agent.demo import DATA_DIR
from agent.scheduler import Daemon, add_jobs, missed_runs
from agent.store.engine import open_store
from agent.store.schema import CollectionRun, Delivery, JobRun
from tests.helpers import cli
from tests.slack_server import SERVER_ERROR, WEBHOOK_PATH, FakeSlack, slack_server
from tests.smtp_server import smtp_server

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
    # crontab's "the 1st or any Monday" would silently become "a Monday the 1st"
    cfg.write_text('[schedule]\nreport = "0 9 1 * 1"\n')
    with pytest.raises(ConfigError, match=r"schedule\.report: .*both restricted"):
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


# -- runs missed while the daemon was down, retries, one report per week ------------------------
REPORT_ONLY = {"collect": "off", "collect_metrics": "off", "analyze": "off"}


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Engine]:
    eng = open_store(sqlite_url)
    yield eng
    eng.dispose()


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    with slack_server() as fake:
        monkeypatch.setenv("SLACK_WEBHOOK_URL", fake.webhook_url)
        yield fake


def report_settings(
    report: str = "0 9 * * 1", smtp_port: int | None = None, **daemon: Any
) -> Settings:
    channels: dict[str, Any] = {"slack": {"retry_delay": 0, "attempts": 1}}
    if smtp_port is not None:
        channels["email"] = {
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_port,
            "starttls": False,
            "from": "costagent@example.com",
            "to": ["finops@example.com"],
            "retry_delay": 0,
        }
    return Settings(
        report={"timezone": "Europe/Berlin", **channels},
        schedule={**REPORT_ONLY, "report": report},
        daemon=daemon,
    )


def test_previous_fire_is_the_latest_scheduled_time_within_the_window() -> None:
    weekly = cron_trigger("0 9 * * 1", BERLIN)
    now = datetime(2026, 11, 23, 10, 30, tzinfo=BERLIN)  # Monday
    assert previous_fire(weekly, now, timedelta(hours=6)) == datetime(
        2026, 11, 23, 9, 0, tzinfo=BERLIN
    )
    assert previous_fire(weekly, now, timedelta(hours=1)) is None  # 09:00 is 1.5 h ago
    every_2s = cron_trigger("*/2 * * * * *", UTC)
    at = datetime(2026, 11, 23, 10, 30, 7, 500000, tzinfo=UTC)
    assert previous_fire(every_2s, at, timedelta(hours=6)) == at.replace(second=6, microsecond=0)
    exactly = datetime(2026, 11, 23, 10, 30, 8, tzinfo=UTC)
    assert previous_fire(every_2s, exactly, timedelta(hours=6)) == exactly


def test_report_missed_while_the_daemon_was_down_is_sent_once_after_restart(
    store: Engine, slack: FakeSlack
) -> None:
    s = report_settings()
    # Down over Monday 09:00 (a reboot); the daemon starts at 10:30, within the 6 h grace.
    with time_machine.travel(datetime(2026, 11, 23, 10, 30, tzinfo=BERLIN), tick=False):
        sched = BackgroundScheduler(timezone=BERLIN)
        daemon = Daemon(store, s, scheduler=sched)
        missed = daemon.schedule()
        assert missed == {"report": datetime(2026, 11, 23, 9, 0, tzinfo=BERLIN)}
        job = sched.get_job("report")
        assert job is not None and job.next_run_time == datetime.now(BERLIN)  # queued for now
        result = daemon.run_named("report")  # what the scheduler then runs
    assert result is not None and result.status == "ok", result
    assert len(slack.to(WEBHOOK_PATH)) == 1
    # restarted again at 11:00: that run counts, nothing is missed any more
    with time_machine.travel(datetime(2026, 11, 23, 11, 0, tzinfo=BERLIN), tick=False):
        assert missed_runs(store, s) == {}
        # and should the job run again anyway (a manual `run --once report`), the channel
        # that got week 47 is skipped
        again = Daemon(store, s, scheduler=BackgroundScheduler(timezone=BERLIN)).run_named("report")
    assert again is not None and again.status == "ok"
    assert again.details is not None and again.details["deliveries"] == {"slack-webhook": "skipped"}
    assert len(slack.to(WEBHOOK_PATH)) == 1
    assert delivered(store) == [("slack-webhook", "2026-W47", "ok")]


def test_report_missed_beyond_the_grace_is_not_caught_up(store: Engine) -> None:
    with time_machine.travel(datetime(2026, 11, 26, 10, 0, tzinfo=BERLIN), tick=False):
        assert missed_runs(store, report_settings()) == {}  # Monday's report, 3 days late


def test_repeated_dst_hour_fires_twice_but_sends_the_report_once(
    store: Engine, slack: FakeSlack
) -> None:
    # 2026-10-25 Berlin falls back at 03:00 CEST to 02:00 CET: 02:30 happens twice, and
    # APScheduler fires a "30 2 * * 0" job at both (00:30 and 01:30 UTC).
    s = report_settings(report="30 2 * * 0")
    ran: list[str] = []
    with time_machine.travel(datetime(2026, 10, 25, 0, 0, tzinfo=UTC), tick=False) as clock:
        sched = BackgroundScheduler(timezone=BERLIN, executors={"default": DebugExecutor()})
        daemon = Daemon(store, s, scheduler=sched)

        def runner(name: str) -> None:
            daemon.run_named(name)
            ran.append(name)

        add_jobs(sched, s, runner)
        sched.start()
        try:
            for wake in (
                datetime(2026, 10, 25, 0, 31, tzinfo=UTC),
                datetime(2026, 10, 25, 1, 31, tzinfo=UTC),
            ):
                count = len(ran)
                clock.move_to(wake)
                sched.wakeup()
                wait_until(lambda n=count: len(ran) > n)
        finally:
            sched.shutdown(wait=True)
    assert ran == ["report", "report"]
    assert len(slack.to(WEBHOOK_PATH)) == 1
    assert delivered(store) == [("slack-webhook", "2026-W42", "ok")]


def test_failed_report_is_retried_within_the_grace_resending_only_the_failed_channel(
    store: Engine, slack: FakeSlack, tmp_path: Path
) -> None:
    with smtp_server(tmp_path) as smtp:
        s = report_settings(smtp_port=smtp.port)
        slack.fail(WEBHOOK_PATH, SERVER_ERROR)  # the webhook fails once
        ran: list[str] = []
        with time_machine.travel(datetime(2026, 11, 23, 9, 0, tzinfo=BERLIN), tick=False) as clock:
            sched = BackgroundScheduler(timezone=BERLIN, executors={"default": DebugExecutor()})
            daemon = Daemon(store, s, scheduler=sched)
            first = daemon.run_named("report")
            assert first is not None and first.status == "failed"
            retry = sched.get_job("report-retry")
            assert retry is not None
            sched.add_listener(lambda e: ran.append(str(e.job_id)), EVENT_JOB_EXECUTED)
            sched.start()
            try:
                assert retry.next_run_time == datetime(2026, 11, 23, 9, 5, tzinfo=BERLIN)
                clock.move_to(datetime(2026, 11, 23, 9, 5, 1, tzinfo=BERLIN))
                sched.wakeup()
                wait_until(lambda: "report-retry" in ran)
            finally:
                sched.shutdown(wait=True)
        assert len(smtp.received) == 1  # email got it the first time: not sent again
    assert len(slack.to(WEBHOOK_PATH)) == 2  # the failed post, then the retry's
    assert delivered(store) == [
        ("email", "2026-W47", "ok"),
        ("slack-webhook", "2026-W47", "failed"),
        ("slack-webhook", "2026-W47", "ok"),
    ]
    assert job_statuses(store) == [("report", "failed"), ("report", "ok")]
    assert sched.get_job("report-retry") is None  # ok: no further retry


def test_a_run_the_store_could_not_record_is_retried(store: Engine) -> None:
    s = Settings(
        schedule={
            "collect": "off",
            "collect_metrics": "off",
            "analyze": "0 9 * * *",
            "report": "off",
        },
        daemon={"misfire_grace_seconds": 3600},
    )
    with time_machine.travel(datetime(2026, 11, 23, 9, 0, tzinfo=BERLIN), tick=False):
        sched = BackgroundScheduler(timezone=BERLIN)
        daemon = Daemon(store, s, scheduler=sched)
        # A database blip at 09:00: the job's row cannot even be written.
        with store.begin() as conn:
            conn.execute(text("ALTER TABLE job_runs RENAME TO job_runs_away"))
        result = daemon.run_named("analyze")
        with store.begin() as conn:
            conn.execute(text("ALTER TABLE job_runs_away RENAME TO job_runs"))
        assert result is not None and result.status == "failed"
        assert job_statuses(store) == []
        retry = sched.get_job("analyze-retry")
        assert retry is not None and retry.kwargs["attempt"] == 1
        assert retry.trigger.run_date == datetime(2026, 11, 23, 9, 5, tzinfo=BERLIN)


def test_retries_stop_at_the_grace_and_at_the_configured_count(store: Engine) -> None:
    def failing(_ctx: Any) -> dict[str, Any]:
        raise RuntimeError("still broken")

    schedule = {"collect": "off", "collect_metrics": "off", "analyze": "0 9 * * *", "report": "off"}
    due = datetime(2026, 11, 23, 9, 0, tzinfo=BERLIN)
    sched = BackgroundScheduler(timezone=BERLIN)
    short = Settings(schedule=schedule, daemon={"misfire_grace_seconds": 600})
    daemon = Daemon(store, short, scheduler=sched, bodies={"analyze": failing})
    with time_machine.travel(due, tick=False):
        daemon.run_named("analyze")
    retry = sched.get_job("analyze-retry")
    assert retry is not None and retry.trigger.run_date == due + timedelta(minutes=5)
    sched.remove_job("analyze-retry")
    # the retry at 09:05 fails too: the next would be at 09:20, past the 10 min grace
    with time_machine.travel(due + timedelta(minutes=5), tick=False):
        daemon.run_named("analyze", attempt=1, due=due)
    assert sched.get_job("analyze-retry") is None
    # with a day of grace, the count stops it: both configured retries (5, 15 min) were used
    long = Settings(schedule=schedule, daemon={"misfire_grace_seconds": 86400})
    daemon = Daemon(store, long, scheduler=sched, bodies={"analyze": failing})
    with time_machine.travel(due + timedelta(minutes=20), tick=False):
        daemon.run_named("analyze", attempt=2, due=due)
    assert sched.get_job("analyze-retry") is None
    assert job_statuses(store) == [("analyze", "failed")] * 3


def wait_until(probe: Callable[[], bool], timeout: float = 20) -> None:
    """Poll (the scheduler's thread does the work) until ``probe()``; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.01)


def delivered(engine: Engine) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                select(Delivery.channel, Delivery.report_period, Delivery.status).order_by(
                    Delivery.id
                )
            )
        ]


def job_statuses(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [
            tuple(r) for r in conn.execute(select(JobRun.job, JobRun.status).order_by(JobRun.id))
        ]


def test_report_send_by_hand_skips_channels_that_got_the_week_unless_forced(
    sqlite_url: str, slack: FakeSlack, tmp_path: Path
) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[report]\ntimezone = "Europe/Berlin"\n[report.slack]\nretry_delay = 0\n')
    open_store(sqlite_url).dispose()  # report reads a store; it never creates one
    args = ("--config", str(cfg), "--db", sqlite_url, "report", "--send")
    with time_machine.travel(datetime(2026, 11, 23, 10, 0, tzinfo=BERLIN), tick=False):
        first = cli(*args, env={"SLACK_WEBHOOK_URL": slack.webhook_url})
        again = cli(*args, env={"SLACK_WEBHOOK_URL": slack.webhook_url})
        forced = cli(*args, "--force", env={"SLACK_WEBHOOK_URL": slack.webhook_url})
    assert (first.exit_code, first.stdout.strip()) == (0, "slack-webhook: ok")
    assert again.exit_code == 0
    assert again.stdout.strip() == (
        "slack-webhook: skipped (already delivered for 2026-W47; --force sends it again)"
    )
    assert (forced.exit_code, forced.stdout.strip()) == (0, "slack-webhook: ok")
    assert len(slack.to(WEBHOOK_PATH)) == 2


def test_daemon_and_schedule_limits_fail_at_load(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    # the daemon must exit within 10 s of SIGTERM: the job gets at most 9 of them
    cfg.write_text("[daemon]\nstop_timeout_seconds = 30\n")
    with pytest.raises(
        ConfigError, match=r"daemon\.stop_timeout_seconds: .*less than or equal to 9"
    ):
        load_settings(cfg)
    cfg.write_text("[daemon]\nretry_after_minutes = [5, 0]\n")
    with pytest.raises(ConfigError, match=r"daemon\.retry_after_minutes\.1: .*greater than 0"):
        load_settings(cfg)
    cfg.write_text('[schedule]\ncollect = "*/10 * * * * *"\n')  # a leading seconds field
    trigger = cron_trigger(load_settings(cfg).schedule.collect, UTC)
    start = datetime(2026, 11, 25, 12, 0, 1, tzinfo=UTC)
    assert trigger.get_next_fire_time(None, start) == start.replace(second=10)
    cfg.write_text('[schedule]\ncollect = "0 0 */6 * * * *"\n')
    with pytest.raises(
        ConfigError, match=r"schedule\.collect: .*or 6 with a leading second; got 7"
    ):
        load_settings(cfg)


def test_a_collect_retry_repeats_only_the_sources_that_failed(
    store: Engine, tmp_path: Path
) -> None:
    good, bad = DATA_DIR / "inventory", tmp_path / "bad.csv"  # a small real export; junk
    bad.write_text("what,is,this\n1,2,3\n")
    s = Settings(
        sources=[
            {"name": "good", "type": "local_files", "paths": [str(good)]},
            {"name": "bad", "type": "local_files", "paths": [str(bad)]},
        ],
        schedule={
            "collect": "0 9 * * *",
            "collect_metrics": "off",
            "analyze": "off",
            "report": "off",
        },
    )
    due = datetime(2026, 11, 23, 9, 0, tzinfo=BERLIN)
    sched = BackgroundScheduler(timezone=BERLIN)
    daemon = Daemon(store, s, scheduler=sched)
    with time_machine.travel(due, tick=False):
        first = daemon.run_named("collect")
    assert first is not None and first.status == "failed"
    assert first.details is not None and set(first.details["sources"]) == {"good", "bad"}
    retry = sched.get_job("collect-retry")
    assert retry is not None and retry.kwargs["only"] == frozenset({"bad"})
    with time_machine.travel(due + timedelta(minutes=5), tick=False):
        second = daemon.run_named(**retry.kwargs)
    assert second is not None and second.details is not None
    assert set(second.details["sources"]) == {"bad"}
    with store.connect() as conn:
        ran = conn.execute(select(CollectionRun.source).order_by(CollectionRun.id)).scalars().all()
    assert ran == ["good", "bad", "bad"]
