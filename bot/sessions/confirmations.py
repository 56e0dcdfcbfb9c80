"""Confirm before save: a session added in chat with its start typed in words ("tomorrow 3pm", "martes 16:00") is
read once and echoed back with the date it was read as, and "Confirm" / "Cancel" buttons; nothing is stored until
the coordinator who typed it confirms. An ISO start (``2027-03-16T15:00``) is saved at once: it cannot be misread, and
scripts, the CLI and the forms' date and time pickers send it.

A draft lives in this process for :data:`KEEP` and holds the start as read when it was typed (so "tomorrow" confirmed
after midnight is still the day shown). Each draft is decided once: the decision takes an outbox claim
(``session-draft:ID``) in the database, so a repeated or concurrent click, here or in another process, saves nothing
more. An expired draft, or one from before a restart, is refused with what to do instead.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from collections.abc import Mapping

from ..errors import InvalidInput, PermissionDenied
from ..messages import Actions, Button, Reply, Text, Time
from ..services.outbox import StoredOutbox
from .draft import SessionDraft
from .service import SessionInfo
from .when import human_time, is_iso
from ..text import neutralize_mentions

CONFIRM = "session_confirm"
DISCARD = "session_discard"
DRAFT_ACTIONS = (CONFIRM, DISCARD)
#: How long a typed session waits for its confirmation.
KEEP = timedelta(minutes=30)


@dataclass(frozen=True)
class Draft:
    """A session read from a chat command, waiting for ``platform:user``'s confirmation."""

    id: str
    platform: str
    user: str
    new: SessionDraft | None
    """The new session, its start as read (a naive local datetime); None for an edit."""
    here: str
    """The channel the command came from (``platform:channel``; it sees the card, the others are announced to)."""
    made_at: datetime
    session_id: int = 0
    """The session a ``session edit`` changes; 0 for a new session."""
    changes: Mapping[str, object] = field(default_factory=dict)
    """An edit's changes (:class:`~.draft.SessionDraft` field names), the start as read."""

    @property
    def created_by(self) -> str:
        """Who the session is saved as: the coordinator who typed it."""
        return f"{self.platform}:{self.user}"


class Drafts:
    """The drafts of this process, and the claims that decide each one once."""

    def __init__(self, outbox: StoredOutbox, keep: timedelta = KEEP) -> None:
        self.outbox = outbox
        self.keep = keep
        self._drafts: dict[str, Draft] = {}
        self._lock = threading.Lock()

    def put(self, platform: str, user: str, new: SessionDraft | None, here: str, now: datetime, *,
            session_id: int = 0, changes: Mapping[str, object] | None = None) -> Draft:
        """Keep a draft for :data:`KEEP`: a new session, or (``session_id``) the ``changes`` of an edit."""
        draft = Draft(secrets.token_hex(6), platform, user, new, here, now, session_id, dict(changes or {}))
        with self._lock:
            for key in [k for k, d in self._drafts.items() if now - d.made_at > self.keep]:
                del self._drafts[key]
            self._drafts[draft.id] = draft
        return draft

    def get(self, draft_id: str, platform: str, user: str, now: datetime) -> Draft:
        """The draft, for the member who typed it; a one-line refusal when it is gone, expired or someone else's."""
        with self._lock:
            draft = self._drafts.get(draft_id.strip())
        if draft is None or now - draft.made_at > self.keep:
            raise InvalidInput("This confirmation has expired or was already answered: nothing more was saved. "
                               "Type the `session add ...` or `session edit ...` command again if it is still "
                               "to be done.")
        if (draft.platform, draft.user) != (platform, user):
            raise PermissionDenied("Only the coordinator who typed this session can confirm or cancel it.")
        return draft

    def decide(self, draft: Draft) -> bool:
        """Take the draft's claim: True once, for the first click anywhere; False for every later one."""
        with self._lock:
            self._drafts.pop(draft.id, None)
        return self.outbox.take(f"session-draft:{draft.id}")


def confirmation(draft: Draft, info: SessionInfo, typed: str) -> Reply:
    """The echo of a typed session (new, or changed by an edit): the date it was read as, in its zone and in the
    reader's, and the buttons."""
    first = info.schedule.first()
    repeat = info.schedule.describe()
    said = "" if is_iso(typed) else f"You typed “{neutralize_mentions(typed)}”: "  # a form's pickers: nothing typed
    lines = [f"{said}I read it as {human_time(first.start_utc, info.schedule.tz)} ({info.schedule.tz}).",
             f"“{neutralize_mentions(info.title)}”, {repeat}, {int(info.schedule.duration.total_seconds() // 60)} "
             "min. Nothing is saved until you confirm."]
    heading = f"Change session #{draft.session_id} like this?" if draft.session_id else "Schedule this session?"
    return Reply((Text(heading, "heading"), Text("\n".join(lines)),
                  Time(first.start_utc, "In your own time zone:", info.schedule.tz),
                  Actions((Button("Confirm", CONFIRM, draft.id, "primary"), Button("Cancel", DISCARD, draft.id)))),
                 ephemeral=True)
