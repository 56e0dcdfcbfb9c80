"""The network's clock: session reminders, introduction follow-ups, the weekly pulse and the rounds of
introductions, on APScheduler 3.

Exactly one process runs the scheduler: the one holding the leader lock (a PostgreSQL advisory lock, or a file
lock beside an SQLite database). The others keep serving chat and may add or change sessions.

The leader runs one periodic job, :meth:`Clock.tick`, every ``[sessions] sync_seconds``. A tick is one idempotent
pass over "due and not yet claimed": :meth:`Sessions.queue_due_reminders`, the introductions' follow-ups, the weekly
pulse and the automatic round of introductions. Every piece of work claims its row in the outbox first (a reminder
its ``(session, occurrence, offset)``, the pulse and a round their ISO week), in the same transaction as its
messages: queued at most once, whatever restarts or changes of leader. The sessions table is the only schedule;
nothing about a reminder is stored anywhere else until it is claimed. When the next reminder (or pulse, or round)
falls before the next tick, a one-off ``wake`` job runs the tick at that moment, so reminders go out on time.

Jobs live in APScheduler's memory store and are bound methods of this process's :class:`Scheduler` (no module
state). The ``apscheduler_jobs`` table written by earlier versions is no longer read or written; its stale rows
are harmless and the table is left in place.

Misfire policy: a reminder missed while no leader ran is sent late if its session has not begun and never once
it has; when several reminders of an occurrence are due together only the latest is sent, the others are claimed
(see :meth:`Sessions.due_reminders`). A pulse missed while no leader ran is sent up to :data:`PULSE_GRACE` late,
a round of introductions up to :data:`ROUND_GRACE` late (the grace times of the persisted jobs of earlier versions).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, text

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED

from .config import IntroSettings, SessionSettings
from .errors import UserError
from .metrics import Metrics
from .services import Introductions, StoredOutbox
from .services.insights import Insights
from .services.insights_messages import queue_digest
from .services.pulse import queue_pulse
from .sessions.service import Sessions
from .store import Database
from .store.models import utcnow

log = logging.getLogger(__name__)

LOCK_KEY = 0x7272_7262  # "rrrb": the advisory lock every rrr-bot process on one PostgreSQL database competes for
STOP_GRACE = 10.0  # seconds a stop waits for the jobs in hand
PULSE_GRACE = timedelta(hours=1)  # a pulse missed while no leader ran is sent this late at most
ROUND_GRACE = timedelta(hours=24)  # and a round of introductions made this late at most
WEEK = timedelta(days=7)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ROUNDS_FROM = datetime(2026, 1, 5, 10, 0, tzinfo=timezone.utc)  # a Monday: rounds fall on the same days whatever
# the restarts (an interval from a fixed anchor)


class LeaderLock:
    """Held by at most one process per database: ``pg_try_advisory_lock`` on PostgreSQL, ``flock`` on SQLite."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._conn: Connection | None = None
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


@dataclass(frozen=True)
class TickReport:
    """What one tick queued: reminder and follow-up messages, pulse messages, groups of a round."""

    reminders: int = 0
    followups: int = 0
    pulse: int = 0
    groups: int = 0


class Clock:
    """The leader's standing work as one idempotent pass, :meth:`tick`; safe to run from several processes at once
    (the outbox claims keep each piece of work single), though only the leader does."""

    def __init__(self, sessions: Sessions, intros: Introductions, settings: SessionSettings,
                 intro_settings: IntroSettings | None = None, insights: Insights | None = None) -> None:
        self.sessions = sessions
        self.intros = intros
        self.settings = settings
        self.intro_settings = intro_settings or IntroSettings()
        self.insights = insights
        self.ticks = 0  # passes made by this clock
        self.last_tick: datetime | None = None
        self._pulse_tried: datetime | None = None  # the moments already handled here: no query per tick for them
        self._round_tried: datetime | None = None

    def tick(self, now: datetime | None = None) -> TickReport:
        """Queue what is due at ``now``: reminders first, then follow-ups, the weekly pulse and a round."""
        now = now or utcnow()
        report = TickReport(reminders=self.sessions.queue_due_reminders(now),
                            followups=self.intros.queue_followups(now),
                            pulse=self._pulse(now), groups=self._round(now))
        self.ticks += 1
        self.last_tick = now
        log.debug("scheduler tick %d at %s", self.ticks, now.isoformat())
        if report != TickReport():
            log.info("scheduler tick queued %d reminder and %d follow-up message(s), %d pulse message(s), "
                     "%d group(s) of introductions", report.reminders, report.followups, report.pulse, report.groups)
        return report

    def next_wake(self, now: datetime, within: timedelta) -> datetime | None:
        """The first moment in ``(now, now + within]`` with work due (a reminder, the pulse, a round), if any."""
        moments = [send_at for send_at, *_ in self.sessions.reminder_times(now, within) if send_at > now]
        if self.settings.pulse_channels:
            moments.append(self.pulse_moment(now) + WEEK)
        if self.intro_settings.automatic:
            moments.append(max(self.round_moment(now) + self._round_period(), ROUNDS_FROM))
        soon = [m for m in moments if now < m <= now + within]
        return min(soon, default=None)

    def pulse_moment(self, now: datetime) -> datetime:
        """The latest ``pulse_day`` ``pulse_time`` in ``pulse_timezone`` at or before ``now`` (UTC)."""
        zone = ZoneInfo(self.settings.pulse_timezone)
        local = now.astimezone(zone)
        hour, minute = (int(x) for x in self.settings.pulse_time.split(":"))
        day = local.date() - timedelta(days=(local.weekday() - DAYS.index(self.settings.pulse_day)) % 7)
        moment = datetime.combine(day, time(hour, minute), tzinfo=zone)
        if moment > now:
            moment = datetime.combine(day - WEEK, time(hour, minute), tzinfo=zone)
        return moment.astimezone(timezone.utc)

    def round_moment(self, now: datetime) -> datetime:
        """The latest automatic round's time at or before ``now``: every ``every_weeks`` weeks from ROUNDS_FROM."""
        period = self._round_period()
        return ROUNDS_FROM + period * ((now - ROUNDS_FROM) // period)

    def _round_period(self) -> timedelta:
        return WEEK * self.intro_settings.every_weeks

    def _pulse(self, now: datetime) -> int:
        moment = self.pulse_moment(now)
        if not self.settings.pulse_channels or now - moment >= PULSE_GRACE or moment == self._pulse_tried:
            return 0
        self._pulse_tried = moment  # one try per moment and process, as the cron job of earlier versions
        # dated at its moment: the week it names is the moment's, however late the tick
        return weekly_pulse(self.sessions, self.intros.knowledge, self.insights, self.settings.pulse_channels, moment)

    def _round(self, now: datetime) -> int:
        if not self.intro_settings.automatic or now < ROUNDS_FROM:
            return 0
        moment = self.round_moment(now)
        if now - moment >= ROUND_GRACE or moment == self._round_tried:
            return 0
        self._round_tried = moment
        return run_intro_round(self.sessions.outbox, self.intros, moment, now)


class Scheduler:
    """Waits for the leader lock, then ticks the :class:`Clock` until cancelled; ``await scheduler.run()``."""

    def __init__(self, db: Database, sessions: Sessions, intros: Introductions, settings: SessionSettings,
                 intro_settings: IntroSettings | None = None, *, retry_seconds: float = 5.0,
                 metrics: Metrics | None = None, insights: Insights | None = None) -> None:
        self.db = db
        self.settings = settings
        self.clock = Clock(sessions, intros, settings, intro_settings, insights)
        self.metrics = metrics
        self.retry_seconds = retry_seconds
        self.lock = LeaderLock(db)
        self.leading = asyncio.Event()
        self._scheduler = None  # the AsyncIOScheduler of the current lead
        self._one_tick = threading.Lock()  # the periodic tick and a wake-up never run side by side

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
        log.info("this process runs the scheduler")
        scheduler, executor = self._build()
        self._scheduler = scheduler
        if self.metrics is not None:
            self.metrics.scheduler_leader.set(1)
            scheduler.add_listener(self._observe, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        try:
            scheduler.start()
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
                await asyncio.wait_for(asyncio.to_thread(executor.shutdown, True), STOP_GRACE)
            except (TimeoutError, asyncio.CancelledError):  # the claims still keep the work single
                log.warning("stopped before the running jobs finished")
            scheduler.shutdown(wait=False)
            self._scheduler = None
            try:
                await asyncio.to_thread(self.lock.release)
            except Exception as exc:  # noqa: BLE001 - a broken connection has freed the lock already
                log.warning("releasing the scheduler lock: %s", exc)

    def _tick(self) -> None:
        """The job: one pass of the clock, then a wake-up before the next pass if a reminder falls between."""
        with self._one_tick:
            now = utcnow()
            self.clock.tick(now)
            # from the pass's own time: a reminder that fell due while the pass ran is woken for at once
            wake = self.clock.next_wake(now, timedelta(seconds=self.settings.sync_seconds))
            scheduler = self._scheduler
            if wake is not None and scheduler is not None:
                scheduler.add_job(self._tick, "date", run_date=wake, id="wake", replace_existing=True,
                                  max_instances=2, misfire_grace_time=None)  # 2: it may be re-added while it runs

    def _observe(self, event) -> None:
        """Scheduler lag: how long after its planned time the last job finished."""
        if self.metrics is not None and event.scheduled_run_time is not None:
            self.metrics.scheduler_lag.set(max((utcnow() - event.scheduled_run_time).total_seconds(), 0.0))

    def _build(self):
        """A scheduler with the tick job, and the thread pool its jobs run in."""
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.jobstores.memory import MemoryJobStore
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        # Jobs run in a pool of our own, so a stop can wait for them (the asyncio executor would cancel them).
        executor = ThreadPoolExecutor(max_workers=2)
        scheduler = AsyncIOScheduler(jobstores={"default": MemoryJobStore()}, executors={"default": executor},
                                     job_defaults={"coalesce": True, "max_instances": 1}, timezone=timezone.utc)
        scheduler.add_job(self._tick, "interval", seconds=self.settings.sync_seconds, id="tick",
                          next_run_time=utcnow(), misfire_grace_time=None)
        return scheduler, executor


def run_intro_round(outbox: StoredOutbox, intros: Introductions, moment: datetime, now: datetime) -> int:
    """Make the round of introductions due at ``moment`` (once per ISO week, whoever leads); returns the groups."""
    year, week, _ = moment.isocalendar()
    if not outbox.take(f"intro-round:{year}-W{week:02d}", now):
        log.info("this week's round of introductions was made already")
        return 0
    try:
        groups, queued = intros.run(now)
    except UserError as exc:
        log.info("no round of introductions this time: %s", exc)
        return 0
    log.info("round of introductions: %d groups, %d messages queued", len(groups), queued)
    return len(groups)


def weekly_pulse(sessions: Sessions, knowledge, insights: Insights | None, channels: Mapping[str, str],
                 now: datetime) -> int:
    """The pulse (new solutions, unanswered questions, next sessions) and the insights digest with its charts,
    each queued once per ISO week to every channel; returns the messages queued."""
    queued = queue_pulse(sessions, knowledge, channels, now)
    if insights is not None:
        queued += queue_digest(insights, sessions.outbox, channels, now)
    return queued


__all__ = ["Clock", "LeaderLock", "Scheduler", "TickReport", "weekly_pulse"]
