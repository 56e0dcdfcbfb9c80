"""Sending the core's replies to Slack: a message (in a thread), an ephemeral message, an answer through
``respond``, an outbox item. The text goes first, as Block Kit; its pictures follow as files (:mod:`.uploads`):

- a message in a channel or thread (a mention, a DM, the network channel): the files go to the same channel and
  thread, so everyone who sees the answer sees its pictures;
- a private answer (every ``/rrr`` response, an ephemeral message): the files go to the member's DM with the bot,
  and the answer says so. A coordinator running ``/rrr insights`` thus reads the figures where they typed and finds
  the charts in the DM;
- an outbox delivery (the weekly insights digest): the files go to the message's channel (or DM), after the text.

A failed upload never loses the text. An outbox message counts as failed, and is retried, only when its text could
not be posted (or, for a message of pictures alone, when nothing could be delivered), so a retry never posts the
text twice.

An outbox message addressed to several people (an introduction) goes to one group DM when Slack allows it:
``conversations.open`` takes at most :data:`GROUP_DM_MAX` people besides the bot. A bigger group gets the message in
one DM each, ending with a mention of everyone else, so nobody is left out and each can reach the others; it is
retried only when nobody received it (those who did would get it twice).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot import Reply
from bot.messages import Button, Mention
from bot.services import Pending

from .render import fallback_text, has_text, images, to_blocks
from .uploads import Uploads, upload_failed, with_dm_note

log = logging.getLogger(__name__)

#: The most user ids ``conversations.open`` takes (Slack answers ``too_many_users`` beyond); the bot joins on its own.
GROUP_DM_MAX = 8


class Poster:
    """Posts replies with ``client`` and uploads their pictures with ``uploads``."""

    def __init__(self, client: AsyncWebClient, uploads: Uploads) -> None:
        self.client = client
        self.uploads = uploads

    async def placeholder(self, reply: Reply, *, channel: str, thread: str | None = None) -> str | None:
        """Post ``reply`` (a placeholder the answer will replace) in ``thread``; its ``ts``, or None if refused."""
        try:
            posted = await self.client.chat_postMessage(channel=channel, text=fallback_text(reply),
                                                        blocks=to_blocks(reply), thread_ts=thread, unfurl_links=False)
        except SlackApiError as exc:
            log.warning("Slack refused a placeholder in %s: %s", channel, exc.response.get("error"))
            return None
        return posted.get("ts")

    async def hold(self, respond, reply: Reply) -> bool:
        """A private placeholder through ``respond`` (a slash command's), which the answer replaces."""
        await respond(response_type="ephemeral", text=fallback_text(reply), blocks=to_blocks(reply))
        return True

    async def remove(self, channel: str, ts: str) -> None:
        """Delete a placeholder no answer replaced (the answer was private, or went elsewhere)."""
        try:
            await self.client.chat_delete(channel=channel, ts=ts)
        except SlackApiError as exc:
            log.warning("cannot delete the placeholder %s in %s: %s", ts, channel, exc.response.get("error"))

    async def post(self, reply: Reply, *, channel: str, user: str | None = None, thread: str | None = None,
                   metadata: dict[str, Any] | None = None, replacing: str | None = None) -> bool:
        """Send one reply: ephemeral to ``user`` when the core asks for it, else a message (in ``thread``), or in
        place of the message ``replacing`` (a placeholder; posted anew if Slack refuses the update).
        False when Slack refused it (logged); a failed upload does not change the result, which is about the text."""
        pictures = images(reply)
        private = bool(reply.ephemeral and user and channel != user)
        if private and pictures:
            reply = with_dm_note(reply, pictures)
        posted = True
        if has_text(reply) or not pictures:
            kwargs: dict[str, Any] = {"channel": channel, "text": fallback_text(reply), "blocks": to_blocks(reply)}
            try:
                if private and user:  # (private implies a user; said again for the type checker)
                    await self.client.chat_postEphemeral(user=user, **kwargs)
                elif not (replacing and await self._update(replacing, kwargs)):
                    if thread:
                        kwargs["thread_ts"] = thread
                    if metadata:
                        kwargs["metadata"] = metadata
                    await self.client.chat_postMessage(unfurl_links=False, **kwargs)
            except SlackApiError as exc:
                log.error("Slack refused a message to %s: %s", channel, exc.response.get("error"))
                posted = False
        if pictures:
            where = user if private else channel
            error = await self.uploads.upload(pictures, channel=where or channel, thread=None if private else thread)
            if error and private and posted and user:
                try:
                    await self.client.chat_postEphemeral(channel=channel, user=user,
                                                         text=upload_failed(error, pictures))
                except SlackApiError as exc:
                    log.warning("cannot tell %s that the pictures failed: %s", user, exc.response.get("error"))
        return posted

    async def _update(self, ts: str, kwargs: dict[str, Any]) -> bool:
        try:
            await self.client.chat_update(ts=ts, **kwargs)
            return True
        except SlackApiError as exc:
            log.warning("cannot replace the placeholder %s: %s; posting the answer anew", ts,
                        exc.response.get("error"))
            return False

    async def respond(self, respond, reply: Reply, *, user: str, extra_buttons: tuple[Button, ...] = (),
                      replacing: bool = False) -> None:
        """A private answer through ``respond`` (a slash command, a shortcut); its pictures go to the member's DM.
        ``replacing``: it takes the place of the placeholder posted through the same ``respond``."""
        pictures = images(reply)
        if pictures:
            reply = with_dm_note(reply, pictures)
        await respond(response_type="ephemeral", text=fallback_text(reply),
                      blocks=to_blocks(reply, extra_buttons=extra_buttons),
                      **({"replace_original": True} if replacing else {}))
        error = await self.uploads.upload(pictures, channel=user)
        if error:
            await respond(response_type="ephemeral", replace_original=False, text=upload_failed(error, pictures))

    async def send_pending(self, item: Pending) -> None:
        """Post an outbox item's text, then upload its pictures into the same conversation. Raises (so the message is
        kept and retried) only when the text could not be posted, or when a message of pictures alone could not be
        uploaded: a failed upload after a posted text is logged, never retried. Beyond :data:`GROUP_DM_MAX` people,
        one DM each (see the module's notes)."""
        if item.channel or len(item.users) <= GROUP_DM_MAX:
            channel = item.channel or await self._open(item.users)
            await self._send(channel, item.reply)
            return
        missed: list[str] = []
        for user in item.users:
            others = tuple(u for u in item.users if u != user)
            try:
                await self._send(await self._open((user,)), with_everyone_else(item.reply, others))
            except (SlackClientError, aiohttp.ClientError, TimeoutError, RuntimeError, KeyError) as exc:
                # one member's DM failing must not cost the others theirs
                log.error("outbox message %s not delivered to %s: %s", item.id, user, exc)
                missed.append(user)
        if len(missed) == len(item.users):
            raise RuntimeError(f"outbox message {item.id} reached none of its {len(missed)} people")

    async def _open(self, users: tuple[str, ...]) -> str:
        return (await self.client.conversations_open(users=",".join(users)))["channel"]["id"]

    async def _send(self, channel: str, reply: Reply) -> None:
        pictures = images(reply)
        if has_text(reply) or not pictures:
            await self.client.chat_postMessage(channel=channel, text=fallback_text(reply), blocks=to_blocks(reply),
                                               unfurl_links=False)
        error = await self.uploads.upload(pictures, channel=channel)
        if error and not has_text(reply):
            raise RuntimeError(f"pictures not uploaded to {channel}: {error}")


def with_everyone_else(reply: Reply, others: tuple[str, ...]) -> Reply:
    """``reply`` as one member of a group too big for a Slack group DM reads it: with a mention of the others."""
    note = (f"A Slack group message takes at most {GROUP_DM_MAX} people besides me, so each of the {len(others) + 1} "
            "of you got this message on your own. Write to your peers:")
    return replace(reply, blocks=reply.blocks + (Mention(others, note),))
