"""Read the text of PDF, Word and HTML files as blocks (headings and paragraphs, with their page) using maintained
libraries: pypdf, python-docx and trafilatura, each imported only when a file of its kind is read.

A reader raises :class:`Unreadable` with what is wrong and what to do ("encrypted with a password; save a copy
without one"); it never returns a half-read document.
"""

from __future__ import annotations

import re
from types import MappingProxyType
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

#: Fewer words than this in a document's main text means there is no text to import (a scan, a menu page).
MIN_WORDS = 25


class Unreadable(Exception):
    """A document cannot be imported; ``str()`` says why and what to do, in one line."""


@dataclass(frozen=True)
class Block:
    """A heading (``level`` 1 and deeper) or a paragraph (``level`` 0), on ``page`` (PDF pages, from 1)."""

    text: str
    level: int = 0
    page: int | None = None


@dataclass
class Extracted:
    """What a reader found: the document's own title (if it states one) and its blocks in reading order."""

    title: str = ""
    blocks: list[Block] = field(default_factory=list)

    def words(self) -> int:
        return sum(len(b.text.split()) for b in self.blocks if not b.level)


def read_pdf(path: Path, data: bytes) -> Extracted:
    """Headings come from the PDF's outline (bookmarks) when it has one, else from lines set larger than the body
    text; running headers and footers (lines repeated on most pages) are dropped."""
    import io

    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError, PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                # an owner password alone (printing rights) still lets the text out
                opened = bool(reader.decrypt(""))
            except (NotImplementedError, PyPdfError):
                opened = False
            if not opened:
                raise Unreadable("the PDF is encrypted with a password; save a copy without the password and "
                                 "import that")
        outline = _outline(reader)
        pages = [_page_lines(page) for page in reader.pages]
        title = str((reader.metadata.title if reader.metadata is not None else None) or "").strip()
    except Unreadable:
        raise
    except FileNotDecryptedError:
        raise Unreadable("the PDF is encrypted with a password; save a copy without the password and import that") \
            from None
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError, RecursionError) as exc:
        raise Unreadable(f"not a readable PDF (damaged or cut short: {_first_line(exc)}); export or download it "
                         "again") from None
    extracted = Extracted(title=title, blocks=_pdf_blocks(pages, outline))
    if extracted.words() < MIN_WORDS:
        raise Unreadable("the PDF has no text layer (a scan?); run it through OCR first, then import the result")
    return extracted


@dataclass(frozen=True)
class _Line:
    text: str
    size: float
    y: float


def _page_lines(page) -> list[_Line]:
    """The page's text lines, top to bottom, each with its font size and baseline."""
    runs: list[tuple[float, float, str]] = []

    def visit(text, cm, tm, font_dict, font_size):
        if text and text.strip():
            scale = abs(tm[3] * cm[3]) or 1.0
            runs.append((round(tm[5] * cm[3] + cm[5], 1), round(font_size * scale, 1), text))

    page.extract_text(visitor_text=visit)
    lines: list[_Line] = []
    for y, size, text in runs:
        for part in text.split("\n"):
            if not part.strip():
                continue
            if lines and abs(lines[-1].y - y) < 1.0:
                last = lines[-1]
                lines[-1] = _Line(f"{last.text}{part}", max(last.size, size), y)
            else:
                lines.append(_Line(part, size, y))
    return [_Line(" ".join(line.text.split()), line.size, line.y) for line in lines if line.text.strip()]


def _outline(reader) -> dict[int, list[tuple[str, int]]]:
    """``page index -> [(folded title, level)]`` of the PDF's bookmarks."""
    found: dict[int, list[tuple[str, int]]] = {}

    def walk(items, level: int) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item, level + 1)
                continue
            try:
                page = reader.get_destination_page_number(item)
            except Exception:  # noqa: BLE001 - a bookmark to nowhere is skipped, the text is still read
                continue
            if page is not None and page >= 0 and getattr(item, "title", None):
                found.setdefault(page, []).append((_fold(item.title), level))

    try:
        walk(reader.outline, 1)
    except Exception:  # noqa: BLE001 - a damaged outline: headings come from font sizes instead
        return {}
    return found


def _fold(text: str) -> str:
    return " ".join(str(text).split()).casefold()


def _pdf_blocks(pages: list[list[_Line]], outline: dict[int, list[tuple[str, int]]]) -> list[Block]:
    repeated = _running_lines(pages)
    sizes: Counter[float] = Counter()
    for lines in pages:
        for line in lines:
            sizes[line.size] += len(line.text)
    body = sizes.most_common(1)[0][0] if sizes else 0.0
    heading_sizes = sorted((s for s in sizes if s >= body * 1.15), reverse=True)
    blocks: list[Block] = []
    for index, lines in enumerate(pages):
        lines = [line for line in lines if _digitless(line.text) not in repeated]
        titles = dict(outline.get(index, ()))
        previous: _Line | None = None
        for line in lines:
            big = line.size >= body * 1.15
            gap = previous is not None and (previous.y - line.y) > max(line.size, previous.size) * 1.9
            joinable = (previous is not None and blocks and blocks[-1].page == index + 1 and not gap
                        and (previous.size >= body * 1.15) == big)
            if joinable:
                last = blocks[-1]
                glue = "" if last.text.endswith("-") else " "
                blocks[-1] = Block(f"{last.text}{glue}{line.text}", last.level, last.page)
            else:
                blocks.append(Block(line.text, -1 if big else 0, index + 1))
            previous = line
        # settle this page's candidate headings: outline titles when the PDF has an outline, else size ranks
        for i in range(len(blocks) - 1, -1, -1):
            block = blocks[i]
            if block.page != index + 1:
                break
            if block.level != -1:
                continue
            if outline:
                level = titles.get(_fold(block.text))
                blocks[i] = Block(block.text, level or 0, block.page)
            else:
                size_rank = next((r for r, s in enumerate(heading_sizes, 1) if s <= _size_of(block, lines)), 1)
                blocks[i] = Block(block.text, size_rank, block.page)
    return [b for b in blocks if b.text.strip()]


def _size_of(block: Block, lines: list[_Line]) -> float:
    return max((line.size for line in lines if line.text in block.text), default=0.0)


def _digitless(text: str) -> str:
    return re.sub(r"\d+", "#", text.casefold())


def _running_lines(pages: list[list[_Line]]) -> set[str]:
    """Lines (digits ignored: "Page 12") found on more than half of the pages: headers and footers."""
    if len(pages) < 4:
        return set()
    counts = Counter(text for lines in pages for text in {_digitless(line.text) for line in lines})
    return {text for text, n in counts.items() if n > len(pages) / 2}


def read_docx(path: Path, data: bytes) -> Extracted:
    """Headings are paragraphs in the "Heading N" styles ("Title" is the title); tables are read row by row."""
    import io

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if "word/document.xml" not in archive.namelist():
                raise Unreadable("not a Word document (a ZIP archive without word/document.xml); save it from Word "
                                 "as .docx")
    except zipfile.BadZipFile:
        raise Unreadable("not a Word .docx file (damaged, or an old .doc: save it as .docx)") from None
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise Unreadable(f"not a readable Word document ({_first_line(exc)}); save it from Word as .docx again") \
            from None
    extracted = Extracted(title=(document.core_properties.title or "").strip())
    for paragraph in document.paragraphs:
        text = " ".join(paragraph.text.split())
        if not text:
            continue
        style = (paragraph.style.name if paragraph.style is not None else "") or ""
        if style == "Title":
            extracted.title = extracted.title or text
            continue
        match = re.match(r"Heading (\d)", style)
        extracted.blocks.append(Block(text, int(match.group(1)) if match else 0))
    for table in document.tables:
        for row in table.rows:
            cells = list(dict.fromkeys(" ".join(c.text.split()) for c in row.cells))
            if any(cells):
                extracted.blocks.append(Block(" | ".join(c for c in cells if c)))
    if extracted.words() < MIN_WORDS:
        raise Unreadable("the Word document has almost no text; check it is the right file")
    return extracted


def read_html(path: Path, data: bytes) -> Extracted:
    """The page's main text (trafilatura drops menus, footers and cookie banners), headings from ``h1``-``h6``."""
    import trafilatura
    from lxml import etree

    try:
        xml = trafilatura.extract(data, output_format="xml", include_formatting=True, include_comments=False,
                                  include_tables=True, include_links=False, include_images=False)
        meta = trafilatura.extract_metadata(data)
    except (ValueError, TypeError, etree.LxmlError) as exc:
        raise Unreadable(f"not a readable web page ({_first_line(exc)}); save the page again as HTML") from None
    extracted = Extracted(title=(meta.title or "").strip() if meta else "")
    if xml:
        root = etree.fromstring(xml.encode("utf-8"))
        main = root.find("main")
        for element in (main if main is not None else root).iter("head", "p", "item", "row", "quote", "code"):
            if element.tag in ("p", "item", "quote", "code") and _inside(element, ("item", "row", "quote")):
                continue
            text = " ".join("".join(element.itertext()).split())
            if not text:
                continue
            if element.tag == "head":
                match = re.match(r"h(\d)", element.get("rend", ""))
                extracted.blocks.append(Block(text, int(match.group(1)) if match else 2))
            else:
                extracted.blocks.append(Block(text))
    if extracted.words() < MIN_WORDS:
        raise Unreadable("no main text found on the page (only menus, links or scripts); save the article's own "
                         "page, or copy its text into a Markdown file")
    first = next((b for b in extracted.blocks if b.level == 1), None)
    if first is not None:  # the article's own h1 says more than the site's <title>
        extracted.title = first.text
        extracted.blocks.remove(first)
    return extracted


def _inside(element, tags: tuple[str, ...]) -> bool:
    parent = element.getparent()
    while parent is not None:
        if parent.tag in tags:
            return True
        parent = parent.getparent()
    return False


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:120]


READERS = MappingProxyType({".pdf": read_pdf, ".docx": read_docx, ".html": read_html, ".htm": read_html,
                            ".xhtml": read_html})
