"""The scheduler's standing work: the weekly message to the coordinators (the pulse and the insights digest, once
a week), and the automatic rounds of introductions, which follow the settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import col, select

from bot import Runtime
from bot.config import IntroSettings, SessionSettings
from bot.scheduling import ROUNDS_FROM, Clock, weekly_pulse
from bot.store.models import OutboxMessage, utcnow


def test_weekly_pulse_carries_the_digest_charts_once_a_week(seeded: Runtime) -> None:
    seeded.knowledge.ask("zebra crossings for penguins on the moon", asker=("slack", "U1"))
    now = utcnow()
    channels = {"slack": "C-COORD", "discord": "42"}
    queued = weekly_pulse(seeded.sessions, seeded.knowledge, seeded.bot.insights, channels, now)
    assert queued == 4  # pulse + digest, on each platform
    assert weekly_pulse(seeded.sessions, seeded.knowledge, seeded.bot.insights, channels, now) == 0
    messages = seeded.outbox.claim("slack", limit=10, now=now + timedelta(seconds=1))
    texts = [m.reply.as_text() for m in messages]
    assert all(m.channel == "C-COORD" for m in messages) and len(messages) == 2
    assert any("Network pulse" in t and "zebra crossings" in t for t in texts)
    images = [b for m in messages for b in m.reply.blocks if type(b).__name__ == "Image"]
    assert images and all(image.data.startswith(b"\x89PNG") for image in images)
    next_week = now + timedelta(days=7)
    assert weekly_pulse(seeded.sessions, seeded.knowledge, seeded.bot.insights, channels, next_week) == 4


def test_the_leader_tick_sends_the_pulse_at_its_time_once_and_within_its_grace(runtime: Runtime) -> None:
    """Monday 09:00 in Madrid: not before, once at or after (whichever process ticks), not more than an hour late."""
    settings = SessionSettings(pulse_channels={"slack": "C-COORD"}, pulse_day="mon", pulse_time="09:00",
                               pulse_timezone="Europe/Madrid")
    clock = Clock(runtime.sessions, runtime.intros, settings, IntroSettings(automatic=False))
    other = Clock(runtime.sessions, runtime.intros, settings, IntroSettings(automatic=False))  # another leader
    moment = datetime(2026, 3, 23, 8, 0, tzinfo=UTC)  # Monday 09:00 in Madrid (CET)
    assert clock.next_wake(moment - timedelta(seconds=3), timedelta(seconds=5)) == moment
    assert clock.tick(moment - timedelta(seconds=1)).pulse == 0
    assert clock.tick(moment).pulse == 1
    assert clock.tick(moment + timedelta(minutes=5)).pulse == 0
    assert other.tick(moment + timedelta(minutes=10)).pulse == 0  # claimed for the week
    # a week later summer time has begun: 09:00 in Madrid is 07:00 UTC; a leader starting 70 minutes late skips it
    assert clock.pulse_moment(moment + timedelta(days=7)) == moment + timedelta(days=7, hours=-1)
    assert other.tick(moment + timedelta(days=7, minutes=10)).pulse == 0
    assert other.tick(moment + timedelta(days=14, minutes=-10)).pulse == 1  # 50 minutes late: sent
    with runtime.db.session() as session:
        keys = list(session.exec(select(OutboxMessage.key).where(OutboxMessage.platform != "-")
                                 .order_by(col(OutboxMessage.id))))
    assert keys == ["pulse:2026-W13:slack", "pulse:2026-W15:slack"]


def test_automatic_rounds_run_every_other_week_once_and_follow_the_setting(runtime: Runtime) -> None:
    """Rounds fall every ``every_weeks`` weeks from ROUNDS_FROM, within a day of their time, once per week whoever
    ticks; with ``automatic = false`` none is made. (No member is linked here: the claim shows the round ran.)"""
    settings = SessionSettings()
    manual = Clock(runtime.sessions, runtime.intros, settings, IntroSettings(automatic=False))
    clock = Clock(runtime.sessions, runtime.intros, settings, IntroSettings(every_weeks=2))
    other = Clock(runtime.sessions, runtime.intros, settings, IntroSettings(every_weeks=2))

    def rounds() -> list[str]:
        with runtime.db.session() as session:
            return sorted(session.exec(select(OutboxMessage.key).where(
                col(OutboxMessage.key).startswith("intro-round:"))).all())

    later = ROUNDS_FROM + timedelta(weeks=4, hours=1)
    manual.tick(later)
    assert rounds() == []
    clock.tick(ROUNDS_FROM + timedelta(weeks=3, hours=1))  # an off week
    assert rounds() == []
    due = ROUNDS_FROM + timedelta(weeks=4)
    assert clock.next_wake(due - timedelta(seconds=2), timedelta(seconds=5)) == due
    clock.tick(later)
    other.tick(later + timedelta(hours=2))
    assert rounds() == ["intro-round:2026-W06"]  # ROUNDS_FROM is in week 2
    other.tick(ROUNDS_FROM + timedelta(weeks=6, hours=25))  # more than a day late: skipped
    assert len(rounds()) == 1
