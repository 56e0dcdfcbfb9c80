"""Discord adapter on the real discord.py client: mentions, DMs, slash commands, persistent buttons, modals."""

from .client import DiscordAdapter, point_at

__all__ = ["DiscordAdapter", "point_at"]
