"""A placeholder for a slow answer, shared by the Slack and Discord adapters.

An answer that is not ready ``delay`` seconds after the message arrived shows the core's placeholder ("Looking
through the network's cases…"), at once when the bot's backlog already says it will take longer, and one the core
says will be late (its questions' queue is full) shows the core's notice at once; either way the answer then
replaces that message (Slack ``chat.update``, a Discord message edit), so the asker sees one message, first saying
the answer is coming, then the answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from bot import Reply
from bot.commands import Notice
from bot.core import PLACEHOLDER_REPLY

log = logging.getLogger(__name__)
Handle = TypeVar("Handle")


class Placeholder(Generic[Handle]):
    """One message's placeholder: ``show(reply)`` posts it and returns what :attr:`handle` keeps (a Slack ``ts``,
    a Discord message), or None when it could not be posted. The clock starts when this object is made.

    ``expected`` is how long the bot expects the answer to wait (:meth:`bot.Bot.expected_wait`): when that alone
    passes ``delay``, the placeholder is shown at once (in a burst, the answers come long after the delay)."""

    def __init__(self, show: Callable[[Reply], Awaitable[Handle | None]], delay: float, expected: float = 0.0) -> None:
        self._show = show
        self.delay = 0.0 if expected > delay else delay
        self.handle: Handle | None = None
        self._started = time.monotonic()
        self._shown = False
        self._lock = asyncio.Lock()

    async def notice(self, reply: Reply) -> None:
        """Show ``reply`` now, unless a placeholder is already shown (it says the same: the answer is coming)."""
        async with self._lock:
            if self._shown:
                return
            self._shown = True
            try:
                self.handle = await self._show(reply)
            except Exception:  # the answer still comes, as a message of its own
                log.exception("could not show a placeholder")

    async def answer(self, work: Callable[[Notice], Awaitable[list[Reply]]]) -> list[Reply]:
        """``await work(notice)``, showing the placeholder if it is not done within the delay."""
        task = asyncio.ensure_future(work(self.notice))
        try:
            left = self.delay - (time.monotonic() - self._started)
            done, _ = await asyncio.wait({task}, timeout=max(left, 0.0))
            if not done:
                await self.notice(Reply.text(PLACEHOLDER_REPLY))
            return await task
        finally:
            task.cancel()  # nothing when it is done; else the answer is no longer awaited


def replaceable(reply: Reply) -> bool:
    """Whether ``reply`` can take the placeholder's place: a public message in the same conversation."""
    return not reply.ephemeral and not reply.channel
