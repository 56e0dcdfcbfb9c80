"""Consent in the network: joining a city and saving a peer's answer both wait for a reviewer.

- ``iam CITY``: a coordinator is linked at once; anyone else's request goes to the coordinators and the city's
  members (a DM each with Approve / Reject), who decide with the buttons or ``approve N`` / ``reject N``.
- "Save as solution" by a member creates a pending record, searchable only as "unreviewed, shared by NAME on DATE"
  (never a close match by itself) until a coordinator approves it (``pending`` lists them; ``approve ID`` /
  ``reject ID``, or the buttons of the coordinators' DM).
- Its Edit button opens a form prefilled with the record's editable fields (:class:`EditForm`, drawn by each adapter
  as a modal); the submission writes only the fields the coordinator changed, as that coordinator, so the record's
  history (``history ID``, ``rrr-bot kb history ID``, both written by :func:`step_lines`) says who changed what, when.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from knowledge.records import ID_PATTERN, SOLUTION_LENGTHS
from knowledge.urls import check_url

from .commands import Command, Context
from .errors import InvalidInput, NotFound, PermissionDenied
from .messages import Action, Actions, Button, Incoming, Reply, Text
from .paging import REVIEW_PAGE, page_argument, page_number, paginate, shorten, text_length
from .services import Directory, KnowledgeBase, Outgoing, StoredOutbox
from .services.membership import JoinRequest, Memberships
from .store.models import Solution, SolutionChange
from .text import neutralize_mentions
from .actions import SHOW_SOLUTION

IsCoordinator = Callable[[str, str, tuple[str, ...]], Awaitable[bool]]
#: Saved answers one member may have waiting for review: each one is a DM to every coordinator, so without a cap a
#: member could send the coordinators a message every few seconds.
MAX_WAITING = 5
APPROVE, REJECT, EDIT = "review_approve", "review_reject", "review_edit"
"""Button action ids; the value is ``join:N`` (a request to join a city) or ``solution:ID`` (a saved answer; only
these have Edit, which opens :class:`EditForm`)."""
EDIT_SUBMIT = "review_edit_submit"
"""The edit form's submission: value ``solution:ID``, fields the form's inputs (those it showed) and ``seen``."""
#: Steps of a solution's history a page of ``history ID`` shows, and the characters of one value shown in chat.
HISTORY_PAGE = 10
HISTORY_VALUE = 120


@dataclass(frozen=True)
class FormInput:
    """One text input of a form the core describes and each adapter draws (a Slack or Discord modal)."""

    name: str
    label: str
    value: str = ""
    max_length: int = 3000
    multiline: bool = False
    required: bool = False


@dataclass(frozen=True)
class EditForm:
    """The edit form of a saved answer, prefilled with its editable fields.

    ``seen`` fingerprints the values shown (``name:hash`` words): sent back with the submission, it lets the core
    write only the fields this coordinator changed, so two coordinators editing at once do not undo each other's
    other fields. ``note`` says which fields are too long for the form (left out, so left unchanged)."""

    solution_id: str
    inputs: tuple[FormInput, ...]
    seen: str
    note: str = ""


#: The inputs of the edit form, in order (at most 5: a Discord modal's limit): name, label, longest value, multiline,
#: required. These are :attr:`KnowledgeBase.EDITABLE`.
EDIT_INPUTS: tuple[tuple[str, str, int, bool, bool], ...] = (
    ("title", "Title", SOLUTION_LENGTHS["title"], False, True),
    ("challenge", "The challenge it answered", 1000, True, True),
    ("summary", "What was done, with figures", 3000, True, True),
    ("source_url", "Source link", SOLUTION_LENGTHS["source_url"], False, False),
    ("tags", "Tags, separated by commas", 500, False, False),
)


def check_edit(fields: Mapping[str, str]) -> dict[str, str]:
    """What is wrong with a submitted edit form, by input name (empty when nothing is): a required field left
    empty, a value too long, a source that is not an http(s) link. Inputs the form did not show are not checked."""
    problems: dict[str, str] = {}
    for name, label, longest, _, required in EDIT_INPUTS:
        if name not in fields:
            continue
        value = fields[name].strip()
        if required and not value:
            problems[name] = f"{label} cannot be empty."
        elif len(value) > longest:
            problems[name] = f"{label}: at most {longest:,} characters (this has {len(value):,})."
        elif name == "source_url" and value:
            try:
                check_url(value, max_length=longest)
            except ValueError:
                problems[name] = "Give an http(s) link, or leave it empty."
    return problems


def step_lines(step: SolutionChange, *, limit: int | None = None) -> list[str]:
    """One step of a solution's history as lines: when, what and by whom, then each changed field indented with its
    old and new value (``    summary: old -> new``). ``limit`` shortens each value (chat); None keeps it whole (the
    CLI's ``kb history``)."""
    who = f" by {step.changed_by}" if step.changed_by else ""
    lines = [f"{step.at:%Y-%m-%d %H:%M} UTC  {step.action}{who}"]
    for name, (before, after) in step.changes.items():
        was = "" if before in (None, "", []) else f"{_value(before, limit)} -> "
        lines.append(f"    {name}: {was}{_value(after, limit)}")
    return lines


def _value(value: object, limit: int | None) -> str:
    text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)  # tags: "food, youth"
    return text if limit is None else shorten(text, limit)


def _tags(text: str) -> list[str]:
    """``"Food, youth; food"`` -> ``["food", "youth"]``, as a record keeps its tags."""
    return list(dict.fromkeys(t.strip().lower() for t in re.split(r"[;,]", text) if t.strip()))


def _shown(solution: Solution, name: str) -> str:
    """The text a form shows for the field ``name`` of ``solution``."""
    if name == "tags":
        return ", ".join(solution.tags)
    return getattr(solution, name) or ""


def _digest(text: str) -> str:
    return hashlib.sha256(text.strip().encode("utf-8")).hexdigest()[:8]


class HistoryCommand(Command):
    """``history ID [PAGE]``: any other words after ``history`` make a question ("history of cooperatives in
    Bilbao?"), not this command."""

    def refuses(self, rest: str) -> bool:
        """Whether ``rest`` is not a solution id with an optional page number."""
        words = rest.strip().strip("`").split()
        return bool(words) and not (len(words) <= 2 and ID_PATTERN.match(words[0].strip("`").lower())
                                    and (len(words) == 1 or words[1].isdecimal()))


class Review:
    """The chat side of the consent flows (see the module docstring)."""

    def __init__(self, memberships: Memberships, knowledge: KnowledgeBase, directory: Directory,
                 outbox: StoredOutbox, is_coordinator: IsCoordinator) -> None:
        self.memberships = memberships
        self.knowledge = knowledge
        self.directory = directory
        self.outbox = outbox
        self._is_coordinator = is_coordinator

    async def iam(self, ctx: Context) -> list[Reply]:
        """Link the sender to a city, or ask the city's reviewers to."""
        if not ctx.rest:
            raise InvalidInput("Usage: `iam CITY`, e.g. `iam Turin`.")
        m = ctx.message
        coordinator = await self._is_coordinator(m.platform, m.user, m.roles)
        result = await asyncio.to_thread(self.memberships.join, m.platform, m.user, ctx.rest, m.user_name,
                                         coordinator=coordinator)
        if result.request is None:
            return [Reply.text(f"You are now linked to {result.city}. Peers asking about your city's challenges will "
                               "be pointed to you.")]
        if not result.already_open:
            await asyncio.to_thread(self._notify_join, result.request, result.reviewers)
        return [Reply.text(f"I asked the coordinators and the members of {result.city} to confirm that you speak for "
                           f"{result.city} (request #{result.request.id}). I will link you once one of them "
                           "approves.")]

    #: Saved answers a coordinator's home view lists (the oldest first; `pending` lists them all).
    HOME_PENDING = 5

    def home_section(self) -> list:
        """The blocks of a coordinator's home view about saved answers waiting for review: each with who shared it,
        when, and its Approve / Edit / Reject / More buttons."""
        saved = self.knowledge.pending()
        if not saved:
            return [Text("No saved answer is waiting for your review.", "muted")]
        blocks: list = [Text(f"{len(saved)} saved answer(s) waiting for your review:", "heading")]
        for solution in saved[:self.HOME_PENDING]:
            saver = self.knowledge.saver_name(solution) or "a peer"
            blocks.append(Text(f"{neutralize_mentions(solution.title)} ({neutralize_mentions(solution.city)}): "
                               f"unreviewed, shared by {neutralize_mentions(saver)} on "
                               f"{solution.created_at:%Y-%m-%d}"))
            blocks.append(review_buttons(solution.id))
        if len(saved) > self.HOME_PENDING:
            blocks.append(Text(f"… and {len(saved) - self.HOME_PENDING} more: `pending` lists them all.", "muted"))
        return blocks

    async def list_open(self, ctx: Context) -> list[Reply]:
        """What the sender can decide on: requests to join (their city's, or all for coordinators), and saved
        answers waiting for review (coordinators); :data:`~bot.paging.REVIEW_PAGE` a page (`pending 2`)."""
        m = ctx.message
        number = page_argument(ctx.rest, ctx.name)
        coordinator = await self._is_coordinator(m.platform, m.user, m.roles)
        joins = await asyncio.to_thread(self.memberships.open_requests, m.platform, m.user, coordinator=coordinator)
        saved = await asyncio.to_thread(self.knowledge.pending) if coordinator else []
        if not joins and not saved:
            return [Reply.text("Nothing is waiting for your review.")]
        items = [("join", f"- #{r.id} {shorten(neutralize_mentions(r.name or r.user_id), 80)} asks to speak for "
                          f"{r.city} ({r.requested_at:%Y-%m-%d})") for r in joins]
        items += [("solution", f"- `{s.id}`: {shorten(neutralize_mentions(s.title))} ({s.city}), saved "
                               f"{s.created_at:%Y-%m-%d}") for s in saved]
        page = paginate(items, number, size=REVIEW_PAGE, length=lambda item: text_length(item[1]) + 1,
                        command=ctx.name)
        blocks: list = []
        for kind, heading in (("join", f"{len(joins)} request(s) to join a city:"),
                              ("solution", f"{len(saved)} saved answer(s) waiting for review:")):
            lines = [line for k, line in page.items if k == kind]
            if lines:
                blocks += [Text(heading, "heading"), Text("\n".join(lines))]
        blocks.append(Text("`approve N` / `reject N` for a request, `approve ID` / `reject ID` for an answer; the Edit "
                           "button of its review message edits an answer, `history ID` shows its changes.", "muted"))
        return [Reply(tuple(blocks) + page.end(ctx.name))]

    async def decide_command(self, ctx: Context, *, approve: bool) -> list[Reply]:
        """``approve N`` / ``reject N`` (a request to join) or ``approve ID`` / ``reject ID`` (a saved answer)."""
        target = ctx.rest.strip().lstrip("#")
        if not target:
            verb = "approve" if approve else "reject"
            raise InvalidInput(f"Usage: `{verb} N` for request #N to join a city, or `{verb} ID` for a saved answer "
                               "(`pending` lists both).")
        kind = "join" if target.isdigit() else "solution"
        return await self._decide(ctx.message, f"{kind}:{target}", approve)

    async def act(self, action: Action) -> list[Reply]:
        """The Approve / Reject buttons of a review DM."""
        incoming = Incoming(action.platform, action.user, "", roles=action.roles, user_name=action.user_name)
        replies = await self._decide(incoming, action.value, action.action_id == APPROVE)
        return [Reply(r.blocks, ephemeral=True) for r in replies]

    async def edit_form(self, action: Action) -> EditForm:
        """The Edit button (value ``solution:ID``): the form prefilled with the saved answer's editable fields, for a
        coordinator only."""
        solution = await self._editable(action)
        inputs, seen, left_out = [], [], []
        for name, label, longest, multiline, required in EDIT_INPUTS:
            value = _shown(solution, name)
            if len(value) > longest:  # never cut a value in a form: it would be saved cut
                left_out.append(label.lower())
                continue
            inputs.append(FormInput(name, label, value, longest, multiline, required))
            seen.append(f"{name}:{_digest(value)}")
        note = (f"Too long for this form, so unchanged: {', '.join(left_out)} (`rrr-bot kb edit` changes it)."
                if left_out else "")
        return EditForm(solution.id, tuple(inputs), " ".join(seen), note)

    async def edit(self, action: Action) -> list[Reply]:
        """The edit form's submission: the fields this coordinator changed are written, as theirs (the history keeps
        who changed what, when); a saved answer still waits for review, an approved one is searchable as edited."""
        solution = await self._editable(action)
        submitted = {name: action.field(name) for name, *_ in EDIT_INPUTS if name in dict(action.fields)}
        problems = check_edit(submitted)
        if problems:
            raise InvalidInput(" ".join(problems.values()) + " Nothing was changed.")
        seen = dict(word.partition(":")[::2] for word in action.field("seen").split())
        changes: dict[str, object] = {}
        for name, text in submitted.items():
            now = _shown(solution, name)
            edited = _digest(text) != seen[name] if name in seen else text.strip() != now.strip()
            if name == "tags":
                if edited and _tags(text) != list(solution.tags):
                    changes[name] = _tags(text)
            elif edited and text.strip() != now.strip():
                changes[name] = text.strip()
        if not changes:
            return [Reply.text(f"Nothing changed in `{solution.id}`.", ephemeral=True)]
        edited_by = f"{action.platform}:{action.user}"
        after = await asyncio.to_thread(self.knowledge.edit, solution.id, edited_by, **changes)
        step = (await asyncio.to_thread(self.knowledge.history, solution.id))[-1]
        state = ("It still waits for review." if after.status == "pending"
                 else "It is searchable with its new text.")
        changed = [neutralize_mentions(line.strip()) for line in step_lines(step, limit=HISTORY_VALUE)[1:]]
        blocks: list = [Text(f"Edited `{solution.id}` ({', '.join(step.changes) or 'no field'} changed). {state}")]
        if changed:
            blocks.append(Text("\n".join(changed), "muted"))
        return [Reply(tuple(blocks), ephemeral=True)]

    async def history(self, ctx: Context) -> list[Reply]:
        """``history ID [PAGE]``: who saved, edited, approved or rejected a solution, when, and what changed;
        :data:`HISTORY_PAGE` steps a page, the oldest first."""
        target, number = page_number(ctx.rest.replace("`", " ").lower())
        if not target:
            raise InvalidInput("Usage: `history ID`, e.g. `history turin-facilito-giovani` (`pending` lists the "
                               "saved answers' ids).")
        steps = await asyncio.to_thread(self.knowledge.history, target)
        command = f"history {target}"
        items = ["\n".join(neutralize_mentions(line) for line in step_lines(step, limit=HISTORY_VALUE))
                 for step in steps]
        page = paginate(items, number, size=HISTORY_PAGE, command=command)
        blocks: list = [Text(f"History of `{target}` ({len(steps)} step(s), the oldest first):", "heading"),
                        Text("\n".join(page.items))]
        return [Reply(tuple(blocks) + page.end(command))]

    async def save_solution(self, action: Action, *, country: str, question_id: int | None) -> list[Reply]:
        """Save a peer's answer: at once for a coordinator, else into the review queue."""
        coordinator = await self._is_coordinator(action.platform, action.user, action.roles)
        saved_by = f"{action.platform}:{action.user}"
        if not coordinator:
            waiting = sum(s.saved_by == saved_by for s in await asyncio.to_thread(self.knowledge.pending))
            if waiting >= MAX_WAITING:
                raise InvalidInput(f"You have {waiting} saved answers waiting for a coordinator's review; they will "
                                   "look at those first, then you can save more.")
        await asyncio.to_thread(self.directory.remember, action.platform, action.user, action.user_name)
        solution_id = await asyncio.to_thread(
            self.knowledge.save_answer, title=action.field("title"), city=action.field("city").strip(),
            country=country, summary=action.field("summary"), challenge=action.field("challenge"),
            source_url=action.field("source_url") or None, saved_by=saved_by, question_id=question_id,
            reviewed=coordinator)
        if coordinator:
            return [Reply.text(f"Saved as `{solution_id}`. It is searchable now.", ephemeral=True)]
        await asyncio.to_thread(self._notify_saved, action.platform, solution_id, action.user_name or action.user)
        return [Reply.text(f"Thanks! Saved as `{solution_id}` for review: until a coordinator approves it, it shows "
                           "in answers marked as unreviewed.", ephemeral=True)]

    async def _decide(self, who: Incoming, value: str, approve: bool) -> list[Reply]:
        kind, _, target = value.partition(":")
        coordinator = await self._is_coordinator(who.platform, who.user, who.roles)
        if kind == "join" and target.isdigit():
            request = await asyncio.to_thread(self.memberships.decide, int(target), who.platform, who.user,
                                              approve=approve, coordinator=coordinator)
            await asyncio.to_thread(self._tell_requester, request)
            verb = "approved" if approve else "rejected"
            return [Reply.text(f"Request #{request.id} {verb}: {neutralize_mentions(request.name or request.user_id)}"
                               f" {'now speaks' if approve else 'does not speak'} for {request.city}.")]
        if kind == "solution" and target:
            if not coordinator:
                raise PermissionDenied("Only coordinators can review saved answers.")
            if approve:
                solution = await asyncio.to_thread(self.knowledge.approve, target, f"{who.platform}:{who.user}")
                return [Reply.text(f"Approved `{solution.id}`: it is network knowledge now, no longer marked "
                                   "unreviewed.")]
            solution = await asyncio.to_thread(self.knowledge.reject, target, f"{who.platform}:{who.user}")
            return [Reply.text(f"Rejected `{solution.id}`: it was removed from the review queue.")]
        raise InvalidInput("Expected a request number or a saved answer's id (`pending` lists them).")

    async def _editable(self, action: Action) -> Solution:
        """The saved answer an Edit button or form names, when the clicker is a coordinator and it still exists."""
        kind, _, target = action.value.partition(":")
        if kind != "solution" or not target:
            raise InvalidInput("Expected a saved answer's id (`pending` lists them).")
        if not await self._is_coordinator(action.platform, action.user, action.roles):
            raise PermissionDenied("Only coordinators can edit saved answers.")
        try:
            return await asyncio.to_thread(self.knowledge.get, target)
        except NotFound:
            raise NotFound(await asyncio.to_thread(self._gone, target)) from None

    def _gone(self, solution_id: str) -> str:
        """Why there is no solution ``solution_id`` to edit (rejected or removed meanwhile, or never saved)."""
        try:
            last = self.knowledge.history(solution_id)[-1]
        except (NotFound, IndexError):
            return f"There is no saved answer `{neutralize_mentions(solution_id[:120])}`; nothing was changed."
        return (f"`{neutralize_mentions(solution_id)}` was {last.action} on {last.at:%Y-%m-%d}, so there is nothing "
                "to edit any more.")

    # -- notifications (DMs through the outbox, so they survive restarts and are sent once) ---------------------

    def _notify_join(self, request: JoinRequest, reviewers: tuple[str, ...]) -> None:
        who = neutralize_mentions(request.name or request.user_id)
        reply = Reply((Text(f"{who} asks to speak for {request.city} in the network (request #{request.id}).",
                            "heading"),
                       Text("Approve only if you know they work for or with that city: they will be named as its "
                            "contact and can edit its challenges.", "muted"),
                       Actions((Button("Approve", APPROVE, f"join:{request.id}", "primary"),
                                Button("Reject", REJECT, f"join:{request.id}", "danger")))))
        for user in reviewers:
            self.outbox.enqueue([Outgoing(f"join:{request.id}:{user}", request.platform, reply, users=(user,))])

    def _tell_requester(self, request: JoinRequest) -> None:
        text = (f"You are now linked to {request.city}." if request.outcome == "approved"
                else f"Your request to join {request.city} was not approved; a coordinator can tell you more.")
        self.outbox.enqueue([Outgoing(f"join-decided:{request.id}", request.platform, Reply.text(text),
                                      users=(request.user_id,))])

    def _notify_saved(self, platform: str, solution_id: str, saver: str) -> None:
        solution = self.knowledge.get(solution_id)
        reply = Reply((Text(f"{neutralize_mentions(saver)} saved an answer for review: "
                            f"{neutralize_mentions(solution.title)} ({solution.city}).", "heading"),
                       Text(neutralize_mentions(solution.summary[:600])),
                       review_buttons(solution_id)))
        for user in self.directory.coordinator_ids(platform):
            self.outbox.enqueue([Outgoing(f"review:{solution_id}:{user}", platform, reply, users=(user,))])


def review_buttons(solution_id: str) -> Actions:
    """The buttons of a saved answer waiting for review: Approve, Edit, Reject and More."""
    value = f"solution:{solution_id}"
    return Actions((Button("Approve", APPROVE, value, "primary"), Button("Edit", EDIT, value),
                    Button("Reject", REJECT, value, "danger"), Button("More", SHOW_SOLUTION, solution_id)))
