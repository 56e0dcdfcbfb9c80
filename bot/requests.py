"""Typed requests at the core's boundary, for use cases that platforms can send without text to parse.

The chat's text commands are thin parsers into the same requests, so every way in is answered alike. The
sessions' request is :class:`~bot.sessions.draft.SessionDraft` (it lives with the sessions' service,
which validates it).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AskQuery:
    """A question, in any language, optionally only about one city's solutions or one topic tag."""

    text: str
    city: str | None = None
    tag: str | None = None
