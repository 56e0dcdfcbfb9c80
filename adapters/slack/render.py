"""Render the core's :class:`~bot.messages.Reply` as Slack Block Kit, within Slack's limits.

Every text from the core is escaped (``& < >``), so nothing a user wrote can become a link or a ping; the only
mentions produced are the ones the core asks for with a :class:`~bot.messages.Mention` block. Links are built only
from URLs that :func:`safe_url` accepts (a stored ``source_url`` such as ``https://a.example/x><!channel>`` is shown
as no link at all), and escaped. A solution card shows its match in words and its provenance, never a score.
Limits are met by
trimming, never by failing: section text 3,000 characters, header 150, button text 75, button value 2,000, button
url 3,000, 50 blocks a message.

A link button (:attr:`~bot.messages.Button.url`) becomes a Block Kit button with ``url``; its ``action_id`` is
``open_url`` (``open_url_2``... for more links in one row, since action ids must be unique in a block), and the app
only acknowledges its clicks (:data:`LINK_ACTION`). A Google Calendar link over 3,000 characters keeps its title,
dates and recurrence exactly and has its agenda shortened (:func:`~bot.services.calendar_export.fit_google_link`).

An :class:`~bot.messages.Image` is not a block in Slack: :func:`to_blocks` and :func:`fallback_text` leave it out,
and the app uploads the pictures (:func:`images`) as files next to the message.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from typing import Any

from bot.messages import Actions, Block, Button, Facts, Image, Mention, Reply, SolutionCard, Text, Time, passage_label
from bot.sessions.calendars import fit_google_link
from knowledge.urls import check_url
from bot.actions import OPEN_URL

SECTION_TEXT = 3000
FIELD_TEXT = 2000
BUTTON_TEXT = 75
BUTTON_VALUE = 2000
MAX_BLOCKS = 50
MAX_FIELDS = 10
MAX_BUTTONS = 25
FALLBACK_TEXT = 3000
BUTTON_URL = 3000
#: The action ids of rendered link buttons: Slack sends their clicks too; the app acknowledges them and nothing else.
LINK_ACTION = re.compile(r"^open_url(_\d+)?$")

log = logging.getLogger(__name__)


def escape(text: str) -> str:
    """Slack's control characters; after this ``<!channel>`` is shown, not broadcast."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def trim(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def to_blocks(reply: Reply, *, extra_buttons: tuple[Button, ...] = ()) -> list[dict[str, Any]]:
    """Block Kit blocks for ``reply``; ``extra_buttons`` are added to its first row of buttons (or a new row)."""
    blocks: list[dict[str, Any]] = []
    added = False
    for block in reply.blocks:
        if isinstance(block, Actions) and extra_buttons and not added:
            block = Actions(block.buttons + extra_buttons)
            added = True
        blocks += _render(block)
    if extra_buttons and not added:
        blocks += _render(Actions(extra_buttons))
    if len(blocks) > MAX_BLOCKS:
        # Keep the trailing buttons (feedback, share): cut from the middle, where the cards are.
        tail = 0
        while tail < len(blocks) and blocks[-1 - tail]["type"] == "actions":
            tail += 1
        keep = MAX_BLOCKS - 1 - tail
        dropped = len(blocks) - tail - keep
        blocks = blocks[:keep] + [_context(left_out(dropped))] + blocks[len(blocks) - tail:]
    return blocks


def left_out(count: int) -> str:
    """The plain words that end an answer too long for one Slack message."""
    if count == 1:
        return "1 more line did not fit in one Slack message and is left out."
    return f"{count} more lines did not fit in one Slack message and are left out."


_MARKUP = re.compile(r"<[^<>]*>|\*[^*\n]+\*")


def fit_text(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, cut at a line boundary when it can be, never inside ``<...>`` markup
    (a date, a mention, a link) or a bold span, ending with "…"."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    cut = len(head)
    for match in _MARKUP.finditer(text):
        if match.start() < cut < match.end():
            cut = match.start()
            break
    newline = text.rfind("\n", 0, cut)
    if newline > cut // 2:
        cut = newline
    else:
        space = text.rfind(" ", 0, cut)
        cut = space if space > cut // 2 else cut
    return text[:cut].rstrip() + "…"


def fallback_text(reply: Reply) -> str:
    """The notification text of a message (shown where blocks are not); pictures are left out."""
    return trim(escape(without_images(reply).as_text()), FALLBACK_TEXT) or " "


def images(reply: Reply) -> list[Image]:
    """The pictures of ``reply``, in order: the app uploads them as files."""
    return [block for block in reply.blocks if isinstance(block, Image)]


def without_images(reply: Reply) -> Reply:
    """``reply`` with its pictures taken out (the part posted as a message)."""
    if not any(isinstance(block, Image) for block in reply.blocks):
        return reply
    return Reply(tuple(b for b in reply.blocks if not isinstance(b, Image)), ephemeral=reply.ephemeral,
                 is_error=reply.is_error, channel=reply.channel, replace=reply.replace)


def has_text(reply: Reply) -> bool:
    """Whether ``reply`` holds anything besides pictures (else no message is posted, only the files)."""
    return any(not isinstance(block, Image) for block in reply.blocks)


def _render(block: Block) -> list[dict[str, Any]]:
    if isinstance(block, Text):
        if block.style == "muted":
            return [_context(block.text)]
        text = f"*{escape(block.text)}*" if block.style == "heading" else escape(block.text)
        return [_section(text)]
    if isinstance(block, SolutionCard):
        return _card(block)
    if isinstance(block, Facts):
        out = []
        if block.title:
            out.append(_section(f"*{escape(block.title)}*"))
        fields = [{"type": "mrkdwn", "text": trim(f"*{escape(f.label)}*\n{escape(f.value)}", FIELD_TEXT)}
                  for f in block.fields]
        for start in range(0, len(fields), MAX_FIELDS):
            out.append({"type": "section", "fields": fields[start:start + MAX_FIELDS]})
        return out
    if isinstance(block, Actions):
        elements = []
        links = 0
        for button in block.buttons:
            if button.url is not None:
                # a Google Calendar link too long for a button keeps its dates, its agenda is shortened
                url = fit_google_link(button.url, BUTTON_URL) or button.url
                button = replace(button, url=url)
                if safe_url(url) is None:
                    log.warning("link button %r left out: its url (%d characters) is not a well-formed http(s) URL "
                                "of at most %d characters", button.label, len(url), BUTTON_URL)
                    continue
                links += 1
            elements.append(_button(button, link_number=links))
        return [{"type": "actions", "elements": elements[:MAX_BUTTONS]}] if elements else []
    if isinstance(block, Time):
        stamp = int(block.at.timestamp())
        fallback = block.at.strftime("%Y-%m-%d %H:%M UTC")
        return [_section(f"{escape(block.label)} <!date^{stamp}^{{date_short_pretty}} {{time}}|{fallback}>".strip())]
    if isinstance(block, Mention):
        people = " ".join(f"<@{u}>" for u in block.user_ids if u.isalnum())
        return [_section(f"{escape(block.text)} {people}".strip())]
    if isinstance(block, Image):
        return []  # uploaded as a file by the app (see images())
    raise TypeError(f"unknown block {block!r}")


def safe_url(url: str | None) -> str | None:
    """``url`` normalised when it is a well-formed http(s) URL (:func:`knowledge.urls.check_url`: a host, no
    whitespace, control characters or ``<>|``) that Slack takes, else None: a stored string is never trusted."""
    if not url:
        return None
    try:
        return check_url(url, max_length=BUTTON_URL)
    except ValueError:
        return None


def _card(card: SolutionCard) -> list[dict[str, Any]]:
    """A section (title linked to its source, place and match, the matched passage quoted, the summary) with the
    card's "More" button beside it, then a context line with the provenance and its note."""
    title = trim(escape(card.title), 500)
    url = safe_url(card.source_url)
    if url:
        title = f"<{escape(url)}|{title}>"
    lines = [f"*{title}*", f"{escape(card.place)} · *{escape(card.match or 'not sure')}*"]
    if card.passage:
        lines.append(f"_{escape(passage_label(card))}:_")
        lines += [f">{escape(line)}" for line in card.passage.splitlines() if line.strip()]
    if card.summary:
        lines.append(escape(card.summary))
    section = _section("\n".join(lines))
    buttons = [b for b in card.buttons if b.url is None]
    if buttons:
        section["accessory"] = _button(buttons[0])
    provenance = " · ".join(filter(None, (card.provenance, card.provenance_note and f"note: {card.provenance_note}")))
    out = [section]
    if provenance:
        out.append(_context(provenance))
    if buttons[1:]:
        out += _render(Actions(tuple(buttons[1:])))
    return out


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": fit_text(text, SECTION_TEXT) or " "}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": trim(escape(text), SECTION_TEXT) or " "}]}


def _button(button: Button, *, link_number: int = 0) -> dict[str, Any]:
    action_id = button.action_id[:255]
    if button.url is not None:
        action_id = OPEN_URL if link_number <= 1 else f"open_url_{link_number}"
    out: dict[str, Any] = {"type": "button", "action_id": action_id,
                           "text": {"type": "plain_text", "text": trim(button.label, BUTTON_TEXT) or " "}}
    if button.value:
        out["value"] = button.value[:BUTTON_VALUE]
    if button.url is not None:
        out["url"] = safe_url(button.url)
    if button.style in ("primary", "danger"):
        out["style"] = button.style
    return out
