"""Delivery of the stored outbox, shared by the platform adapters: claim due messages, send, acknowledge."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

from bot import Bot
from bot.platforms import fit_reply
from bot.services import Pending

log = logging.getLogger(__name__)


async def deliver(bot: Bot, platform: str, send: Callable[[Pending], Awaitable[None]]) -> int:
    """Send every due message of ``platform`` with ``send`` (as several messages when it is longer than the platform
    declares it takes); a failure is kept for a later retry. Returns the messages sent."""
    sent = 0
    limit = bot.capabilities(platform).max_message_chars
    for item in await asyncio.to_thread(bot.outbox.claim, platform):
        try:
            for part in fit_reply(item.reply, limit):
                await send(replace(item, reply=part))
        except Exception as exc:  # the platform is down or refused: keep the message and try again later
            log.warning("outbox message %s not delivered: %s", item.id, exc)
            await asyncio.to_thread(bot.outbox.failed, item.id, str(exc))
            continue
        await asyncio.to_thread(bot.outbox.sent, item.id)
        sent += 1
    return sent


async def pump(interval: float, deliver_once: Callable[[], Awaitable[int]]) -> None:
    """Every ``interval`` seconds, deliver what is due; runs until cancelled (a failed round is logged, not fatal)."""
    while True:
        await asyncio.sleep(interval)
        try:
            await deliver_once()
        except Exception:
            log.exception("outbox delivery failed; trying again in %s s", interval)
