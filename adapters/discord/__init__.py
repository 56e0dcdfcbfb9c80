"""Discord adapter on the real discord.py client: mentions, DMs, slash commands, persistent buttons, modals.

Its names are loaded on first use (PEP 562), so reading :mod:`.platform` (the settings and capabilities) does not
import discord.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from knowledge.lazy import lazy_exports

if TYPE_CHECKING:
    from .client import DiscordAdapter, point_at
    from .platform import DISCORD, DiscordSecrets, DiscordSettings

__all__ = ["DISCORD", "DiscordAdapter", "DiscordSecrets", "DiscordSettings", "point_at"]

_MODULE_OF, __getattr__, __dir__ = lazy_exports(__name__, globals(), {
    "client": ("DiscordAdapter", "point_at"), "platform": ("DISCORD", "DiscordSecrets", "DiscordSettings")})
