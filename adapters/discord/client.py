"""The Discord adapter: the real discord.py client, wired to the neutral core.

Slash commands and context menus go through an ``app_commands.CommandTree``; every interaction is deferred at once
(Discord's 3-second budget) and answered by follow-up; embedding and search run in worker threads inside the core,
so the gateway heartbeat never waits. Messages are sent with mentions disabled, except the users the core means.

Sessions: ``/session-add`` (coordinators) becomes the core's ``session add ...`` text command for the channel it is
used in; the confirmation is private, the session's card is posted for everyone, and where the bot may create
events a Discord scheduled event is published for the next occurrence (a refusal is logged, never fatal). An RSVP
click answers by *editing* the message that holds the button (``interaction.response.edit_message``, or the
original response after a deferred update when the core is slow), then sends the private note as a follow-up.

Pictures (the charts of ``insights``, ``/insights``) are attached to the message that carries the text, as files
(see :mod:`.render`): a reply to a mention, an interaction follow-up (private when the command is), a post in the
network channel, an outbox delivery to a channel or a DM (the weekly insights digest).
"""

from __future__ import annotations

import asyncio
import logging
import re
import shlex
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import discord
import yarl
from discord import app_commands

from bot import Action, Bot, Incoming, Reply, Secrets, Settings
from bot.errors import ConfigError
from bot.messages import Actions, Button
from bot.config import DiscordSettings
from bot.services import Pending
from bot.session_commands import RSVP_ACTIONS

from .. import outbox_pump

from .render import Rendered, files_or_missing, render, trim
from .views import ActionButton, NotHelpfulModal, SaveSolutionModal, make_view, parse_modal

log = logging.getLogger(__name__)
PLATFORM = "discord"
_MENTION = re.compile(r"<@!?(\d+)>")
#: How long a click that edits its message may wait for the core before the interaction is deferred instead
#: (Discord wants the first answer within 3 seconds).
EDIT_ANSWER_SECONDS = 2.0
#: The zones ``/session-add`` offers: those of the network's nine cities, and UTC (any IANA name is accepted).
ZONES: tuple[tuple[str, str], ...] = (
    ("Europe/Madrid", "Bilbao"), ("Europe/Dublin", "Dublin"), ("Europe/Amsterdam", "Rotterdam"),
    ("Europe/Rome", "Turin"), ("Europe/Warsaw", "Warsaw"), ("America/Los_Angeles", "San Francisco"),
    ("America/Toronto", "Montréal"), ("America/Mexico_City", "Guadalajara"), ("America/Sao_Paulo", "Belo Horizonte"),
    ("UTC", ""),
)
REPEATS = (("Once", "none"), ("Every week", "weekly"), ("Every 2 weeks", "every 2 weeks"),
           ("Monthly (same weekday)", "monthly"))
#: The most weeks ``/insights`` offers (the core's own limit is higher: a longer period is a report, not a chat).
INSIGHTS_WEEKS = 104
#: Discord's limits for a scheduled event.
EVENT_NAME, EVENT_DESCRIPTION, EVENT_LOCATION = 100, 1000, 100


def point_at(settings: DiscordSettings) -> None:
    """Aim discord.py at the configured REST and gateway endpoints (a proxy, or a test server).

    discord.py keeps both as class attributes, so this applies to the whole process.
    """
    discord.http.Route.BASE = settings.api_base_url.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.gateway_url)


class _AdapterHooks:
    """The client events the adapter handles; mixed into the plain and the sharded client."""

    def __init__(self, adapter: DiscordAdapter, **options: Any) -> None:
        super().__init__(**options)  # type: ignore[call-arg]
        self.adapter = adapter

    async def setup_hook(self) -> None:
        await self.adapter.setup()

    async def on_message(self, message: discord.Message) -> None:
        await self.adapter.on_message(message)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        await self.adapter.on_interaction(interaction)


class _Client(_AdapterHooks, discord.Client):
    pass


class _ShardedClient(_AdapterHooks, discord.AutoShardedClient):
    pass


class DiscordAdapter:
    """Serves Discord: mentions, DMs, slash commands, context menus, persistent buttons and modals."""

    def __init__(self, bot: Bot, settings: Settings, secrets: Secrets) -> None:
        if not secrets.discord_token:
            raise ConfigError("Discord needs DISCORD_TOKEN in the environment")
        self.bot = bot
        self.settings = settings
        self.secrets = secrets
        point_at(settings.discord)
        options: dict[str, Any] = {"intents": discord.Intents.default(),
                                   "allowed_mentions": discord.AllowedMentions.none()}
        if settings.discord.sharded:
            self.client: discord.Client = _ShardedClient(self, shard_count=settings.discord.shard_count, **options)
        else:
            self.client = _Client(self, **options)
        self.tree = app_commands.CommandTree(self.client)
        self._pump: asyncio.Future | None = None
        self.edit_answer_seconds = EDIT_ANSWER_SECONDS
        #: One lock per message a click redraws, so concurrent RSVPs are drawn in the order they were counted.
        self._card_locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
        self._register_commands()
        bot.channel_checks[PLATFORM] = self.channel_problem

    async def start(self) -> None:
        """Log in, connect to the gateway and serve until closed (reconnects are discord.py's)."""
        await self.client.start(self.secrets.discord_token or "")

    async def close(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
        await self.client.close()

    async def run_outbox(self) -> None:
        """Deliver queued proactive messages every ``[bot] outbox_interval`` seconds, until cancelled."""
        await self.client.wait_until_ready()
        await outbox_pump.pump(self.settings.bot.outbox_interval, self.deliver_outbox)

    async def deliver_outbox(self) -> int:
        """Send what the outbox holds for Discord: to a channel, or as a DM to each user."""
        return await outbox_pump.deliver(self.bot, PLATFORM, self._send_pending)

    async def _send_pending(self, item: Pending) -> None:
        rendered = render(item.reply)
        if item.channel:
            targets = [self.client.get_channel(int(item.channel)) or await self.client.fetch_channel(int(item.channel))]
        else:
            targets = [await (self.client.get_user(int(u)) or await self.client.fetch_user(int(u))).create_dm()
                       for u in item.users]
        for target in targets:
            await send_rendered(target.send, rendered)  # type: ignore[union-attr]

    async def setup(self) -> None:
        """Register the persistent buttons, start the outbox pump, sync the commands (guild or global)."""
        self.client.add_dynamic_items(ActionButton)
        self._pump = asyncio.ensure_future(self.run_outbox())
        guild_id = self.settings.discord.guild_id
        if guild_id:
            guild = discord.Object(id=int(guild_id))
            self.tree.copy_global_to(guild=guild)
            await self.tree.sync(guild=guild)
        else:
            await self.tree.sync()

    # -- messages ------------------------------------------------------------------------------------------------

    async def on_message(self, message: discord.Message) -> None:
        """Answer a mention (as a reply) or a DM; ignore bots, the bot itself included."""
        me = self.client.user
        if message.author.bot or me is None:
            return
        is_dm = message.guild is None
        if not is_dm and me not in message.mentions:
            return
        if not await self.bot.first_delivery(PLATFORM, f"message:{message.id}"):
            return
        text = " ".join(_MENTION.sub(" ", message.content).split())
        incoming = Incoming(platform=PLATFORM, user=str(message.author.id), text=text,
                            channel=str(message.channel.id), workspace=str(message.guild.id) if message.guild else "",
                            is_direct=is_dm, user_name=message.author.display_name, roles=self._roles(message.author))
        for reply in await self.bot.handle(incoming):
            if reply.channel:
                await self._post_to_channel(reply)
                continue
            await send_rendered(message.reply, render(reply), mention_author=False)

    # -- interactions --------------------------------------------------------------------------------------------

    async def run_command(self, interaction: discord.Interaction, text: str, *, ephemeral: bool = False) -> None:
        """Defer at once, let the core answer ``text``, then send the replies as follow-ups."""
        await interaction.response.defer(thinking=True, ephemeral=ephemeral)
        incoming = Incoming(platform=PLATFORM, user=str(interaction.user.id), text=text,
                            channel=str(interaction.channel_id or ""), workspace=str(interaction.guild_id or ""),
                            is_direct=interaction.guild_id is None, user_name=interaction.user.display_name,
                            roles=self._roles(interaction.user))
        await self._follow_up(interaction, await self.bot.handle(incoming), ephemeral=ephemeral)

    async def on_button(self, interaction: discord.Interaction, action: str, value: str) -> None:
        if action in RSVP_ACTIONS:
            await self._on_card_button(interaction, action, value)
            return
        if action == "feedback_not_helpful":
            await interaction.response.send_modal(NotHelpfulModal(value))
            return
        if action == "save_solution_form":
            await interaction.response.send_modal(SaveSolutionModal(question_id=value))
            return
        public = action == "share_answer"
        await interaction.response.defer(thinking=True, ephemeral=not public)
        event = Action(PLATFORM, str(interaction.user.id), action, value, channel=str(interaction.channel_id or ""),
                       roles=self._roles(interaction.user), user_name=interaction.user.display_name)
        replies = await self.bot.handle_action(event)
        await self._follow_up(interaction, replies, ephemeral=not public,
                              question_id=value if action == "ask_network" else None)

    async def _on_card_button(self, interaction: discord.Interaction, action: str, value: str) -> None:
        """A click whose answer may redraw the message holding the button (an RSVP): the core's ``replace`` reply
        edits that message, the other replies are follow-ups (private ones ephemeral)."""
        event = Action(PLATFORM, str(interaction.user.id), action, value, channel=str(interaction.channel_id or ""),
                       roles=self._roles(interaction.user), user_name=interaction.user.display_name)
        key = interaction.message.id if interaction.message is not None else 0
        lock = self._card_locks.get(key) or self._card_locks.setdefault(key, asyncio.Lock())
        if lock.locked():  # another click is redrawing this card: acknowledge now, redraw when our turn comes
            await interaction.response.defer()
        async with lock:  # the redrawn card carries the counts of the latest click
            task = asyncio.ensure_future(self.bot.handle_action(event))
            done, _ = await asyncio.wait({task}, timeout=self.edit_answer_seconds)
            if not done and not interaction.response.is_done():  # a slow core: acknowledge, edit when it answers
                await interaction.response.defer()
            replies = await task
            rest = []
            for reply in replies:
                if not (reply.replace and not reply.channel):
                    rest.append(reply)
                    continue
                rendered = render(reply)
                view = make_view(rendered.buttons)
                edit: dict[str, Any] = dict(content=rendered.content or None, embeds=rendered.embeds, view=view,
                                            allowed_mentions=rendered.allowed_mentions)
                if rendered.images:  # an edit replaces the attachments: only when the card has pictures
                    edit["attachments"] = rendered.file_batches()[0]
                try:
                    if interaction.response.is_done():
                        await interaction.edit_original_response(**edit)
                    else:
                        await interaction.response.edit_message(**edit)
                except discord.HTTPException as exc:
                    log.error("cannot redraw the message of a %s click: %s", action, exc)
                    rest.append(Reply(reply.blocks, ephemeral=True))  # the clicker still sees the new state
        if not interaction.response.is_done():
            await interaction.response.defer()  # nothing to edit: a deferred update, the answers follow
        await self._follow_up(interaction, rest, ephemeral=False)

    async def add_session(self, interaction: discord.Interaction, **options: Any) -> None:
        """``/session-add``: the core's ``session add`` for this channel. The outcome is private; the new session's
        card is posted for everyone, and published as a Discord scheduled event where the bot may."""
        await interaction.response.defer(thinking=True, ephemeral=True)
        text = session_command(options, str(interaction.channel_id or ""))
        incoming = Incoming(platform=PLATFORM, user=str(interaction.user.id), text=text,
                            channel=str(interaction.channel_id or ""), workspace=str(interaction.guild_id or ""),
                            is_direct=interaction.guild_id is None, user_name=interaction.user.display_name,
                            roles=self._roles(interaction.user))
        replies = await self.bot.handle(incoming)
        if any(r.is_error for r in replies) or not replies:
            await self._follow_up(interaction, replies, ephemeral=True)
            return
        session = _session_of(replies)
        event = await self._publish_event(interaction, session[0]) if session else None
        note = f"Session #{session[0]} is scheduled; its card is posted below." if session else "Scheduled."
        if event is not None:
            note += f" It is also a Discord event: {event.url}"
        await interaction.followup.send(note, ephemeral=True)  # ends the private "thinking" message
        await self._follow_up(interaction, replies, ephemeral=False)

    async def _publish_event(self, interaction: discord.Interaction, session_id: int) -> discord.ScheduledEvent | None:
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

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Handle our form submissions from their ids alone, so a form opened before a restart still works."""
        data = interaction.data or {}
        if interaction.type is not discord.InteractionType.modal_submit:
            return
        parsed = parse_modal(str(data.get("custom_id", "")), data.get("components", []))
        if parsed is None or interaction.response.is_done():
            return
        action, value, fields = parsed
        await interaction.response.defer(thinking=True, ephemeral=True)
        event = Action(PLATFORM, str(interaction.user.id), action, value, channel=str(interaction.channel_id or ""),
                       fields=tuple(fields.items()), roles=self._roles(interaction.user),
                       user_name=interaction.user.display_name)
        await self._follow_up(interaction, await self.bot.handle_action(event), ephemeral=True)

    async def _follow_up(self, interaction: discord.Interaction, replies: list[Reply], *, ephemeral: bool,
                         question_id: str | None = None) -> None:
        for reply in replies:
            if reply.channel:
                await self._post_to_channel(reply, question_id=question_id)
                continue
            private = ephemeral or reply.ephemeral
            if private and reply.question_id and not reply.is_error:
                reply = Reply(reply.blocks + (Actions((Button("Share in channel", "share_answer",
                                                              reply.question_id),)),), ephemeral=True)
            await send_rendered(interaction.followup.send, render(reply), placeholder="\u200b", ephemeral=private)

    async def _post_to_channel(self, reply: Reply, *, question_id: str | None = None) -> None:
        """Post to the channel the core names (the network channel), with a "Save an answer" button."""
        if question_id:
            reply = Reply(reply.blocks + (Actions((Button("Save an answer as a solution", "save_solution_form",
                                                          question_id),)),), channel=reply.channel)
        rendered = render(reply)
        try:
            channel = self.client.get_channel(int(reply.channel)) or await self.client.fetch_channel(int(reply.channel))
            await send_rendered(channel.send, rendered)  # type: ignore[union-attr]
        except (discord.HTTPException, ValueError) as exc:
            log.error("cannot post to channel %s: %s", reply.channel, exc)

    async def channel_problem(self, channel_id: str) -> str | None:
        """Why the bot cannot post in the channel ``channel_id`` (the core asks before a session is announced
        there), or None. What Discord does not say (an outage) is not held against the channel."""
        if not channel_id.isdigit():
            return "a Discord channel is given by its id (a number): right-click the channel, Copy Channel ID"
        try:
            channel = self.client.get_channel(int(channel_id)) or await self.client.fetch_channel(int(channel_id))
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

    def _roles(self, user: discord.abc.User) -> tuple[str, ...]:
        wanted = self.settings.discord.coordinator_role
        if not wanted or not isinstance(user, discord.Member):
            return ()
        return ("coordinator",) if any(str(r.id) == wanted or r.name == wanted for r in user.roles) else ()

    # -- commands ------------------------------------------------------------------------------------------------

    def _register_commands(self) -> None:
        tree, adapter = self.tree, self

        async def city_names(_: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
            names = await adapter.bot.city_names()
            return [app_commands.Choice(name=n, value=n) for n in names if current.casefold() in n.casefold()][:25]

        async def tags(_: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
            known = await adapter.bot.tags()
            return [app_commands.Choice(name=t, value=t) for t in known if current.casefold() in t][:25]

        @tree.command(name="ask", description="Find past solutions of peer cities")
        @app_commands.describe(question="Your question, in any language", city="Only this city's solutions",
                               tag="Only solutions with this topic")
        @app_commands.autocomplete(city=city_names, tag=tags)
        async def ask(interaction: discord.Interaction, question: str, city: str | None = None,
                      tag: str | None = None) -> None:
            filters = "".join(f' {k}:"{v}"' for k, v in (("city", city), ("tag", tag)) if v)
            await adapter.run_command(interaction, f"ask {question}{filters}")

        @tree.command(name="cities", description="The cities of the network")
        async def cities(interaction: discord.Interaction) -> None:
            await adapter.run_command(interaction, "cities")

        @tree.command(name="city", description="A city's profile, challenges and contacts")
        @app_commands.autocomplete(name=city_names)
        async def city(interaction: discord.Interaction, name: str) -> None:
            await adapter.run_command(interaction, f"city {name}")

        @tree.command(name="intro", description="Cities whose challenges match yours (or a topic), and why")
        @app_commands.describe(topic="Optional: a challenge or topic, in any language")
        async def intro(interaction: discord.Interaction, topic: str | None = None) -> None:
            await adapter.run_command(interaction, f"intro {topic or ''}".strip())

        @tree.command(name="profile", description="Your city's profile and numbered challenges")
        @app_commands.autocomplete(city=city_names)
        async def profile(interaction: discord.Interaction, city: str | None = None) -> None:
            await adapter.run_command(interaction, f"profile {city or ''}".strip(), ephemeral=True)

        @tree.command(name="iam", description="Link yourself to your city")
        @app_commands.autocomplete(city=city_names)
        async def iam(interaction: discord.Interaction, city: str) -> None:
            await adapter.run_command(interaction, f"iam {city}", ephemeral=True)

        @tree.command(name="whoami", description="Your city and role")
        async def whoami(interaction: discord.Interaction) -> None:
            await adapter.run_command(interaction, "whoami", ephemeral=True)

        @tree.command(name="help", description="What the bot can do")
        async def help_(interaction: discord.Interaction) -> None:
            await adapter.run_command(interaction, "help", ephemeral=True)

        @tree.command(name="unanswered", description="Questions the knowledge base could not answer (coordinators)")
        async def unanswered(interaction: discord.Interaction) -> None:
            await adapter.run_command(interaction, "unanswered", ephemeral=True)

        @tree.command(name="insights",
                      description="Your city's figures; coordinators: the whole network, coverage gaps and charts")
        @app_commands.describe(weeks="How many weeks back (default 12)")
        async def insights(interaction: discord.Interaction,
                           weeks: app_commands.Range[int, 1, INSIGHTS_WEEKS] | None = None) -> None:
            # Private, like /unanswered: the figures (and the coordinators' gaps) are for the one who asked.
            await adapter.run_command(interaction, f"insights {weeks or ''}".strip(), ephemeral=True)

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

        @tree.command(name="home", description="Your city, its challenges and your role")
        async def home(interaction: discord.Interaction) -> None:
            await interaction.response.defer(thinking=True, ephemeral=True)
            reply = await adapter.bot.home(PLATFORM, str(interaction.user.id), adapter._roles(interaction.user))
            await adapter._follow_up(interaction, [reply], ephemeral=True)

        @tree.context_menu(name="Find similar solutions")
        async def find_similar(interaction: discord.Interaction, message: discord.Message) -> None:
            await adapter.run_command(interaction, "ask " + " ".join(_MENTION.sub(" ", message.content).split()),
                                      ephemeral=True)

        @tree.context_menu(name="Save as solution")
        async def save_solution(interaction: discord.Interaction, message: discord.Message) -> None:
            city = await adapter.bot.member_city(PLATFORM, str(message.author.id))
            text = " ".join(_MENTION.sub(" ", message.content).split())
            first = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0] if text else ""
            await interaction.response.send_modal(SaveSolutionModal(
                title=trim(first, 150), city=city or "", summary=text, source_url=message.jump_url))


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


def _session_of(replies: list[Reply]) -> tuple[int, str] | None:
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
