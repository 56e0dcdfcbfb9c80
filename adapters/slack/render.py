"""Render the core's :class:`~bot.messages.Reply` as Slack Block Kit, within Slack's limits.

Every text from the core is escaped (``& < >``), so nothing a user wrote can become a link or a ping; the only
mentions produced are the ones the core asks for with a :class:`~bot.messages.Mention` block. Limits are met by
trimming, never by failing: section text 3,000 characters, header 150, button text 75, button value 2,000, 50
blocks a message.
"""

from __future__ import annotations

from typing import Any

from bot.messages import Actions, Block, Button, Facts, Mention, Reply, SolutionCard, Text, Time

SECTION_TEXT = 3000
FIELD_TEXT = 2000
BUTTON_TEXT = 75
BUTTON_VALUE = 2000
MAX_BLOCKS = 50
MAX_FIELDS = 10
MAX_BUTTONS = 25
FALLBACK_TEXT = 3000


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
        blocks = blocks[:keep] + [_context(f"{dropped} more block(s) not shown.")] + blocks[len(blocks) - tail:]
    return blocks


def fallback_text(reply: Reply) -> str:
    """The notification text of a message (shown where blocks are not)."""
    return trim(escape(reply.as_text()), FALLBACK_TEXT) or " "


def _render(block: Block) -> list[dict[str, Any]]:
    if isinstance(block, Text):
        if block.style == "muted":
            return [_context(block.text)]
        text = f"*{escape(block.text)}*" if block.style == "heading" else escape(block.text)
        return [_section(text)]
    if isinstance(block, SolutionCard):
        title = trim(escape(block.title), 500)
        if block.source_url:
            title = f"<{block.source_url}|{title}>"
        where = f"{escape(block.city)}, {escape(block.country)}"
        lines = [f"*{title}*", f"{where} · _{escape(block.provenance)}_ · score {block.score:.2f}",
                 escape(block.summary)]
        return [_section("\n".join(lines))]
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
        return [{"type": "actions", "elements": [_button(b) for b in block.buttons[:MAX_BUTTONS]]}] \
            if block.buttons else []
    if isinstance(block, Time):
        stamp = int(block.at.timestamp())
        fallback = block.at.strftime("%Y-%m-%d %H:%M UTC")
        return [_section(f"{escape(block.label)} <!date^{stamp}^{{date_short_pretty}} {{time}}|{fallback}>".strip())]
    if isinstance(block, Mention):
        people = " ".join(f"<@{u}>" for u in block.user_ids if u.isalnum())
        return [_section(f"{escape(block.text)} {people}".strip())]
    raise TypeError(f"unknown block {block!r}")


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": trim(text, SECTION_TEXT) or " "}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": trim(escape(text), SECTION_TEXT) or " "}]}


def _button(button: Button) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "button", "action_id": button.action_id[:255],
                           "text": {"type": "plain_text", "text": trim(button.label, BUTTON_TEXT)},
                           "value": button.value[:BUTTON_VALUE]}
    if button.style in ("primary", "danger"):
        out["style"] = button.style
    return out
