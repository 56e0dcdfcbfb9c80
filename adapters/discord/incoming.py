"""What reaches the core from Discord: the :class:`~bot.Incoming` of a typed command and the :class:`~bot.Action` of
a click or a form, with the member's coordinator role; mentions are stripped from typed text (but for the member a
``role`` command names)."""

from __future__ import annotations

import re

import discord

from bot import Action, Incoming

from .platform import PLATFORM
_MENTION = re.compile(r"<@!?(\d+)>")
_LEADING_MENTIONS = re.compile(r"^(?:\s*<@!?\d+>)+")


def strip_mentions(text: str) -> str:
    """Typed text without its mentions (the bot's, and any in a question), except the member a ``role`` command
    names: that mention is how a coordinator points at a real person."""
    rest = " ".join(_LEADING_MENTIONS.sub(" ", text, count=1).split())
    if rest and rest.split(maxsplit=1)[0].lstrip("/").lower() == "role":
        return rest
    return " ".join(_MENTION.sub(" ", text).split())


def roles_of(user: discord.abc.User, coordinator_role: str, server: str) -> tuple[str, ...]:
    """``("coordinator",)`` for a member of the server ``server`` holding the role whose id is
    ``coordinator_role``; a role's name never counts, nor does any other server."""
    if not coordinator_role or not server or not isinstance(user, discord.Member) or str(user.guild.id) != server:
        return ()
    return ("coordinator",) if any(str(r.id) == coordinator_role for r in user.roles) else ()


def incoming_of(interaction: discord.Interaction, text: str, roles: tuple[str, ...]) -> Incoming:
    """``text`` (a slash command as the core's text command) from the member who used it, where they used it."""
    return Incoming(platform=PLATFORM, user=str(interaction.user.id), text=text,
                    channel=str(interaction.channel_id or ""), workspace=str(interaction.guild_id or ""),
                    is_direct=interaction.guild_id is None, user_name=interaction.user.display_name, roles=roles)


def action_of(interaction: discord.Interaction, action: str, value: str, roles: tuple[str, ...],
              fields: tuple[tuple[str, str], ...] = ()) -> Action:
    """A click on a button (``action``, ``value``) or a submitted form (``fields``) for the core."""
    return Action(PLATFORM, str(interaction.user.id), action, value, channel=str(interaction.channel_id or ""),
                  fields=fields, roles=roles, user_name=interaction.user.display_name)
