"""The typed request of the session use cases: :class:`SessionDraft`, what a coordinator asks to schedule.

Every way in builds the same draft: the chat command and the Slack form read their text with :func:`read_fields`
(each field reads its own text, so a new field needs no parser), ``/session-add`` on Discord and the CLI pass their
typed options. :class:`~.service.Sessions` validates the draft as a whole; each error names the field
it is about (:class:`~bot.errors.InvalidInput` ``field``), so a form marks that input.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from types import MappingProxyType
from typing import Any

from ..errors import InvalidInput
from ..text import neutralize_mentions

Reader = Callable[[str], object]


def whole_number(text: str) -> int | None:
    """``"12"`` -> 12; nothing -> None."""
    text = text.strip().lstrip("#")
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise InvalidInput(f"A whole number, please, not '{neutralize_mentions(text)[:40]}'.") from None


def local_date(text: str) -> date | None:
    """``"2027-06-30"`` -> that date; nothing -> None."""
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"'{neutralize_mentions(text)[:40]}' is not a date; use YYYY-MM-DD.") from None


def optional_text(text: str) -> str | None:
    """Trimmed text; nothing -> None (an edit's ``video:`` with nothing after it removes the link)."""
    return text.strip() or None


def text_list(text: str) -> tuple[str, ...]:
    """``"slack:C1, discord:2"`` -> ``("slack:C1", "discord:2")``."""
    return tuple(item for item in (part.strip() for part in text.split(",")) if item)


def number_list(text: str) -> tuple[int, ...]:
    """``"1440,15"`` -> ``(1440, 15)``."""
    return tuple(n for n in (whole_number(part) for part in text.split(",")) if n is not None)


def _reads(reader: Reader) -> dict[str, Reader]:
    return {"read": reader}


@dataclass(frozen=True)
class SessionDraft:
    """A session as a coordinator asks for it; :meth:`~.service.Sessions.add` checks it as a whole.

    A field that is more than plain text says how its text reads (``metadata["read"]``), and a text field may
    bound its length (``metadata["max_length"]``, else its column's); adding a field here adds it to the chat
    command and to every form that passes it on."""

    title: str = ""
    start: str | datetime = ""
    """A naive local date and time, or text: ISO (``2027-03-16T15:00``) or words ("next Tuesday 15:00"), read in
    ``tz``."""
    tz: str = ""
    repeat: str | None = field(default=None, metadata=_reads(optional_text))
    """none, weekly, "every 2 weeks", monthly, daily, or an RRULE."""
    count: int | None = field(default=None, metadata=_reads(whole_number))
    until: date | None = field(default=None, metadata=_reads(local_date))
    duration: int | None = field(default=60, metadata=_reads(whole_number))
    """Minutes."""
    agenda: str = field(default="", metadata={"max_length": 3000})
    channels: tuple[str, ...] = field(default=(), metadata=_reads(text_list))
    """``platform:channel_id`` of each channel that is announced to and reminded."""
    video: str | None = field(default=None, metadata=_reads(optional_text))
    reminders: tuple[int, ...] | None = field(default=None, metadata=_reads(number_list))
    """Minutes before each occurrence; None: the configured ones."""


#: The names of a draft's fields (what ``session edit`` and ``rrr-bot sessions edit`` may change).
FIELDS: tuple[str, ...] = tuple(f.name for f in fields(SessionDraft))
_READERS: Mapping[str, Reader] = MappingProxyType({f.name: f.metadata.get("read", str) for f in fields(SessionDraft)})


def read_fields(texts: Mapping[str, str]) -> dict[str, Any]:
    """Each field's value read from the text a member typed (a chat command's ``key:value``, a form's input) by
    the field's own reader, ready for ``SessionDraft(**...)`` or an edit; an unknown name or unreadable text is
    :class:`InvalidInput` about that field."""
    values: dict[str, Any] = {}
    for name, text in texts.items():
        reader = _READERS.get(name)
        if reader is None:
            raise InvalidInput(f"There is no session field '{neutralize_mentions(name)[:40]}'; the fields are: "
                               f"{', '.join(FIELDS)}.")
        try:
            values[name] = reader(text)
        except InvalidInput as exc:
            raise InvalidInput(f"{name}: {exc}", field=name) from None
    return values


__all__ = ["FIELDS", "SessionDraft", "local_date", "number_list", "optional_text", "read_fields", "text_list",
           "whole_number"]
