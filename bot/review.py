"""Consent in the network: joining a city and saving a peer's answer both wait for a reviewer.

- ``iam CITY``: a coordinator is linked at once; anyone else's request goes to the coordinators and the city's
  members (a DM each with Approve / Reject), who decide with the buttons or ``approve N`` / ``reject N``.
- "Save as solution" by a member creates a pending record, searchable only as "unreviewed, shared by NAME on DATE"
  (never a close match by itself) until a coordinator approves it (``pending`` lists them; ``approve ID`` /
  ``reject ID``, or the buttons of the coordinators' DM).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from .commands import Context
from .errors import InvalidInput, PermissionDenied
from .messages import Action, Actions, Button, Incoming, Reply, Text
from .paging import REVIEW_PAGE, page_argument, paginate, shorten, text_length
from .services import Directory, KnowledgeBase, Outgoing, StoredOutbox
from .services.membership import JoinRequest, Memberships
from .text import neutralize_mentions

IsCoordinator = Callable[[str, str, tuple[str, ...]], Awaitable[bool]]
#: Saved answers one member may have waiting for review: each one is a DM to every coordinator, so without a cap a
#: member could send the coordinators a message every few seconds.
MAX_WAITING = 5
APPROVE, REJECT = "review_approve", "review_reject"
"""Button action ids; the value is ``join:N`` (a request to join a city) or ``solution:ID`` (a saved answer)."""


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
        when, and its Approve / Reject / More buttons."""
        saved = self.knowledge.pending()
        if not saved:
            return [Text("No saved answer is waiting for your review.", "muted")]
        blocks: list = [Text(f"{len(saved)} saved answer(s) waiting for your review:", "heading")]
        for solution in saved[:self.HOME_PENDING]:
            saver = self.knowledge.saver_name(solution) or "a peer"
            blocks.append(Text(f"{neutralize_mentions(solution.title)} ({neutralize_mentions(solution.city)}): "
                               f"unreviewed, shared by {neutralize_mentions(saver)} on "
                               f"{solution.created_at:%Y-%m-%d}"))
            blocks.append(Actions((Button("Approve", APPROVE, f"solution:{solution.id}", "primary"),
                                   Button("Reject", REJECT, f"solution:{solution.id}", "danger"),
                                   Button("More", "show_solution", solution.id))))
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
        blocks.append(Text("`approve N` / `reject N` for a request, `approve ID` / `reject ID` for an answer.",
                           "muted"))
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
                       Actions((Button("Approve", APPROVE, f"solution:{solution_id}", "primary"),
                                Button("Reject", REJECT, f"solution:{solution_id}", "danger"),
                                Button("More", "show_solution", solution_id)))))
        for user in self.directory.coordinator_ids(platform):
            self.outbox.enqueue([Outgoing(f"review:{solution_id}:{user}", platform, reply, users=(user,))])
