"""The neutral core: routes every adapter's messages and actions to the use cases, the same way everywhere."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import TypeVar

from .batching import Batcher
from .commands import Command, Context, Notice, Registry, split_command
from .requests import AskQuery
from .roles import CoordinatorCheck
from .errors import InvalidInput, NotFound, PermissionDenied, UserError
from .home import HOME_COMMANDS, Act, Home, from_home, home_command
from .guards import NETWORK_POSTS, NETWORK_WINDOW, MemberTurns, RateLimiter, USAGE_HINTS, cap_input, not_a_question
from .messages import Action, Incoming, Mention, Reply, Text
from .paging import PAGE_ACTIONS, page_argument, page_number
from .platforms import Capabilities, Platform, Platforms, fit_reply
from .metrics import Metrics
from . import replies
from .replies import answer_reply, cities_reply, city_reply, intro_reply
from .review import (APPROVE as REVIEW_APPROVE, EDIT as REVIEW_EDIT, EDIT_SUBMIT as REVIEW_EDIT_SUBMIT,
                     REJECT as REVIEW_REJECT, EditForm, HistoryCommand, Review)
from .services import Directory, Introductions, KnowledgeBase, ReceiptBook
from .sessions.service import Sessions
from .services.external_refs import ExternalRefs
from .services.knowledge_base import Query
from .sessions.draft import SessionDraft
from .services.membership import Memberships
from .services.insights import MAX_WEEKS, Insights
from .services.insights_messages import DEFAULT_WEEKS, coordinator_insights, member_insights
from .sessions.commands import SESSION_ACTIONS, USAGE as SESSION_USAGE, ChannelCheck, SessionCommands
from .text import neutralize_mentions

from knowledge.text import fold as fold_name
from .actions import (
    ASK_NETWORK, FEEDBACK_HELPFUL, FEEDBACK_NOT_HELPFUL, INTRO_OUTCOMES, OPEN_URL, SAVE_SOLUTION, SHARE_ANSWER,
    SHOW_SOLUTION,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
A = TypeVar("A", Action, Incoming)
#: The commands whose lists page: a page button may run only these (and `session list`).
PAGED = ("city", "profile", "cities", "unanswered", "pending", "requests", "review", "history")
ERROR_REPLY = "Sorry, something went wrong on my side. The coordinators can find the details in the bot's log."
#: What an adapter shows while a slow answer is on its way (the answer then replaces it).
PLACEHOLDER_REPLY = "Looking through the network's cases…"
#: What the asker sees at once when the questions' queue is full (the answer still comes, and replaces it).
BUSY_REPLY = "Many questions are arriving at once: yours is in the queue, and the answer will replace this message."


@dataclass(frozen=True)
class Features:
    """The use cases the core routes to, built once by the composition root (:func:`features`) and handed to
    :class:`Bot`; ``channel_checks`` is filled by :meth:`Bot.register_platform` and read by the session commands."""

    directory: Directory
    knowledge: KnowledgeBase
    intros: Introductions
    sessions: Sessions
    insights: Insights
    session_commands: SessionCommands
    review: Review
    home: Home
    receipts: ReceiptBook
    is_coordinator: CoordinatorCheck
    channel_checks: dict[str, ChannelCheck]
    external_refs: ExternalRefs


def features(directory: Directory, knowledge: KnowledgeBase, intros: Introductions, sessions: Sessions, *,
             name: str = "rrr") -> Features:
    """The core's use cases over these services, wired to one another (the composition root calls this)."""
    is_coordinator = CoordinatorCheck(directory)
    channel_checks: dict[str, ChannelCheck] = {}
    review = Review(Memberships(directory.db, directory), knowledge, directory, intros.outbox, is_coordinator)
    return Features(
        directory=directory, knowledge=knowledge, intros=intros, sessions=sessions,
        insights=Insights(directory, knowledge),
        session_commands=SessionCommands(sessions, is_coordinator, channel_checks),
        review=review,
        home=Home(directory, sessions, intros, is_coordinator, name=name, review_section=review.home_section),
        receipts=ReceiptBook(directory.db), is_coordinator=is_coordinator, channel_checks=channel_checks,
        external_refs=ExternalRefs(directory.db))


class Bot:
    """``await bot.handle(Incoming)`` -> replies. Adapters parse and render; the bot decides."""

    def __init__(self, features: Features, *, name: str = "rrr", network_channels: Mapping[str, str] | None = None,
                 metrics: Metrics | None = None, limiter: RateLimiter | None = None,
                 questions: Batcher[str, Query] | None = None, platforms: Platforms | None = None) -> None:
        self.metrics = metrics or Metrics()
        self.platforms = platforms if platforms is not None else Platforms()
        """What each platform can do (:mod:`.platforms`); adapters add theirs with :meth:`register_platform`."""
        self.questions = questions
        """With ``[bot] question_batch`` above 1, questions are embedded here, together when they arrive together
        (see :mod:`.batching`); None (the default, ``question_batch = 1``: measured faster on a machine not otherwise
        busy, see the README): each question is embedded in the thread that searches it."""
        self.limiter = limiter or RateLimiter(0)
        self.network_limiter = RateLimiter(NETWORK_POSTS, NETWORK_WINDOW)
        self.turns = MemberTurns()
        self.directory = features.directory
        self.knowledge = features.knowledge
        self.intros = features.intros
        self.sessions = features.sessions
        self.insights = features.insights
        self._is_coordinator = features.is_coordinator
        self._channel_checks = features.channel_checks
        """``platform -> async check(channel_id)``, from :meth:`register_platform`: commands refuse unusable
        channels."""
        self.session_commands = features.session_commands
        self.name = name
        self.network_channels = dict(network_channels or {})
        self.receipts = features.receipts
        self.external_refs = features.external_refs
        """Adapters' own ids for our rows (a session's Discord event; :mod:`.services.external_refs`)."""
        self.review = features.review
        self.home_page = features.home
        self.commands = Registry()
        for command in self._builtin_commands():
            self.commands.add(command)
        self.actions = self._builtin_actions()

    def register_platform(self, platform: Platform, *, channel_check: ChannelCheck | None = None) -> None:
        """A running adapter plugs in: its platform's declaration (:class:`~bot.platforms.Platform`, kept with the
        others the runtime knows) and its live hooks: ``channel_check(channel_id)`` says why the bot cannot post in
        a channel of that platform (None when it can)."""
        self.platforms.add(platform)
        if channel_check is not None:
            self._channel_checks[platform.name] = channel_check

    def capabilities(self, platform: str) -> Capabilities:
        """What ``platform`` can do (the safe defaults for a platform nobody declared)."""
        return self.platforms.capabilities(platform)

    def _fit(self, platform: str, replies: list[Reply]) -> list[Reply]:
        """``replies`` within the platform's message size (:attr:`Capabilities.max_message_chars`)."""
        limit = self.capabilities(platform).max_message_chars
        return replies if limit is None else [part for reply in replies for part in fit_reply(reply, limit)]

    def close(self) -> None:
        """Stop the questions' worker thread."""
        if self.questions is not None:
            self.questions.close()

    def expected_wait(self) -> float:
        """Seconds a question arriving now would wait for its embedding (the backlog times the recent cost of one):
        adapters show a placeholder at once when it is long, rather than after their usual delay."""
        return self.questions.expected_wait() if self.questions is not None else 0.0

    async def handle(self, message: Incoming, notice: Notice | None = None) -> list[Reply]:
        """Answer one message. Never raises: user errors become polite replies, bugs a short apology.

        ``notice(reply)`` is awaited when the answer will be late (the questions' queue is full): an adapter shows
        that reply at once, and the answer replaces it. A reply longer than the platform's messages is split."""
        return self._fit(message.platform, await self._guarded(message, lambda m: self._capped(
            m.text, lambda text: self._dispatch(replace(m, text=text), notice)), kind="message", private=False))

    async def ask(self, message: Incoming, query: AskQuery, notice: Notice | None = None) -> list[Reply]:
        """A question with its filters as typed options (Discord's ``/ask``): answered as the chat's ``ask TEXT
        city:NAME tag:TAG``, from the member who sent ``message``; never raises (see :meth:`handle`)."""
        return self._fit(message.platform, await self._guarded(message, lambda m: self._capped(
            query.text, lambda text: self._answer(m, replace(query, text=text), notice)), kind="message",
            private=False))

    async def _capped(self, text: str, answer: Callable[[str], Awaitable[list[Reply]]]) -> list[Reply]:
        """``answer(text)`` of at most :data:`~bot.guards.MAX_INPUT_CHARS`; a longer text is cut, with a note."""
        kept, cut = cap_input(text.replace("\x00", ""))
        answers = await answer(kept)
        if not cut:
            return answers
        note = Text(f"Your message was long: I read its first {len(kept):,} characters.", "muted")
        return [replace(answers[0], blocks=(note, *answers[0].blocks))] + answers[1:] if answers else [Reply((note,))]

    async def handle_action(self, action: Action) -> list[Reply]:
        """Answer a button click or form submission (split like :meth:`handle`'s answers)."""
        return self._fit(action.platform, await self._guarded(action, self._act))

    async def edit_form(self, action: Action) -> EditForm | list[Reply]:
        """A saved answer's Edit button (:data:`bot.review.EDIT`): the prefilled form for the adapter to open, or the
        polite (ephemeral) replies refusing it (not a coordinator, the answer was rejected meanwhile ...)."""
        return await self._guarded(action, self.review.edit_form)

    async def add_session(self, message: Incoming, draft: SessionDraft, *, confirm_first: bool = False
                          ) -> list[Reply]:
        """A session form's submission (Slack's form, Discord's ``/session-add``) as the coordinator who sent
        ``message``: the typed twin of the ``session add`` command (:meth:`SessionCommands.add`). Never raises; an
        error's reply names the form's field it is about (``Reply.field``)."""
        return self._fit(message.platform, await self._guarded(
            message, lambda m: self.session_commands.add(m, draft, confirm_first=confirm_first), kind="form"))

    async def _guarded(self, origin: A, act: Callable[[A], Awaitable[T]], *, kind: str = "action",
                       private: bool = True) -> T | list[Reply]:
        """``act(origin)``, counted and rate limited; user errors become polite replies, bugs a short apology
        (``private``: seen by the sender only, as the answers of clicks and forms)."""
        self.metrics.messages.labels(platform=origin.platform, kind=kind).inc()
        try:
            refused = self._over_limit(origin.platform, origin.user)
            if refused is not None:
                return [Reply(r.blocks, ephemeral=True) for r in refused] if private else refused
            return await act(origin)
        except UserError as exc:
            self.metrics.errors.labels(kind=type(exc).__name__).inc()
            return [Reply.text(neutralize_mentions(str(exc)), is_error=True, ephemeral=private,
                               field=_field_of(exc))]
        except Exception:  # the core must never crash an adapter's event loop
            self.metrics.errors.labels(kind="internal").inc()
            log.exception("failed to handle %r", origin)
            return [Reply.text(ERROR_REPLY, is_error=True, ephemeral=private)]

    def _over_limit(self, platform: str, user: str) -> list[Reply] | None:
        """None when the member may go on; else a polite reply the first time in a window, then nothing."""
        wait, first = self.limiter.check(f"{platform}:{user}")
        if wait is None:
            return None
        self.metrics.errors.labels(kind="RateLimited").inc()
        if not first:
            return []
        return [Reply.text(f"You are sending messages faster than I can answer everyone. Please wait about "
                           f"{max(1, round(wait))} s; I will not answer until then.", is_error=True)]

    async def _dispatch(self, message: Incoming, notice: Notice | None = None) -> list[Reply]:
        text = message.text.strip()
        if not text:
            return [Reply.text("Ask me a question, or type `help` to see what I can do.")]
        name, rest = split_command(text)
        command = self.commands.find(name)
        if command is not None and command.refuses(rest) and text[:1] not in "/!":
            command = None
        if command is None:
            if text[:1] in "/!":
                raise InvalidInput(f"Unknown command `{neutralize_mentions(name)}`. Type `help` for the list.")
            command, rest = self.commands["ask"], text
        if command.coordinator_only and not await self._is_coordinator(message.platform, message.user,
                                                                        message.roles):
            raise PermissionDenied(f"Only coordinators can use `{command.name}`.")
        return await command.handler(Context(message, command.name, rest, notice))

    def _builtin_actions(self) -> dict[str, Act]:
        """Every button and form the core answers, by action id (one registry, like the commands')."""
        handlers: dict[str, Act] = {
            FEEDBACK_HELPFUL: self._feedback, FEEDBACK_NOT_HELPFUL: self._feedback,
            ASK_NETWORK: self._ask_network, SHARE_ANSWER: self._share_answer, SAVE_SOLUTION: self._save_solution,
            REVIEW_APPROVE: self.review.act, REVIEW_REJECT: self.review.act, REVIEW_EDIT_SUBMIT: self.review.edit,
            REVIEW_EDIT: self._edit_elsewhere, SHOW_SOLUTION: self._show_solution, OPEN_URL: self._nothing,
        }
        handlers |= dict.fromkeys(INTRO_OUTCOMES, self._intro_outcome)
        handlers |= dict.fromkeys(HOME_COMMANDS, self._home_command)
        handlers |= dict.fromkeys(SESSION_ACTIONS, self.session_commands.act)  # RSVPs, the calendar file, drafts
        handlers |= dict.fromkeys(PAGE_ACTIONS, self._page)  # "Next page" of any long list, sessions' included
        return handlers

    async def _act(self, action: Action) -> list[Reply]:
        if from_home(action):  # an RSVP or an introduction's answer on the home: the home is drawn again
            return await self.home_page.click(action, self._act)
        handler = self.actions.get(action.action_id)
        if handler is None:
            raise InvalidInput(f"Unknown action `{action.action_id}`.")
        return await handler(action)

    async def _feedback(self, action: Action) -> list[Reply]:
        helpful = action.action_id == FEEDBACK_HELPFUL
        question_id = _int(action.value, "question id")
        await self._own_question(action, question_id)
        await asyncio.to_thread(self.knowledge.feedback, question_id, platform=action.platform,
                                user_id=action.user, helpful=helpful, reason=action.field("reason"))
        thanks = "Thanks, glad it helped." if helpful else "Thanks, noted. It helps us see what the network lacks."
        return [Reply.text(thanks, ephemeral=True)]

    async def _share_answer(self, action: Action) -> list[Reply]:
        question = await self._own_question(action, _int(action.value, "question id"))
        result = await asyncio.to_thread(self.knowledge.ask, question.text,
                                         asker=(question.platform, question.user_id), record=False)
        return [answer_reply(replace(result, question_id=question.id))]

    async def _edit_elsewhere(self, action: Action) -> list[Reply]:
        """The Edit button on a platform that draws no forms (a platform that does opens :meth:`edit_form`)."""
        form = await self.review.edit_form(action)
        return [Reply.text(f"Edit `{form.solution_id}` with the Edit button in Slack or Discord, or with "
                           "`rrr-bot kb edit`; `history ID` shows its changes.", ephemeral=True)]

    async def _show_solution(self, action: Action) -> list[Reply]:
        solution = await asyncio.to_thread(self.knowledge.get, action.value.strip())
        saver = await asyncio.to_thread(self.knowledge.saver_name, solution)
        return [Reply(replies.solution_reply(solution, saver).blocks, ephemeral=True)]

    async def _home_command(self, action: Action) -> list[Reply]:
        """The home's Ask, Intro and Insights: the member's own command."""
        message = Incoming(action.platform, action.user, home_command(action), channel=action.channel,
                           workspace=action.workspace, user_name=action.user_name, roles=action.roles,
                           is_direct=True)
        return await self._dispatch(message)

    async def _intro_outcome(self, action: Action) -> list[Reply]:
        outcome = await asyncio.to_thread(self.intros.record_outcome, _int(action.value, "follow-up id"),
                                          action.action_id, action.platform, action.user)
        thanks = {"met": "Great, thanks for telling me!", "not_yet": "No problem, I will ask again in two days.",
                  "could_not": "Thanks for letting me know."}[outcome]
        return [Reply.text(thanks, ephemeral=True)]

    @staticmethod
    async def _nothing(action: Action) -> list[Reply]:
        """A link button: the platform opened the address; nothing to answer."""
        return []

    async def _page(self, action: Action) -> list[Reply]:
        """A page button: run the command it carries (only a paged list's) as the member who clicked, and show the
        page in place of the one clicked."""
        name, rest = split_command(action.value)
        if not (name in PAGED or (name in ("session", "sessions") and rest.split()[:1] == ["list"])):
            raise InvalidInput("This button does not show a page of a list.")
        message = Incoming(action.platform, action.user, action.value, channel=action.channel,
                           workspace=action.workspace, user_name=action.user_name, roles=action.roles)
        return [replace(r, replace=True) for r in await self._dispatch(message)]

    async def _own_question(self, action: Action, question_id: int):
        """The question, when the clicker asked it or is a coordinator; else :class:`PermissionDenied`."""
        question = await asyncio.to_thread(self.knowledge.question, question_id)
        if (question.platform, question.user_id) != (action.platform, action.user) and \
                not await self._is_coordinator(action.platform, action.user, action.roles):
            raise PermissionDenied("Only the person who asked this question (or a coordinator) can do that.")
        return question

    async def _ask_network(self, action: Action) -> list[Reply]:
        """Post an unanswered question to the network channel, mentioning the contacts of the closest cities."""
        channel = self.network_channels.get(action.platform)
        if not channel:
            raise InvalidInput("No network channel is configured for this platform; a coordinator can set "
                               "`[bot] network_channels`.")
        question = await self._own_question(action, _int(action.value, "question id"))
        posted = Reply.text("This question is already in the network channel.", ephemeral=True)
        key = f"ask_network:{question.id}"
        if await asyncio.to_thread(self.receipts.seen, f"{action.platform}:{key}"):
            return [posted]
        if not await self._is_coordinator(action.platform, action.user, action.roles):
            wait, _ = self.network_limiter.check(f"{action.platform}:{action.user}")
            if wait is not None:  # each post pings people: a few an hour per member
                raise InvalidInput(f"You asked the network {NETWORK_POSTS} times in the last hour, and each time "
                                   f"its contacts are notified; please wait about {max(1, round(wait / 60))} "
                                   "minutes, or ask a coordinator to post it.")
        if not await self.first_delivery(action.platform, key):
            return [posted]
        result = await asyncio.to_thread(self.knowledge.ask, question.text,
                                         asker=(question.platform, question.user_id), record=False)
        contacts = await asyncio.to_thread(self.directory.contacts, result.closest_cities, action.platform)
        blocks: list = [Text("A peer asks the network:", "heading"), Text(f"> {neutralize_mentions(question.text)}")]
        if result.closest_cities:
            blocks.append(Text("Cities working on the closest challenges: " + ", ".join(result.closest_cities)))
        if contacts:
            blocks.append(Mention(tuple(dict.fromkeys(u for _, u in contacts)), "Can you help?"))
        blocks.append(Text("Reply in this thread; a good answer can be saved to the knowledge base with "
                           "\"Save as solution\".", "muted"))
        return [Reply(tuple(blocks), channel=channel),
                Reply.text("Your question was posted to the network channel.", ephemeral=True)]

    async def _save_solution(self, action: Action) -> list[Reply]:
        city = action.field("city").strip()
        country: str | None = (action.field("country").strip()
                               or await asyncio.to_thread(self.directory.country_of, city))
        if not country:
            raise InvalidInput(f"'{city or '(no city)'}' is not a city of the network; give its country too.")
        question_id = _int(action.field("question_id"), "question id") if action.field("question_id") else None
        if question_id is not None:
            await self._may_answer(action, question_id)
        return await self.review.save_solution(action, country=country, question_id=question_id)

    async def _may_answer(self, action: Action, question_id: int) -> None:
        """A saved answer copies its question's text, so it names only a question the network was asked (posted in
        the network channel), one's own, or any for a coordinator: a form's question id is the sender's to choose,
        and a private question must not be read back with ``show``."""
        question = await asyncio.to_thread(self.knowledge.question, question_id)
        if (question.platform, question.user_id) == (action.platform, action.user) or await asyncio.to_thread(
                self.receipts.seen, f"{action.platform}:ask_network:{question_id}") or await self._is_coordinator(
                action.platform, action.user, action.roles):
            return
        raise PermissionDenied(f"Question {question_id} was not asked in the network channel, so an answer cannot "
                               "be saved to it; save the answer from its thread there, or without a question.")

    async def member_city(self, platform: str, user: str) -> str | None:
        """The city a platform user is linked to, if any."""
        return await asyncio.to_thread(self.directory.member_city, platform, user)

    @property
    def outbox(self):
        """The stored outbox the adapters deliver from."""
        return self.intros.outbox

    async def country_of(self, city: str) -> str | None:
        """The country of a network city, or None when the city is unknown."""
        return await asyncio.to_thread(self.directory.country_of, city)

    async def city_names(self) -> list[str]:
        """Names of the network's cities (for autocompletion)."""
        return await asyncio.to_thread(self.directory.city_names)

    async def session_zones(self) -> list[tuple[str, tuple[str, ...]]]:
        """The zones the session forms offer first: those of the network's cities (with their names), and UTC."""
        return await asyncio.to_thread(self.directory.zones)

    async def tags(self) -> list[str]:
        """Topic tags used in the knowledge base (for autocompletion)."""
        return await asyncio.to_thread(self.knowledge.tags)

    async def first_delivery(self, platform: str, key: str) -> bool:
        """Claim a platform event; False means it was handled before (a retry) and must be ignored."""
        return await asyncio.to_thread(self.receipts.claim, f"{platform}:{key}")

    async def home(self, platform: str, user: str, roles: tuple[str, ...] = ()) -> Reply:
        """A member's home (Slack's App Home, Discord's /home): see :mod:`bot.home`."""
        try:
            return await self.home_page.view(platform, user, roles)
        except Exception:
            log.exception("failed to build the home view for %s:%s", platform, user)
            return Reply.text(ERROR_REPLY, is_error=True)

    # -- commands ------------------------------------------------------------------------------------------------

    def _builtin_commands(self) -> list[Command]:
        return [
            Command("help", "what I can do", "help", self._help, aliases=("?",), takes_text=False),
            Command("ask", "find past solutions of peer cities (filters: city:NAME tag:TAG)", "ask QUESTION",
                    self._ask),
            Command("cities", "the cities of the network", "cities [PAGE]", self._cities, takes_text=False,
                    takes_page=True),
            Command("city", "a city's profile, challenges and contacts", "city NAME [PAGE]", self._city),
            Command("intro", "the cities whose challenges best match yours (or a topic), and why; also "
                    "`intro pause until YYYY-MM-DD`, `intro optout`, `intro optin`", "intro [TOPIC]", self._intro),
            Command("profile", "your city's profile (or another city's)", "profile [CITY] [PAGE]", self._profile),
            Command("session", "peer sessions: list, show, next, rsvp, ics; coordinators add, edit, cancel, "
                    "skip-next (`session help`)", "session [list|show ID|rsvp ID going|...]", self._session,
                    aliases=("sessions",)),
            Command("challenge", "add or remove a challenge of your city (coordinators: any city, with city:NAME)",
                    "challenge add TEXT | challenge remove NUMBER", self._challenge),
            Command("iam", "ask to be linked to your city (a coordinator or a member of that city confirms)",
                    "iam CITY", self.review.iam),
            Command("show", "a whole solution record", "show ID", self._show),
            Command("pending", "requests to join a city and saved answers waiting for your review", "pending [PAGE]",
                    self.review.list_open, aliases=("requests", "review"), takes_text=False, takes_page=True),
            Command("approve", "approve request #N to join a city, or a saved answer", "approve N|ID",
                    lambda ctx: self.review.decide_command(ctx, approve=True)),
            Command("reject", "reject request #N to join a city, or a saved answer", "reject N|ID",
                    lambda ctx: self.review.decide_command(ctx, approve=False)),
            HistoryCommand("history", "who saved, edited, approved or rejected a solution, when, and what changed",
                           "history ID [PAGE]", self.review.history, coordinator_only=True),
            Command("whoami", "your city and role", "whoami", self._whoami, takes_text=False),
            Command("helpful", "mark an answer helpful", "helpful QUESTION_ID", self._helpful),
            Command("nothelpful", "mark an answer not helpful, saying what was missing",
                    "nothelpful QUESTION_ID [what was missing]", self._not_helpful),
            Command("insights", "your city's figures per week; coordinators get the whole network, its coverage "
                    "gaps and charts", "insights [WEEKS]", self._insights),
            Command("unanswered", "questions the knowledge base could not answer, the newest first",
                    "unanswered [PAGE]", self._unanswered, coordinator_only=True, takes_text=False, takes_page=True),
            Command("role", "make a member a coordinator (or back)", "role @MEMBER coordinator|member", self._role,
                    coordinator_only=True),
        ]

    async def _help(self, ctx: Context) -> list[Reply]:
        coordinator = await self._is_coordinator(ctx.message.platform, ctx.message.user, ctx.message.roles)
        lines = [f"`{c.usage}` - {c.summary}" + (" (coordinators)" if c.coordinator_only else "")
                 for c in self.commands if coordinator or not c.coordinator_only]
        intro = "Ask me anything about how peer cities used the social and solidarity economy, or use a command:"
        return [Reply((Text(intro), Text("\n".join(lines))))]

    async def _ask(self, ctx: Context) -> list[Reply]:
        if not ctx.rest.strip():
            raise InvalidInput("Usage: `ask QUESTION`, e.g. `ask how did other cities fund social enterprise "
                               "incubators?`")
        return await self._answer(ctx.message, ask_query(ctx.rest), ctx.notice)

    async def _answer(self, message: Incoming, query: AskQuery, notice: Notice | None) -> list[Reply]:
        """The matching solutions of peer cities (or a usage hint when the text is no question)."""
        question = query.text.strip()
        hint = await asyncio.to_thread(not_a_question, question, self.directory.is_city) if question else "emoji"
        if hint is not None:
            return [Reply.text(USAGE_HINTS[hint].format(text=neutralize_mentions(" ".join(question.split())[:60])))]
        busy = (lambda: notice(Reply.text(BUSY_REPLY))) if notice is not None else None
        async with self.turns.turn(f"{message.platform}:{message.user}"):
            with self.metrics.answering():
                embedded = await self.questions.submit(question, on_wait=busy) if self.questions else None
                result = await asyncio.to_thread(self.knowledge.ask, question, query=embedded,
                                                 asker=(message.platform, message.user), city=query.city,
                                                 tag=query.tag)
        self.metrics.questions.labels(answered=str(result.answered).lower()).inc()
        return [answer_reply(result)]

    async def _cities(self, ctx: Context) -> list[Reply]:
        page = page_argument(ctx.rest, "cities")
        return [cities_reply(await asyncio.to_thread(self.directory.profiles), page)]

    async def _city(self, ctx: Context) -> list[Reply]:
        if not ctx.rest:
            raise InvalidInput("Usage: `city NAME`, e.g. `city Bilbao`.")
        name, page = page_number(ctx.rest)
        profile = await asyncio.to_thread(self.directory.profile, name or ctx.rest)
        return [city_reply(profile, page if name else 1, command=f"city {profile.name}")]

    async def _intro(self, ctx: Context) -> list[Reply]:
        m = ctx.message
        word, _, rest = ctx.rest.strip().partition(" ")
        if word.lower() in ("optout", "optin"):
            await asyncio.to_thread(self.intros.set_availability, m.platform, m.user,
                                    opted_out=word.lower() == "optout")
            return [Reply.text("You will get no more introductions; `intro optin` brings them back."
                               if word.lower() == "optout" else "You are back in the introduction rounds.")]
        if word.lower() == "pause":
            until = _date(rest)
            await asyncio.to_thread(self.intros.set_availability, m.platform, m.user, paused_until=until)
            return [Reply.text(f"Introductions paused until {until:%Y-%m-%d}.")]
        city = await asyncio.to_thread(self.directory.member_city, m.platform, m.user)
        topic = ctx.rest.strip() or None
        matches = await asyncio.to_thread(self.intros.suggest, city, topic)
        return [intro_reply(matches, city=city, topic=topic)]

    async def _profile(self, ctx: Context) -> list[Reply]:
        m = ctx.message
        name, page = page_number(ctx.rest)
        city: str | None = name or await asyncio.to_thread(self.directory.member_city, m.platform, m.user)
        if not city:
            raise InvalidInput("You are not linked to a city yet: `iam CITY`, or `profile CITY`.")
        profile = await asyncio.to_thread(self.directory.profile, city)
        command = f"profile {profile.name}"  # a page button may be clicked by anyone: it names the city
        return [city_reply(profile, page, command=command, numbered=True)]

    async def _challenge(self, ctx: Context) -> list[Reply]:
        m = ctx.message
        action, _, rest = ctx.rest.strip().partition(" ")
        rest, filters = _filters(rest)
        own = await asyncio.to_thread(self.directory.member_city, m.platform, m.user)
        city = filters.get("city") or own
        if city is None:
            raise InvalidInput("Link yourself to your city first (`iam CITY`).")
        if (own is None or fold_name(city) != fold_name(own)) and not await self._is_coordinator(
                m.platform, m.user, m.roles):
            raise PermissionDenied("Only coordinators can edit another city's challenges.")
        if action.lower() == "add":
            name = await asyncio.to_thread(self.directory.add_challenge, city, rest)
            return [Reply.text(f"Added to {name}'s challenges: {neutralize_mentions(' '.join(rest.split()))}")]
        if action.lower() == "remove":
            removed = await asyncio.to_thread(self.directory.remove_challenge, city, _int(rest, "challenge number"))
            return [Reply.text(f"Removed: {neutralize_mentions(removed)}")]
        raise InvalidInput("Usage: `challenge add TEXT` or `challenge remove NUMBER` (`profile` numbers them).")

    async def _session(self, ctx: Context) -> list[Reply]:
        if ctx.rest.strip().lower() in ("help", "?"):
            return [Reply.text(SESSION_USAGE)]
        return await self.session_commands.handle(ctx)

    async def _show(self, ctx: Context) -> list[Reply]:
        if not ctx.rest.strip():
            raise InvalidInput("Usage: `show ID`, the id a card's \"More\" button shows, e.g. `show "
                               "turin-facilito-giovani`.")
        solution = await asyncio.to_thread(self.knowledge.get, ctx.rest.strip().strip("`"))
        return [replies.solution_reply(solution, await asyncio.to_thread(self.knowledge.saver_name, solution))]

    async def _whoami(self, ctx: Context) -> list[Reply]:
        m = ctx.message
        await asyncio.to_thread(self.directory.remember, m.platform, m.user, m.user_name)
        city = await asyncio.to_thread(self.directory.member_city, m.platform, m.user)
        role = "coordinator" if await self._is_coordinator(m.platform, m.user, m.roles) else "member"
        where = f"linked to {city}" if city else "not linked to a city yet (`iam CITY`)"
        return [Reply.text(f"You are a {role}, {where}.")]

    async def _helpful(self, ctx: Context) -> list[Reply]:
        return await self._act(Action(ctx.message.platform, ctx.message.user, FEEDBACK_HELPFUL, ctx.rest.strip()))

    async def _not_helpful(self, ctx: Context) -> list[Reply]:
        qid, _, reason = ctx.rest.partition(" ")
        return await self._act(Action(ctx.message.platform, ctx.message.user, FEEDBACK_NOT_HELPFUL, qid,
                                      fields=(("reason", reason.strip()),)))

    async def _unanswered(self, ctx: Context) -> list[Reply]:
        page = page_argument(ctx.rest, "unanswered")
        return [replies.unanswered_reply(await asyncio.to_thread(self.knowledge.unanswered, None), page)]

    async def _insights(self, ctx: Context) -> list[Reply]:
        """Coordinators: the network's figures, coverage gaps and charts. Members: their own city's figures only."""
        m = ctx.message
        if ctx.rest and not _WEEKS.fullmatch(ctx.rest.strip().lower()) and m.text.strip()[:1] not in "/!":
            return await self._ask(Context(m, "ask", m.text.strip(), ctx.notice))  # "insights from Bilbao ..." asks
        weeks = _weeks(ctx.rest)
        if await self._is_coordinator(m.platform, m.user, m.roles):
            return [await asyncio.to_thread(coordinator_insights, self.insights, weeks)]
        city = await asyncio.to_thread(self.directory.member_city, m.platform, m.user)
        if city is None:
            return [Reply.text("Insights show your city's figures, and you are not linked to a city yet: tell me "
                               "which one with `iam CITY` (e.g. `iam Turin`), then ask for `insights` again.")]
        return [await asyncio.to_thread(member_insights, self.insights, city, weeks)]

    async def _role(self, ctx: Context) -> list[Reply]:
        args = ctx.args()
        if len(args) != 2 or args[1].lower() not in ("coordinator", "member"):
            raise InvalidInput("Usage: `role @MEMBER coordinator|member` (mention them, or give their user id).")
        user = _user_id(args[0])
        name = await asyncio.to_thread(self.directory.set_role, ctx.message.platform, user, args[1].lower())
        return [Reply.text(f"{neutralize_mentions(name)} is now a {args[1].lower()}.")]


_MENTION = re.compile(r"^<@!?([A-Za-z0-9]+)(?:\|[^>]*)?>$")
_USER_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _field_of(exc: UserError) -> str | None:
    """The input an error is about, when it names one."""
    return exc.field if isinstance(exc, InvalidInput) else None


def _user_id(text: str) -> str:
    """A platform user id from a mention (``<@U123>``, ``<@!123>``) or the bare id; anything else is refused."""
    match = _MENTION.match(text.strip())
    user = match.group(1) if match else text.strip()
    if not _USER_ID.match(user):
        raise InvalidInput(f"'{neutralize_mentions(text)[:40]}' is not a member: mention them (@name) or give their "
                           "user id, e.g. `role U024BE7LH coordinator`.")
    return user


_FILTER = re.compile(r"(?:^|\s)(city|tag):(\"[^\"]+\"|\S+)", re.IGNORECASE)


def ask_query(text: str) -> AskQuery:
    """The chat's ``ask`` text as a query: ``city:Turin tag:"youth employment"`` filters split off the question."""
    question, filters = _filters(text)
    return AskQuery(question, city=filters.get("city"), tag=filters.get("tag"))


def _filters(text: str) -> tuple[str, dict[str, str]]:
    """Split ``city:Turin tag:"youth employment"`` filters off a text (``challenge add ... city:NAME``)."""
    filters = {m.group(1).lower(): m.group(2).strip('"') for m in _FILTER.finditer(text)}
    return _FILTER.sub(" ", text).strip(), filters


def _date(text: str):
    """``until 2027-03-01`` -> that day at 00:00 UTC."""
    from datetime import datetime, timezone

    value = text.strip()
    value = value[len("until"):].strip() if value.lower().startswith("until") else value
    try:
        day = datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        raise InvalidInput(f"Give the date as YYYY-MM-DD: `intro pause until 2027-03-01` (got "
                           f"'{neutralize_mentions(value) or 'nothing'}').") from None
    return day.replace(tzinfo=timezone.utc)


_WEEKS = re.compile(r"(\d{1,4})(?:\s*w(?:eeks?)?)?")


def _weeks(text: str) -> int:
    """``""`` -> the default; ``8`` or ``8 weeks`` -> 8."""
    match = _WEEKS.fullmatch(text.strip().lower())
    if text.strip() and not match:
        raise InvalidInput("Usage: `insights [WEEKS]`, e.g. `insights 8` for the last eight weeks.")
    weeks = int(match.group(1)) if match else DEFAULT_WEEKS
    if not 1 <= weeks <= MAX_WEEKS:
        raise InvalidInput(f"Give a number of weeks from 1 to {MAX_WEEKS}, e.g. `insights 8`.")
    return weeks


def _int(value: str, what: str) -> int:
    try:
        number = int(value.strip().lstrip("#"))
    except ValueError:
        raise InvalidInput(f"Expected a {what} (a number), got {neutralize_mentions(value[:40])!r}.") from None
    if not 0 < number < 2 ** 31:
        raise NotFound(f"No {what} {number}." if len(str(number)) < 20 else f"No such {what}.")
    return number
