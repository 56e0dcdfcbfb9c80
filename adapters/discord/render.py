"""Render the core's :class:`~bot.messages.Reply` for Discord: content, embeds and a persistent view.

Limits are met by trimming: content 2,000 characters, 10 embeds of at most 6,000 characters (title 256,
description 4,096, 25 fields of 1,024), 25 buttons, custom ids of 100 characters, link button urls of 512 (a longer
link is written into the content as a masked link instead, when it fits; a Google Calendar link first has its
agenda shortened to fit the button, :func:`~bot.services.calendar_export.fit_google_link`). Nothing pings except
the users a :class:`~bot.messages.Mention` block names. Text from the core never becomes a masked link
(:func:`inert`); embed
and link button URLs are only well-formed http(s) URLs (:func:`safe_url`), and link buttons carry the bot's own labels.
A solution card is an embed with its title first; its "More" button is labelled with the card's title.

Pictures (:class:`~bot.messages.Image` blocks) become file attachments (``discord.File`` with the picture's name and
its alt text as the description), which Discord shows inline under the message: at most 10 a message (the rest go
in further messages of pictures alone, :meth:`Rendered.file_batches`), each at most :data:`MAX_FILE_BYTES`. A fresh
``discord.File`` is made for every send, so one rendering can go to several DMs.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass, field

import discord

from bot.messages import Actions, Button, Facts, Image, Mention, Reply, SolutionCard, Text, Time, passage_label
from bot.sessions.calendars import fit_google_link
from knowledge.urls import check_url

CONTENT = 2000
EMBEDS = 10
EMBED_TOTAL = 6000
DESCRIPTION = 4096
COLOUR = discord.Colour(0x1D4E89)
CUSTOM_ID_PREFIX = "rrr"
MAX_BUTTONS = 25  # five rows of five
BUTTON_URL = 512
#: Attachments per message, the size Discord takes for one file without boosts, and an attachment's description.
FILES = 10
MAX_FILE_BYTES = 10 * 1024 * 1024
FILE_DESCRIPTION = 1024
#: The longest embed URL we send (Discord's documented limit for an embed's url is 2,048).
EMBED_URL = 2048
_BRACKETS = re.compile(r"[\\\[\]]")  # a backslash too, else "\\[x](y)" would escape our escape

log = logging.getLogger(__name__)


@dataclass
class Rendered:
    """What one ``send`` call takes."""

    content: str = ""
    embeds: list[discord.Embed] = field(default_factory=list)
    buttons: list[Button] = field(default_factory=list)
    mentions: list[int] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)

    def file_batches(self) -> list[list[discord.File]]:
        """Fresh attachments for one delivery, 10 a message: the first batch goes with the text, each further one
        in a message of its own. ``[[]]`` when there is no picture."""
        files = [discord.File(io.BytesIO(image.data), filename=image.name,
                              description=trim(image.alt, FILE_DESCRIPTION) or None) for image in self.images]
        return [files[i:i + FILES] for i in range(0, len(files), FILES)] or [[]]

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
    links: list[Button] = []  # link buttons whose url Discord would refuse on a button
    budget = EMBED_TOTAL
    leads = _card_leads(reply.blocks)
    groups: list[int] = []  # where each block's buttons begin: a message keeps a block's buttons whole or none
    for index, block in enumerate(reply.blocks):
        groups.append(len(out.buttons))
        if index in leads.taken:
            continue
        if isinstance(block, Text):
            text = inert(block.text)
            lines.append(f"**{text}**" if block.style == "heading" else f"-# {text}" if block.style == "muted"
                         else text)
        elif isinstance(block, SolutionCard):
            budget = _add_embed(out, _card(block), budget)
            for button in block.buttons:
                # a custom id cut to Discord's 100 characters would name no record: no button then
                if button.url is None and len(f"{CUSTOM_ID_PREFIX}:{button.action_id}:{button.value}") <= 100:
                    out.buttons.append(Button(trim(f"{button.label}: {block.title}", 80), button.action_id,
                                              button.value, button.style))
        elif isinstance(block, Facts):
            embed = discord.Embed(title=trim(inert(block.title), 256) or None, colour=COLOUR,
                                  description=leads.descriptions.get(index))
            for item in block.fields[:25]:
                embed.add_field(name=trim(inert(item.label), 256), value=trim(inert(item.value) or "-", 1024),
                                inline=True)
            budget = _add_embed(out, embed, budget)
        elif isinstance(block, Actions):
            for button in block.buttons:
                if button.url is None:
                    out.buttons.append(button)
                    continue
                # a Google Calendar link too long for a button has its agenda shortened (for the text, at worst)
                url = fit_google_link(button.url, BUTTON_URL) or fit_google_link(button.url, CONTENT // 2)
                url = safe_url(url or button.url, max_length=CONTENT)
                if url is None:
                    log.warning("link button %r left out: its url is not a well-formed http(s) URL", button.label)
                elif len(url) > BUTTON_URL:
                    links.append(Button(button.label, button.action_id, button.value, button.style, url))
                else:
                    out.buttons.append(Button(button.label, button.action_id, button.value, button.style, url))
        elif isinstance(block, Time):
            lines.append(_time(block))
        elif isinstance(block, Mention):
            ids = [int(u) for u in block.user_ids if u.isdigit()]
            out.mentions += ids
            lines.append(" ".join([inert(block.text), *(f"<@{u}>" for u in ids)]).strip())
        elif isinstance(block, Image):
            if 0 < len(block.data) <= MAX_FILE_BYTES:
                out.images.append(block)
            else:
                log.warning("picture %r left out: %d bytes (Discord takes up to %d)", block.name, len(block.data),
                            MAX_FILE_BYTES)
    for link in links:  # the bot's own label, a checked URL
        line = f"[{link.label.replace('[', '(').replace(']', ')')}](<{link.url}>)"
        if link.url and len("\n".join([*lines, line])) <= CONTENT:
            lines.append(line)
        else:
            log.warning("link %r left out: %d characters do not fit a Discord message", link.label, len(link.url or ""))
    names = [image.name for image in out.images]
    if len(set(names)) < len(names):  # two attachments of one message must not share a name
        out.images = [Image(_numbered(image.name, i) if names.count(image.name) > 1 else image.name, image.data,
                            image.alt) for i, image in enumerate(out.images, start=1)]
    if len(out.buttons) > MAX_BUTTONS:
        # whole blocks' buttons (a saved answer's Approve / Edit / Reject / More): none of a block rather than some
        kept = max(start for start in groups if start <= MAX_BUTTONS) or MAX_BUTTONS
        lines.append(f"-# Discord shows {MAX_BUTTONS} buttons a message, so the last {len(out.buttons) - kept} are "
                     "left out here; their commands still work (`help` lists them).")
        out.buttons = out.buttons[:kept]
    out.content = fit_lines("\n".join(lines), CONTENT)
    return out


@dataclass
class _Leads:
    """Blocks drawn into the embed of the card they belong to: ``descriptions`` by the index of the card's
    :class:`Facts`, ``taken`` the indices of the blocks that moved there."""

    descriptions: dict[int, str] = field(default_factory=dict)
    taken: set[int] = field(default_factory=set)


def _card_leads(blocks) -> _Leads:
    """A titled :class:`Facts` followed by its time (a session card, a reminder): the time and the text between
    (the agenda) go into the embed's description, the time first, so the card reads title, local time, agenda,
    instead of the content above the embed showing the agenda and the time before the title."""
    leads = _Leads()
    for index, block in enumerate(blocks):
        if not (isinstance(block, Facts) and block.title):
            continue
        run = []
        for after in range(index + 1, len(blocks)):
            follower = blocks[after]
            if not (isinstance(follower, Time) or (isinstance(follower, Text) and follower.style == "plain")):
                break
            run.append(after)
        times = [i for i in run if isinstance(blocks[i], Time)]
        if not times:
            continue
        run = run[:times[-1] - index]  # up to the card's last time; what follows stays in the content
        texts = [inert(blocks[i].text) for i in run if isinstance(blocks[i], Text)]
        description = "\n".join(_time(blocks[i]) for i in times)
        if texts:
            description += "\n\n" + "\n".join(texts)
        leads.descriptions[index] = fit_lines(description, DESCRIPTION)
        leads.taken.update(run)
    return leads


def _time(block: Time) -> str:
    """A time in every reader's own zone (Discord's ``<t:...>`` markup), with how far off it is."""
    stamp = int(block.at.timestamp())
    return f"{inert(block.label)} <t:{stamp}:F> (<t:{stamp}:R>)".strip()


def fit_lines(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, cut at a line boundary (never inside ``<t:...>``, a mention or a
    link), ending with how many lines were left out, in plain words."""
    if len(text) <= limit:
        return text
    lines = text.split("\n")
    kept: list[str] = []
    omitted = 0
    for number, line in enumerate(lines):
        after = len(lines) - number - 1
        if len("\n".join([*kept, line, _left_out(after)]).rstrip("\n")) <= limit:
            kept.append(line)
            continue
        omitted = len(lines) - number
        if not kept:  # one line longer than a message: cut it where no markup is open
            kept, omitted = [_safe_cut(line, limit - len(_left_out(after)) - 2) + "…"], after
        break
    while kept and len("\n".join([*kept, _left_out(omitted)])) > limit:
        kept.pop()
        omitted += 1
    return "\n".join([*kept, _left_out(omitted)]).rstrip("\n")


def _left_out(count: int) -> str:
    if count <= 0:
        return ""
    if count == 1:
        return "-# 1 more line did not fit in one Discord message and is left out."
    return f"-# {count} more lines did not fit in one Discord message and are left out."


_MARKUP = re.compile(r"<[^<>\s]*>|\[[^\]]*\]\(<[^>]*>\)|\*\*[^*\n]+\*\*")


def _safe_cut(line: str, limit: int) -> str:
    """The start of ``line`` of at most ``limit`` characters that ends outside every piece of markup (a timestamp,
    a mention, a masked link) and after a space when there is one."""
    cut = max(0, limit)
    for match in _MARKUP.finditer(line):
        if match.start() < cut < match.end():
            cut = match.start() if match.start() or not match.group().startswith("**") else cut
            break
    space = line.rfind(" ", 0, cut)
    return line[: space if space > cut // 2 else cut].rstrip()


def inert(text: str) -> str:
    """``text`` with its square brackets (and backslashes) escaped, so that ``[click here](https://evil.example)``
    from a title, a summary or a question shows as written instead of becoming a masked link (the address stays
    visible)."""
    return _BRACKETS.sub(r"\\\g<0>", text)


def safe_url(url: str | None, *, max_length: int = EMBED_URL) -> str | None:
    """``url`` normalised when it is a well-formed http(s) URL (:func:`knowledge.urls.check_url`), else None."""
    if not url:
        return None
    try:
        return check_url(url, max_length=max_length)
    except ValueError:
        return None


def _card(card: SolutionCard) -> discord.Embed:
    """The title first (linked only to a checked source URL), then the matched passage quoted and the summary;
    place, match and provenance (with its note) as fields, the group (peer practice or background reading) as the
    footer. Never a score."""
    parts = []
    if card.passage:
        quote = "\n".join(f"> {line}" for line in inert(card.passage).splitlines() if line.strip())
        parts.append(f"**{inert(passage_label(card))}**\n{quote}")
    if card.summary:
        parts.append(inert(card.summary))
    embed = discord.Embed(title=trim(inert(card.title), 256), url=safe_url(card.source_url),
                          description=trim("\n\n".join(parts), 1500) or None, colour=COLOUR)
    embed.add_field(name="City", value=trim(inert(card.place), 1024), inline=True)
    embed.add_field(name="Match", value=trim(card.match or "not sure", 1024), inline=True)
    provenance = inert(card.provenance) + (f"\nNote: {inert(card.provenance_note)}" if card.provenance_note else "")
    embed.add_field(name="Provenance", value=trim(provenance, 1024) or "-", inline=False)
    # the content's group headings sit above all embeds: each embed says which group it belongs to
    embed.set_footer(text="Background reading" if card.kind == "reference" else "Peer practice")
    return embed


def _numbered(name: str, number: int) -> str:
    stem, dot, ext = name.rpartition(".")
    return f"{stem}-{number}.{ext}" if dot and stem else f"{name}-{number}"


def _add_embed(out: Rendered, embed: discord.Embed, budget: int) -> int:
    size = len(embed)
    if len(out.embeds) < EMBEDS and size <= budget:
        out.embeds.append(embed)
        return budget - size
    return budget
