"""Sessions on Discord: ``/session-add`` (coordinators) becomes the core's ``session add ...`` text command for the
channel it is used in; the confirmation is private, the session's card is posted for everyone, and where the bot may
create events a Discord scheduled event is published for the next occurrence (a refusal is logged, never fatal).
``/session-list`` and ``/session-show`` are the core's commands. Before a session is announced in a channel the core
asks :func:`channel_problem` whether the bot may post there.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot import Bot, Reply
from bot.messages import Actions
from bot.session_commands import RSVP_ACTIONS, SESSION_ZONES

from .incoming import incoming_of
from .posting import Poster
from .render import trim

if TYPE_CHECKING:
    from .client import DiscordAdapter

log = logging.getLogger(__name__)
#: The zones ``/session-add`` offers: those of the network's nine cities, and UTC (any IANA name is accepted).
ZONES = SESSION_ZONES
REPEATS = (("Once", "none"), ("Every week", "weekly"), ("Every 2 weeks", "every 2 weeks"),
           ("Monthly (same weekday)", "monthly"))
#: Discord's limits for a scheduled event.
EVENT_NAME, EVENT_DESCRIPTION, EVENT_LOCATION = 100, 1000, 100


def register_commands(tree: app_commands.CommandTree, adapter: DiscordAdapter) -> None:
    """``/session-add`` (with the zone autocomplete), ``/session-list`` and ``/session-show``."""

    async def zones(_: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        wanted = current.casefold().strip()
        return [app_commands.Choice(name=f"{zone} ({city})" if city else zone, value=zone)
                for zone, city in ZONES if wanted in zone.casefold() or wanted in city.casefold()][:25]

    @tree.command(name="session-add", description="Schedule a peer session (coordinators)")
    @app_commands.describe(title="What the session is called", start="First start, local time: YYYY-MM-DDTHH:MM",
                           tz="Time zone of the start (IANA name)", repeat="How it repeats",
                           count="How many times in all (a repeating session)", duration="Minutes (default 60)",
                           video="Video call link", agenda="What it is about")
    @app_commands.autocomplete(tz=zones)
    @app_commands.choices(repeat=[app_commands.Choice(name=n, value=v) for n, v in REPEATS])
    async def session_add(interaction: discord.Interaction, title: app_commands.Range[str, 1, 200],
                          start: str, tz: str, repeat: app_commands.Choice[str] | None = None,
                          count: app_commands.Range[int, 1, 500] | None = None,
                          duration: app_commands.Range[int, 5, 1440] | None = None, video: str | None = None,
                          agenda: app_commands.Range[str, 1, 3000] | None = None) -> None:
        await adapter.add_session(interaction, title=title, start=start, tz=tz,
                                  repeat=repeat.value if repeat else None, count=count, duration=duration,
                                  video=video, agenda=agenda)

    @tree.command(name="session-list", description="The scheduled peer sessions")
    async def session_list(interaction: discord.Interaction) -> None:
        await adapter.run_command(interaction, "session list", ephemeral=True)

    @tree.command(name="session-show", description="A session with its next time, RSVP buttons and calendar link")
    @app_commands.describe(id="The session number (see /session-list)")
    async def session_show(interaction: discord.Interaction, id: app_commands.Range[int, 1]) -> None:
        await adapter.run_command(interaction, f"session show {id}")


class SessionAdd:
    """``/session-add``: the core's command, the private outcome, the public card and the scheduled event."""

    def __init__(self, bot: Bot, client: discord.Client, poster: Poster) -> None:
        self.bot = bot
        self.client = client
        self.poster = poster

    async def handle(self, interaction: discord.Interaction, roles: tuple[str, ...], **options: Any) -> None:
        """The core's ``session add`` for this channel. The outcome is private; the new session's card is posted for
        everyone, and published as a Discord scheduled event where the bot may."""
        await interaction.response.defer(thinking=True, ephemeral=True)
        text = session_command(options, str(interaction.channel_id or ""))
        replies = await self.bot.handle(incoming_of(interaction, text, roles))
        if any(r.is_error for r in replies) or not replies:
            await self.poster.follow_up(interaction, replies, ephemeral=True)
            return
        session = session_of(replies)
        event = await self.publish_event(interaction, session[0]) if session else None
        note = f"Session #{session[0]} is scheduled; its card is posted below." if session else "Scheduled."
        if event is not None:
            note += f" It is also a Discord event: {event.url}"
        await interaction.followup.send(note, ephemeral=True)  # ends the private "thinking" message
        await self.poster.follow_up(interaction, replies, ephemeral=False)

    async def publish_event(self, interaction: discord.Interaction,
                            session_id: int) -> discord.ScheduledEvent | None:
        """A guild scheduled event (external, guild only) for the session's next occurrence, when the bot may
        create one; its id is stored with the session. Refusals and failures are logged, never raised."""
        guild = interaction.guild or (self.client.get_guild(interaction.guild_id) if interaction.guild_id else None)
        if guild is None:
            return None
        allowed = interaction.app_permissions
        if not (allowed.manage_events or allowed.create_events):
            log.info("no scheduled event for session %s: the bot may not create events in guild %s", session_id,
                     guild.id)
            return None
        try:
            info = await asyncio.to_thread(self.bot.sessions.get, session_id)
            occurrence = await asyncio.to_thread(self.bot.sessions.next_occurrence, info)
            if occurrence is None:
                return None
            video = info.video_url or ""
            description = info.agenda
            if len(video) > EVENT_LOCATION:  # Discord's location is short: the link goes in the description
                description = f"{video}\n{description}".strip()
            event = await guild.create_scheduled_event(
                name=trim(info.title, EVENT_NAME), start_time=occurrence.start_utc,
                end_time=occurrence.start_utc + info.schedule.duration, entity_type=discord.EntityType.external,
                location=video if video and len(video) <= EVENT_LOCATION else "Online",
                privacy_level=discord.PrivacyLevel.guild_only,
                description=trim(description, EVENT_DESCRIPTION) or discord.utils.MISSING,
                reason=f"rrr session #{session_id}")
        except discord.HTTPException as exc:
            log.warning("Discord refused the scheduled event of session %s: %s %s", session_id, exc.status,
                        exc.text)
            return None
        except Exception:  # the session is scheduled all the same
            log.exception("cannot publish session %s as a scheduled event", session_id)
            return None
        try:
            await asyncio.to_thread(self.bot.sessions.set_discord_event, session_id, str(event.id))
        except Exception:
            log.exception("cannot store the scheduled event %s of session %s", event.id, session_id)
        return event


async def channel_problem(client: discord.Client, channel_id: str) -> str | None:
    """Why the bot cannot post in the channel ``channel_id`` (the core asks before a session is announced there),
    or None. What Discord does not say (an outage) is not held against the channel."""
    if not channel_id.isdigit():
        return "a Discord channel is given by its id (a number): right-click the channel, Copy Channel ID"
    try:
        channel = client.get_channel(int(channel_id)) or await client.fetch_channel(int(channel_id))
    except discord.NotFound:
        return "there is no such channel"
    except discord.Forbidden:
        return "the bot cannot see that channel"
    except discord.HTTPException as exc:
        log.info("cannot check channel %s: %s", channel_id, exc)
        return None
    if isinstance(channel, discord.abc.GuildChannel) and channel.guild.me is not None:
        allowed = channel.permissions_for(channel.guild.me)
        if not (allowed.view_channel and allowed.send_messages):
            return f"the bot may not send messages in #{channel.name}"
    return None


def session_command(options: dict[str, Any], channel: str) -> str:
    """The core's ``session add ...`` text command for ``/session-add`` options (values quoted for ``shlex``)."""
    parts = ["session add"]
    for key in ("title", "start", "tz", "repeat", "count", "duration", "video", "agenda"):
        value = options.get(key)
        if value is None or value == "" or (key == "repeat" and value == "none"):
            continue
        parts.append(f"{key}:{shlex.quote(str(value).strip())}")
    if channel:
        parts.append(f"channel:discord:{channel}")
    return " ".join(parts)


def session_of(replies: list[Reply]) -> tuple[int, str] | None:
    """``(session id, occurrence key)`` read from a session card's RSVP buttons (value ``ID:KEY``)."""
    for reply in replies:
        for block in reply.blocks:
            if isinstance(block, Actions):
                for button in block.buttons:
                    if button.action_id in RSVP_ACTIONS:
                        session_id, _, key = button.value.partition(":")
                        if session_id.isdigit():
                            return int(session_id), key
    return None
