"""Persistent buttons and modals. Button state lives in the ``custom_id`` (``rrr:ACTION:VALUE``), read back by a
:class:`discord.ui.DynamicItem`, so buttons keep working after the bot restarts. The value may hold colons (an RSVP
button's ``SESSION_ID:OCCURRENCE_KEY``); the action is everything up to the first colon after ``rrr:``.

A link button (:attr:`~bot.messages.Button.url` set) is a ``ButtonStyle.link`` button: Discord opens the address
and sends the bot no interaction."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord

from bot.messages import Button
from bot.review import EDIT_SUBMIT, EditForm

from .render import custom_id, trim
from bot.actions import FEEDBACK_NOT_HELPFUL, SAVE_SOLUTION

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


class EditModal(discord.ui.Modal):
    """The review's Edit form, drawn from the core's :class:`~bot.review.EditForm` (5 inputs at most, Discord's
    limit). Handled by :func:`parse_modal` from its ids alone: the form's is ``rrr-modal:edit:ID``, each input's
    ``NAME:HASH`` (the fingerprint of the value shown, so the core writes only what the coordinator changed)."""

    def __init__(self, form: EditForm) -> None:
        super().__init__(title="Edit saved answer", custom_id=edit_modal_id(form.solution_id), timeout=None)
        seen = dict(word.partition(":")[::2] for word in form.seen.split())
        for field in form.inputs[:5]:
            self.add_item(discord.ui.TextInput(
                label=trim(field.label, 45), default=field.value or None, required=field.required,
                max_length=min(field.max_length, 4000), custom_id=f"{field.name}:{seen.get(field.name, '')}",
                style=discord.TextStyle.paragraph if field.multiline else discord.TextStyle.short))


def edit_modal_id(solution_id: str) -> str:
    """The custom id of a saved answer's edit form (longer than Discord's 100 characters for a very long id)."""
    return f"rrr-modal:edit:{solution_id}"


MODAL_ACTIONS = {"not_helpful": FEEDBACK_NOT_HELPFUL, "save": SAVE_SOLUTION, "ask": "home_ask",
                 "edit": EDIT_SUBMIT}


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
    if kind == "edit":  # each input's id is NAME:HASH, the hash of the value the form showed
        named = {key.partition(":")[0]: text for key, text in fields.items()}
        named["seen"] = " ".join(key for key in fields if ":" in key)
        return MODAL_ACTIONS[kind], f"solution:{value}", named
    return MODAL_ACTIONS[kind], value, fields
