"""Cards redrawn in place: a click (an RSVP) whose answer is a ``replace`` reply replaces the message holding the
button (``chat.update`` on a message in a conversation, its ``response_url`` for an ephemeral one), so the counts
stay live. Clicks on one message are answered one at a time, so the card ends with the counts of the latest click.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import Action, Bot, Reply

from .posting import Poster
from .render import fallback_text, images, to_blocks

log = logging.getLogger(__name__)


class Cards:
    """The core's answers to clicks, with the redraw of the clicked message."""

    def __init__(self, bot: Bot, client: AsyncWebClient, poster: Poster) -> None:
        self.bot = bot
        self.client = client
        self.poster = poster
        #: One lock per message whose card a click replaces, so concurrent RSVPs are redrawn in order.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def click(self, event: Action, body: dict[str, Any], respond) -> list[Reply]:
        """The core's answer to ``event``: its ``replace`` replies redraw the clicked message; the others are
        returned, to be posted."""
        container = body.get("container") or {}
        lock = asyncio.Lock()
        if container.get("message_ts"):
            where = f"{container.get('channel_id') or event.channel}:{container['message_ts']}"
            lock = self._locks.get(where) or self._locks.setdefault(where, lock)
        async with lock:  # the redrawn card carries the counts of the latest click
            replies = await self.bot.handle_action(event)
            for reply in (r for r in replies if _redraws(r)):
                await self._replace(reply, body, respond, user=event.user)
        return [r for r in replies if not _redraws(r)]

    async def _replace(self, reply: Reply, body: dict[str, Any], respond, *, user: str) -> None:
        """Replace the message holding the clicked button: ``chat.update`` for a message in a conversation, the
        ``response_url`` for an ephemeral one (or when the update is refused); a new message as the last resort."""
        container = body.get("container") or {}
        channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
        ts = container.get("message_ts") or (body.get("message") or {}).get("ts")
        text, blocks = fallback_text(reply), to_blocks(reply)
        pictures = images(reply)
        if channel and ts and not container.get("is_ephemeral") and container.get("type", "message") == "message":
            try:
                await self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
                # an edit cannot add files: they come as a reply in the card's thread
                await self.poster.uploads.upload(pictures, channel=channel, thread=ts)
                return
            except SlackApiError as exc:
                log.warning("cannot update the message %s/%s: %s", channel, ts, exc.response.get("error"))
        if body.get("response_url"):
            await respond(replace_original=True, text=text, blocks=blocks)
            await self.poster.uploads.upload(pictures, channel=user)  # a private message: so are its pictures
            return
        await self.poster.post(Reply(reply.blocks), channel=channel or user, user=user)


def _redraws(reply: Reply) -> bool:
    """A reply that replaces the clicked message (not one for another channel)."""
    return reply.replace and not reply.channel
