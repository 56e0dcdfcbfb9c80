"""How a session looks in chat: its card (the announcement, ``session show``, the reminders) and nothing else.

The only module of the sessions that builds :class:`~bot.messages.Reply`; the service gives it the data
(:class:`SessionCard`). A new session field that people should see is one line in :func:`card`.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

from ..actions import OPEN_URL
from ..messages import Actions, Button, Facts, Reply, Text, Time
from ..messages import Field as Fact
from ..store.models import utcnow
from .recurrence import Occurrence

if TYPE_CHECKING:
    from .service import SessionInfo

STATUS_LABELS = MappingProxyType({"going": "Going", "maybe": "Maybe", "no": "Can't"})
RSVP_GOING, RSVP_MAYBE, RSVP_NO = "rsvp_going", "rsvp_maybe", "rsvp_no"
#: The card's "Calendar file" button: its click answers with the session's .ics file (value: the session id).
ICS_ACTION = "session_ics"


@dataclass(frozen=True)
class SessionCard:
    """What a card shows: the session, the occurrence it is about (None: none left), its RSVP counts and the
    session's Google Calendar link."""

    info: SessionInfo
    occurrence: Occurrence | None
    counts: dict[str, int]
    calendar_link: str


def card(data: SessionCard, *, heading: str = "") -> Reply:
    """A session with its next time, RSVP buttons with live counts, and calendar links."""
    info, occ, counts = data.info, data.occurrence, data.counts
    blocks: list = []
    if heading:
        blocks.append(Text(heading, "heading"))
    fields = [Fact("When", info.schedule.describe()), Fact("Zone", info.schedule.tz),
              Fact("Duration", f"{int(info.schedule.duration.total_seconds() // 60)} min")]
    if info.video_url:
        fields.append(Fact("Video", info.video_url))
    if skipped := _upcoming_skipped(info):
        fields.append(Fact("Skipped", skipped))
    blocks.append(Facts(tuple(fields), title=f"#{info.id} {info.title}" + (" (cancelled)" if info.cancelled
                                                                            else "")))
    if info.agenda:
        blocks.append(Text(info.agenda))
    if occ is None:
        blocks.append(Text("No upcoming occurrence.", "muted"))
        return Reply(tuple(blocks))
    blocks.append(Time(occ.start_utc, "Next:", info.schedule.tz))
    value = f"{info.id}:{occ.key()}"
    blocks.append(Actions((
        Button(f"{STATUS_LABELS['going']} ({counts['going']})", RSVP_GOING, value, style="primary"),
        Button(f"{STATUS_LABELS['maybe']} ({counts['maybe']})", RSVP_MAYBE, value),
        Button(f"{STATUS_LABELS['no']} ({counts['no']})", RSVP_NO, value),
        Button("Add to Google Calendar", OPEN_URL, url=data.calendar_link),
        Button("Calendar file (.ics)", ICS_ACTION, str(info.id)),  # answered with the file, in chat
    )))
    return Reply(tuple(blocks))


def reminder(data: SessionCard, offset: int) -> Reply:
    """The reminder ``offset`` minutes before the card's occurrence."""
    when = "tomorrow" if offset >= 1440 else f"in {_minutes(offset)}"
    return card(data, heading=f"Reminder: {data.info.title} starts {when}")


def _upcoming_skipped(info: SessionInfo, shown: int = 3) -> str:
    """The skipped dates still to come, in the session's zone ("" when none)."""
    now = utcnow()
    dates = [f"{o.start_local:%Y-%m-%d %H:%M %Z}" for o in info.schedule.skipped_occurrences() if o.start_utc > now]
    more = f" and {len(dates) - shown} more" if len(dates) > shown else ""
    return ", ".join(dates[:shown]) + more


def _minutes(offset: int) -> str:
    if offset % 60 == 0:
        hours = offset // 60
        return f"{hours} hour" + ("s" if hours != 1 else "")
    return f"{offset} minute" + ("s" if offset != 1 else "")
