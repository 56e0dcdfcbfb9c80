"""Cards redrawn in place: a click (an RSVP) whose answer is a ``replace`` reply *edits* the message holding the
button (``interaction.response.edit_message``, or the original response after a deferred update when the core is
slow). Clicks on one message are answered one at a time, so the card ends with the counts of the latest click.
"""

from __future__ import annotations

import asyncio
import logging
import weakref

import discord

from bot import Action, Bot, Reply

from .files import edit_fields
from .render import render

log = logging.getLogger(__name__)
#: How long a click that edits its message may wait for the core before the interaction is deferred instead
#: (Discord wants the first answer within 3 seconds).
EDIT_ANSWER_SECONDS = 2.0


class Cards:
    """The core's answers to clicks that may redraw the clicked message."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.answer_seconds = EDIT_ANSWER_SECONDS
        #: One lock per message a click redraws, so concurrent RSVPs are drawn in the order they were counted.
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    async def click(self, interaction: discord.Interaction, event: Action) -> list[Reply]:
        """The core's answer to ``event``: its ``replace`` reply edits the clicked message; the other replies are
        returned, to be sent as follow-ups (the interaction is acknowledged by then)."""
        key = interaction.message.id if interaction.message is not None else 0
        lock = self._locks.get(key) or self._locks.setdefault(key, asyncio.Lock())
        if lock.locked():  # another click is redrawing this card: acknowledge now, redraw when our turn comes
            await interaction.response.defer()
        rest = []
        async with lock:  # the redrawn card carries the counts of the latest click
            task = asyncio.ensure_future(self.bot.handle_action(event))
            done, _ = await asyncio.wait({task}, timeout=self.answer_seconds)
            if not done and not interaction.response.is_done():  # a slow core: acknowledge, edit when it answers
                await interaction.response.defer()
            for reply in await task:
                if not (reply.replace and not reply.channel):
                    rest.append(reply)
                    continue
                edit = edit_fields(render(reply))
                try:
                    if interaction.response.is_done():
                        await interaction.edit_original_response(**edit)
                    else:
                        await interaction.response.edit_message(**edit)
                except discord.HTTPException as exc:
                    log.error("cannot redraw the message of a %s click: %s", event.action_id, exc)
                    rest.append(Reply(reply.blocks, ephemeral=True))  # the clicker still sees the new state
        if not interaction.response.is_done():
            await interaction.response.defer()  # nothing to edit: a deferred update, the answers follow
        return rest
