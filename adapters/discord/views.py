"""Persistent buttons and modals. Button state lives in the ``custom_id`` (``rrr:ACTION:VALUE``), read back by a
:class:`discord.ui.DynamicItem`, so buttons keep working after the bot restarts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord

from bot.messages import Button

from .render import custom_id

if TYPE_CHECKING:
    from .client import DiscordAdapter

STYLES = {"primary": discord.ButtonStyle.primary, "danger": discord.ButtonStyle.danger}


class ActionButton(discord.ui.DynamicItem[discord.ui.Button], template=r"rrr:(?P<action>[a-z_]+):(?P<value>[^:]*)"):
    """A core button; a click becomes an :class:`~bot.messages.Action` for the core."""

    def __init__(self, action: str, value: str, label: str = "", style: str = "default") -> None:
        super().__init__(discord.ui.Button(label=label[:80] or action, custom_id=custom_id(Button(label, action,
                                                                                                   value)),
                                           style=STYLES.get(style, discord.ButtonStyle.secondary)))
        self.action = action
        self.value = value

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button,
                             match: Any) -> ActionButton:
        return cls(match["action"], match["value"], item.label or "")

    async def callback(self, interaction: discord.Interaction) -> None:
        adapter: DiscordAdapter = interaction.client.adapter  # type: ignore[attr-defined]
        await adapter.on_button(interaction, self.action, self.value)


def make_view(buttons: list[Button]) -> discord.ui.View | None:
    if not buttons:
        return None
    view = discord.ui.View(timeout=None)
    for button in buttons:
        view.add_item(ActionButton(button.action_id, button.value, button.label, button.style))
    return view


class NotHelpfulModal(discord.ui.Modal, title="Not helpful"):
    reason = discord.ui.TextInput(label="What was missing?", style=discord.TextStyle.paragraph, required=False,
                                  max_length=2000)

    def __init__(self, adapter: DiscordAdapter, question_id: str) -> None:
        super().__init__(custom_id=f"rrr-modal:not_helpful:{question_id}"[:100])
        self.adapter = adapter
        self.question_id = question_id

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self.adapter.on_form(interaction, "feedback_not_helpful", self.question_id,
                                   {"reason": self.reason.value or ""})


class SaveSolutionModal(discord.ui.Modal, title="Save as solution"):
    solution_title = discord.ui.TextInput(label="Title", max_length=150)
    city = discord.ui.TextInput(label="City", max_length=120)
    country = discord.ui.TextInput(label="Country (if the city is not in the network)", required=False,
                                   max_length=120)
    summary = discord.ui.TextInput(label="What was done, with figures", style=discord.TextStyle.paragraph,
                                   max_length=3000)
    source_url = discord.ui.TextInput(label="Source link", required=False, max_length=1000)

    def __init__(self, adapter: DiscordAdapter, *, question_id: str = "", title: str = "", city: str = "",
                 summary: str = "", source_url: str = "") -> None:
        super().__init__(custom_id=f"rrr-modal:save:{question_id}"[:100])
        self.adapter = adapter
        self.question_id = question_id
        self.solution_title.default = title[:150] or None
        self.city.default = city[:120] or None
        self.summary.default = summary[:3000] or None
        self.source_url.default = source_url[:1000] or None

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self.adapter.on_form(interaction, "save_solution", "", {
            "title": self.solution_title.value, "city": self.city.value, "country": self.country.value or "",
            "summary": self.summary.value, "source_url": self.source_url.value or "",
            "question_id": self.question_id})
