"""The Discord adapter: the real discord.py client, wired to the neutral core.

Slash commands and context menus go through an ``app_commands.CommandTree``; every interaction is deferred at once
(Discord's 3-second budget) and answered by follow-up; embedding and search run in worker threads inside the core,
so the gateway heartbeat never waits. Messages are sent with mentions disabled, except the users the core means.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import discord
import yarl
from discord import app_commands

from bot import Action, Bot, Incoming, Reply, Secrets, Settings
from bot.errors import ConfigError
from bot.messages import Actions, Button
from bot.config import DiscordSettings
from bot.services import Pending

from .. import outbox_pump

from .render import render, trim
from .views import ActionButton, NotHelpfulModal, SaveSolutionModal, make_view, parse_modal

log = logging.getLogger(__name__)
PLATFORM = "discord"
_MENTION = re.compile(r"<@!?(\d+)>")


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
        self._register_commands()

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
            await target.send(content=rendered.content or None, embeds=rendered.embeds,  # type: ignore[union-attr]
                              view=make_view(rendered.buttons) or discord.utils.MISSING,
                              allowed_mentions=rendered.allowed_mentions)

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
            rendered = render(reply)
            await message.reply(content=rendered.content or None, embeds=rendered.embeds,
                                view=make_view(rendered.buttons) or discord.utils.MISSING,
                                allowed_mentions=rendered.allowed_mentions, mention_author=False)

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
            rendered = render(reply)
            await interaction.followup.send(content=rendered.content or "\u200b", embeds=rendered.embeds,
                                            view=make_view(rendered.buttons) or discord.utils.MISSING,
                                            ephemeral=private,
                                            allowed_mentions=rendered.allowed_mentions)

    async def _post_to_channel(self, reply: Reply, *, question_id: str | None = None) -> None:
        """Post to the channel the core names (the network channel), with a "Save an answer" button."""
        if question_id:
            reply = Reply(reply.blocks + (Actions((Button("Save an answer as a solution", "save_solution_form",
                                                          question_id),)),), channel=reply.channel)
        rendered = render(reply)
        try:
            channel = self.client.get_channel(int(reply.channel)) or await self.client.fetch_channel(int(reply.channel))
            await channel.send(content=rendered.content or None, embeds=rendered.embeds,  # type: ignore[union-attr]
                               view=make_view(rendered.buttons) or discord.utils.MISSING,
                               allowed_mentions=rendered.allowed_mentions)
        except (discord.HTTPException, ValueError) as exc:
            log.error("cannot post to channel %s: %s", reply.channel, exc)

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
