"""Persistent buttons and modals. Button state lives in the ``custom_id`` (``rrr:ACTION:VALUE``), read back by a
:class:`discord.ui.DynamicItem`, so buttons keep working after the bot restarts. The value may hold colons (an RSVP
button's ``SESSION_ID:OCCURRENCE_KEY``); the action is everything up to the first colon after ``rrr:``.

A link button (:attr:`~bot.messages.Button.url` set) is a ``ButtonStyle.link`` button: Discord opens the address
and sends the bot no interaction."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord

from bot.messages import Button

from .render import custom_id

if TYPE_CHECKING:
    from .client import DiscordAdapter

    ModalInput = discord.ui.TextInput[discord.ui.Modal]  # a text field of one of our forms

STYLES = {"primary": discord.ButtonStyle.primary, "danger": discord.ButtonStyle.danger}


class ActionButton(discord.ui.DynamicItem[discord.ui.Button], template=r"rrr:(?P<action>[a-z_]+):(?P<value>[^\n]*)"):
    """A core button; a click becomes an :class:`~bot.messages.Action` for the core."""

    def __init__(self, action: str, value: str, label: str = "", style: str = "default") -> None:
        super().__init__(discord.ui.Button(label=label[:80] or action, custom_id=custom_id(Button(label, action,
                                                                                                   value)),
                                           style=STYLES.get(style, discord.ButtonStyle.secondary)))
        self.action = action
        self.value = value

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: Any) -> ActionButton:
        label = item.label if isinstance(item, discord.ui.Button) else None  # it is the Button of __init__
        return cls(match["action"], match["value"], label or "")

    async def callback(self, interaction: discord.Interaction) -> None:
        adapter: DiscordAdapter = interaction.client.adapter  # type: ignore[attr-defined]
        await adapter.on_button(interaction, self.action, self.value)


def make_view(buttons: list[Button]) -> discord.ui.View | None:
    if not buttons:
        return None
    view = discord.ui.View(timeout=None)
    for button in buttons:
        if button.url:
            view.add_item(discord.ui.Button(label=button.label[:80] or "Open", url=button.url,
                                            style=discord.ButtonStyle.link))
        else:
            view.add_item(ActionButton(button.action_id, button.value, button.label, button.style))
    return view


class NotHelpfulModal(discord.ui.Modal, title="Not helpful"):
    """Asks what was missing. Submissions are handled by :func:`parse_modal`, from the ids alone."""

    reason: ModalInput = discord.ui.TextInput(label="What was missing?", style=discord.TextStyle.paragraph,
                                              required=False, max_length=2000, custom_id="reason")

    def __init__(self, question_id: str) -> None:
        super().__init__(custom_id=f"rrr-modal:not_helpful:{question_id}"[:100], timeout=None)


class SaveSolutionModal(discord.ui.Modal, title="Save as solution"):
    """A peer's answer as a new solution. Submissions are handled by :func:`parse_modal`."""

    solution_title: ModalInput = discord.ui.TextInput(label="Title", max_length=150, custom_id="title")
    city: ModalInput = discord.ui.TextInput(label="City", max_length=120, custom_id="city")
    country: ModalInput = discord.ui.TextInput(label="Country (if the city is not in the network)", required=False,
                                               max_length=120, custom_id="country")
    summary: ModalInput = discord.ui.TextInput(label="What was done, with figures",
                                               style=discord.TextStyle.paragraph, max_length=3000, custom_id="summary")
    source_url: ModalInput = discord.ui.TextInput(label="Source link", required=False, max_length=1000,
                                                  custom_id="source_url")

    def __init__(self, *, question_id: str = "", title: str = "", city: str = "", summary: str = "",
                 source_url: str = "") -> None:
        super().__init__(custom_id=f"rrr-modal:save:{question_id}"[:100], timeout=None)
        self.solution_title.default = title[:150] or None
        self.city.default = city[:120] or None
        self.summary.default = summary[:3000] or None
        self.source_url.default = source_url[:1000] or None


class AskModal(discord.ui.Modal, title="Ask the network"):
    """``/home``'s "Ask a question": one question, answered privately. Handled by :func:`parse_modal`."""

    question: ModalInput = discord.ui.TextInput(label="Your question, in any language",
                                                style=discord.TextStyle.paragraph,
                                    max_length=2000, custom_id="question")

    def __init__(self) -> None:
        super().__init__(custom_id="rrr-modal:ask:", timeout=None)


MODAL_ACTIONS = {"not_helpful": "feedback_not_helpful", "save": "save_solution", "ask": "home_ask"}


def parse_modal(custom_id: str, components: list[dict[str, Any]]) -> tuple[str, str, dict[str, str]] | None:
    """``(core action, value, fields)`` of one of our form submissions, or None for anything else."""
    prefix, _, rest = custom_id.partition(":")
    kind, _, value = rest.partition(":")
    if prefix != "rrr-modal" or kind not in MODAL_ACTIONS:
        return None
    fields: dict[str, str] = {}
    for row in components:
        for item in row.get("components", [row.get("component", {})]) if isinstance(row, dict) else ():
            if isinstance(item, dict) and item.get("custom_id"):
                fields[str(item["custom_id"])] = str(item.get("value") or "")
    if kind == "save":
        fields["question_id"] = value
        return MODAL_ACTIONS[kind], "", fields
    return MODAL_ACTIONS[kind], value, fields
