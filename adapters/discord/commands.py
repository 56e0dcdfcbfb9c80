"""The slash commands and context menus, on an ``app_commands.CommandTree``: each becomes the core's text command
(see :meth:`~.client.DiscordAdapter.run_command`); the session commands are :mod:`.sessions`'."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.paging import CHALLENGES_PAGE, CITIES_PAGE, QUESTIONS_PAGE
from bot.requests import AskQuery

from . import sessions
from .incoming import PLATFORM, strip_mentions
from .render import trim
from .views import SaveSolutionModal

if TYPE_CHECKING:
    from .client import DiscordAdapter

#: The most weeks ``/insights`` offers (the core's own limit is higher: a longer period is a report, not a chat).
INSIGHTS_WEEKS = 104


def register_commands(tree: app_commands.CommandTree, adapter: DiscordAdapter) -> None:
    """Every command of the bot, answered through ``adapter``."""

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
        await adapter.run_request(interaction, lambda incoming: adapter.bot.ask(
            incoming, AskQuery(question, city=city or None, tag=tag or None)))

    @tree.command(name="cities", description="The cities of the network")
    @app_commands.describe(page=f"Which page ({CITIES_PAGE} cities a page, by name)")
    async def cities(interaction: discord.Interaction, page: app_commands.Range[int, 1] | None = None) -> None:
        await adapter.run_command(interaction, f"cities {page or ''}".strip())

    @tree.command(name="city", description="A city's profile, challenges and contacts")
    @app_commands.autocomplete(name=city_names)
    @app_commands.describe(page=f"Which page of its challenges ({CHALLENGES_PAGE} a page)")
    async def city(interaction: discord.Interaction, name: str,
                   page: app_commands.Range[int, 1] | None = None) -> None:
        await adapter.run_command(interaction, f"city {name} {page or ''}".strip())

    @tree.command(name="intro", description="Cities whose challenges match yours (or a topic), and why")
    @app_commands.describe(topic="Optional: a challenge or topic, in any language")
    async def intro(interaction: discord.Interaction, topic: str | None = None) -> None:
        await adapter.run_command(interaction, f"intro {topic or ''}".strip())

    @tree.command(name="profile", description="Your city's profile and numbered challenges")
    @app_commands.autocomplete(city=city_names)
    @app_commands.describe(page=f"Which page of the challenges ({CHALLENGES_PAGE} a page)")
    async def profile(interaction: discord.Interaction, city: str | None = None,
                      page: app_commands.Range[int, 1] | None = None) -> None:
        words = ("profile", city or "", str(page) if page else "")
        await adapter.run_command(interaction, " ".join(w for w in words if w), ephemeral=True)

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
    @app_commands.describe(page=f"Which page ({QUESTIONS_PAGE} questions a page, the newest first)")
    async def unanswered(interaction: discord.Interaction, page: app_commands.Range[int, 1] | None = None) -> None:
        await adapter.run_command(interaction, f"unanswered {page or ''}".strip(), ephemeral=True)

    @tree.command(name="insights",
                  description="Your city's figures; coordinators: the whole network, coverage gaps and charts")
    @app_commands.describe(weeks="How many weeks back (default 12)")
    async def insights(interaction: discord.Interaction,
                       weeks: app_commands.Range[int, 1, INSIGHTS_WEEKS] | None = None) -> None:
        # Private, like /unanswered: the figures (and the coordinators' gaps) are for the one who asked.
        await adapter.run_command(interaction, f"insights {weeks or ''}".strip(), ephemeral=True)

    sessions.register_commands(tree, adapter)

    @tree.command(name="home", description="Your city, your next sessions and introductions, with buttons")
    async def home(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True, ephemeral=True)
        reply = await adapter.bot.home(PLATFORM, str(interaction.user.id), adapter.roles(interaction.user))
        await adapter.poster.follow_up(interaction, [reply], ephemeral=True)

    @tree.context_menu(name="Find similar solutions")
    async def find_similar(interaction: discord.Interaction, message: discord.Message) -> None:
        await adapter.run_command(interaction, "ask " + strip_mentions(message.content), ephemeral=True)

    @tree.context_menu(name="Save as solution")
    async def save_solution(interaction: discord.Interaction, message: discord.Message) -> None:
        city = await adapter.bot.member_city(PLATFORM, str(message.author.id))
        text = strip_mentions(message.content)
        first = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0] if text else ""
        await interaction.response.send_modal(SaveSolutionModal(
            title=trim(first, 150), city=city or "", summary=text, source_url=message.jump_url))
