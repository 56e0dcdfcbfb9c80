"""The scheduler's standing work: the weekly message to the coordinators (the pulse and the insights digest, once
a week), and the automatic rounds of introductions, which follow the settings."""

from __future__ import annotations

from datetime import timedelta

from bot import Runtime
from bot.scheduling import weekly_pulse
from bot.store.models import utcnow


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


def test_automatic_rounds_follow_the_setting_across_restarts(tmp_path) -> None:
    import asyncio

    from conftest import make_settings
    from sqlalchemy import text

    def jobs_after_leading(settings) -> list[str]:
        with Runtime.open(settings) as rt:
            async def lead() -> None:
                scheduler = rt.scheduler()
                task = asyncio.ensure_future(scheduler.run())
                await asyncio.wait_for(scheduler.leading.wait(), 20)
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass

            asyncio.run(lead())
            with rt.db.engine.connect() as conn:
                return sorted(r[0] for r in conn.execute(text("SELECT id FROM apscheduler_jobs")))

    data = tmp_path / "data"
    assert jobs_after_leading(make_settings(data)) == ["followups", "intro_round", "pulse", "sync"]
    # turned off later: the stored job of the earlier runs is removed, not left to fire
    assert jobs_after_leading(make_settings(data, RRR_INTROS__AUTOMATIC="false")) == ["followups", "pulse", "sync"]
