"""Sending the core's replies to Discord: interaction follow-ups (private when the command is), posts in the channel
the core names (the network channel), and outbox deliveries to a channel or as DMs. Messages are sent with mentions
disabled, except the users the core means; pictures are attached (:mod:`.files`)."""

from __future__ import annotations

import logging

import discord

from bot import Reply
from bot.messages import Actions, Button
from bot.services import Pending

from .files import edit_fields, send_rendered
from .render import render
from bot.actions import SHARE_ANSWER

log = logging.getLogger(__name__)


class Poster:
    """Sends replies through ``client``."""

    def __init__(self, client: discord.Client) -> None:
        self.client = client

    async def follow_up(self, interaction: discord.Interaction, replies: list[Reply], *, ephemeral: bool,
                        question_id: str | None = None) -> None:
        """Answer a deferred interaction; a private answer to a question offers to share it."""
        for reply in replies:
            if reply.channel:
                await self.to_channel(reply, question_id=question_id)
                continue
            private = ephemeral or reply.ephemeral
            if private and reply.question_id and not reply.is_error:
                reply = Reply(reply.blocks + (Actions((Button("Share in channel", SHARE_ANSWER,
                                                              reply.question_id),)),), ephemeral=True)
            await send_rendered(interaction.followup.send, render(reply), placeholder="\u200b", ephemeral=private)

    async def placeholder(self, message: discord.Message, reply: Reply) -> discord.Message | None:
        """Reply to ``message`` with ``reply`` (a placeholder the answer will edit); None when Discord refused."""
        try:
            return await message.reply(content=render(reply).content or "\u200b", mention_author=False)
        except discord.HTTPException as exc:
            log.warning("cannot post a placeholder in %s: %s", message.channel.id, exc)
            return None

    async def replace(self, placeholder: discord.Message, message: discord.Message, reply: Reply) -> bool:
        """Edit ``placeholder`` into ``reply`` (pictures beyond the first 10 follow as replies to ``message``);
        False when Discord refused the edit (the caller then sends the reply anew)."""
        rendered = render(reply)
        try:
            await placeholder.edit(**edit_fields(rendered))
        except discord.HTTPException as exc:
            log.warning("cannot edit the placeholder %s: %s", placeholder.id, exc)
            return False
        for batch in rendered.file_batches()[1:]:
            await message.reply(files=batch, allowed_mentions=rendered.allowed_mentions, mention_author=False)
        return True

    async def remove(self, placeholder: discord.Message) -> None:
        """Delete a placeholder no answer replaced."""
        try:
            await placeholder.delete()
        except discord.HTTPException as exc:
            log.warning("cannot delete the placeholder %s: %s", placeholder.id, exc)

    async def to_channel(self, reply: Reply, *, question_id: str | None = None) -> None:
        """Post to the channel the core names (the network channel), with a "Save an answer" button."""
        if question_id:
            reply = Reply(reply.blocks + (Actions((Button("Save an answer as a solution", "save_solution_form",
                                                          question_id),)),), channel=reply.channel)
        rendered = render(reply)
        try:
            channel_id = int(reply.channel or "")  # no channel: a ValueError, logged below like a bad one
            channel = self.client.get_channel(channel_id) or await self.client.fetch_channel(channel_id)
            await send_rendered(channel.send, rendered)  # type: ignore[union-attr]
        except (discord.HTTPException, ValueError) as exc:
            log.error("cannot post to channel %s: %s", reply.channel, exc)

    async def send_pending(self, item: Pending) -> None:
        """An outbox message: to its channel, or as a DM to each of its users."""
        rendered = render(item.reply)
        if item.channel:
            targets = [self.client.get_channel(int(item.channel)) or await self.client.fetch_channel(int(item.channel))]
        else:
            targets = [await (self.client.get_user(int(u)) or await self.client.fetch_user(int(u))).create_dm()
                       for u in item.users]
        for target in targets:
            await send_rendered(target.send, rendered)  # type: ignore[union-attr]
