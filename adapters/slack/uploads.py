"""Pictures (:class:`~bot.messages.Image` blocks, e.g. the charts of ``insights``) and other files (a session's .ics
from ``session ics`` or its card's "Calendar file" button) as Slack files, uploaded with ``files_upload_v2`` after
the text they go with.

Slack cannot attach a file to an ephemeral message, and posting the pictures of a private answer in the channel
would show everyone what was answered privately: they go to the member's direct messages with the bot
(``conversations.open``), and the private answer says so (:func:`with_dm_note`). A failed upload is logged; a
member whose private answer promised the pictures is told (:func:`upload_failed`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot import Reply
from bot.messages import Image, Text

from .render import trim

log = logging.getLogger(__name__)
#: Slack's limits for an uploaded file's alt text and title.
ALT_TEXT, FILE_TITLE = 1000, 250


class Uploads:
    """Uploads into a channel or thread, or a member's DM with the bot (its id cached)."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self._dms: dict[str, str] = {}  # user -> their DM channel with the bot

    async def upload(self, pictures: list[Image], *, channel: str, thread: str | None = None) -> str | None:
        """Upload ``pictures`` as files into ``channel`` (a user id means their DM with the bot), in ``thread``;
        one message holds them all. None when done (or nothing to do), else the error, which is logged."""
        if not pictures:
            return None
        names = ", ".join(p.name for p in pictures)
        try:
            if channel[:1] in ("U", "W"):
                channel = await self.dm(channel)
            await self.client.files_upload_v2(
                channel=channel, thread_ts=thread, initial_comment=None,
                file_uploads=[{"content": p.data, "filename": p.name, "title": trim(p.alt or p.name, FILE_TITLE),
                               "alt_txt": (trim(p.alt, ALT_TEXT) or None) if _is_picture(p) else None}
                              for p in pictures])
            return None
        except SlackApiError as exc:
            error = str(exc.response.get("error") or exc)
        except (TimeoutError, SlackClientError, aiohttp.ClientError, KeyError) as exc:
            error = str(exc) or type(exc).__name__
        log.error("cannot upload %s to %s: %s", names, channel, error)
        return error

    async def dm(self, user: str) -> str:
        """The id of ``user``'s direct-message channel with the bot (``conversations.open``)."""
        if user not in self._dms:
            self._dms[user] = (await self.client.conversations_open(users=user))["channel"]["id"]
        return self._dms[user]


def with_dm_note(reply: Reply, pictures: list[Image]) -> Reply:
    """``reply`` (a private answer) saying that its pictures (or files, such as a session's .ics) are in the member's
    DM with the bot."""
    kind = "picture" if all(_is_picture(p) for p in pictures) else "file"
    what = f"The {kind} is" if len(pictures) == 1 else f"The {len(pictures)} {kind}s are"
    note = f"{what} in your direct messages with the bot, so this answer stays private."
    return Reply(reply.blocks + (Text(note, "muted"),), ephemeral=reply.ephemeral, is_error=reply.is_error,
                 channel=reply.channel, replace=reply.replace)


def _is_picture(file: Image) -> bool:
    """Whether ``file`` is shown as a picture (an alt text applies), not a document such as an .ics."""
    return file.name.lower().endswith((".png", ".jpg", ".jpeg", ".gif", ".webp"))


def upload_failed(error: str, files: Sequence[Image] = ()) -> str:
    """What a member is told when the files of a private answer could not be uploaded (the log has the error):
    pictures only illustrate figures the answer states; a document such as an .ics has no stand-in in the text."""
    reason = f" ({error})" if re.fullmatch(r"[a-z_]{1,60}", error) else ""  # Slack's error codes only, not bodies
    if files and not all(_is_picture(f) for f in files):
        names = ", ".join(f.name for f in files if not _is_picture(f))
        return f"I could not upload {names}{reason}; please try again in a minute."
    return f"I could not upload the pictures{reason}; the figures above are complete without them."
