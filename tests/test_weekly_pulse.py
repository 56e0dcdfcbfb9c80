"""The scheduler's weekly message to the coordinators: the pulse and the insights digest, once a week."""

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
