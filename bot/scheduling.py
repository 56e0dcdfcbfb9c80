"""The network's clock: session reminders, introduction follow-ups and the weekly pulse, on APScheduler 3.

Exactly one process runs the scheduler: the one holding the leader lock (a PostgreSQL advisory lock, or a file
lock beside an SQLite database). The others keep serving chat and may add or change sessions; the leader's
``sync`` job sees the change within ``[sessions] sync_seconds``.

Jobs live in APScheduler's ``SQLAlchemyJobStore`` on the bot's own database, so a reminder job survives a restart.
APScheduler persists a job as a module-level function and plain arguments, so the job functions below find the
services through :data:`_ACTIVE`, set by the leader while it runs (one leader per process at most, by the lock).

Misfire policy: a reminder job's grace time is its offset, so a reminder missed while no leader ran is sent late if
the session has not begun and skipped (APScheduler logs "was missed by") once it has; when several reminders of an
occurrence are due together only the latest is sent. Every reminder claims its ``(session, occurrence, offset)``
row in the outbox first, in the same transaction as its messages: queued at most once, whatever restarts.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import text

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED

from .config import IntroSettings, SessionSettings
from .errors import UserError
from .metrics import Metrics
from .services import Introductions
from .services.insights import Insights
from .services.insights_messages import queue_digest
from .services.pulse import queue_pulse
from .services.sessions import Sessions
from .store import Database
from .store.models import utcnow

log = logging.getLogger(__name__)

JOBS_TABLE = "apscheduler_jobs"
LOCK_KEY = 0x7272_7262  # "rrrb": the advisory lock every rrr-bot process on one PostgreSQL database competes for
STOP_GRACE = 10.0  # seconds a stop waits for the jobs in hand
HORIZON = timedelta(hours=2)  # reminder jobs are created this far ahead, beyond the longest offset
ROUNDS_FROM = datetime(2026, 1, 5, 10, 0, tzinfo=timezone.utc)  # a Monday: rounds fall on the same days whatever
# the restarts (an interval from a fixed anchor)


class LeaderLock:
    """Held by at most one process per database: ``pg_try_advisory_lock`` on PostgreSQL, ``flock`` on SQLite."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._conn = None
        self._fd: int | None = None
        self._guard = threading.Lock()  # checks and release may run in two worker threads at once

    @property
    def held(self) -> bool:
        return self._conn is not None or self._fd is not None

    def try_acquire(self) -> bool:
        """Take the lock if it is free; never blocks."""
        with self._guard:
            return self._try_acquire()

    def _try_acquire(self) -> bool:
        if self.held:
            return True
        if self.db.dialect == "postgresql":
            conn = self.db.engine.connect()
            try:
                got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}).scalar())
                conn.commit()
            except Exception:
                conn.close()
                raise
            if got:
                self._conn = conn
            else:
                conn.close()
            return got
        import fcntl

        fd = os.open(self.lock_path(), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def still_held(self) -> bool:
        """False when the lock was lost (PostgreSQL restarted or the connection broke: the server freed it)."""
        with self._guard:
            return self._still_held()

    def _still_held(self) -> bool:
        if self._conn is None:
            return self._fd is not None
        try:
            held = self._conn.execute(text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
                "AND granted AND ((classid::bigint << 32) | objid::bigint) = :k"), {"k": LOCK_KEY}).scalar()
            self._conn.commit()
            return bool(held)
        except Exception as exc:  # the connection is gone, and the lock with it
            log.warning("lost the scheduler lock: %s", exc)
            self._drop_connection()
            return False

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()
                conn.close()
            except Exception:  # noqa: BLE001 - already broken
                pass

    def release(self) -> None:
        with self._guard:
            self._release()

    def _release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
                self._conn.commit()
            finally:
                self._drop_connection()
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    def lock_path(self) -> Path:
        database = self.db.engine.url.database or ""
        if not database or database == ":memory:":
            raise RuntimeError("an in-memory SQLite database has no file to lock")
        return Path(database).with_name(Path(database).name + ".scheduler.lock")


@dataclass
class JobContext:
    """What the job functions work with, while this process is the leader."""

    sessions: Sessions
    intros: Introductions
    settings: SessionSettings
    scheduler: object  # the running AsyncIOScheduler
    insights: Insights | None = None


#: The leader's services, for APScheduler's module-level job functions (None when this process is not the leader).
_ACTIVE: JobContext | None = None


class Scheduler:
    """Waits for the leader lock, then runs the jobs until cancelled; ``await scheduler.run()``."""

    def __init__(self, db: Database, sessions: Sessions, intros: Introductions, settings: SessionSettings,
                 intro_settings: IntroSettings | None = None, *, retry_seconds: float = 5.0,
                 metrics: Metrics | None = None, insights: Insights | None = None) -> None:
        self.db = db
        self.sessions = sessions
        self.intros = intros
        self.settings = settings
        self.intro_settings = intro_settings or IntroSettings()
        self.metrics = metrics
        self.insights = insights
        self._executor = None  # the job thread pool of the current lead
        self.retry_seconds = retry_seconds
        self.lock = LeaderLock(db)
        self.leading = asyncio.Event()

    async def run(self) -> None:
        """Stand by until the lock is free, then lead until cancelled or until the lock is lost (then stand by
        again); the lock is released on the way out."""
        while True:
            while not await self._try_acquire():
                await asyncio.sleep(self.retry_seconds)
            await self._lead()
            log.warning("no longer running the scheduler; standing by")

    async def _try_acquire(self) -> bool:
        try:
            return await asyncio.to_thread(self.lock.try_acquire)
        except Exception as exc:  # the database is down: keep standing by
            log.warning("cannot reach the database for the scheduler lock: %s", exc)
            return False

    async def _lead(self) -> None:
        global _ACTIVE
        log.info("this process runs the scheduler")
        scheduler = self._build()
        _ACTIVE = JobContext(self.sessions, self.intros, self.settings, scheduler, self.insights)
        if self.metrics is not None:
            self.metrics.scheduler_leader.set(1)
            scheduler.add_listener(self._observe, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        try:
            scheduler.start()
            if not self.intro_settings.automatic and scheduler.get_job("intro_round"):
                scheduler.remove_job("intro_round")  # stored by a run when rounds were still automatic
            self.leading.set()
            while await asyncio.to_thread(self.lock.still_held):
                await asyncio.sleep(self.retry_seconds)
        finally:
            self.leading.clear()
            if self.metrics is not None:
                self.metrics.scheduler_leader.set(0)
            if scheduler.running:
                scheduler.pause()  # no new job starts; the ones running finish before the lock is let go
            try:
                await asyncio.wait_for(asyncio.to_thread(self._executor.shutdown, True), STOP_GRACE)
            except (asyncio.CancelledError, asyncio.TimeoutError):  # the claims still keep the work single
                log.warning("stopped before the running jobs finished")
            _ACTIVE = None
            scheduler.shutdown(wait=False)
            try:
                await asyncio.to_thread(self.lock.release)
            except Exception as exc:  # noqa: BLE001 - a broken connection has freed the lock already
                log.warning("releasing the scheduler lock: %s", exc)

    def _observe(self, event) -> None:
        """Scheduler lag: how long after its planned time the last job finished."""
        if self.metrics is not None and event.scheduled_run_time is not None:
            self.metrics.scheduler_lag.set(max((utcnow() - event.scheduled_run_time).total_seconds(), 0.0))

    def _build(self):
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
        from apscheduler.schedulers.asyncio import AsyncIOScheduler
        from apscheduler.triggers.cron import CronTrigger

        # Jobs run in a pool of our own, so a stop can wait for them (the asyncio executor would cancel them).
        self._executor = ThreadPoolExecutor(max_workers=4)
        scheduler = AsyncIOScheduler(jobstores={"default": SQLAlchemyJobStore(engine=self.db.engine,
                                                                              tablename=JOBS_TABLE)},
                                     executors={"default": self._executor},
                                     job_defaults={"coalesce": True, "max_instances": 1}, timezone=timezone.utc)
        hour, minute = (int(x) for x in self.settings.pulse_time.split(":"))
        scheduler.add_job(f"{__name__}:sync_reminders", "interval", seconds=self.settings.sync_seconds,
                          id="sync", replace_existing=True, next_run_time=utcnow(), misfire_grace_time=None)
        scheduler.add_job(f"{__name__}:queue_followups", "interval", minutes=1, id="followups",
                          replace_existing=True, next_run_time=utcnow(), misfire_grace_time=None)
        scheduler.add_job(f"{__name__}:send_pulse", CronTrigger(day_of_week=self.settings.pulse_day, hour=hour,
                                                                 minute=minute, timezone=self.settings.pulse_timezone),
                          id="pulse", replace_existing=True, misfire_grace_time=3600)
        if self.intro_settings.automatic:
            scheduler.add_job(f"{__name__}:run_intro_round", "interval", weeks=self.intro_settings.every_weeks,
                              start_date=ROUNDS_FROM, id="intro_round", replace_existing=True,
                              misfire_grace_time=24 * 3600)
        return scheduler


# -- job functions (module level, plain arguments: APScheduler stores them by reference) ----------------------------


def sync_reminders() -> int:
    """Make a job for every reminder of the coming hours; drop the jobs of cancelled, skipped or moved sessions."""
    ctx = _ACTIVE
    if ctx is None:
        return 0
    now = utcnow()
    longest = timedelta(minutes=max(ctx.settings.reminders, default=0))
    wanted = {}
    for send_at, session_id, occurrence, offset in ctx.sessions.reminder_times(now, HORIZON + longest):
        wanted[f"reminder:{session_id}:{occurrence}:{offset}"] = (send_at, session_id, occurrence, offset)
    taken = ctx.sessions.outbox.taken(list(wanted))
    scheduler = ctx.scheduler
    existing = {job.id for job in scheduler.get_jobs() if job.id.startswith("reminder:")}  # type: ignore[attr-defined]
    for job_id in existing - set(wanted):
        scheduler.remove_job(job_id)  # type: ignore[attr-defined]
    added = 0
    for job_id, (send_at, session_id, occurrence, offset) in wanted.items():
        if job_id in existing or job_id in taken:
            continue
        scheduler.add_job(f"{__name__}:send_reminder", "date", run_date=send_at, id=job_id,  # type: ignore
                          args=[session_id, occurrence, offset], misfire_grace_time=offset * 60,
                          replace_existing=True)
        added += 1
    return added


def send_reminder(session_id: int, occurrence: str, offset: int) -> int:
    """Queue one reminder, unless its session was cancelled, skipped or moved, or a later reminder supersedes it."""
    ctx = _ACTIVE
    if ctx is None:
        return 0
    now = utcnow()
    for due in ctx.sessions.due_reminders(now):
        if due.session.id == session_id and due.occurrence.key() == occurrence and (
                offset == due.offset or offset in due.superseded):
            return ctx.sessions.queue_reminder(due, now)  # the latest due reminder; earlier ones are superseded
    log.info("reminder %s:%s:%s not sent: the occurrence was cancelled, skipped, moved or has begun",
             session_id, occurrence, offset)
    return 0


def queue_followups() -> int:
    """Ask "Did you meet?" where an introduction's follow-up is due."""
    ctx = _ACTIVE
    return 0 if ctx is None else ctx.intros.queue_followups()


def run_intro_round() -> int:
    """Make this period's round of introductions (once per ISO week, whoever leads); returns the groups made."""
    ctx = _ACTIVE
    if ctx is None:
        return 0
    now = utcnow()
    year, week, _ = now.isocalendar()
    if not ctx.sessions.outbox.take(f"intro-round:{year}-W{week:02d}", now):
        log.info("this week's round of introductions was made already")
        return 0
    try:
        groups, queued = ctx.intros.run(now)
    except UserError as exc:
        log.info("no round of introductions this time: %s", exc)
        return 0
    log.info("round of introductions: %d groups, %d messages queued", len(groups), queued)
    return len(groups)


def send_pulse() -> int:
    """Queue the weekly network pulse, and the insights digest with its charts, to the coordinators' channels."""
    ctx = _ACTIVE
    if ctx is None or not ctx.settings.pulse_channels:
        return 0
    return weekly_pulse(ctx.sessions, ctx.intros.knowledge, ctx.insights, ctx.settings.pulse_channels, utcnow())


def weekly_pulse(sessions: Sessions, knowledge, insights: Insights | None, channels: Mapping[str, str],
                 now: datetime) -> int:
    """The pulse (new solutions, unanswered questions, next sessions) and the insights digest with its charts,
    each queued once per ISO week to every channel; returns the messages queued."""
    queued = queue_pulse(sessions, knowledge, channels, now)
    if insights is not None:
        queued += queue_digest(insights, sessions.outbox, channels, now)
    return queued


__all__ = ["JOBS_TABLE", "JobContext", "LeaderLock", "Scheduler"]
