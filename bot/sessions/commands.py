"""The ``session`` chat command and the RSVP buttons (the use cases live in :mod:`.service`)."""

from __future__ import annotations

import asyncio
import logging
import shlex
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from ..commands import Context
from ..errors import InvalidInput, PermissionDenied
from ..messages import Action, Actions, Button, Image, Incoming, Reply, Text, Time
from ..paging import PAGE_ACTIONS, SESSIONS_PAGE, Page, paginate, text_length
from ..services.outbox import Outgoing
from .draft import FIELDS, SessionDraft, read_fields
from . import views
from .recurrence import Occurrence
from .views import ICS_ACTION, RSVP_GOING, RSVP_MAYBE, RSVP_NO, STATUS_LABELS
from .service import SessionInfo, Sessions
from .when import is_iso
from .confirmations import CONFIRM, DISCARD, DRAFT_ACTIONS, Draft, Drafts, confirmation
from ..store.models import utcnow
from ..text import neutralize_mentions
from ..actions import OPEN_URL

log = logging.getLogger(__name__)
IsCoordinator = Callable[[str, str, tuple[str, ...]], Awaitable[bool]]
ChannelCheck = Callable[[str], Awaitable["str | None"]]
"""An adapter's check of a channel id: None when the bot can post there, else the reason it cannot."""
SessionWatcher = Callable[[SessionInfo, str], Awaitable["str | None"]]
"""An adapter's follow-up of a session change (``edit``, ``cancel`` or ``skip-next``, the session as it is now), e.g.
its copy of the session on the platform: None, or a note for the coordinator who made the change."""
#: How long a change waits for the adapters' follow-ups before answering without their notes.
WATCH_SECONDS = 10.0
CHANGES = ("add", "edit", "cancel", "skip-next")
USAGE = """`session list [PAGE]` - the scheduled sessions, the nearest first, ten a page
`session show ID` - one session, with RSVP buttons and calendar links
`session next ID [N]` - its next N dates in your zone
`session rsvp ID going|maybe|no` - answer for the next occurrence
`session ics ID` - the calendar file (.ics) of every date, to open in your calendar app
Coordinators:
`session add title:"Working group" start:2027-03-16T15:00 tz:Europe/Madrid` (or `start:"next Tuesday 15:00"`), \
and optionally `repeat:weekly|"every 2 weeks"|monthly|FREQ=...` `count:N|until:YYYY-MM-DD` `duration:60` \
`video:URL` `agenda:"..."` `channel:here|slack:C0123` `reminders:1440,15`; a start in words is echoed back with \
Confirm / Cancel before it is saved (`confirm:yes` asks for that with an ISO start too)
`session edit ID key:value ...` (same keys)
`session cancel ID`, `session skip-next ID`, `session confirm DRAFT` / `session discard DRAFT` (a typed start's echo)"""
#: The chat command's keys: every :class:`SessionDraft` field, a few aliases, and ``confirm``.
KEYS = MappingProxyType({**{name: name for name in FIELDS}, "zone": "tz", "timezone": "tz", "channel": "channels",
                         "confirm": "confirm"})
RSVP_ACTIONS = MappingProxyType({RSVP_GOING: "going", RSVP_MAYBE: "maybe", RSVP_NO: "no"})
#: Every session button that the core answers: the RSVPs, the calendar file, and the page buttons of a long list
#: (``session list``, a city's challenges: :data:`~bot.paging.PAGE_ACTIONS`, answered by the core's router).
SESSION_ACTIONS = (*RSVP_ACTIONS, ICS_ACTION, *DRAFT_ACTIONS, *PAGE_ACTIONS)


class SessionCommands:
    """Parses ``session ...`` and the RSVP clicks, checks the coordinator role, and calls :class:`Sessions`."""

    def __init__(self, sessions: Sessions, is_coordinator: IsCoordinator,
                 channel_checks: dict[str, ChannelCheck] | None = None) -> None:
        self.sessions = sessions
        self.is_coordinator = is_coordinator
        self.channel_checks = channel_checks if channel_checks is not None else {}
        self.watchers: list[SessionWatcher] = []
        self.drafts = Drafts(sessions.outbox)

    def watch(self, watcher: SessionWatcher) -> None:
        """Call ``watcher`` after each edit, cancellation and skip of a session (adapters follow the change)."""
        self.watchers.append(watcher)

    async def handle(self, ctx: Context) -> list[Reply]:
        words = ctx.rest.split(maxsplit=1)
        sub = words[0].lower() if words else "list"
        rest = words[1] if len(words) > 1 else ""
        message = ctx.message
        if sub in CHANGES and not await self.is_coordinator(message.platform, message.user, message.roles):
            raise PermissionDenied(f"Only coordinators can `session {sub}`.")
        if sub == "list":
            return [await asyncio.to_thread(self._list, _number(rest, "page number") if rest.strip() else 1)]
        if sub == "show":
            info = await self._get(rest)
            return [await self._card(info)]
        if sub in ("next", "occurrences"):
            parts = rest.split()
            info = await self._get(parts[0] if parts else "")
            count = _number(parts[1], "number of dates") if len(parts) > 1 else 5
            occurrences = await asyncio.to_thread(self.sessions.occurrences, info.id, count, utcnow())
            if not occurrences:
                return [Reply.text(f"'{info.title}' has no upcoming date.")]
            return [Reply((Text(f"Next dates of #{info.id} {info.title}:", "heading"),
                           *(Time(o.start_utc, tz=info.schedule.tz) for o in occurrences)))]
        if sub == "rsvp":
            parts = rest.split()
            if len(parts) != 2:
                raise InvalidInput("Usage: `session rsvp ID going|maybe|no`.")
            info = await self._get(parts[0])
            _, counts = await asyncio.to_thread(self.sessions.rsvp, info.id, None, message.platform, message.user,
                                                parts[1].lower())
            return [Reply.text(f"Noted: {STATUS_LABELS[parts[1].lower()]} for '{info.title}'. "
                               f"Going {counts['going']}, maybe {counts['maybe']}, can't {counts['no']}.")]
        if sub in ("confirm", "discard"):  # the echo's buttons, typed (the console has no buttons)
            action = Action(message.platform, message.user, CONFIRM if sub == "confirm" else DISCARD, rest.strip(),
                            channel=message.channel, roles=message.roles)
            return [replace(r, replace=False) for r in await self._decide(action)]
        if sub == "ics":
            return [await self._calendar_file(await self._get(rest))]
        if sub == "add":
            fields = _fields(rest)
            confirm_first = _yes_no(fields.pop("confirm", ""), "confirm")
            return await self.add(message, SessionDraft(**read_fields(fields)), confirm_first=confirm_first)
        if sub == "edit":
            id_text, _, changes_text = rest.partition(" ")
            info = await self._get(id_text)
            fields = _fields(changes_text)
            changes = read_fields(fields)
            if "channels" in changes:
                here = _here(message)
                changes["channels"] = channels = _channels(changes["channels"], here)
                await self._check_channels(channels, here)
            typed = fields.get("start", "")
            if typed.strip() and not is_iso(typed):  # a start in words: echoed, changed once confirmed
                preview = await asyncio.to_thread(self.sessions.edit, info.id, changes, dry_run=True)
                changes["start"] = preview.schedule.start  # as read now
                draft = self.drafts.put(message.platform, message.user, None, "", utcnow(), session_id=info.id,
                                        changes=changes)
                return [confirmation(draft, preview, typed)]
            info = await asyncio.to_thread(self.sessions.edit, info.id, changes)
            notes = await self._follow(info, "edit")
            card = await self._card(info, heading="Session updated")
            return [Reply(card.blocks + notes)]
        if sub == "cancel":
            info = await self._get(rest)
            info = await asyncio.to_thread(self.sessions.cancel, info.id)
            await asyncio.to_thread(self._announce, info, "", kind="cancelled",
                                    reply=Reply.text(f"'{info.title}' is cancelled; no more reminders."))
            notes = await self._follow(info, "cancel")
            return [Reply((Text(f"Cancelled #{info.id} '{info.title}'. Its channels are told; no reminder will "
                                "be sent."), *notes))]
        if sub == "skip-next":
            info = await self._get(rest)
            skipped = await asyncio.to_thread(self.sessions.skip_next, info.id)
            notes = await self._follow(await asyncio.to_thread(self.sessions.get, info.id), "skip-next")
            return [Reply((Text(f"Skipped the next '{info.title}':"), Time(skipped.start_utc), *notes))]
        raise InvalidInput(f"Unknown `session {neutralize_mentions(sub)}`.\n{USAGE}")

    async def add(self, message: Incoming, draft: SessionDraft, *, confirm_first: bool = False) -> list[Reply]:
        """Schedule ``draft`` for the coordinator who sent ``message`` (the chat command, a Slack form, Discord's
        ``/session-add``): announced in its channels, the card as the answer. With no channels it goes to the one
        the message came from. A start in words, or ``confirm_first``, is echoed with the date as read and saved
        once confirmed (:mod:`.confirmations`)."""
        if not await self.is_coordinator(message.platform, message.user, message.roles):
            raise PermissionDenied("Only coordinators can `session add`.")
        here = _here(message)
        channels = _channels(draft.channels or (("here",) if here else ()), here)
        await self._check_channels(channels, here)
        draft = replace(draft, channels=channels)
        typed = draft.start if isinstance(draft.start, str) else ""
        created_by = f"{message.platform}:{message.user}"
        if confirm_first or (typed.strip() and not is_iso(typed)):  # echoed, saved once confirmed
            info = await asyncio.to_thread(self.sessions.preview, draft)
            draft = replace(draft, start=info.schedule.start)  # as read now: "tomorrow" confirmed after midnight
            kept = self.drafts.put(message.platform, message.user, draft, here, utcnow())
            return [confirmation(kept, info, typed)]
        info = await asyncio.to_thread(self.sessions.add, draft, created_by=created_by)
        await asyncio.to_thread(self._announce, info, here)
        return [await self._card(info, heading="Session scheduled")]

    async def act(self, action: Action) -> list[Reply]:
        """An RSVP click: record it and redraw the card with the new counts. A "Calendar file" click: the file."""
        if action.action_id == ICS_ACTION:
            return [await self._calendar_file(await self._get(action.value))]
        if action.action_id in DRAFT_ACTIONS:
            return await self._decide(action)
        status = RSVP_ACTIONS[action.action_id]
        session_id, _, occurrence = action.value.partition(":")
        info = await self._get(session_id)
        occ, _ = await asyncio.to_thread(self.sessions.rsvp, info.id, occurrence or None, action.platform,
                                         action.user, status)
        card = await self._card(info, occ)
        return [Reply(card.blocks, replace=True),
                Reply.text(f"Noted: {STATUS_LABELS[status]}.", ephemeral=True)]

    async def _decide(self, action: Action) -> list[Reply]:
        """Confirm or Cancel of a typed session: saved (and announced) once, whatever the clicks; the echo is
        replaced by the outcome."""
        if not await self.is_coordinator(action.platform, action.user, action.roles):
            raise PermissionDenied("Only coordinators can schedule a session.")
        draft = self.drafts.get(action.value, action.platform, action.user, utcnow())
        if draft.session_id:
            return await self._decide_edit(action, draft)
        new = draft.new
        if new is None:
            raise InvalidInput("This confirmation is not about a session.")
        if action.action_id == CONFIRM:  # still valid (not in the past by now) before the draft is used up
            await asyncio.to_thread(self.sessions.preview, new)
        if not await asyncio.to_thread(self.drafts.decide, draft):
            raise InvalidInput("This session was already confirmed or cancelled: nothing more was saved.")
        if action.action_id != CONFIRM:
            return [Reply((Text(f"Cancelled: '{new.title}' was not scheduled."),), ephemeral=True,
                          replace=True)]
        info = await asyncio.to_thread(self.sessions.add, new, created_by=draft.created_by)
        await asyncio.to_thread(self._announce, info, draft.here)
        card = await self._card(info, heading="Session scheduled")
        return [Reply((Text(f"Confirmed: '{info.title}' is session #{info.id}."),), ephemeral=True, replace=True), card]

    async def _decide_edit(self, action: Action, draft: Draft) -> list[Reply]:
        """Confirm or Cancel of a ``session edit`` with a start in words: changed (and followed) once."""
        if action.action_id == CONFIRM:  # still valid (not in the past by now) before the draft is used up
            await asyncio.to_thread(self.sessions.edit, draft.session_id, draft.changes, dry_run=True)
        if not await asyncio.to_thread(self.drafts.decide, draft):
            raise InvalidInput("This change was already confirmed or cancelled: nothing more was saved.")
        if action.action_id != CONFIRM:
            return [Reply((Text(f"Cancelled: session #{draft.session_id} was not changed."),), ephemeral=True,
                          replace=True)]
        info = await asyncio.to_thread(self.sessions.edit, draft.session_id, draft.changes)
        notes = await self._follow(info, "edit")
        card = await self._card(info, heading="Session updated")
        return [Reply((Text(f"Confirmed: session #{info.id} is changed."),), ephemeral=True, replace=True),
                Reply(card.blocks + notes)]

    async def _calendar_file(self, info: SessionInfo) -> Reply:
        """The session's .ics as a file of a private answer (every date, skipped ones left out), with the Google
        Calendar link for those who prefer it."""
        data = await asyncio.to_thread(self.sessions.ics, info.id)
        link = await asyncio.to_thread(self.sessions.calendar_link, info)
        what = "cancelled session" if info.cancelled else "session"
        return Reply((Text(f"The calendar file of the {what} #{info.id} '{info.title}': open it to add every date to "
                           "your calendar app (skipped dates are left out)."),
                      Image(f"session-{info.id}.ics", data, f"Calendar file (iCalendar) of '{info.title}'"),
                      Actions((Button("Add to Google Calendar", OPEN_URL, url=link),))), ephemeral=True)

    async def _card(self, info: SessionInfo, occ: Occurrence | None = None, *, heading: str = "") -> Reply:
        """The session's card (its next occurrence by default), with live RSVP counts."""
        return views.card(await asyncio.to_thread(self.sessions.card, info, occ), heading=heading)

    async def _follow(self, info: SessionInfo, change: str) -> tuple[Text, ...]:
        """Let the adapters follow ``change`` (their copies of the session); their notes, for the coordinator."""
        if not self.watchers:
            return ()
        results = await asyncio.gather(*(asyncio.wait_for(w(info, change), WATCH_SECONDS) for w in self.watchers),
                                       return_exceptions=True)
        notes = []
        for result in results:
            if isinstance(result, BaseException):
                log.error("a follow-up of the %s of session %s failed: %r", change, info.id, result)
            elif result:
                notes.append(Text(result, "muted"))
        return tuple(notes)

    async def _check_channels(self, channels: Sequence[str], here: str) -> None:
        """Ask the running adapter of each channel's platform whether the bot may post there (the channel the
        command came from is fine; a platform not served by this process cannot be checked and is trusted)."""
        for channel in channels:
            platform, _, channel_id = channel.partition(":")
            check = self.channel_checks.get(platform)
            if channel != here and check is not None:
                problem = await check(channel_id)
                if problem:
                    raise InvalidInput(f"I cannot post in {channel}: {problem}")

    async def _get(self, text: str) -> SessionInfo:
        return await asyncio.to_thread(self.sessions.get, _number(text, "session id"))

    def _list(self, number: int = 1) -> Reply:
        """Page ``number`` of the sessions, the nearest next date first (those with none left at the end)."""
        infos = self.sessions.list()
        if not infos:
            return Reply.text("No session is scheduled. Coordinators: `session add ...` (see `session help`).")
        dated = self.sessions.nearest_first(infos)
        page = sessions_page(dated, number, "session list")
        heading = "Scheduled sessions" if page.count == 1 else \
            f"Scheduled sessions {page.first}-{page.last} of {page.total}"
        blocks: list = [Text(heading, "heading")]
        for info, nxt in page.items:
            blocks.append(Text(_line(info)))
            if nxt is not None:
                blocks.append(Time(nxt.start_utc, "next:", info.schedule.tz))
        return Reply(tuple(blocks) + page.end("session list"))

    def _announce(self, info: SessionInfo, here: str, *, kind: str = "announce", reply: Reply | None = None) -> int:
        """Post to the session's channels other than the one the command came from (that one sees the reply)."""
        reply = reply or views.card(self.sessions.card(info), heading="New peer session")
        messages = [Outgoing(f"session:{kind}:{info.id}:{c}", c.partition(":")[0], reply, channel=c.partition(":")[2])
                    for c in info.channels if c != here]
        return self.sessions.outbox.enqueue(messages, claim=f"session:{kind}:{info.id}")


def sessions_page(dated: Sequence[tuple[SessionInfo, Any]], number: int, command: str) -> Page:
    """Page ``number`` of the sessions with their next dates (:meth:`Sessions.nearest_first`): the pages of
    `session list N` in chat and of ``rrr-bot sessions list --page N``."""
    return paginate(dated, number, size=SESSIONS_PAGE, length=lambda pair: text_length(_line(pair[0])) + 60,
                    command=command)


def _line(info: SessionInfo) -> str:
    return f"#{info.id} {info.title} - {info.schedule.describe()} ({info.schedule.tz})"


def _fields(text: str) -> dict[str, str]:
    """``title:"Working group" start:2027-03-16T15:00`` -> ``{"title": ..., "start": ...}`` (keys are
    :class:`SessionDraft` fields, their aliases, or ``confirm``)."""
    try:
        words = shlex.split(text)
    except ValueError:
        raise InvalidInput(f"Unbalanced quotes in: {neutralize_mentions(text)}") from None
    fields: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition(":")
        name = KEYS.get(key.lower())
        if not sep or name is None:
            raise InvalidInput(f"'{neutralize_mentions(word)}' is not a key:value pair I know; keys: "
                               f"{', '.join(sorted(set(KEYS)))}. Quote values with spaces: title:\"Working group\".")
        fields[name] = value
    return fields


def _here(message: Incoming) -> str:
    """``platform:channel`` of the channel a message came from ("" for a direct message)."""
    return f"{message.platform}:{message.channel}" if message.channel and not message.is_direct else ""


def _channels(items: Iterable[str], here: str) -> tuple[str, ...]:
    """The channels with ``here`` replaced by the channel the command came from."""
    out = []
    for item in items:
        if item == "here":
            if not here:
                raise InvalidInput("`channel:here` needs a channel: run the command in one, or give "
                                   "platform:channel_id.", field="channels")
            out.append(here)
        else:
            out.append(item)
    return tuple(out)


def _yes_no(text: str, key: str) -> bool:
    """``yes`` / ``no`` (empty: no)."""
    value = text.strip().lower()
    if value in ("", "no", "false"):
        return False
    if value in ("yes", "true"):
        return True
    raise InvalidInput(f"`{key}:` takes yes or no, e.g. {key}:yes.")


def _number(text: str, what: str) -> int:
    try:
        return int(text.strip().lstrip("#"))
    except ValueError:
        raise InvalidInput(f"Expected a {what} (a number), got '{neutralize_mentions(text.strip()) or 'nothing'}'."
                           ) from None
