"""Pictures as attachments: a rendered reply (:mod:`.render`) as the arguments of a send or an edit.

A send carries the text, embeds, buttons and up to 10 pictures; further pictures go in messages of their own. An
edit replaces a message's attachments, so it names them only when the new version has pictures.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import discord

from .render import Rendered
from .views import make_view


def files_or_missing(files: list[discord.File]) -> list[discord.File] | object:
    """``files`` for a ``send`` call, or ``MISSING`` when there are none (discord.py then sends plain JSON)."""
    return files or discord.utils.MISSING


async def send_rendered(send: Callable[..., Awaitable[Any]], rendered: Rendered, *, placeholder: str | None = None,
                        **extra: Any) -> None:
    """Send ``rendered`` with ``send`` (``channel.send``, ``message.reply``, ``followup.send``): text, embeds,
    buttons and up to 10 pictures in one message; further pictures in messages of their own (same ``extra``)."""
    batches = rendered.file_batches()
    await send(content=rendered.content or placeholder, embeds=rendered.embeds,
               view=make_view(rendered.buttons) or discord.utils.MISSING,
               allowed_mentions=rendered.allowed_mentions, files=files_or_missing(batches[0]), **extra)
    for batch in batches[1:]:
        await send(files=batch, allowed_mentions=rendered.allowed_mentions, **extra)


def edit_fields(rendered: Rendered) -> dict[str, Any]:
    """The arguments of an edit that redraws a message as ``rendered`` (its first 10 pictures, if it has any)."""
    edit: dict[str, Any] = dict(content=rendered.content or None, embeds=rendered.embeds,
                                view=make_view(rendered.buttons), allowed_mentions=rendered.allowed_mentions)
    if rendered.images:  # an edit replaces the attachments: only when the card has pictures
        edit["attachments"] = rendered.file_batches()[0]
    return edit
