"""The Slack adapter: the real slack-bolt ``AsyncApp``, wired to the neutral core.

Every listener acknowledges first (Slack's 3-second budget) and does the work after; events are claimed by
``event_id`` in the database, so Slack's retries are answered once; Web API calls go through ``AsyncWebClient``
with slack_sdk's rate-limit retry handler.

The listeners are here; replies are sent by :mod:`.posting` (pictures by :mod:`.uploads`), members are read by
:mod:`.members`, the session form is :mod:`.sessions`, clicks that redraw a card are :mod:`.cards`, the App Home and
its clicks are :mod:`.home`. Link buttons open their address in Slack; their clicks are only acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import Any

from aiohttp import ClientSession, ClientTimeout, TCPConnector, web
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot import Action, Bot, Reply, Settings
from bot.errors import ConfigError
from bot.messages import Button
from bot.review import EDIT, EDIT_SUBMIT, check_edit
from bot.sessions.commands import SESSION_ACTIONS

from .. import outbox_pump
from ..placeholder import Placeholder, replaceable
from . import gate, modals, sessions
from .cards import Cards
from .home import HomeTab, on_home
from .members import PLATFORM, Members
from .platform import SLACK, SlackSecrets, SlackSettings
from .posting import Poster
from .render import LINK_ACTION, trim
from .sessions import SESSION_ADD, SessionForm
from .uploads import Uploads
from bot.actions import (
    ASK_NETWORK, FEEDBACK_HELPFUL, FEEDBACK_NOT_HELPFUL, INTRO_COULD_NOT, INTRO_MET, INTRO_NOT_YET, SAVE_SOLUTION,
    SHARE_ANSWER, SHOW_SOLUTION,
)

log = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"
_MENTION = re.compile(r"<@([A-Z0-9]+)(\|[^>]*)?>")
_LEADING_MENTIONS = re.compile(r"^(?:\s*<@[A-Z0-9]+(?:\|[^>]*)?>)+")
_LABELLED = re.compile(r"<([@#])[A-Z0-9]+\|([^>]*)>")


class SlackAdapter:
    """Serves one Slack workspace: mentions, DMs, ``/rrr``, shortcuts, buttons, modals and the App Home."""

    def __init__(self, bot: Bot, settings: Settings, secrets: SlackSecrets, *,
                 client: AsyncWebClient | None = None) -> None:
        if not secrets.bot_token or not secrets.signing_secret:
            raise ConfigError("Slack needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET in the environment")
        self.bot = bot
        self.settings = settings
        self.slack_settings = SlackSettings.of(settings)
        self.secrets = secrets
        self.client = client or AsyncWebClient(
            token=secrets.bot_token, base_url=self.slack_settings.api_base_url,
            retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=3)])
        bolt_log = logging.getLogger("slack_bolt")
        bolt_log.addFilter(_same_token_warning)
        self.app = AsyncApp(client=self.client, signing_secret=secrets.signing_secret, logger=bolt_log)
        self.members = Members(self.client, self.slack_settings.coordinator_groups)
        self.poster = Poster(self.client, Uploads(self.client))
        self.session_form = SessionForm(bot, self.client, self.members, self.poster)
        self.cards = Cards(bot, self.client, self.poster)
        self.home = HomeTab(bot, self.client, self.members, self.poster)
        self._register()
        bot.register_platform(SLACK, channel_check=self.channel_problem)

    @property
    def form_answer_seconds(self) -> float:
        """How long a session form submission may wait for the core (:data:`.sessions.FORM_ANSWER_SECONDS`)."""
        return self.session_form.answer_seconds

    @form_answer_seconds.setter
    def form_answer_seconds(self, seconds: float) -> None:
        self.session_form.answer_seconds = seconds

    async def channel_problem(self, channel: str) -> str | None:
        """Why the bot cannot post in ``channel``, or None (see :func:`.sessions.channel_problem`)."""
        return await sessions.channel_problem(self.client, channel)

    # -- serving -------------------------------------------------------------------------------------------------

    def web_app(self) -> web.Application:
        """The aiohttp application serving the Events API at ``/slack/events`` (HTTP mode), with the outbox pump.

        Every request passes :mod:`.gate` first: unsigned ones get 401, malformed ones 400, before Bolt reads them.
        """
        application = web.Application()
        secret = self.secrets.signing_secret or ""
        application.router.add_post(EVENTS_PATH, gate.endpoint(secret, self.app.async_dispatch))

        async def pump(_: web.Application):
            task = asyncio.ensure_future(self.run_outbox())
            # while serving, the Web API calls share one connection pool (slack_sdk otherwise opens a new aiohttp
            # session, and a new connection, for every call: about a millisecond of CPU each, two calls an answer);
            # unlimited, as the sessions of one call each were, so a burst's placeholders never wait for a connection
            shared = self.client.session is None
            if shared:
                self.client.session = ClientSession(connector=TCPConnector(limit=0),
                                                    timeout=ClientTimeout(total=self.client.timeout))
            yield
            task.cancel()
            if shared and self.client.session is not None:
                await self.client.session.close()
                self.client.session = None

        application.cleanup_ctx.append(pump)
        return application

    async def run_outbox(self) -> None:
        """Deliver queued proactive messages every ``[bot] outbox_interval`` seconds, until cancelled."""
        await outbox_pump.pump(self.settings.bot.outbox_interval, self.deliver_outbox)

    async def deliver_outbox(self) -> int:
        """Send what the outbox holds for Slack: to a channel, a DM, or a group DM of several users."""
        return await outbox_pump.deliver(self.bot, PLATFORM, self.poster.send_pending)

    async def start_socket_mode(self) -> None:
        """Connect through Socket Mode (no public URL needed) and serve until cancelled."""
        if not self.secrets.app_token:
            raise ConfigError("Socket Mode needs SLACK_APP_TOKEN (xapp-...) in the environment; or use --http")
        handler = self.socket_mode_handler()
        pump = asyncio.ensure_future(self.run_outbox())
        try:
            await handler.start_async()
        finally:
            pump.cancel()
            await handler.close_async()

    def socket_mode_handler(self):
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        web_client = AsyncWebClient(token=self.secrets.app_token, base_url=self.slack_settings.api_base_url)
        return AsyncSocketModeHandler(self.app, self.secrets.app_token, web_client=web_client)

    # -- listeners -----------------------------------------------------------------------------------------------

    def _register(self) -> None:
        app = self.app
        app.event("app_mention")(self._on_mention)
        app.event("message")(self._on_message)
        app.event("app_home_opened")(self._on_home)
        app.command("/rrr")(self._on_command)
        app.shortcut("find_similar")(self._on_find_similar)
        app.shortcut(SAVE_SOLUTION)(self._on_save_shortcut)
        app.view(modals.SAVE_SOLUTION)(self._on_save_submit)
        app.view(modals.NOT_HELPFUL)(self._on_not_helpful_submit)
        app.view(modals.SESSION_ADD)(self.session_form.submit)
        app.view(modals.SESSION_CONFIRM)(self.session_form.confirm)
        app.view(modals.HOME_ASK)(self.home.submit_ask)
        app.view(modals.REVIEW_EDIT)(self._on_edit_submit)
        app.action(FEEDBACK_HELPFUL)(self._on_button)
        app.action(FEEDBACK_NOT_HELPFUL)(self._on_not_helpful)
        app.action(ASK_NETWORK)(self._on_button)
        app.action(SHARE_ANSWER)(self._on_share)
        for action_id in (SHOW_SOLUTION, "review_approve", "review_reject"):  # More, and the review DMs' buttons
            app.action(action_id)(self._on_button)
        app.action(EDIT)(self._on_edit)  # the review's Edit: a form, in a message or on the App Home
        for outcome in (INTRO_MET, INTRO_NOT_YET, INTRO_COULD_NOT):
            app.action(outcome)(self._on_button)
        for session_action in SESSION_ACTIONS:  # RSVPs and the card's calendar file
            app.action(session_action)(self._on_button)
        for home_action in ("home_ask", "home_intro", "home_insights"):  # the App Home's buttons
            app.action(home_action)(self._on_button)
        app.action(LINK_ACTION)(self._on_link)

    async def _on_mention(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        user, channel = _field(event, "user"), _field(event, "channel")
        thread = _field(event, "thread_ts") or _field(event, "ts") or None  # no ts: answered in the channel
        placeholder = self._placeholder(channel, thread)
        if _from_bot(event) or _incomplete(event, user, channel) or not await self._first(body):
            return
        message = await self.members.incoming(user, _strip_mentions(_field(event, "text")), channel,
                                              _field(body, "team_id"), thread=thread)
        replies = await placeholder.answer(lambda notice: self.bot.handle(message, notice))
        await self._deliver(replies, channel=channel, user=user, thread=thread, replacing=placeholder.handle)

    async def _on_message(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        # Only direct messages; channel messages reach the bot as app_mention events.
        if event.get("channel_type") != "im" or event.get("subtype") or _from_bot(event):
            return
        user, channel = _field(event, "user"), _field(event, "channel")
        placeholder = self._placeholder(channel, None)
        if _incomplete(event, user, channel) or not await self._first(body):
            return
        message = await self.members.incoming(user, _strip_mentions(_field(event, "text")), channel,
                                              _field(body, "team_id"), is_direct=True)
        replies = await placeholder.answer(lambda notice: self.bot.handle(message, notice))
        await self._deliver(replies, channel=channel, user=user, replacing=placeholder.handle)

    async def _on_home(self, event: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home":
            return
        user = _field(event, "user")
        if _incomplete(event, user):
            return
        await self.home.publish(user)

    async def _on_command(self, ack, command: dict[str, Any], respond) -> None:
        await ack()
        placeholder = Placeholder(lambda reply: self.poster.hold(respond, reply), self.settings.bot.placeholder_seconds,
                                  self.bot.expected_wait())
        if _incomplete(command, _field(command, "user_id")) or not await self._first_command(command):
            return
        text = _command_text(_field(command, "text")) or "help"
        session_add = SESSION_ADD.match(text)
        if session_add and not session_add.group(1).strip():
            await self.session_form.open(command, respond)
            return
        message = await self.members.incoming(command["user_id"], text, command.get("channel_id", ""),
                                              command.get("team_id", ""), name=command.get("user_name", ""))
        if session_add:  # a new session is announced where it was scheduled; only errors stay private
            await self.session_form.announce(await self.bot.handle(message), channel=command.get("channel_id", ""),
                                             user=command["user_id"], respond=respond)
            return
        replies = await placeholder.answer(lambda notice: self.bot.handle(message, notice))
        replacing = bool(placeholder.handle)
        for reply in replies:
            share: tuple[Button, ...] = ()
            question_id = reply.question_id
            if question_id and not reply.channel:
                share = (Button("Share in channel", SHARE_ANSWER, question_id),)
            if reply.channel:
                await self.poster.post(reply, channel=reply.channel)
                continue
            await self.poster.respond(respond, reply, user=command["user_id"], extra_buttons=share,
                                      replacing=replacing)
            replacing = False

    async def _on_link(self, ack) -> None:
        """A link button: Slack opened its address; a click still needs its acknowledgement, and nothing else."""
        await ack()

    async def _on_find_similar(self, ack, shortcut: dict[str, Any], respond) -> None:
        await ack()
        text = (shortcut.get("message") or {}).get("text", "")
        user = shortcut["user"]["id"]
        message = await self.members.incoming(user, "ask " + _strip_mentions(text), shortcut["channel"]["id"],
                                              shortcut.get("team", {}).get("id", ""))
        for reply in await self.bot.handle(message):
            await self.poster.respond(respond, reply, user=user)

    async def _on_save_shortcut(self, ack, shortcut: dict[str, Any]) -> None:
        await ack()
        message = shortcut.get("message") or {}
        channel = shortcut["channel"]["id"]
        text = _strip_mentions(message.get("text", "")).strip()
        author = message.get("user", "")
        city = (await self.bot.member_city(PLATFORM, author)) if author else None
        question_id = await self._question_of_thread(channel, message.get("thread_ts"))
        link = ""
        try:
            link = (await self.client.chat_getPermalink(channel=channel, message_ts=message["ts"]))["permalink"]
        except (SlackApiError, KeyError):
            log.info("no permalink for %s/%s", channel, message.get("ts"))
        first_line = re.split(r"(?<=[.!?])\s|\n", text, maxsplit=1)[0] if text else ""
        view = modals.save_solution_modal(title=first_line, city=city or "", country="", summary=text,
                                          source_url=link, question_id=question_id, channel=channel)
        await self.client.views_open(trigger_id=shortcut["trigger_id"], view=view)

    async def _on_save_submit(self, ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = modals.values(view)
        errors = {k: "Required." for k in ("title", "city", "summary") if not values.get(k)}
        if values.get("city") and not values.get("country") and not await self.bot.country_of(values["city"]):
            errors["country"] = f"{trim(values['city'], 60)} is not a city of the network: give its country."
        if values.get("source_url") and not re.match(r"^https?://\S+$", values["source_url"]):
            errors["source_url"] = "Give an http(s) link, or leave it empty."
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        await self._submit(body, view, SAVE_SOLUTION, lambda meta: ("", (("question_id", str(meta.get(
            "question_id") or "")),)))

    async def _on_button(self, ack, body: dict[str, Any], action: dict[str, Any], respond) -> None:
        await ack()
        if not await self._first_interaction(body):
            return
        if on_home(body):  # the App Home: answered there (see .home)
            await self.home.click(body, action)
            return
        user = body["user"]["id"]
        channel = (body.get("channel") or {}).get("id") or user
        event = Action(PLATFORM, user, action["action_id"], action.get("value", ""), channel=channel,
                       roles=await self.members.roles(user))
        question_id = action.get("value", "")
        for reply in await self.cards.click(event, body, respond):  # a redrawn card is not posted again
            metadata = None
            if reply.channel and action["action_id"] == ASK_NETWORK:
                metadata = {"event_type": "rrr_question", "event_payload": {"question_id": question_id}}
            await self.poster.post(reply, channel=reply.channel or channel, user=user, metadata=metadata)

    async def _on_edit(self, ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        """A saved answer's Edit button: the core's prefilled form as a modal (coordinators), else its refusal."""
        await ack()
        if not await self._first_interaction(body):
            return
        user = body["user"]["id"]
        channel = (body.get("channel") or {}).get("id") or user
        event = Action(PLATFORM, user, EDIT, action.get("value", ""), channel=channel,
                       roles=await self.members.roles(user))
        form = await self.bot.edit_form(event)
        if isinstance(form, list):  # not a coordinator, or the answer is gone: nothing opens
            await self._deliver(form, channel=channel, user=user)
            return
        try:
            await self.client.views_open(trigger_id=body["trigger_id"], view=modals.edit_modal(form, channel=channel))
        except SlackApiError as exc:  # an expired trigger (a slow click): the coordinator can click again
            log.warning("cannot open the edit form: %s", exc.response.get("error"))
            await self._deliver([Reply.text("I could not open the edit form in time; please click Edit again.",
                                            is_error=True, ephemeral=True)], channel=channel, user=user)

    async def _on_edit_submit(self, ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        """The Edit form: a problem marks its input; otherwise the core writes the changes and says which."""
        values = modals.values(view)
        errors = check_edit(values)
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        await self._submit(body, view, EDIT_SUBMIT, lambda meta: (f"solution:{meta.get('solution') or ''}",
                                                                  (("seen", str(meta.get("seen") or "")),)))

    async def _submit(self, body: dict[str, Any], view: dict[str, Any], action_id: str,
                      carried: Callable[[dict[str, Any]], tuple[str, tuple[tuple[str, str], ...]]]) -> None:
        """A checked form, once per submission: its values (and the value and fields ``carried`` reads from its
        metadata) go to the core as ``action_id``; the answer goes where the form was opened."""
        if not await self._first_interaction(body):
            return
        meta = modals.metadata(view)
        user = body["user"]["id"]
        value, extra = carried(meta)
        action = Action(PLATFORM, user, action_id, value, fields=tuple(modals.values(view).items()) + extra,
                        roles=await self.members.roles(user))
        await self._deliver(await self.bot.handle_action(action), channel=meta.get("channel") or user, user=user)

    async def _on_not_helpful(self, ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        channel = (body.get("channel") or {}).get("id", "")
        try:
            await self.client.views_open(trigger_id=body["trigger_id"],
                                         view=modals.not_helpful_modal(action.get("value", ""), channel))
        except SlackApiError as exc:  # an expired trigger: record the vote without a reason
            log.warning("cannot open the 'not helpful' form: %s", exc.response.get("error"))
            event = Action(PLATFORM, body["user"]["id"], FEEDBACK_NOT_HELPFUL, action.get("value", ""))
            await self._deliver(await self.bot.handle_action(event), channel=channel or body["user"]["id"],
                                user=body["user"]["id"])

    async def _on_not_helpful_submit(self, ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        await ack()
        if not await self._first_interaction(body):
            return
        meta = modals.metadata(view)
        user = body["user"]["id"]
        action = Action(PLATFORM, user, FEEDBACK_NOT_HELPFUL, str(meta.get("question_id", "")),
                        fields=(("reason", modals.values(view).get("reason", "")),))
        await self._deliver(await self.bot.handle_action(action), channel=meta.get("channel") or user, user=user)

    async def _on_share(self, ack, body: dict[str, Any], action: dict[str, Any], respond) -> None:
        await ack()
        if not await self._first_interaction(body):
            return
        user = body["user"]["id"]
        channel = (body.get("channel") or {}).get("id") or user
        replies = await self.bot.handle_action(Action(PLATFORM, user, SHARE_ANSWER, action.get("value", ""),
                                                      channel=channel))
        for reply in replies:
            await self.poster.post(reply, channel=channel, user=user)
        await respond(response_type="ephemeral", replace_original=False, text="Shared in the channel.")

    # -- helpers -------------------------------------------------------------------------------------------------

    async def _first(self, body: dict[str, Any]) -> bool:
        event_id = _field(body, "event_id")
        return True if not event_id else await self.bot.first_delivery(PLATFORM, event_id)

    async def _first_command(self, command: dict[str, Any]) -> bool:
        """False for a slash command handled before: a retry (or a replay) carries the same ``trigger_id``."""
        trigger = _field(command, "trigger_id")
        return True if not trigger else await self.bot.first_delivery(PLATFORM, f"command:{trigger}")

    async def _first_interaction(self, body: dict[str, Any]) -> bool:
        """False for a click or form submission handled before: a signed request sent again within the five minutes
        its timestamp is valid (a replay) carries the same ``trigger_id``."""
        trigger = _field(body, "trigger_id")
        return True if not trigger else await self.bot.first_delivery(PLATFORM, f"interaction:{trigger}")

    def _placeholder(self, channel: str, thread: str | None) -> Placeholder[str]:
        """A placeholder for the answer to a message in ``channel`` (and ``thread``); its clock starts now."""
        return Placeholder(lambda reply: self.poster.placeholder(reply, channel=channel, thread=thread),
                           self.settings.bot.placeholder_seconds, self.bot.expected_wait())

    async def _deliver(self, replies: list[Reply], *, channel: str, user: str, thread: str | None = None,
                       replacing: str | None = None) -> None:
        """Post the replies; the first that can takes the place of the placeholder ``replacing`` (else it goes)."""
        for reply in replies:
            here = replacing if replacing and replaceable(reply) else None
            replacing = None if here else replacing
            await self.poster.post(reply, channel=reply.channel or channel, user=user,
                                   thread=None if reply.channel else thread, replacing=here)
        if replacing:
            await self.poster.remove(channel, replacing)

    async def _question_of_thread(self, channel: str, thread_ts: str | None) -> str | None:
        """The question id an "Ask the network" post carries in its metadata, if the message replies to one."""
        if not thread_ts:
            return None
        try:
            found = await self.client.conversations_replies(channel=channel, ts=thread_ts, limit=1,
                                                            include_all_metadata=True)
        except SlackApiError:
            return None
        messages: list[dict[str, Any]] = found.get("messages", [])
        for message in messages[:1]:
            payload = (message.get("metadata") or {}).get("event_payload") or {}
            if payload.get("question_id"):
                return str(payload["question_id"])
        return None


def _same_token_warning(record: logging.LogRecord) -> bool:
    """Bolt reads SLACK_BOT_TOKEN itself and warns that our client (built from that same token) wins."""
    return "`token` will be unused" not in record.getMessage()


def _field(payload: dict[str, Any], key: str) -> str:
    """``payload[key]`` when it is a string, else "" (a payload Slack never sends must not raise)."""
    value = payload.get(key)
    return value if isinstance(value, str) else ""


def _incomplete(payload: dict[str, Any], *required: str) -> bool:
    """True (and one log line) when a required field of ``payload`` is empty."""
    if all(required):
        return False
    log.warning("ignored a Slack %s without its user or channel", payload.get("type") or payload.get("command"))
    return True


def _strip_mentions(text: str) -> str:
    """Typed text without its mentions (the bot's, and any in a question), except the member a ``role`` command
    names: that mention is how a coordinator points at a real person."""
    rest = " ".join(_LEADING_MENTIONS.sub(" ", text, count=1).split())
    return rest if _names_a_member(rest) else " ".join(_MENTION.sub(" ", text).split())


def _command_text(text: str) -> str:
    """``/rrr`` text (escaped: the manifest sets ``should_escape``) as the core reads it: the member a ``role``
    command names stays a mention (``<@U123|ana>``); elsewhere people and channels read as typed (``@ana``)."""
    text = text.strip()
    return text if _names_a_member(text) else _LABELLED.sub(lambda m: m.group(1) + m.group(2), text)


def _names_a_member(text: str) -> bool:
    """True for the ``role`` command, whose argument is a member (a mention)."""
    return text.split(maxsplit=1)[0].lstrip("/").lower() == "role" if text.strip() else False


def _from_bot(event: dict[str, Any]) -> bool:
    return bool(event.get("bot_id")) or event.get("subtype") == "bot_message"
