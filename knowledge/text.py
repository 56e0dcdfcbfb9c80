"""Small text helpers shared by the importers, BM25 and name lookup."""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"\w+", re.UNICODE)


def fold(text: str) -> str:
    """Lower-case and strip accents: ``"Montréal"`` -> ``"montreal"``."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    if decomposed.isascii():  # no combining mark to drop (most passages): skip the per-character pass
        return decomposed.strip()
    return "".join(c for c in decomposed if not unicodedata.combining(c)).strip()


def words(text: str) -> list[str]:
    """Folded word tokens."""
    return _WORD.findall(fold(text))


def slugify(text: str) -> str:
    """An ASCII slug: ``"Bono Bilbao vouchers"`` -> ``"bono-bilbao-vouchers"``."""
    return "-".join(words(text)).encode("ascii", "ignore").decode() or "item"


def shorten(text: str, limit: int) -> str:
    """Cut ``text`` at a word boundary so it fits ``limit`` characters, adding an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 1)].rsplit(" ", 1)[0]
    return cut.rstrip(",;:.") + "…"


#: About how many words a summary taken from a paragraph keeps.
SUMMARY_WORDS = 60


def summary_of(paragraph: str, limit: int = SUMMARY_WORDS) -> str:
    """``paragraph``'s whole sentences up to about ``limit`` words (its first ``limit`` words and an ellipsis when
    no sentence ends before them)."""
    words = paragraph.split()
    if len(words) <= limit:
        return " ".join(words)
    text = " ".join(words[:limit])
    end = max(text.rfind(". "), text.rfind("! "), text.rfind("? "))
    return text[: end + 1] if end > 0 else text + "…"
