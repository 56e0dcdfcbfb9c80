"""Text safety helpers for anything the bot echoes back."""

from __future__ import annotations

import re

_BROADCAST = re.compile(r"<!(here|channel|everyone)(\|[^>]*)?>|@(here|channel|everyone)\b", re.IGNORECASE)
_GROUP = re.compile(r"<!subteam\^([A-Z0-9]+)(\|([^>]*))?>|<@&(\d+)>", re.IGNORECASE)
_USER_MENTION = re.compile(r"<@[!&]?([A-Z0-9]+)>", re.IGNORECASE)


def neutralize_mentions(text: str) -> str:
    """Make ``@everyone``, ``<!here>``, ``<@U123>`` and friends inert: they read the same but ping nobody."""
    text = _BROADCAST.sub(lambda m: "@\u200b" + (m.group(1) or m.group(3)).lower(), text)
    text = _GROUP.sub(lambda m: "@\u200b" + (m.group(3) or m.group(1) or m.group(4)).lstrip("@"), text)
    return _USER_MENTION.sub(lambda m: "@\u200b" + m.group(1), text)
