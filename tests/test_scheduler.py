"""The scheduler engine for real: the leader lock, ``Scheduler.run()`` in an event loop, and ``rrr-bot run scheduler``
processes that restart, miss reminders while down, and hand over the lead on PostgreSQL.

Sessions here start about a minute from now with a 1-minute reminder, so reminders fall due within seconds. The
leader's passes are observed through ``Scheduler.clock.ticks`` in this process, and through the DEBUG line
"scheduler tick N" in the stderr of ``rrr-bot run scheduler`` processes.
Every wait polls with a deadline; every process is stopped in ``finally`` (SIGTERM, then SIGKILL after 15 s).
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlmodel import col, select

import bot.scheduling
from fake_support import wait_until
from bot import Runtime
from adapters.platforms import SECRET_ENV
from bot.messages import reply_from_dict
from bot.scheduling import LeaderLock, Scheduler
from bot.sessions.service import SessionInfo, Sessions
from bot.store import Database
from bot.store.models import OutboxMessage, utcnow
from bot.sessions.draft import SessionDraft
from conftest import make_settings

ROOT = Path(__file__).resolve().parent.parent
ZONE = "Europe/Madrid"
LEADS = "this process runs the scheduler"
WAITS = "Scheduler: waiting for the lock"
TICK = "scheduler tick "
OLD_JOBS_TABLE = "apscheduler_jobs"  # where versions before #13 stored one job per reminder


# -- helpers --------------------------------------------------------------------------------------------------


async def poll(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(predicate):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.1)


def starting_in(seconds: float) -> datetime:
    """An aware UTC instant ``seconds`` from now, in whole seconds."""
    return (utcnow() + timedelta(seconds=seconds)).replace(microsecond=0)


def add(sessions: Sessions, title: str, start_utc: datetime, channel: str) -> tuple[SessionInfo, str]:
    """A one-off session at ``start_utc`` (given in Madrid wall-clock time) with a 1-minute reminder; and the
    reminder's claim key."""
    local = start_utc.astimezone(ZoneInfo(ZONE)).replace(tzinfo=None)
    info = sessions.add(SessionDraft(title=title, start=local, tz=ZONE, reminders=(1,), channels=(channel,)))
    occurrence = info.schedule.first()
    assert occurrence.start_utc == start_utc
    return info, f"reminder:{info.id}:{occurrence.key()}:1"


def reminder_rows(db: Database, prefix: str = "reminder:") -> list[OutboxMessage]:
    with db.session() as session:
        return list(session.exec(select(OutboxMessage).where(col(OutboxMessage.key).startswith(prefix))
                                 .order_by(OutboxMessage.id)))


def sent(db: Database, claim: str) -> list[OutboxMessage]:
    """The deliverable messages of one reminder (its claim row left out)."""
    return [r for r in reminder_rows(db, claim + ":") if r.platform != "-"]


async def ticks(scheduler: Scheduler, passes: int = 3) -> None:
    """Wait until the leader in this process has made ``passes`` more passes."""
    mark = scheduler.clock.ticks
    await poll(lambda: scheduler.clock.ticks >= mark + passes, 15, f"{passes} more scheduler passes")


def assert_clean(log: str) -> None:
    assert "Traceback" not in log, log[-6000:]


@dataclass
class SchedulerProcess:
    """One ``rrr-bot run scheduler`` process, its output in files."""

    name: str
    popen: subprocess.Popen
    err_path: Path

    def stderr(self) -> str:
        return self.err_path.read_text("utf-8", errors="replace")

    def passes(self) -> int:
        """The leader passes this process has made (its DEBUG "scheduler tick N" lines)."""
        return self.stderr().count(TICK)

    def wait_for_passes(self, passes: int = 3) -> None:
        """Wait until this process has made ``passes`` more passes."""
        mark = self.passes()
        wait_until(lambda: self.passes() >= mark + passes, 15, f"{passes} more passes of {self.name}")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Send ``sig`` and wait for the exit (SIGKILL after 15 s, which fails the test)."""
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
        try:
            return self.popen.wait(15)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(15)
            pytest.fail(f"{self.name} did not stop within 15 s of signal {sig}:\n{self.stderr()[-3000:]}")


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., SchedulerProcess]]:
    """Start ``rrr-bot run scheduler`` processes; whatever still runs at the end is stopped."""
    started: list[SchedulerProcess] = []
    files = []

    def start(name: str, data_dir: Path, **env: str) -> SchedulerProcess:
        full = {k: v for k, v in os.environ.items()
                if not k.startswith("RRR_") and k not in SECRET_ENV and k != "XDG_DATA_HOME"}
        full.update(RRR_DATA_DIR=str(data_dir), HOME=str(tmp_path / "home"), RRR_SESSIONS__SYNC_SECONDS="0.5",
                    RRR_LOGGING__LEVEL="DEBUG", **env)
        out = open(tmp_path / f"{name}.out", "w", encoding="utf-8")  # noqa: SIM115 - closed at teardown
        err = open(tmp_path / f"{name}.err", "w", encoding="utf-8")  # noqa: SIM115
        files.extend((out, err))
        popen = subprocess.Popen([sys.executable, "-c", "from adapters.cli import main; main()", "run", "scheduler"],
                                 stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=full, cwd=ROOT)
        process = SchedulerProcess(name, popen, tmp_path / f"{name}.err")
        started.append(process)
        return process

    try:
        yield start
    finally:
        for process in started:
            if process.popen.poll() is None:
                process.popen.terminate()
                try:
                    process.popen.wait(15)
                except subprocess.TimeoutExpired:
                    process.popen.kill()
                    process.popen.wait(15)
        for handle in files:
            handle.close()


# -- the leader lock ------------------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'lock' / 'rrr.db'}"
    return request.getfixturevalue("postgres_url")


def test_leader_lock_is_held_by_one_database_object_at_a_time(db_url: str) -> None:
    first, second = Database(db_url), Database(db_url)
    one, other = LeaderLock(first), LeaderLock(second)
    try:
        assert one.try_acquire() and one.held
        assert one.try_acquire()  # taking it again is a no-op for the holder
        assert not other.try_acquire() and not other.held
        one.release()
        assert not one.held
        assert other.try_acquire() and other.held
        assert not one.try_acquire()
        other.release()
        assert one.try_acquire()
    finally:
        one.release()
        other.release()
        first.close()
        second.close()


# -- Scheduler.run in this process ----------------------------------------------------------------------------


def test_running_scheduler_queues_reminders_on_time_and_follows_other_processes(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", RRR_SESSIONS__SYNC_SECONDS="0.5")
    assert settings.sessions.sync_seconds == 0.5
    with Runtime.open(settings) as rt, Runtime.open(settings) as other:
        first_start = starting_in(63)  # its 1-minute reminder is due in about 3 s
        _, first_claim = add(rt.sessions, "First", first_start, "slack:C1")
        found: dict[str, object] = {}

        async def main() -> None:
            scheduler = rt.scheduler()
            task = asyncio.create_task(scheduler.run())
            try:
                await asyncio.wait_for(scheduler.leading.wait(), 15)
                await ticks(scheduler, 1)
                assert not LeaderLock(other.db).try_acquire()
                # sessions added through another Database object while the scheduler runs
                second_start, doomed_start = starting_in(64), starting_in(66)
                _, found["second"] = add(other.sessions, "Second", second_start, "slack:C2")
                doomed, found["doomed"] = add(other.sessions, "Doomed", doomed_start, "slack:C3")
                await ticks(scheduler, 2)  # the leader has seen it (and may have set a wake-up for its reminder)
                other.sessions.cancel(doomed.id)
                await poll(lambda: sent(other.db, first_claim), 15, "the first reminder")
                await poll(lambda: sent(other.db, str(found["second"])), 15, "the second session's reminder")
                # past the cancelled session's reminder time, with several sync passes since the others were sent
                await poll(lambda: utcnow() > doomed_start - timedelta(seconds=58), 15, "the cancelled reminder's time")
                await ticks(scheduler)
            finally:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
            assert not scheduler.lock.held

        asyncio.run(main())

        [message] = sent(rt.db, first_claim)
        assert (message.key, message.platform, message.channel) == (first_claim + ":slack:C1", "slack", "C1")
        assert message.created_at >= first_start - timedelta(minutes=1)  # not before its time
        assert message.expires_at == first_start
        assert [m.channel for m in sent(rt.db, str(found["second"]))] == ["C2"]
        assert reminder_rows(rt.db, str(found["doomed"])) == []
        assert len([r for r in reminder_rows(rt.db) if r.platform != "-"]) == 2  # each reminder exactly once
        assert rt.outbox.taken([first_claim, str(found["second"])]) == {first_claim, found["second"]}
        freed = LeaderLock(other.db)
        assert freed.try_acquire()  # the lock was released on the way out
        freed.release()


class RecordingSessions(Sessions):
    """The real sessions service, noting when the leader calls its idempotent reminder pass."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.passes: list[datetime] = []

    def queue_due_reminders(self, now: datetime | None = None) -> int:
        self.passes.append(now or utcnow())
        return super().queue_due_reminders(now)


def test_the_leader_sends_reminders_through_queue_due_reminders_and_wakes_for_them(tmp_path: Path) -> None:
    """The production path is the tested ``Sessions.queue_due_reminders``; with passes 30 s apart, a reminder due
    between two passes is still sent at its time (a wake-up), by that same pass."""
    settings = make_settings(tmp_path / "data", RRR_SESSIONS__SYNC_SECONDS="30")
    with Runtime.open(settings) as rt:
        sessions = RecordingSessions(rt.db, rt.outbox, settings.sessions.reminders)
        scheduler = Scheduler(rt.db, sessions, rt.intros, settings.sessions, settings.intros)

        start = starting_in(68)  # due in about 8 s, long before the second periodic pass
        _, claim = add(rt.sessions, "Woken", start, "slack:C1")
        send_at = start - timedelta(minutes=1)

        async def main() -> None:
            task = asyncio.create_task(scheduler.run())
            try:
                await asyncio.wait_for(scheduler.leading.wait(), 15)
                await poll(lambda: sent(rt.db, claim), 30, "the reminder")
            finally:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task

        asyncio.run(main())
        [message] = sent(rt.db, claim)
    assert sessions.passes[0] < send_at, "the first pass came too late for this test"
    assert send_at <= message.created_at < send_at + timedelta(seconds=30)  # not left to the next periodic pass
    assert any(send_at <= now < send_at + timedelta(seconds=30) for now in sessions.passes)  # ... a wake-up sent it
    assert len(sessions.passes) == scheduler.clock.ticks  # every pass went through queue_due_reminders


def test_two_runtimes_in_one_process_each_lead_their_own_database(tmp_path: Path) -> None:
    """No module state: two schedulers of two databases run side by side, each sends its own reminders only."""
    assert not hasattr(bot.scheduling, "_ACTIVE")
    first_settings = make_settings(tmp_path / "one", RRR_SESSIONS__SYNC_SECONDS="0.5")
    second_settings = make_settings(tmp_path / "two", RRR_SESSIONS__SYNC_SECONDS="0.5")
    with Runtime.open(first_settings) as one, Runtime.open(second_settings) as two:
        _, one_claim = add(one.sessions, "One", starting_in(63), "slack:C1")
        _, two_claim = add(two.sessions, "Two", starting_in(64), "discord:42")

        async def main() -> None:
            schedulers = [one.scheduler(), two.scheduler()]
            tasks = [asyncio.create_task(s.run()) for s in schedulers]
            try:
                for scheduler in schedulers:
                    await asyncio.wait_for(scheduler.leading.wait(), 15)
                await poll(lambda: sent(one.db, one_claim) and sent(two.db, two_claim), 20, "both reminders")
                for scheduler in schedulers:
                    await ticks(scheduler)
            finally:
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with suppress(asyncio.CancelledError):
                        await task

        asyncio.run(main())
        assert [(m.platform, m.channel) for m in reminder_rows(one.db) if m.platform != "-"] == [("slack", "C1")]
        assert [(m.platform, m.channel) for m in reminder_rows(two.db) if m.platform != "-"] == [("discord", "42")]


def test_stopping_with_a_job_in_flight_logs_no_error(tmp_path: Path, postgres_url: str,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    settings = make_settings(tmp_path / "data", RRR_DATABASE__URL=postgres_url, RRR_SESSIONS__SYNC_SECONDS="0.2")
    caplog.set_level(logging.INFO, logger="apscheduler")
    with Runtime.open(settings) as rt:
        blocker_db = Database(postgres_url)

        def waiting_on_a_lock() -> bool:
            with blocker_db.engine.connect() as probe:
                return bool(probe.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'")).scalar())

        async def main() -> None:
            scheduler = rt.scheduler()
            task = asyncio.create_task(scheduler.run())
            blocker = blocker_db.engine.connect()
            try:
                await asyncio.wait_for(scheduler.leading.wait(), 15)
                # hold the sessions table, so the next sync pass is still running when the scheduler stops
                blocker.execute(text("LOCK TABLE peer_session IN ACCESS EXCLUSIVE MODE"))
                await poll(waiting_on_a_lock, 15, "a sync pass blocked on the table")
                task.cancel()
                await asyncio.sleep(0.5)
                assert not task.done()  # the stop waits for the job in hand ...
                blocker.rollback()  # ... which finishes once the table is free
                with suppress(asyncio.CancelledError):
                    await asyncio.wait_for(task, 15)
            finally:
                blocker.rollback()
                blocker.close()
                await asyncio.sleep(0.3)  # let the cancelled futures' callbacks run

        try:
            asyncio.run(main())
        finally:
            blocker_db.close()
    errors = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
    finished = [r.getMessage() for r in caplog.records if "executed successfully" in r.getMessage()]
    shut = [i for i, r in enumerate(caplog.records) if "has been shut down" in r.getMessage()]
    last_run = max(i for i, r in enumerate(caplog.records) if "executed successfully" in r.getMessage())
    assert finished and shut and last_run < shut[-1]  # the blocked pass ended before the scheduler stopped


# -- rrr-bot run scheduler: restarts --------------------------------------------------------------------------


def leave_old_jobs(db: Database, session_id: int, occurrence: str) -> list[str]:
    """The ``apscheduler_jobs`` table of a deployment upgraded from a version before #13, with its last rows: the
    sync job and a reminder job whose functions no longer exist. Returns their ids."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    table = SQLAlchemyJobStore(engine=db.engine, tablename=OLD_JOBS_TABLE).jobs_t
    table.create(db.engine, checkfirst=True)
    due = (utcnow() - timedelta(seconds=1)).timestamp()
    rows = [("sync", "sync_reminders", ()), ("intro_round", "run_intro_round", ()),
            (f"reminder:{session_id}:{occurrence}:1", "send_reminder", (session_id, occurrence, 1))]
    with db.engine.begin() as connection:
        for job_id, function, args in rows:
            state = {"version": 1, "id": job_id, "func": f"bot.scheduling:{function}", "args": args, "kwargs": {}}
            connection.execute(table.insert().values(id=job_id, next_run_time=due, job_state=pickle.dumps(state)))
    return [job_id for job_id, _, _ in rows]


def old_job_ids(db: Database) -> list[str]:
    with db.engine.connect() as connection:
        return sorted(connection.execute(text(f"SELECT id FROM {OLD_JOBS_TABLE}")).scalars())


def test_a_reminder_due_after_a_restart_is_sent_once_and_old_job_rows_are_ignored(tmp_path: Path, spawn) -> None:
    """The first process leads and stops before the reminder is due; the second sends it, once. The job table of
    an earlier version, with rows already due, is neither read (its functions are gone) nor changed.

    The session is added once the first process leads, so its start-up time does not eat into the margin.
    """
    data = tmp_path / "data"
    with Runtime.open(make_settings(data)) as rt:
        first = spawn("first", data)
        wait_until(lambda: LEADS in first.stderr(), 30, "the first process to lead")
        start = starting_in(60 + 8)
        info, claim = add(rt.sessions, "Restart", start, "slack:C1")
        old_jobs = leave_old_jobs(rt.db, info.id, info.schedule.first().key())
        first.wait_for_passes()  # it has seen the session, and the old rows, several times
        assert first.stop() == 0
        assert utcnow() < start - timedelta(minutes=1), "the first process stopped too late for this test"
        assert reminder_rows(rt.db) == []  # not sent early, nor by the old reminder job's row

        second = spawn("second", data)
        wait_until(lambda: sent(rt.db, claim), 30, "the reminder after the restart")
        second.wait_for_passes()
        assert second.stop() == 0

        rows = reminder_rows(rt.db)
        assert [(r.key, r.platform, r.channel) for r in rows] == [(claim, "-", None),
                                                                   (claim + ":slack:C1", "slack", "C1")]
        assert rows[1].created_at >= start - timedelta(minutes=1)
        assert rt.sessions.get(info.id).title == "Restart"
        assert old_job_ids(rt.db) == sorted(old_jobs)  # left in place, untouched
    assert LEADS in second.stderr()
    assert_clean(first.stderr())
    assert_clean(second.stderr())


def test_missed_reminders_are_sent_late_only_before_the_start(tmp_path: Path, spawn) -> None:
    data = tmp_path / "data"
    with Runtime.open(make_settings(data)) as rt:
        # the reminder time of both is already past; "late" has not started yet, "begun" will have by the start-up
        begun_start, late_start = starting_in(2), starting_in(40)
        begun, begun_claim = add(rt.sessions, "Begun", begun_start, "slack:C1")
        late, late_claim = add(rt.sessions, "Late", late_start, "slack:C2")
        wait_until(lambda: utcnow() > begun_start + timedelta(seconds=0.5), 10, "the first session to begin")

        process = spawn("scheduler", data)
        wait_until(lambda: sent(rt.db, late_claim), 30, "the late reminder")
        process.wait_for_passes()
        assert process.stop() == 0

        [message] = sent(rt.db, late_claim)
        assert (message.platform, message.channel, message.expires_at) == ("slack", "C2", late_start)
        assert "Reminder: Late starts in 1 minute" in reply_from_dict(message.payload).as_text()
        assert reminder_rows(rt.db, f"reminder:{begun.id}:") == []
        assert utcnow() < late_start  # the late one was sent before its session began
    assert_clean(process.stderr())


# -- two processes on PostgreSQL ------------------------------------------------------------------------------


def test_two_processes_on_postgresql_one_leads_and_the_other_takes_over(tmp_path: Path, spawn,
                                                                         postgres_url: str) -> None:
    with Runtime.open(make_settings(tmp_path / "main", RRR_DATABASE__URL=postgres_url)) as rt:
        env = {"RRR_DATABASE__URL": postgres_url}
        processes = [spawn("a", tmp_path / "a", **env), spawn("b", tmp_path / "b", **env)]
        leader = wait_until(lambda: next((p for p in processes if LEADS in p.stderr()), None), 30,
                            "one process to lead")
        standby = processes[1 - processes.index(leader)]
        # the other one tries for the lock right after printing this, then every 5 s
        wait_until(lambda: WAITS in standby.stderr(), 30, "the other process to start")

        soon_start, due_start = starting_in(62), starting_in(45)  # reminders due in 2 s, and already
        _, soon_claim = add(rt.sessions, "Soon", soon_start, "slack:C1")
        _, due_claim = add(rt.sessions, "Due", due_start, "slack:C2")
        wait_until(lambda: sent(rt.db, soon_claim) and sent(rt.db, due_claim), 15, "both reminders")
        assert LEADS not in standby.stderr()  # seconds after its first try, it is still standing by
        assert standby.popen.poll() is None

        leader.stop(signal.SIGKILL)  # a crash: PostgreSQL frees the advisory lock with the connection
        killed_at = time.monotonic()
        wait_until(lambda: LEADS in standby.stderr(), 15, "the standby to take over")
        assert time.monotonic() - killed_at < 15
        _, after_claim = add(rt.sessions, "After", starting_in(45), "slack:C3")
        wait_until(lambda: sent(rt.db, after_claim), 15, "the reminder queued by the new leader")
        standby.wait_for_passes()
        assert standby.stop() == 0

        for claim, channel in ((soon_claim, "C1"), (due_claim, "C2"), (after_claim, "C3")):
            assert [m.channel for m in sent(rt.db, claim)] == [channel], claim
        assert len([r for r in reminder_rows(rt.db) if r.platform != "-"]) == 3
        assert leader.stderr().count(LEADS) == 1 and standby.stderr().count(LEADS) == 1
    assert_clean(leader.stderr())
    assert_clean(standby.stderr())
