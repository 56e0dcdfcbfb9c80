"""Render the core's :class:`~bot.messages.Reply` for Discord: content, embeds and a persistent view.

Limits are met by trimming: content 2,000 characters, 10 embeds of at most 6,000 characters (title 256,
description 4,096, 25 fields of 1,024), 25 buttons, custom ids of 100 characters. Nothing pings except the users a
:class:`~bot.messages.Mention` block names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import discord

from bot.messages import Actions, Button, Facts, Mention, Reply, SolutionCard, Text, Time

CONTENT = 2000
EMBEDS = 10
EMBED_TOTAL = 6000
COLOUR = discord.Colour(0x1D4E89)
CUSTOM_ID_PREFIX = "rrr"


@dataclass
class Rendered:
    """What one ``send`` call takes."""

    content: str = ""
    embeds: list[discord.Embed] = field(default_factory=list)
    buttons: list[Button] = field(default_factory=list)
    mentions: list[int] = field(default_factory=list)

    @property
    def allowed_mentions(self) -> discord.AllowedMentions:
        return discord.AllowedMentions(everyone=False, roles=False, replied_user=False,
                                       users=[discord.Object(id=u) for u in self.mentions])


def trim(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def custom_id(button: Button) -> str:
    return trim(f"{CUSTOM_ID_PREFIX}:{button.action_id}:{button.value}", 100)


def render(reply: Reply) -> Rendered:
    out = Rendered()
    lines: list[str] = []
    budget = EMBED_TOTAL
    for block in reply.blocks:
        if isinstance(block, Text):
            text = block.text
            lines.append(f"**{text}**" if block.style == "heading" else f"-# {text}" if block.style == "muted"
                         else text)
        elif isinstance(block, SolutionCard):
            embed = discord.Embed(title=trim(block.title, 256), url=block.source_url or None,
                                  description=trim(block.summary, 1500), colour=COLOUR)
            embed.add_field(name="City", value=trim(f"{block.city}, {block.country}", 1024), inline=True)
            embed.add_field(name="Provenance", value=trim(block.provenance, 1024), inline=True)
            embed.add_field(name="Score", value=f"{block.score:.2f}", inline=True)
            budget = _add_embed(out, embed, budget)
        elif isinstance(block, Facts):
            embed = discord.Embed(title=trim(block.title, 256) or None, colour=COLOUR)
            for item in block.fields[:25]:
                embed.add_field(name=trim(item.label, 256), value=trim(item.value or "-", 1024), inline=True)
            budget = _add_embed(out, embed, budget)
        elif isinstance(block, Actions):
            out.buttons += list(block.buttons)
        elif isinstance(block, Time):
            stamp = int(block.at.timestamp())
            lines.append(f"{block.label} <t:{stamp}:F> (<t:{stamp}:R>)".strip())
        elif isinstance(block, Mention):
            ids = [int(u) for u in block.user_ids if u.isdigit()]
            out.mentions += ids
            lines.append(" ".join([block.text, *(f"<@{u}>" for u in ids)]).strip())
    out.buttons = out.buttons[:25]
    out.content = trim("\n".join(lines), CONTENT)
    return out


def _add_embed(out: Rendered, embed: discord.Embed, budget: int) -> int:
    size = len(embed)
    if len(out.embeds) < EMBEDS and size <= budget:
        out.embeds.append(embed)
        return budget - size
    return budget
