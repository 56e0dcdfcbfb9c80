"""What a card quotes: the sentences of a passage around the match, and text cut at sentence boundaries.

Cuts never fall inside a sentence when a whole one fits, and never inside a figure ("482 people trained, 228 in
work" is not shown as "482 people trained, 228 in…").
"""

from __future__ import annotations

import re

from .text import words

_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=[\"“'(¿¡]?[A-ZÀ-ÖØ-Þ0-9*])|\n+")
EXCERPT_CHARS = 360


def sentences(text: str) -> list[str]:
    """``text`` split into sentences (and lines), whitespace collapsed."""
    return [" ".join(s.split()) for s in _SENTENCE_END.split(text) if s and s.strip()]


def cut(text: str, limit: int) -> str:
    """The leading whole sentences of ``text`` that fit ``limit`` characters (an ellipsis when some are left out).

    When even the first sentence is longer, it is cut at a word boundary that is not inside a figure.
    """
    parts = sentences(text)
    if not parts:
        return ""
    kept: list[str] = []
    for part in parts:
        if len(" ".join([*kept, part])) > limit:
            break
        kept.append(part)
    if len(kept) == len(parts):
        return " ".join(kept)
    if kept:
        return " ".join(kept) + " …"
    return _cut_words(parts[0], limit)


def _cut_words(sentence: str, limit: int) -> str:
    tokens = sentence.split()
    out: list[str] = []
    for token in tokens:
        if len(" ".join([*out, token])) > limit - 2:
            break
        out.append(token)
    # Drop a trailing figure and the words that lean on it ("228 in"): go back to before the last token with a digit
    # when any of the last three tokens holds one.
    tail = [i for i, token in enumerate(out) if any(c.isdigit() for c in token)]
    if tail and tail[-1] >= len(out) - 3:
        out = out[:tail[-1]]
    text = " ".join(out).rstrip(",;:-–—(")
    return (text + " …").strip() if text else "…"


def _stems(text: str) -> set[str]:
    """Word stems good enough across inflections and close languages: the first five letters of longer words."""
    return {w[:5] for w in words(text) if len(w) > 3}


def excerpt(text: str, question: str, limit: int = EXCERPT_CHARS) -> str:
    """The run of sentences of ``text`` that shares the most words with ``question``, within ``limit`` characters.

    With no shared word (a question in another language), the passage's opening sentences.
    """
    parts = sentences(text)
    if not parts:
        return ""
    asked = _stems(question)
    scores = [len(_stems(part) & asked) for part in parts]
    start = max(range(len(parts)), key=lambda i: (scores[i], -i)) if asked and max(scores) > 0 else 0
    if start and len(" ".join(parts[start - 1:start + 1])) <= limit and scores[start - 1] > 0:
        start -= 1
    chosen = cut(" ".join(parts[start:]), limit)
    return ("… " + chosen) if start else chosen
