"""The Discord adapter: the real discord.py client, wired to the neutral core.

Slash commands and context menus (:mod:`.commands`, :mod:`.sessions`) go through an ``app_commands.CommandTree``;
every interaction is deferred at once (Discord's 3-second budget) and answered by follow-up (:mod:`.posting`);
embedding and search run in worker threads inside the core, so the gateway heartbeat never waits. A mention or DM
whose answer is slow gets a placeholder reply first, which the answer then edits in place (:mod:`..placeholder`).
Messages are sent with mentions disabled, except the users the core means; pictures (the charts of ``insights``) are
attached to the message that carries the text (:mod:`.files`). An RSVP click edits the card holding the button
(:mod:`.cards`); a click on ``/home`` redraws the home (:mod:`bot.home`), and Confirm of a session typed in words
edits its echo (:mod:`bot.session_drafts`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import discord
import yarl
from discord import app_commands

from bot import Action, Bot, Incoming, Reply, Settings
from bot.errors import ConfigError
from bot.home import FROM_HOME
from bot.review import EDIT
from bot.sessions.commands import RSVP_ACTIONS
from bot.sessions.confirmations import DRAFT_ACTIONS

from .. import outbox_pump
from ..placeholder import Placeholder, replaceable
from . import sessions
from .cards import Cards
from .commands import register_commands
from .files import send_rendered
from .platform import DISCORD, DiscordSecrets, DiscordSettings
from .incoming import PLATFORM, action_of, incoming_of, roles_of, strip_mentions
from .posting import Poster
from .render import render
from .sessions import SessionAdd
from .views import ActionButton, AskModal, EditModal, NotHelpfulModal, SaveSolutionModal, edit_modal_id, parse_modal
from bot.actions import ASK_NETWORK, FEEDBACK_NOT_HELPFUL, SHARE_ANSWER

log = logging.getLogger(__name__)


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

    def __init__(self, bot: Bot, settings: Settings, secrets: DiscordSecrets) -> None:
        if not secrets.token:
            raise ConfigError("Discord needs DISCORD_TOKEN in the environment")
        self.bot = bot
        self.settings = settings
        self.discord_settings = DiscordSettings.of(settings)
        self.secrets = secrets
        point_at(self.discord_settings)
        options: dict[str, Any] = {"intents": discord.Intents.default(),
                                   "allowed_mentions": discord.AllowedMentions.none()}
        if self.discord_settings.sharded:
            self.client: discord.Client = _ShardedClient(self, shard_count=self.discord_settings.shard_count,
                                                         **options)
        else:
            self.client = _Client(self, **options)
        self.tree = app_commands.CommandTree(self.client)
        self._pump: asyncio.Future | None = None
        self._events: asyncio.Future | None = None
        self.poster = Poster(self.client)
        self.cards = Cards(bot)
        self.session_add = SessionAdd(bot, self.client, self.poster, self.cards)
        register_commands(self.tree, self)
        bot.register_platform(DISCORD, channel_check=self.channel_problem)

    @property
    def edit_answer_seconds(self) -> float:
        """How long a click that edits its card may wait for the core (:data:`.cards.EDIT_ANSWER_SECONDS`)."""
        return self.cards.answer_seconds

    @edit_answer_seconds.setter
    def edit_answer_seconds(self, seconds: float) -> None:
        self.cards.answer_seconds = seconds

    async def channel_problem(self, channel_id: str) -> str | None:
        """Why the bot cannot post in the channel ``channel_id``, or None (see :func:`.sessions.channel_problem`)."""
        return await sessions.channel_problem(self.client, channel_id)

    def roles(self, user: discord.abc.User) -> tuple[str, ...]:
        """``("coordinator",)`` for a member holding the configured coordinator role, in its server."""
        discord_settings = self.discord_settings
        return roles_of(user, discord_settings.coordinator_role, discord_settings.coordinator_server)

    async def start(self) -> None:
        """Log in, connect to the gateway and serve until closed (reconnects are discord.py's)."""
        await self.client.start(self.secrets.token or "")

    async def close(self) -> None:
        for task in (self._pump, self._events):  # the outbox pump, the scheduled events' pass
            if task is not None:
                task.cancel()
        await self.client.close()

    async def run_outbox(self) -> None:
        """Deliver queued proactive messages every ``[bot] outbox_interval`` seconds, until cancelled."""
        await self.client.wait_until_ready()
        await outbox_pump.pump(self.settings.bot.outbox_interval, self.deliver_outbox)

    async def deliver_outbox(self) -> int:
        """Send what the outbox holds for Discord: to a channel, or as a DM to each user."""
        return await outbox_pump.deliver(self.bot, PLATFORM, self.poster.send_pending)

    async def setup(self) -> None:
        """Register the persistent buttons, start the outbox pump, sync the commands (guild or global)."""
        self.client.add_dynamic_items(ActionButton)
        self._pump = asyncio.ensure_future(self.run_outbox())
        self._events = asyncio.ensure_future(self.session_add.events.run(self.settings.sessions.sync_seconds))
        guild_id = self.discord_settings.guild_id
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
        placeholder = Placeholder(lambda reply: self.poster.placeholder(message, reply),
                                  self.settings.bot.placeholder_seconds, self.bot.expected_wait())
        if not await self.bot.first_delivery(PLATFORM, f"message:{message.id}"):
            return
        incoming = Incoming(platform=PLATFORM, user=str(message.author.id), text=strip_mentions(message.content),
                            channel=str(message.channel.id), workspace=str(message.guild.id) if message.guild else "",
                            is_direct=is_dm, user_name=message.author.display_name, roles=self.roles(message.author))
        replacing = None
        for reply in await placeholder.answer(lambda notice: self.bot.handle(incoming, notice)):
            if reply.channel:
                await self.poster.to_channel(reply)
                continue
            if replacing is None and placeholder.handle is not None and replaceable(reply):
                replacing = placeholder.handle
                if await self.poster.replace(replacing, message, reply):
                    continue
            await send_rendered(message.reply, render(reply), mention_author=False)
        if placeholder.handle is not None and replacing is None:
            await self.poster.remove(placeholder.handle)

    # -- interactions --------------------------------------------------------------------------------------------

    async def run_command(self, interaction: discord.Interaction, text: str, *, ephemeral: bool = False) -> None:
        """Defer at once, let the core answer ``text``, then send the replies as follow-ups."""
        await self.run_request(interaction, self.bot.handle, ephemeral=ephemeral, text=text)

    async def run_request(self, interaction: discord.Interaction,
                          answer: Callable[[Incoming], Awaitable[list[Reply]]], *, ephemeral: bool = False,
                          text: str = "") -> None:
        """Defer at once, let the core ``answer`` the interaction's member (a typed request, or the command
        ``text``), then send the replies as follow-ups."""
        await interaction.response.defer(thinking=True, ephemeral=ephemeral)
        incoming = incoming_of(interaction, text, self.roles(interaction.user))
        await self.poster.follow_up(interaction, await answer(incoming), ephemeral=ephemeral)

    async def on_button(self, interaction: discord.Interaction, action: str, value: str) -> None:
        if action in RSVP_ACTIONS or value.endswith(FROM_HOME):  # the answer may redraw the card (or the home)
            replies = await self.cards.click(interaction, self._action(interaction, action, value))
            await self.poster.follow_up(interaction, replies, ephemeral=False)
            return
        if action == FEEDBACK_NOT_HELPFUL:
            await interaction.response.send_modal(NotHelpfulModal(value))
            return
        if action in DRAFT_ACTIONS:  # Confirm / Cancel of a session typed in words
            await self.session_add.confirmed(interaction, self._action(interaction, action, value))
            return
        if action == "home_ask":
            await interaction.response.send_modal(AskModal())
            return
        if action == "save_solution_form":
            await interaction.response.send_modal(SaveSolutionModal(question_id=value))
            return
        if action == EDIT:
            await self._edit_form(interaction, value)
            return
        public = action == SHARE_ANSWER
        await interaction.response.defer(thinking=True, ephemeral=not public)
        replies = await self.bot.handle_action(self._action(interaction, action, value))
        await self.poster.follow_up(interaction, replies, ephemeral=not public,
                                    question_id=value if action == ASK_NETWORK else None)

    async def _edit_form(self, interaction: discord.Interaction, value: str) -> None:
        """A saved answer's Edit button: the core's prefilled form as a modal (coordinators), else a private
        refusal and nothing opens."""
        form = await self.bot.edit_form(self._action(interaction, EDIT, value))
        if not isinstance(form, list) and len(edit_modal_id(form.solution_id)) <= 100:
            await interaction.response.send_modal(EditModal(form))
            return
        replies = form if isinstance(form, list) else [Reply.text(
            f"The id `{form.solution_id}` is too long for a Discord form: `rrr-bot kb edit {form.solution_id}` "
            "changes it.", ephemeral=True)]
        await interaction.response.defer(thinking=True, ephemeral=True)
        await self.poster.follow_up(interaction, replies, ephemeral=True)

    async def add_session(self, interaction: discord.Interaction, **options: Any) -> None:
        """``/session-add`` with its ``options`` (see :class:`.sessions.SessionAdd`)."""
        await self.session_add.handle(interaction, self.roles(interaction.user), **options)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Handle our form submissions from their ids alone, so a form opened before a restart still works."""
        data: dict[str, Any] = dict(interaction.data or {})
        if interaction.type is not discord.InteractionType.modal_submit:
            return
        parsed = parse_modal(str(data.get("custom_id", "")), data.get("components", []))
        if parsed is None or interaction.response.is_done():
            return
        action, value, fields = parsed
        await interaction.response.defer(thinking=True, ephemeral=True)
        event = self._action(interaction, action, value, tuple(fields.items()))
        await self.poster.follow_up(interaction, await self.bot.handle_action(event), ephemeral=True)

    def _action(self, interaction: discord.Interaction, action: str, value: str,
                fields: tuple[tuple[str, str], ...] = ()) -> Action:
        """The core's :class:`~bot.Action` for a click or a form of ``interaction``."""
        return action_of(interaction, action, value, self.roles(interaction.user), fields)
