"""The chat platforms this installation knows: the command line reads their settings sections and tells the core
what each can do. A new platform adds its ``Platform`` here (and its ``rrr-bot run`` command in :mod:`.cli`).

Only the light ``platform`` modules are imported: no platform SDK is loaded until an adapter runs.
"""

from __future__ import annotations

from bot.platforms import Platform

from .discord.platform import DISCORD
from .slack.platform import SLACK

PLATFORMS: tuple[Platform, ...] = (SLACK, DISCORD)
#: Every platform's secrets (environment variables that are never read from the TOML file).
SECRET_ENV: tuple[str, ...] = tuple(name for platform in PLATFORMS for name in platform.secrets)
