"""The neutral message model shared by the core and every adapter.

Adapters turn platform events into :class:`Incoming` (a message) or :class:`Action` (a button click or form
submission), pass them to :meth:`bot.Bot.handle`, and render the :class:`Reply` objects they get back in their
own way (Block Kit, embeds, plain text). Proactive messages are the same replies, queued with an address in
:mod:`bot.services.outbox`. Nothing here knows about a platform.
"""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Incoming:
    """A message addressed to the bot (a mention, a DM, a slash command, a console line)."""

    platform: str
    user: str
    text: str
    channel: str = ""
    workspace: str = ""
    thread: str | None = None
    is_direct: bool = False
    user_name: str = ""
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class Action:
    """A click on a button or the submission of a form, produced from a :class:`Reply`'s buttons."""

    platform: str
    user: str
    action_id: str
    value: str = ""
    channel: str = ""
    workspace: str = ""
    fields: tuple[tuple[str, str], ...] = ()
    roles: tuple[str, ...] = ()
    user_name: str = ""

    def field(self, name: str, default: str = "") -> str:
        """Return the submitted form field ``name``."""
        return dict(self.fields).get(name, default)


@dataclass(frozen=True)
class Text:
    """A paragraph. ``style`` is ``plain``, ``heading`` or ``muted``."""

    text: str
    style: str = "plain"


@dataclass(frozen=True)
class Field:
    """One labelled value of a :class:`Facts` block."""

    label: str
    value: str


@dataclass(frozen=True)
class Facts:
    """A short list of labelled values (a city profile, statistics)."""

    fields: tuple[Field, ...]
    title: str = ""


@dataclass(frozen=True)
class SolutionCard:
    """One past solution that matches a question, in the words people see (never a score).

    ``provenance`` is the label of what the facts support ("featured in RRR sources", "shared by Ana on
    2026-12-04"), ``provenance_note`` the record's own note when it adds to the label; ``passage`` is the matched
    passage (under ``heading``), empty when the summary already shows it; ``match`` is "close match", "related" or
    "not sure"; ``kind`` is ``practice`` or ``reference``; ``buttons`` belong to this card (its "More").
    """

    solution_id: str
    title: str
    city: str
    country: str
    summary: str
    provenance: str
    source_url: str | None = None
    heading: str | None = None
    passage: str = ""
    match: str = ""
    provenance_note: str = ""
    saved_by: str = ""
    saved_at: str = ""
    kind: str = "practice"
    buttons: tuple[Button, ...] = ()
    page: int | None = None
    """The matched passage's page in a PDF (``source_url`` then opens at that page)."""

    @property
    def place(self) -> str:
        """"Bilbao, Spain"; the city alone when the country says the same ("International")."""
        return self.city if self.country in ("", self.city) else f"{self.city}, {self.country}"


@dataclass(frozen=True)
class Button:
    """A button; clicking it produces an :class:`Action` with ``action_id`` and ``value``.

    A link button (``url`` set) opens the address instead; adapters acknowledge its click and do nothing else.
    """

    label: str
    action_id: str
    value: str = ""
    style: str = "default"
    url: str | None = None


@dataclass(frozen=True)
class Actions:
    """A row of buttons."""

    buttons: tuple[Button, ...]


@dataclass(frozen=True)
class Time:
    """A moment shown in each reader's own time zone (platform markup where there is one). ``tz`` is the IANA zone
    the moment belongs to (a session's), for a renderer that has no reader's zone to show (the console)."""

    at: datetime
    label: str = ""
    tz: str = ""


@dataclass(frozen=True)
class Mention:
    """People the bot means to notify (the only mentions an adapter lets ping), with a lead-in text."""

    user_ids: tuple[str, ...]
    text: str = ""


@dataclass(frozen=True)
class Image:
    """A picture (PNG bytes) with its file name and a text alternative; adapters attach it as a file."""

    name: str
    data: bytes
    alt: str = ""


Block = Text | Facts | SolutionCard | Actions | Time | Mention | Image


@dataclass(frozen=True)
class Reply:
    """What the core answers: a few blocks, plus delivery hints for the adapter."""

    blocks: tuple[Block, ...]
    ephemeral: bool = False
    is_error: bool = False
    channel: str | None = None
    """Post to this channel instead of answering where the message came from (e.g. the network channel)."""
    replace: bool = False
    """An answer to a button: replace the message that holds the button (live RSVP counts) instead of adding one."""
    field: str | None = None
    """The input an error is about (``title``, ``start``, ``tz``...), so that a form can mark it."""
    question_id: str | None = None
    """The recorded question this reply answers (its feedback and "Ask the network" buttons carry it)."""

    @classmethod
    def text(cls, text: str, *, is_error: bool = False, ephemeral: bool = False, field: str | None = None) -> Reply:
        """A reply made of one plain paragraph."""
        return cls(blocks=(Text(text),), is_error=is_error, ephemeral=ephemeral, field=field)

    def as_text(self) -> str:
        """Plain-text rendering (console, notification fallback, tests)."""
        return "\n".join(filter(None, (_block_text(b) for b in self.blocks)))


def _block_text(block: Block) -> str:
    if isinstance(block, Text):
        return block.text
    if isinstance(block, Facts):
        lines = [block.title] if block.title else []
        lines += [f"{f.label}: {f.value}" for f in block.fields]
        return "\n".join(lines)
    if isinstance(block, SolutionCard):
        return _card_text(block)
    if isinstance(block, Actions):
        return "  ".join(f"[{b.label}]" for b in block.buttons)
    if isinstance(block, Time):
        return f"{block.label} {block.at.isoformat()}".strip()
    if isinstance(block, Mention):
        return " ".join([block.text, *(f"@{u}" for u in block.user_ids)]).strip()
    if isinstance(block, Image):
        return f"[image: {block.name}, {len(block.data)} bytes]"
    raise TypeError(f"unknown block {block!r}")


def passage_label(card: SolutionCard) -> str:
    """The words that introduce a card's matched passage, with where it is: "Matched passage (p. 12, Financing)"."""
    where = ", ".join(filter(None, (f"p. {card.page}" if card.page else "", card.heading or "")))
    return f"Matched passage ({where})" if where else "Matched passage"


def _card_text(card: SolutionCard) -> str:
    lines = [f"- {card.title} ({card.place})",
             "  " + " · ".join(filter(None, (card.match, card.provenance)))]
    if card.provenance_note:
        lines.append(f"  note: {card.provenance_note}")
    if card.passage:
        lines.append(f"  {passage_label(card)}: “{card.passage}”")
    if card.summary:
        lines.append(f"  {card.summary}")
    if card.source_url:
        lines.append(f"  source: {card.source_url}")
    if card.buttons:
        lines.append("  " + "  ".join(f"[{b.label}]" for b in card.buttons))
    return "\n".join(lines)


def reply_to_dict(reply: Reply) -> dict:
    """A JSON-ready form of ``reply`` (the stored outbox keeps replies this way)."""
    blocks = []
    for block in reply.blocks:
        data = {**block.__dict__, "kind": type(block).__name__}
        if isinstance(block, Facts):
            data["fields"] = [[f.label, f.value] for f in block.fields]
        elif isinstance(block, (Actions, SolutionCard)):
            data["buttons"] = [[b.label, b.action_id, b.value, b.style, b.url] for b in block.buttons]
            if isinstance(block, SolutionCard):
                data["card_kind"] = block.kind  # "kind" names the block
        elif isinstance(block, Time):
            data["at"] = block.at.isoformat()
        elif isinstance(block, Mention):
            data["user_ids"] = list(block.user_ids)
        elif isinstance(block, Image):
            data["data"] = base64.b64encode(block.data).decode("ascii")
        blocks.append(data)
    return {"blocks": blocks, "ephemeral": reply.ephemeral, "is_error": reply.is_error, "channel": reply.channel,
            "replace": reply.replace, "field": reply.field}


def reply_from_dict(data: dict) -> Reply:
    """The inverse of :func:`reply_to_dict`."""
    blocks: list[Block] = []
    for item in data["blocks"]:
        fields = {k: v for k, v in item.items() if k != "kind"}
        kind = item["kind"]
        if kind == "Facts":
            fields["fields"] = tuple(Field(*f) for f in fields["fields"])
            blocks.append(Facts(**fields))
        elif kind == "Actions":
            blocks.append(Actions(tuple(Button(*b) for b in fields["buttons"])))
        elif kind == "Time":
            blocks.append(Time(datetime.fromisoformat(fields["at"]), fields.get("label", ""), fields.get("tz", "")))
        elif kind == "Mention":
            blocks.append(Mention(tuple(fields["user_ids"]), fields.get("text", "")))
        elif kind == "Image":
            blocks.append(Image(fields["name"], base64.b64decode(fields["data"]), fields.get("alt", "")))
        elif kind == "SolutionCard":  # cards stored by older versions have a score and no passage: drop, default
            known = {f.name for f in dataclasses.fields(SolutionCard)}
            fields["buttons"] = tuple(Button(*b) for b in fields.get("buttons", ()))
            fields["kind"] = fields.pop("card_kind", "practice")
            blocks.append(SolutionCard(**{k: v for k, v in fields.items() if k in known}))
        else:
            blocks.append(Text(**fields))
    return Reply(tuple(blocks), ephemeral=data.get("ephemeral", False), is_error=data.get("is_error", False),
                 channel=data.get("channel"), replace=data.get("replace", False), field=data.get("field"))
