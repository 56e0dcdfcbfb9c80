"""A member's home (Slack's App Home, Discord's ``/home``): their city, their next sessions with RSVP buttons, their
open introductions with "We met" / "Not yet", and buttons for Ask, Intro and Insights.

The session and introduction buttons are the ones of the session cards and follow-ups (``rsvp_going``,
``intro_met``, ...); on the home their value ends with :data:`FROM_HOME`, so the core answers the click with the home
drawn again (a ``replace`` reply, with a line saying what was noted) instead of a session card. The three feature
buttons (:data:`HOME_COMMANDS`) run the member's own ``ask``, ``intro`` and ``insights`` commands; Ask carries the
question in the field ``question`` of the platform's form.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from types import MappingProxyType

from .errors import InvalidInput, UserError
from .messages import Action, Actions, Button, Reply, Text, Time
from .services import Directory, Introductions
from .sessions.service import Sessions
from .sessions.views import STATUS_LABELS
from .sessions.commands import IsCoordinator, RSVP_ACTIONS
from .store.models import utcnow
from .text import neutralize_mentions
from .actions import INTRO_MET, INTRO_NOT_YET

log = logging.getLogger(__name__)
#: The end of a session or introduction button's value on the home: the click redraws the home.
FROM_HOME = ":home"
#: The buttons whose click from the home redraws it.
REDRAWN = (*RSVP_ACTIONS, INTRO_MET, INTRO_NOT_YET)
#: The home's feature buttons and the command each runs as the member.
HOME_COMMANDS = MappingProxyType({"home_ask": "ask", "home_intro": "intro", "home_insights": "insights"})
#: How many sessions and introductions the home shows (Discord takes 25 buttons a message: 3 x 3 + 3 x 2 + 3).
SESSIONS_SHOWN = 3
INTROS_SHOWN = 3

Act = Callable[[Action], Awaitable[list[Reply]]]


def from_home(action: Action) -> bool:
    """Whether ``action`` is a click on a session or introduction button of the home."""
    return action.action_id in REDRAWN and action.value.endswith(FROM_HOME)


def home_command(action: Action) -> str:
    """The member's text command a feature button runs (``ask QUESTION``, ``intro``, ``insights``)."""
    command = HOME_COMMANDS[action.action_id]
    if command != "ask":
        return command
    question = " ".join(action.field("question").split())
    if not question:
        raise InvalidInput("Type your question in the form, e.g. `how did other cities fund social enterprise "
                           "incubators?`")
    return f"ask {question}"


class Home:
    """Builds a member's home and answers the clicks made on it."""

    def __init__(self, directory: Directory, sessions: Sessions, intros: Introductions,
                 is_coordinator: IsCoordinator, *, name: str = "rrr",
                 review_section: Callable[[], list] | None = None) -> None:
        self.directory = directory
        self.review_section = review_section
        self.sessions = sessions
        self.intros = intros
        self.is_coordinator = is_coordinator
        self.name = name

    async def view(self, platform: str, user: str, roles: tuple[str, ...] = (), *, notice: str = "",
                   failed: bool = False) -> Reply:
        """The home of ``user``; ``notice`` (what their last click did) heads it."""
        coordinator = await self.is_coordinator(platform, user, roles)
        blocks: list = [Text(f"Welcome to the {self.name} peer network", "heading")]
        if notice:
            blocks.append(Text(("Not done: " if failed else "") + neutralize_mentions(notice), "muted"))
        blocks += await asyncio.to_thread(self._city, platform, user)
        blocks.append(Text(f"Your role: {'coordinator' if coordinator else 'member'}.", "muted"))
        blocks.append(Actions((Button("Ask a question", "home_ask", "ask", "primary"),
                               Button("Cities to meet", "home_intro", "intro"),
                               Button("Insights", "home_insights", "insights"))))
        blocks += await asyncio.to_thread(self._sessions, platform, user)
        blocks += await asyncio.to_thread(self._intros, platform, user)
        if coordinator and self.review_section is not None:  # saved answers waiting for their review
            blocks += await asyncio.to_thread(self.review_section)
        return Reply(tuple(blocks))

    async def click(self, action: Action, act: Act) -> list[Reply]:
        """A session or introduction button clicked on the home: ``act`` on it as on a card, then the home again,
        headed by what was noted (or why not), in place of the one clicked."""
        plain = replace(action, value=action.value[: -len(FROM_HOME)])
        try:
            answers = await act(plain)
            notes = [r.as_text() for r in answers if r.ephemeral and not r.replace]
            notice, failed = " ".join(n for n in notes if n), any(r.is_error for r in answers)
        except UserError as exc:
            notice, failed = str(exc), True
        home = await self.view(action.platform, action.user, action.roles, notice=notice, failed=failed)
        return [replace(home, replace=True)]

    # -- parts -----------------------------------------------------------------------------------------------------

    def _city(self, platform: str, user: str) -> list:
        city = self.directory.member_city(platform, user)
        if city is None:
            return [Text("You are not linked to a city yet: type `iam CITY` (e.g. `iam Turin`) so peers can find "
                         "you.")]
        profile = self.directory.profile(city)
        lines = [f"Your city: {profile.name} ({profile.country})"]
        if profile.challenges:
            lines.append("Its challenges: " + "; ".join(profile.challenges[:3])
                         + (f" and {len(profile.challenges) - 3} more (`profile`)" if len(profile.challenges) > 3
                            else ""))
        return [Text("\n".join(lines))]

    def _sessions(self, platform: str, user: str) -> list:
        """The next sessions, nearest first, each with the member's answer and the RSVP buttons of its date."""
        now = utcnow()
        dated = [(info, self.sessions.next_occurrence(info, now)) for info in self.sessions.list()]
        upcoming = sorted(((i, o) for i, o in dated if o is not None), key=lambda p: (p[1].start_utc, p[0].id))
        if not upcoming:
            return [Text("Your next sessions", "heading"), Text("No session is scheduled.", "muted")]
        blocks: list = [Text("Your next sessions", "heading")]
        for info, occ in upcoming[:SESSIONS_SHOWN]:
            key = occ.key()
            answer = self.sessions.answer_of(info.id, key, platform, user)
            counts = self.sessions.counts(info.id, key)
            mine = f" · you: {STATUS_LABELS[answer]}" if answer else " · you have not answered"
            blocks.append(Text(f"#{info.id} {info.title}{mine}"))
            blocks.append(Time(occ.start_utc, "Next:", info.schedule.tz))
            value = f"{info.id}:{key}{FROM_HOME}"
            blocks.append(Actions(tuple(
                Button(f"#{info.id} {STATUS_LABELS[status]} ({counts[status]})", action_id, value,
                       "primary" if answer == status else "default")
                for action_id, status in RSVP_ACTIONS.items())))
        if len(upcoming) > SESSIONS_SHOWN:
            blocks.append(Text(f"{len(upcoming) - SESSIONS_SHOWN} more: `session list`.", "muted"))
        return blocks

    def _intros(self, platform: str, user: str) -> list:
        """The member's introductions still open, each with "We met" / "Not yet"."""
        found = self.intros.open_for(platform, user, INTROS_SHOWN)
        if not found:
            return [Text("Your introductions", "heading"), Text("No open introduction.", "muted")]
        blocks: list = [Text("Your introductions", "heading")]
        for link_id, cities in found:
            names = " + ".join(cities)
            blocks.append(Text(f"Did you meet your peers from {names}?"))
            value = f"{link_id}{FROM_HOME}"
            blocks.append(Actions((Button(f"We met ({names})", INTRO_MET, value, "primary"),
                                   Button(f"Not yet ({names})", INTRO_NOT_YET, value))))
        return blocks
