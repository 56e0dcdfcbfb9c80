"""Sessions on Discord: ``/session-add`` (coordinators) becomes the core's typed session draft for the channel it is
used in (``Bot.add_session``, as the chat's ``session add``); the confirmation is private, the session's card is
posted for everyone, and where the bot may create events a Discord scheduled event is published for the next
occurrence (a refusal is logged, never fatal).
``/session-list`` and ``/session-show`` are the core's commands. Before a session is announced in a channel the core
asks :func:`channel_problem` whether the bot may post there.

The scheduled event follows the session (:class:`ScheduledEvents`): an edit, a cancellation or a skip made in chat
edits or deletes it at once (the coordinator is told when Discord refuses), and a pass every ``[sessions]
sync_seconds`` catches up with changes made elsewhere (the CLI, another process) and moves the event of a series on
to its next date once a date is over. Only the fields that differ are sent; a session with no date left, or
cancelled, loses its event.

When the bot lacks the Manage Events permission (Discord answers 403, or the interaction says so) the coordinator is
told once, never silently: in the private answer of ``/session-add`` or of the chat command, or, for the pass, in a
DM to the session's creator (in its Discord channel when no Discord member created it). Later refusals in that
server say nothing until an event is created or changed there again; then the next refusal is told again. This
memory lasts as long as the process.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot import Action, Bot, Reply
from bot.messages import Actions
from bot.paging import SESSIONS_PAGE
from bot.services import Outgoing
from bot.sessions.service import SessionInfo
from bot.sessions.draft import SessionDraft
from bot.sessions.commands import RSVP_ACTIONS
from bot.store.models import utcnow

from .cards import Cards
from .incoming import PLATFORM, incoming_of
from .posting import Poster
from .render import trim

if TYPE_CHECKING:
    from .client import DiscordAdapter

log = logging.getLogger(__name__)
REPEATS = (("Once", "none"), ("Every week", "weekly"), ("Every 2 weeks", "every 2 weeks"),
           ("Monthly (same weekday)", "monthly"))
#: The kind of external reference (``bot.external_refs``) that holds a session's scheduled event id.
EVENT_REF = "session-event"
#: Discord's limits for a scheduled event.
EVENT_NAME, EVENT_DESCRIPTION, EVENT_LOCATION = 100, 1000, 100
#: How long a pass leaves alone an event that Discord refused to change.
RETRY_AFTER = timedelta(hours=1)
#: What the coordinator reads when Discord refuses to change a session's event.
NO_PERMISSION = ("The Discord event of this session was not updated: the bot needs the Manage Events permission in "
                 "the server (or delete the event there by hand).")
#: What the coordinator reads, once, when the bot may not create a session's event.
NO_EVENTS = ("This session is not a Discord event: the bot needs the Manage Events permission in the server "
             "(Server Settings > Roles). I will not repeat this for later sessions until events work again.")


def register_commands(tree: app_commands.CommandTree, adapter: DiscordAdapter) -> None:
    """``/session-add`` (with the zone autocomplete), ``/session-list`` and ``/session-show``."""

    async def zones(_: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        wanted = current.casefold().strip()
        return [app_commands.Choice(name=trim(f"{zone} ({', '.join(cities)})" if cities else zone, 100), value=zone)
                for zone, cities in await adapter.bot.session_zones()
                if wanted in zone.casefold() or any(wanted in city.casefold() for city in cities)][:25]

    @tree.command(name="session-add", description="Schedule a peer session (coordinators)")
    @app_commands.describe(title="What the session is called",
                           start="First start, local time: 2027-03-16T15:00 or words, e.g. next Tuesday 15:00",
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
    @app_commands.describe(page=f"Which page ({SESSIONS_PAGE} sessions a page, the nearest date first)")
    async def session_list(interaction: discord.Interaction, page: app_commands.Range[int, 1] | None = None) -> None:
        await adapter.run_command(interaction, f"session list {page or ''}".strip(), ephemeral=True)

    @tree.command(name="session-show", description="A session with its next time, RSVP buttons and calendar link")
    @app_commands.describe(id="The session number (see /session-list)")
    async def session_show(interaction: discord.Interaction, id: app_commands.Range[int, 1]) -> None:
        await adapter.run_command(interaction, f"session show {id}")


class SessionAdd:
    """``/session-add``: the core's command, the private outcome, the public card and the scheduled event."""

    def __init__(self, bot: Bot, client: discord.Client, poster: Poster, cards: Cards) -> None:
        self.bot = bot
        self.client = client
        self.poster = poster
        self.cards = cards
        self.events = ScheduledEvents(bot, client)
        bot.session_commands.watch(self.events.follow)  # edits, cancellations and skips made in chat

    async def handle(self, interaction: discord.Interaction, roles: tuple[str, ...], **options: Any) -> None:
        """The core's session draft for this channel. The outcome is private; the new session's card is posted for
        everyone, and published as a Discord scheduled event where the bot may."""
        await interaction.response.defer(thinking=True, ephemeral=True)
        draft = session_draft(options, str(interaction.channel_id or ""))
        replies = await self.bot.add_session(incoming_of(interaction, "", roles), draft)
        if any(r.is_error for r in replies) or not replies or all(r.ephemeral for r in replies):
            # an error, or a start typed in words: its echo waits privately for Confirm (bot.session_drafts)
            await self.poster.follow_up(interaction, replies, ephemeral=True)
            return
        session = session_of(replies)
        event, refused = await self.publish_event(interaction, session[0]) if session else (None, None)
        note = f"Session #{session[0]} is scheduled; its card is posted below." if session else "Scheduled."
        if event is not None:
            note += f" It is also a Discord event: {event.url}"
        if refused:
            note += f"\n{refused}"
        await interaction.followup.send(note, ephemeral=True)  # ends the private "thinking" message
        await self.poster.follow_up(interaction, replies, ephemeral=False)

    async def confirmed(self, interaction: discord.Interaction, action: Action) -> None:
        """Confirm / Cancel of a typed session (chat or ``/session-add``): the echo is edited to the outcome, the new
        session's card is posted for everyone, and published as a scheduled event where the bot may."""
        replies = await self.cards.click(interaction, action)
        await self.poster.follow_up(interaction, replies, ephemeral=False)
        session = session_of(replies)
        if session is None:
            return
        event, refused = await self.publish_event(interaction, session[0])
        if event is not None or refused:
            note = f"It is also a Discord event: {event.url}" if event is not None else refused
            await interaction.followup.send(note or "", ephemeral=True)

    async def publish_event(self, interaction: discord.Interaction,
                            session_id: int) -> tuple[discord.ScheduledEvent | None, str | None]:
        """A guild scheduled event (external, guild only) for the session's next occurrence, when the bot may
        create one; its id is stored with the session. Returns the event, and what to tell the coordinator about a
        missing permission (once, see the module's notes). Refusals and failures are logged, never raised."""
        guild = interaction.guild or (self.client.get_guild(interaction.guild_id) if interaction.guild_id else None)
        if guild is None:
            return None, None
        allowed = interaction.app_permissions
        if not (allowed.manage_events or allowed.create_events):
            log.info("no scheduled event for session %s: the bot may not create events in guild %s", session_id,
                     guild.id)
            return None, self.events.refused(guild.id, NO_EVENTS)
        return await self.events.publish(guild, session_id)


class ScheduledEvents:
    """The Discord scheduled event of each session, kept at the session's next date (see the module's notes)."""

    def __init__(self, bot: Bot, client: discord.Client) -> None:
        self.bot = bot
        self.client = client
        #: session id -> the event's fields as last seen or sent, so a pass sends only what changed
        self._known: dict[int, dict[str, Any]] = {}
        #: session id -> when a pass may look at it again (an event under way, a refusal)
        self._wait: dict[int, datetime] = {}
        #: guilds whose coordinators were told that the bot may not manage events (until an event works there)
        self._told: set[int] = set()

    def refused(self, guild_id: int, note: str) -> str | None:
        """``note`` the first time the bot is refused events in ``guild_id`` (logged each time); None after."""
        log.warning("the bot may not manage the scheduled events of guild %s (Manage Events permission)", guild_id)
        if guild_id in self._told:
            return None
        self._told.add(guild_id)
        return note

    async def publish(self, guild: discord.Guild,
                      session_id: int) -> tuple[discord.ScheduledEvent | None, str | None]:
        """A guild scheduled event (external, guild only) for the session's next date; its id is stored with the
        session. Returns the event, and what to tell the coordinator when it is refused for want of the permission
        (once). Refusals and failures are logged, never raised."""
        try:
            info = await asyncio.to_thread(self.bot.sessions.get, session_id)
            wanted = await asyncio.to_thread(self.wanted, info)
            if wanted is None:
                return None, None
            return await self._create(guild, session_id, wanted), None
        except discord.Forbidden as exc:
            log.warning("Discord refused the scheduled event of session %s: %s", session_id, exc.text)
            return None, self.refused(guild.id, NO_EVENTS)
        except discord.HTTPException as exc:
            log.warning("Discord refused the scheduled event of session %s: %s %s", session_id, exc.status,
                        exc.text)
        except Exception:  # the session is scheduled all the same
            log.exception("cannot publish session %s as a scheduled event", session_id)
        return None, None

    def wanted(self, info: SessionInfo, now: datetime | None = None) -> dict[str, Any] | None:
        """The event's fields for ``info`` (arguments of ``create_scheduled_event`` and ``edit``) at its next date;
        None when the session is cancelled or has no date left."""
        occurrence = self.bot.sessions.next_occurrence(info, now)
        if occurrence is None:
            return None
        video = info.video_url or ""
        description = info.agenda
        if len(video) > EVENT_LOCATION:  # Discord's location is short: the link goes in the description
            description = f"{video}\n{description}".strip()
        return {"name": trim(info.title, EVENT_NAME), "start_time": occurrence.start_utc,
                "end_time": occurrence.start_utc + info.schedule.duration,
                "location": video if video and len(video) <= EVENT_LOCATION else "Online",
                "description": trim(description, EVENT_DESCRIPTION)}

    async def follow(self, info: SessionInfo, change: str) -> str | None:
        """The core's follow-up of a change made in chat: the event follows at once (on the client's loop); a note
        for the coordinator when Discord refuses."""
        if not self.client.is_ready():
            return None  # not connected yet: the next pass catches up (sync itself skips a session with no event)
        sync = self.sync(info)
        if asyncio.get_running_loop() is self.client.loop:
            return await sync
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(sync, self.client.loop))

    async def sync(self, info: SessionInfo, now: datetime | None = None) -> str | None:
        """Bring the session's event to :meth:`wanted`: edit the fields that differ, delete it when the session is
        cancelled or over, publish a new one when Discord has ended the old. An event under way keeps its date
        until it ends. None when done; else what to tell the coordinator (also logged; a missing permission is told
        once). A refused session is left alone by the pass for :data:`RETRY_AFTER`."""
        session_id, event_id = info.id, await asyncio.to_thread(self.event_of, info.id)
        if event_id is None or not event_id.isdigit():
            return None
        now = now or utcnow()
        wanted = await asyncio.to_thread(self.wanted, info, now)
        guild_id = next((g.id for g in self._guilds(info)), 0)
        try:
            event = await self._find(info, int(event_id))
            if event is None:  # deleted on Discord by a person: the session no longer has one
                log.info("the scheduled event %s of session %s is gone from Discord", event_id, session_id)
                await self._forget(session_id)
                return None
            guild_id = event.guild_id
            if wanted is None:
                await event.delete(reason=f"rrr session #{session_id} is {'cancelled' if info.cancelled else 'over'}")
                self._told.discard(guild_id)
                await self._forget(session_id)
                return None
            if event.status in (discord.EventStatus.completed, discord.EventStatus.cancelled):
                if event.guild is not None:  # an ended event cannot change: the next date gets an event of its own
                    await self._create(event.guild, session_id, wanted)
                return None
            current = {"name": event.name, "start_time": event.start_time, "end_time": event.end_time,
                       "location": event.location or "", "description": event.description or ""}
            changes = {k: v for k, v in wanted.items() if current.get(k) != v}
            end = event.end_time or event.start_time
            under_way = event.start_time <= now < end
            if under_way:  # it keeps its date until it ends; then a pass moves it on
                changes.pop("start_time", None)
                changes.pop("end_time", None)
                self._wait[session_id] = end
            elif "start_time" in changes or "end_time" in changes:  # Discord checks the two together
                changes.update(start_time=wanted["start_time"], end_time=wanted["end_time"])
            if changes:
                await event.edit(**changes, reason=f"rrr session #{session_id} changed")
                self._told.discard(guild_id)
            if not under_way:
                self._known[session_id] = wanted
            return None
        except discord.Forbidden as exc:
            log.warning("Discord refused to change the scheduled event of session %s: %s", session_id, exc.text)
            self._wait[session_id] = now + RETRY_AFTER  # refused: not again on every pass
            return self.refused(guild_id, NO_PERMISSION)
        except discord.HTTPException as exc:
            log.warning("Discord refused to change the scheduled event of session %s: %s %s", session_id,
                        exc.status, exc.text)
            self._wait[session_id] = now + RETRY_AFTER
            return f"The Discord event of this session was not updated: Discord answered {exc.status}."

    async def sync_all(self, now: datetime | None = None) -> int:
        """One pass over the sessions that have an event: those whose wanted fields differ from the ones last seen
        are synced (the first pass reads each event once). Returns how many were synced."""
        now = now or utcnow()
        infos = await asyncio.to_thread(self.bot.sessions.list, include_cancelled=True)
        events = await asyncio.to_thread(self.bot.external_refs.all, PLATFORM, EVENT_REF)
        synced = 0
        for info in infos:
            if str(info.id) not in events or now < self._wait.get(info.id, now):
                continue
            wanted = await asyncio.to_thread(self.wanted, info, now)
            if wanted is not None and self._known.get(info.id) == wanted:
                continue
            self._wait.pop(info.id, None)
            synced += 1
            note = await self.sync(info, now)
            if note:  # nobody is in the conversation: the coordinator is told by message
                await asyncio.to_thread(self._tell, info, note, now)
        return synced

    def _tell(self, info: SessionInfo, note: str, now: datetime) -> None:
        """Queue ``note`` about ``info`` for its creator when a Discord member created it, else for its Discord
        channel (the outbox delivers it)."""
        platform, _, user = info.created_by.partition(":")
        channels = [c.partition(":")[2] for c in info.channels if c.startswith("discord:")]
        text = Reply.text(f"Session #{info.id} '{info.title}': {note}")
        key = f"discord-events:{info.id}:{now:%Y%m%dT%H%M%S}"
        if platform == "discord" and user.isdigit():
            self.bot.outbox.enqueue([Outgoing(key, "discord", text, users=(user,))])
        elif channels:
            self.bot.outbox.enqueue([Outgoing(key, "discord", text, channel=channels[0])])
        else:
            log.warning("nobody to tell about session %s: %s", info.id, note)

    async def run(self, every: float) -> None:
        """:meth:`sync_all` every ``every`` seconds once the client is ready, until cancelled."""
        await self.client.wait_until_ready()
        while True:
            try:
                await self.sync_all()
            except Exception:  # a database hiccup must not end the loop
                log.exception("the scheduled events pass failed")
            await asyncio.sleep(every)

    async def _create(self, guild: discord.Guild, session_id: int, wanted: dict[str, Any]) -> discord.ScheduledEvent:
        event = await guild.create_scheduled_event(
            **{**wanted, "description": wanted["description"] or discord.utils.MISSING},
            entity_type=discord.EntityType.external, privacy_level=discord.PrivacyLevel.guild_only,
            reason=f"rrr session #{session_id}")
        self._known[session_id] = wanted
        self._told.discard(guild.id)  # events work there again: a later refusal is told again
        try:
            await asyncio.to_thread(self.bot.external_refs.set, PLATFORM, EVENT_REF, str(session_id), str(event.id))
        except Exception:
            log.exception("cannot store the scheduled event %s of session %s", event.id, session_id)
        return event

    def event_of(self, session_id: int) -> str | None:
        """The id of the session's scheduled event (None when it has none)."""
        return self.bot.external_refs.get(PLATFORM, EVENT_REF, str(session_id))

    def _guilds(self, info: SessionInfo) -> list[discord.Guild]:
        """The guilds of the session's Discord channels, then the bot's others."""
        guilds: list[discord.Guild] = []
        for channel in info.channels:
            platform, _, channel_id = channel.partition(":")
            found = self.client.get_channel(int(channel_id)) if platform == "discord" and channel_id.isdigit() \
                else None
            if isinstance(found, discord.abc.GuildChannel):
                guilds.append(found.guild)
        return list(dict.fromkeys([*guilds, *self.client.guilds]))

    async def _find(self, info: SessionInfo, event_id: int) -> discord.ScheduledEvent | None:
        """The event, asked of the guilds of the session's Discord channels first, then of the bot's others."""
        for guild in self._guilds(info):
            try:
                return await guild.fetch_scheduled_event(event_id, with_counts=False)
            except discord.NotFound:
                continue
        return None

    async def _forget(self, session_id: int) -> None:
        self._known.pop(session_id, None)
        await asyncio.to_thread(self.bot.external_refs.set, PLATFORM, EVENT_REF, str(session_id), None)


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


def session_draft(options: dict[str, Any], channel: str) -> SessionDraft:
    """The session ``/session-add``'s options ask for (each option is the :class:`SessionDraft` field of its name;
    those left out keep the draft's defaults), announced in ``channel``."""
    given: dict[str, Any] = {key: value.strip() if isinstance(value, str) else value
                             for key, value in options.items()
                             if value is not None and value != "" and not (key == "repeat" and value == "none")}
    return SessionDraft(**given, channels=(f"discord:{channel}",) if channel else ())


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
