"""Split a solution into passages: short records give one, long documents one per section chunk.

Each passage keeps the solution's title and the heading it came from, so a passage read alone still says what it
is about (and the embedder sees that context).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .records import SolutionRecord

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
#: Sections kept for display but not searched: lists of links match every question a little and none well.
UNSEARCHED_SECTIONS = frozenset({"sources", "references", "bibliography", "links", "fuentes", "fontes", "références"})


@dataclass(frozen=True)
class PassageText:
    """A passage before it is stored: its heading and the text to embed and show; a document's passages also
    know their page (PDF, from 1) and character span ``[start, end)`` in the record's body."""

    position: int
    heading: str
    text: str
    page: int | None = None
    start: int | None = None
    end: int | None = None


def card_text(record: SolutionRecord) -> str:
    """The text of a record's first passage, its summary card."""
    return f"{record.title} ({record.city}, {record.country})\nChallenge: {record.challenge}\n{record.summary}"


def labelled(record: SolutionRecord, heading: str, chunk: str) -> str:
    """A body passage's text: the record's title (and the heading) on the first line, so the embedder sees them."""
    return f"{record.title} - {heading}\n{chunk}" if heading else f"{record.title}\n{chunk}"


def split_passages(record: SolutionRecord, max_words: int = 180) -> list[PassageText]:
    """The passages of ``record``: first the summary card, then the chunks of the body's sections."""
    passages = [PassageText(0, "", card_text(record))]
    for heading, chunk in _sections(record.body, max_words):
        passages.append(PassageText(len(passages), heading, labelled(record, heading, chunk)))
    return passages


def relabelled(record: SolutionRecord, stored: Sequence[PassageText]) -> list[PassageText]:
    """A document's passages after its record's fields changed (say, an edited title or summary): the card made
    again, every other passage kept in its place (page, heading path, span) under the record's current title."""
    passages = [PassageText(0, "", card_text(record))]
    for p in sorted(stored, key=lambda p: p.position):
        if p.position > 0:
            chunk = p.text.partition("\n")[2]
            passages.append(PassageText(len(passages), p.heading, labelled(record, p.heading, chunk), page=p.page,
                                        start=p.start, end=p.end))
    return passages


def _sections(body: str, max_words: int) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    heading, paragraphs = "", list[str]()
    for block in re.split(r"\n\s*\n", body):
        block = block.strip()
        if not block:
            continue
        first, _, rest = block.partition("\n")
        match = _HEADING.match(first)
        if match:
            out += _chunk(heading, paragraphs, max_words)
            heading, paragraphs = match.group(2), []
            block = rest.strip()
            if not block:
                continue
        paragraphs.append(" ".join(block.split()))
    out += _chunk(heading, paragraphs, max_words)
    return [(h, text) for h, text in out if h.strip().casefold() not in UNSEARCHED_SECTIONS]


def _chunk(heading: str, paragraphs: list[str], max_words: int) -> list[tuple[str, str]]:
    """Pack whole paragraphs into chunks of at most ``max_words``; split a longer paragraph by words."""
    chunks: list[tuple[str, str]] = []
    current: list[str] = []
    size = 0
    for paragraph in paragraphs:
        words = paragraph.split()
        while len(words) > max_words:
            if current:
                chunks.append((heading, "\n".join(current)))
                current, size = [], 0
            chunks.append((heading, " ".join(words[:max_words])))
            words = words[max_words:]
        if not words:
            continue
        if size + len(words) > max_words and current:
            chunks.append((heading, "\n".join(current)))
            current, size = [], 0
        current.append(" ".join(words))
        size += len(words)
    if current:
        chunks.append((heading, "\n".join(current)))
    return chunks
