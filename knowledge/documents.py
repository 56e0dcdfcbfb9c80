"""Documents (PDF, Word, HTML) as solution records whose passages keep their place: page, heading path, span.

A document becomes one :class:`~knowledge.records.SolutionRecord` (its text in ``body``, headings written as
Markdown ``#`` lines) and its passages: the summary card first, then chunks of at most ``max_words`` words that never
cross a heading or a page, each with its page (PDF), heading path ("4 Financing › The revolving loan fund") and
character span in ``body``. What the file cannot say comes from :class:`DocumentMeta` (command-line options).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, replace
from pathlib import Path

from .doc_formats import READERS, Block, Extracted, Unreadable
from .languages import detect_language
from .passages import UNSEARCHED_SECTIONS, PassageText, card_text, labelled
from .records import SOLUTION_LENGTHS, SolutionRecord, solution_from_mapping
from .text import slugify, summary_of

DOCUMENT_SUFFIXES = tuple(READERS)
#: Joins the headings of a passage's path.
PATH_SEPARATOR = " › "


@dataclass(frozen=True)
class DocumentMeta:
    """What a document file cannot say about itself; empty values are taken from the file or refused."""

    city: str = ""
    country: str = ""
    provenance: str = ""
    source_url: str | None = None
    language: str = ""
    title: str = ""
    challenge: str = ""
    kind: str = ""
    tags: tuple[str, ...] = ()
    id: str = ""

    def missing(self) -> list[str]:
        """The options a document import needs and lacks."""
        return [f"--{name}" for name in ("provenance", "city", "country") if not getattr(self, name).strip()]


@dataclass(frozen=True)
class Document:
    """A document read into a record and its located passages (``passages[0]`` is the summary card)."""

    record: SolutionRecord
    passages: tuple[PassageText, ...]

    @property
    def id(self) -> str:
        return self.record.id

    def content_hash(self) -> str:
        """The record's hash and every passage's place and text: a re-read that moves a page break is a change."""
        data = json.dumps([self.record.content_hash(), [(p.heading, p.page, p.start, p.end, p.text)
                                                        for p in self.passages]], ensure_ascii=False)
        return hashlib.sha256(data.encode("utf-8")).hexdigest()


def document_id(path: Path) -> str:
    """The record id a file gets by default: its name as a slug ("Guide 2023.pdf" -> "guide-2023")."""
    return slugify(path.stem)[:SOLUTION_LENGTHS["id"]] or "document"


def read_document(path: Path, data: bytes, meta: DocumentMeta, max_words: int = 180) -> Document:
    """Read ``data`` (the bytes of ``path``) into a :class:`Document`; raise ``ValueError`` saying what to do."""
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise ValueError(f"unknown document type {path.suffix!r}")
    if not data:
        raise ValueError("the file is empty (0 bytes); export or download it again")
    missing = meta.missing()
    if missing:
        raise ValueError(f"documents need {', '.join(missing)} (for example --provenance reference); give them on "
                         "the command line")
    try:
        extracted = reader(path, data)
    except Unreadable as exc:
        raise ValueError(str(exc)) from None
    except (RecursionError, MemoryError):
        raise ValueError("too deeply nested or too large to read; export or save it again") from None
    except Exception as exc:  # noqa: BLE001 - a parser's own bug on hostile bytes is still one line, not a traceback
        raise ValueError(f"could not be read ({type(exc).__name__}: {' '.join(str(exc).split())[:120]}); export or "
                         "save it again") from None
    title = " ".join((meta.title or extracted.title or _first_heading(extracted) or path.stem).split())
    title = title[:SOLUTION_LENGTHS["title"]]
    # the title set as a heading (a PDF cover's big line) would head every passage's path: it is the title only
    blocks = [b for b in extracted.blocks if not (b.level and b.text.casefold() == title.casefold())]
    body, located = _lay_out(blocks)
    summary = _summary(extracted.blocks)
    language = meta.language or detect_language(" ".join(b.text for b in extracted.blocks[:60])) or "en"
    provenance = meta.provenance.strip().lower()
    record = solution_from_mapping({
        "id": meta.id or document_id(path), "city": meta.city, "country": meta.country, "title": title,
        "challenge": meta.challenge or title, "summary": summary, "tags": list(meta.tags),
        "source_url": meta.source_url, "language": language, "provenance": provenance, "body": body,
        "kind": meta.kind or ("reference" if provenance == "reference" else "practice"),
    })
    return Document(record, tuple(_passages(record, located, max_words)))


@dataclass(frozen=True)
class _Located:
    """A paragraph of the body with its heading path, page and span."""

    path: tuple[str, ...]
    page: int | None
    text: str
    start: int
    end: int


def _lay_out(blocks: list[Block]) -> tuple[str, list[_Located]]:
    """The body text (headings as Markdown lines) and each paragraph's place in it."""
    parts: list[str] = []
    located: list[_Located] = []
    stack: list[tuple[int, str]] = []
    offset = 0
    for block in blocks:
        text = " ".join(block.text.split())
        if not text:
            continue
        if block.level:
            stack = [(level, heading) for level, heading in stack if level < block.level] + [(block.level, text)]
            line = f"{'#' * min(block.level, 6)} {text}"
        else:
            line = text
            located.append(_Located(tuple(h for _, h in stack), block.page, text, offset, offset + len(text)))
        parts.append(line)
        offset += len(line) + 2
    return "\n\n".join(parts), located


def _first_heading(extracted: Extracted) -> str:
    return next((b.text for b in extracted.blocks if b.level), "")




def _summary(blocks: list[Block]) -> str:
    """The first paragraph of some length (a cover's one-liners are skipped), cut after a sentence near
    :data:`~knowledge.text.SUMMARY_WORDS` words."""
    paragraphs = [b.text for b in blocks if not b.level]
    return summary_of(next((p for p in paragraphs if len(p.split()) >= 12), paragraphs[0] if paragraphs else ""))


def _passages(record: SolutionRecord, located: list[_Located], max_words: int) -> list[PassageText]:
    passages = [PassageText(0, "", card_text(record))]
    group: list[_Located] = []
    for item in [*located, None]:
        if group and (item is None or (item.path, item.page) != (group[0].path, group[0].page)):
            for chunk in _chunks(group, max_words):
                heading = PATH_SEPARATOR.join(chunk[0].path)
                if chunk[0].path and chunk[0].path[-1].strip().casefold() in UNSEARCHED_SECTIONS:
                    continue
                text = "\n".join(c.text for c in chunk)
                passages.append(PassageText(len(passages), heading, labelled(record, heading, text),
                                            page=chunk[0].page, start=chunk[0].start, end=chunk[-1].end))
            group = []
        if item is not None:
            group.append(item)
    return passages


def _chunks(group: list[_Located], max_words: int) -> list[list[_Located]]:
    """Whole paragraphs packed up to ``max_words``; a longer paragraph is cut into runs of words, each with its
    own span."""
    out: list[list[_Located]] = []
    current: list[_Located] = []
    size = 0
    for paragraph in group:
        pieces = [paragraph]
        if len(paragraph.text.split()) > max_words:
            spans = [m.span() for m in re.finditer(r"\S+", paragraph.text)]
            pieces = [replace(paragraph, text=paragraph.text[spans[i][0]:spans[min(i + max_words, len(spans)) - 1][1]],
                              start=paragraph.start + spans[i][0],
                              end=paragraph.start + spans[min(i + max_words, len(spans)) - 1][1])
                      for i in range(0, len(spans), max_words)]
        for piece in pieces:
            words = len(piece.text.split())
            if current and size + words > max_words:
                out.append(current)
                current, size = [], 0
            current.append(piece)
            size += words
    if current:
        out.append(current)
    return out
