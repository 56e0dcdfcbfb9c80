"""The Slack adapter: the real slack-bolt ``AsyncApp``, wired to the neutral core.

Every listener acknowledges first (Slack's 3-second budget) and does the work after; events are claimed by
``event_id`` in the database, so Slack's retries are answered once; Web API calls go through ``AsyncWebClient``
with slack_sdk's rate-limit retry handler.

Sessions: ``/rrr session add`` (nothing after it) opens the "Schedule a session" form; its submission becomes the
core's ``session add ...`` text command, sent as the member who submitted it, and the resulting card is posted in
the channel. An RSVP click answers with a reply that *replaces* the card (``chat.update`` on the message holding the
button, or its ``response_url`` for an ephemeral one), so the counts stay live in place. Link buttons open their
address in Slack; their clicks are only acknowledged.

Pictures (:class:`~bot.messages.Image` blocks, e.g. the charts of ``insights``) are uploaded as files with
``files_upload_v2`` after the text, which is still posted as Block Kit (see :meth:`SlackAdapter._post`):

- a message in a channel or thread (a mention, a DM, the network channel): the files go to the same channel and
  thread, so everyone who sees the answer sees its pictures;
- a private answer (every ``/rrr`` response, an ephemeral message): Slack cannot attach a file to an ephemeral
  message, and posting the pictures in the channel would show everyone what was answered privately, so they are
  uploaded into the member's direct messages with the bot (``conversations.open``), and the private answer says so.
  A coordinator running ``/rrr insights`` thus reads the figures where they typed and finds the charts in the DM;
- an outbox delivery (the weekly insights digest): the files go to the message's channel (or DM), after the text.

A failed upload never loses the text: the text is posted first, the upload error is logged (and, for a private
answer whose text promised the pictures, the member is told). An outbox message counts as failed, and is retried,
only when its text could not be posted (or, for a message of pictures alone, when nothing could be delivered), so a
retry never posts the text twice.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import weakref
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot import Action, Bot, Incoming, Reply, Secrets, Settings
from bot.errors import ConfigError
from bot.messages import Button, Image, Text
from bot.session_commands import RSVP_ACTIONS

from bot.services import Pending

from .. import outbox_pump
from . import modals
from .render import LINK_ACTION, fallback_text, has_text, images, to_blocks, trim

log = logging.getLogger(__name__)
PLATFORM = "slack"
EVENTS_PATH = "/slack/events"
GROUP_CACHE_SECONDS = 300
#: How long a form submission may wait for the core before the modal is closed and the outcome posted instead
#: (Slack drops an acknowledgement that comes after 3 seconds).
FORM_ANSWER_SECONDS = 2.0
_MENTION = re.compile(r"<@([A-Z0-9]+)(\|[^>]*)?>")
_SESSION_ADD = re.compile(r"^[/!]?sessions?\s+add\b\s*(.*)$", re.IGNORECASE | re.DOTALL)
#: Slack's limits for an uploaded file's alt text and title.
ALT_TEXT, FILE_TITLE = 1000, 250


class SlackAdapter:
    """Serves one Slack workspace: mentions, DMs, ``/rrr``, shortcuts, buttons, modals and the App Home."""

    def __init__(self, bot: Bot, settings: Settings, secrets: Secrets, *,
                 client: AsyncWebClient | None = None) -> None:
        if not secrets.slack_bot_token or not secrets.slack_signing_secret:
            raise ConfigError("Slack needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET in the environment")
        self.bot = bot
        self.settings = settings
        self.secrets = secrets
        self.client = client or AsyncWebClient(
            token=secrets.slack_bot_token, base_url=settings.slack.api_base_url,
            retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=3)])
        bolt_log = logging.getLogger("slack_bolt")
        bolt_log.addFilter(_same_token_warning)
        self.app = AsyncApp(client=self.client, signing_secret=secrets.slack_signing_secret, logger=bolt_log)
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}
        self._profiles: dict[str, dict[str, Any]] = {}
        self._dms: dict[str, str] = {}  # user -> their DM channel with the bot (private pictures go there)
        self.form_answer_seconds = FORM_ANSWER_SECONDS
        #: One lock per message whose card a click replaces, so concurrent RSVPs are redrawn in order.
        self._card_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._register()
        bot.channel_checks[PLATFORM] = self.channel_problem

    # -- serving -------------------------------------------------------------------------------------------------

    def web_app(self) -> web.Application:
        """The aiohttp application serving the Events API at ``/slack/events`` (HTTP mode), with the outbox pump."""
        application = self.app.web_app(path=EVENTS_PATH, port=self.settings.slack.port)

        async def pump(_: web.Application):
            task = asyncio.ensure_future(self.run_outbox())
            yield
            task.cancel()

        application.cleanup_ctx.append(pump)
        return application

    async def run_outbox(self) -> None:
        """Deliver queued proactive messages every ``[bot] outbox_interval`` seconds, until cancelled."""
        await outbox_pump.pump(self.settings.bot.outbox_interval, self.deliver_outbox)

    async def deliver_outbox(self) -> int:
        """Send what the outbox holds for Slack: to a channel, a DM, or a group DM of several users."""
        return await outbox_pump.deliver(self.bot, PLATFORM, self._send_pending)

    async def _send_pending(self, item: Pending) -> None:
        """Post the text, then upload the pictures into the same conversation. Raises (so the message is kept and
        retried) only when the text could not be posted, or when a message of pictures alone could not be
        uploaded: a failed upload after a posted text is logged, never retried, so the text is never posted twice."""
        channel = item.channel
        if not channel:
            channel = (await self.client.conversations_open(users=",".join(item.users)))["channel"]["id"]
        reply, pictures = item.reply, images(item.reply)
        if has_text(reply) or not pictures:
            await self.client.chat_postMessage(channel=channel, text=fallback_text(reply), blocks=to_blocks(reply),
                                               unfurl_links=False)
        error = await self._upload(pictures, channel=channel)
        if error and not has_text(reply):
            raise RuntimeError(f"pictures not uploaded to {channel}: {error}")

    async def start_socket_mode(self) -> None:
        """Connect through Socket Mode (no public URL needed) and serve until cancelled."""
        if not self.secrets.slack_app_token:
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

        web_client = AsyncWebClient(token=self.secrets.slack_app_token, base_url=self.settings.slack.api_base_url)
        return AsyncSocketModeHandler(self.app, self.secrets.slack_app_token, web_client=web_client)

    # -- listeners -----------------------------------------------------------------------------------------------

    def _register(self) -> None:
        app = self.app
        app.event("app_mention")(self._on_mention)
        app.event("message")(self._on_message)
        app.event("app_home_opened")(self._on_home)
        app.command("/rrr")(self._on_command)
        app.shortcut("find_similar")(self._on_find_similar)
        app.shortcut("save_solution")(self._on_save_shortcut)
        app.view(modals.SAVE_SOLUTION)(self._on_save_submit)
        app.view(modals.NOT_HELPFUL)(self._on_not_helpful_submit)
        app.view(modals.SESSION_ADD)(self._on_session_submit)
        app.action("feedback_helpful")(self._on_button)
        app.action("feedback_not_helpful")(self._on_not_helpful)
        app.action("ask_network")(self._on_button)
        app.action("share_answer")(self._on_share)
        for outcome in ("intro_met", "intro_not_yet", "intro_could_not"):
            app.action(outcome)(self._on_button)
        for rsvp in RSVP_ACTIONS:
            app.action(rsvp)(self._on_button)
        app.action(LINK_ACTION)(self._on_link)

    async def _on_mention(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        if _from_bot(event) or not await self._first(body):
            return
        thread = event.get("thread_ts") or event["ts"]
        message = await self._incoming(event["user"], _strip_mentions(event.get("text", "")), event["channel"],
                                       body.get("team_id", ""), thread=thread)
        await self._deliver(await self.bot.handle(message), channel=event["channel"], user=event["user"],
                            thread=thread)

    async def _on_message(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        # Only direct messages; channel messages reach the bot as app_mention events.
        if event.get("channel_type") != "im" or event.get("subtype") or _from_bot(event):
            return
        if not await self._first(body):
            return
        message = await self._incoming(event["user"], _strip_mentions(event.get("text", "")), event["channel"],
                                       body.get("team_id", ""), is_direct=True)
        await self._deliver(await self.bot.handle(message), channel=event["channel"], user=event["user"])

    async def _on_home(self, event: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home":
            return
        user = event["user"]
        reply = await self.bot.home(PLATFORM, user, await self._roles(user))
        await self.client.views_publish(user_id=user, view={"type": "home", "blocks": to_blocks(reply)})

    async def _on_command(self, ack, command: dict[str, Any], respond) -> None:
        await ack()
        text = command.get("text", "").strip() or "help"
        session_add = _SESSION_ADD.match(text)
        if session_add and not session_add.group(1).strip():
            await self._open_session_form(command, respond)
            return
        message = await self._incoming(command["user_id"], text, command.get("channel_id", ""),
                                       command.get("team_id", ""), name=command.get("user_name", ""))
        replies = await self.bot.handle(message)
        if session_add:  # a new session is announced where it was scheduled; only errors stay private
            await self._announce_session(replies, channel=command.get("channel_id", ""), user=command["user_id"],
                                         respond=respond)
            return
        for reply in replies:
            share = ()
            question_id = reply.question_id
            if question_id and not reply.channel:
                share = (Button("Share in channel", "share_answer", question_id),)
            if reply.channel:
                await self._post(reply, channel=reply.channel)
                continue
            await self._respond(respond, reply, user=command["user_id"], extra_buttons=share)

    async def _open_session_form(self, command: dict[str, Any], respond) -> None:
        """``/rrr session add`` alone: the form, for coordinators (the core checks again on submission)."""
        user, channel = command["user_id"], command.get("channel_id", "")
        if not await asyncio.to_thread(self.bot.directory.is_coordinator, PLATFORM, user, await self._roles(user)):
            await respond(response_type="ephemeral", text="Only coordinators can schedule a session.")
            return
        zone = (await self._profile(user)).get("tz")
        try:
            await self.client.views_open(trigger_id=command["trigger_id"],
                                         view=modals.session_modal(channel=channel, zone=zone))
        except SlackApiError as exc:  # an expired trigger: the text form still works
            log.warning("cannot open the session form: %s", exc.response.get("error"))
            await respond(response_type="ephemeral",
                          text="I could not open the form; try again, or type it: `/rrr session add "
                               "title:\"Working group\" start:2027-03-16T15:00 tz:Europe/Madrid repeat:weekly`.")

    async def _on_session_submit(self, ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        """The session form: the core's ``session add`` as the submitting member; its errors go to the fields."""
        started = time.monotonic()
        values = modals.values(view)
        errors = {k: "Required." for k in ("title", "date", "time", "tz") if not values.get(k)}
        errors.update({k: "A whole number, please." for k in ("count", "duration")
                       if values.get(k) and not values[k].isdigit()})
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        user = body["user"]["id"]
        channel = str(modals.metadata(view).get("channel") or "")
        if not channel:
            await ack(response_action="update", view=modals.notice_modal(
                "Not scheduled", "Open the form with `/rrr session add` in the channel the session belongs to."))
            return
        message = await self._incoming(user, modals.session_command(values, channel), channel,
                                       (body.get("team") or {}).get("id", ""))
        task = asyncio.ensure_future(self.bot.handle(message))
        done, _ = await asyncio.wait({task}, timeout=max(0.0, self.form_answer_seconds - (time.monotonic() - started)))
        if not done:  # the core is slow: close the form now and post the outcome when it comes
            await ack()
            await self._announce_session(await task, channel=channel, user=user)
            return
        replies = task.result()
        failure = next((r for r in replies if r.is_error), None)
        if failure is None:
            await ack()
            await self._announce_session(replies, channel=channel, user=user)
            return
        text = failure.as_text()
        field = modals.error_field(text)
        if field:
            await ack(response_action="errors", errors={field: trim(text, 300)})
        else:
            await ack(response_action="update", view=modals.notice_modal("Not scheduled", text))

    async def _announce_session(self, replies: list[Reply], *, channel: str, user: str, respond=None) -> None:
        """Post the new session's card in ``channel`` (else to the member); errors only to the member."""
        for reply in replies:
            if reply.is_error or reply.ephemeral:
                if respond is not None:
                    await self._respond(respond, reply, user=user)
                else:
                    await self._post(Reply(reply.blocks, ephemeral=True, is_error=reply.is_error), channel=channel,
                                     user=user)
                continue
            target = reply.channel or channel
            if not await self._post(reply, channel=target, user=user) and target != user:
                await self._post(reply, channel=user)  # not a member of the channel: the coordinator gets it

    async def _on_link(self, ack) -> None:
        """A link button: Slack opened its address; a click still needs its acknowledgement, and nothing else."""
        await ack()

    async def _on_find_similar(self, ack, shortcut: dict[str, Any], respond) -> None:
        await ack()
        text = (shortcut.get("message") or {}).get("text", "")
        user = shortcut["user"]["id"]
        message = await self._incoming(user, "ask " + _strip_mentions(text), shortcut["channel"]["id"],
                                       shortcut.get("team", {}).get("id", ""))
        for reply in await self.bot.handle(message):
            await self._respond(respond, reply, user=user)

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
        meta = modals.metadata(view)
        user = body["user"]["id"]
        fields = tuple((k, v) for k, v in values.items()) + (("question_id", str(meta.get("question_id") or "")),)
        action = Action(PLATFORM, user, "save_solution", fields=fields, roles=await self._roles(user))
        await self._deliver(await self.bot.handle_action(action), channel=meta.get("channel") or user, user=user)

    async def _on_button(self, ack, body: dict[str, Any], action: dict[str, Any], respond) -> None:
        await ack()
        user = body["user"]["id"]
        channel = (body.get("channel") or {}).get("id") or user
        event = Action(PLATFORM, user, action["action_id"], action.get("value", ""), channel=channel,
                       roles=await self._roles(user))
        container = body.get("container") or {}
        lock = asyncio.Lock()
        if container.get("message_ts"):
            where = f"{container.get('channel_id') or channel}:{container['message_ts']}"
            lock = self._card_locks.get(where) or self._card_locks.setdefault(where, lock)
        async with lock:  # the redrawn card carries the counts of the latest click
            replies = await self.bot.handle_action(event)
            for reply in (r for r in replies if r.replace and not r.channel):
                await self._replace(reply, body, respond, user=user)
        question_id = action.get("value", "")
        for reply in replies:
            if reply.replace and not reply.channel:
                continue
            metadata = None
            if reply.channel and action["action_id"] == "ask_network":
                metadata = {"event_type": "rrr_question", "event_payload": {"question_id": question_id}}
            await self._post(reply, channel=reply.channel or channel, user=user, metadata=metadata)

    async def _replace(self, reply: Reply, body: dict[str, Any], respond, *, user: str) -> None:
        """Replace the message holding the clicked button: ``chat.update`` for a message in a conversation, the
        ``response_url`` for an ephemeral one (or when the update is refused); a new message as the last resort."""
        container = body.get("container") or {}
        channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
        ts = container.get("message_ts") or (body.get("message") or {}).get("ts")
        text, blocks = fallback_text(reply), to_blocks(reply)
        pictures = images(reply)
        if channel and ts and not container.get("is_ephemeral") and container.get("type", "message") == "message":
            try:
                await self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
                await self._upload(pictures, channel=channel, thread=ts)  # an edit cannot add files: a reply
                return
            except SlackApiError as exc:
                log.warning("cannot update the message %s/%s: %s", channel, ts, exc.response.get("error"))
        if body.get("response_url"):
            await respond(replace_original=True, text=text, blocks=blocks)
            await self._upload(pictures, channel=user)  # the message replaced is private: so are its pictures
            return
        await self._post(Reply(reply.blocks), channel=channel or user, user=user)

    async def _on_not_helpful(self, ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        channel = (body.get("channel") or {}).get("id", "")
        try:
            await self.client.views_open(trigger_id=body["trigger_id"],
                                         view=modals.not_helpful_modal(action.get("value", ""), channel))
        except SlackApiError as exc:  # an expired trigger: record the vote without a reason
            log.warning("cannot open the 'not helpful' form: %s", exc.response.get("error"))
            event = Action(PLATFORM, body["user"]["id"], "feedback_not_helpful", action.get("value", ""))
            await self._deliver(await self.bot.handle_action(event), channel=channel or body["user"]["id"],
                                user=body["user"]["id"])

    async def _on_not_helpful_submit(self, ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        await ack()
        meta = modals.metadata(view)
        user = body["user"]["id"]
        action = Action(PLATFORM, user, "feedback_not_helpful", str(meta.get("question_id", "")),
                        fields=(("reason", modals.values(view).get("reason", "")),))
        await self._deliver(await self.bot.handle_action(action), channel=meta.get("channel") or user, user=user)

    async def _on_share(self, ack, body: dict[str, Any], action: dict[str, Any], respond) -> None:
        await ack()
        user = body["user"]["id"]
        channel = (body.get("channel") or {}).get("id") or user
        replies = await self.bot.handle_action(Action(PLATFORM, user, "share_answer", action.get("value", ""),
                                                      channel=channel))
        for reply in replies:
            await self._post(reply, channel=channel, user=user)
        await respond(response_type="ephemeral", replace_original=False, text="Shared in the channel.")

    # -- helpers -------------------------------------------------------------------------------------------------

    async def _incoming(self, user: str, text: str, channel: str, team: str, *, thread: str | None = None,
                        is_direct: bool = False, name: str = "") -> Incoming:
        return Incoming(platform=PLATFORM, user=user, text=text, channel=channel, workspace=team, thread=thread,
                        is_direct=is_direct, roles=await self._roles(user), user_name=name or await self._name(user))

    async def _name(self, user: str) -> str:
        """The member's display name (cached), so city profiles list people rather than ids."""
        profile = await self._profile(user)
        return (profile.get("profile", {}).get("display_name") or profile.get("real_name") or profile.get("name")
                or "")

    async def _profile(self, user: str) -> dict[str, Any]:
        """The member's ``users.info`` (cached): names, and the time zone the session form preselects."""
        if user not in self._profiles:
            try:
                self._profiles[user] = (await self.client.users_info(user=user)).get("user") or {}
            except SlackApiError as exc:
                log.info("no profile for %s: %s", user, exc.response.get("error"))
                return {}
        return self._profiles[user]

    async def channel_problem(self, channel: str) -> str | None:
        """Why the bot cannot post in ``channel`` (the core asks before a session is announced there), or None.
        What Slack does not say (a missing scope, an outage) is not held against the channel."""
        if channel[:1] in ("D", "U", "W"):  # a direct message: the bot can always write there
            return None
        try:
            info = (await self.client.conversations_info(channel=channel)).get("channel") or {}
        except SlackApiError as exc:
            error = exc.response.get("error")
            if error == "channel_not_found":
                return "there is no such channel, or it is private and the bot is not in it (/invite @rrr there)"
            log.info("cannot check channel %s: %s", channel, error)
            return None
        if info.get("is_archived"):
            return "that channel is archived"
        if not info.get("is_im") and info.get("is_member") is False:
            return "the bot is not a member of that channel; invite it there with /invite @rrr"
        return None

    async def _first(self, body: dict[str, Any]) -> bool:
        event_id = body.get("event_id")
        return True if not event_id else await self.bot.first_delivery(PLATFORM, event_id)

    async def _deliver(self, replies: list[Reply], *, channel: str, user: str, thread: str | None = None) -> None:
        for reply in replies:
            await self._post(reply, channel=reply.channel or channel, user=user,
                             thread=None if reply.channel else thread)

    async def _post(self, reply: Reply, *, channel: str, user: str | None = None, thread: str | None = None,
                    metadata: dict[str, Any] | None = None) -> bool:
        """Send one reply: ephemeral to ``user`` when the core asks for it, else a message (in ``thread``).
        False when Slack refused it (logged).

        Its pictures are uploaded after the text: into the same channel and thread for a message; into the
        member's DM with the bot for an ephemeral reply (which says so), since a private answer stays private. A
        failed upload is logged and does not change the result, which is about the text."""
        pictures = images(reply)
        private = bool(reply.ephemeral and user and channel != user)
        if private and pictures:
            reply = _with_note(reply, _dm_note(pictures))
        posted = True
        if has_text(reply) or not pictures:
            kwargs: dict[str, Any] = {"channel": channel, "text": fallback_text(reply), "blocks": to_blocks(reply)}
            try:
                if private:
                    await self.client.chat_postEphemeral(user=user, **kwargs)
                else:
                    if thread:
                        kwargs["thread_ts"] = thread
                    if metadata:
                        kwargs["metadata"] = metadata
                    await self.client.chat_postMessage(unfurl_links=False, **kwargs)
            except SlackApiError as exc:
                log.error("Slack refused a message to %s: %s", channel, exc.response.get("error"))
                posted = False
        if pictures:
            where = user if private else channel
            error = await self._upload(pictures, channel=where or channel, thread=None if private else thread)
            if error and private and posted:
                try:
                    await self.client.chat_postEphemeral(channel=channel, user=user, text=_upload_failed(error))
                except SlackApiError as exc:
                    log.warning("cannot tell %s that the pictures failed: %s", user, exc.response.get("error"))
        return posted

    async def _respond(self, respond, reply: Reply, *, user: str, extra_buttons: tuple[Button, ...] = ()) -> None:
        """A private answer through ``respond`` (a slash command, a shortcut); its pictures go to the member's DM
        with the bot, as for any private answer (see :meth:`_post`), and the answer says where they are."""
        pictures = images(reply)
        if pictures:
            reply = _with_note(reply, _dm_note(pictures))
        await respond(response_type="ephemeral", text=fallback_text(reply),
                      blocks=to_blocks(reply, extra_buttons=extra_buttons))
        error = await self._upload(pictures, channel=user)
        if error:
            await respond(response_type="ephemeral", replace_original=False, text=_upload_failed(error))

    async def _upload(self, pictures: list[Image], *, channel: str, thread: str | None = None) -> str | None:
        """Upload ``pictures`` as files into ``channel`` (a user id means their DM with the bot), in ``thread``;
        one message holds them all. None when done (or nothing to do), else the error, which is logged."""
        if not pictures:
            return None
        names = ", ".join(p.name for p in pictures)
        try:
            if channel[:1] in ("U", "W"):
                channel = await self._dm(channel)
            await self.client.files_upload_v2(
                channel=channel, thread_ts=thread, initial_comment=None,
                file_uploads=[{"content": p.data, "filename": p.name, "title": trim(p.alt or p.name, FILE_TITLE),
                               "alt_txt": trim(p.alt, ALT_TEXT) or None} for p in pictures])
            return None
        except SlackApiError as exc:
            error = str(exc.response.get("error") or exc)
        except (SlackClientError, aiohttp.ClientError, asyncio.TimeoutError, KeyError) as exc:
            error = str(exc) or type(exc).__name__
        log.error("cannot upload %s to %s: %s", names, channel, error)
        return error

    async def _dm(self, user: str) -> str:
        """The id of ``user``'s direct-message channel with the bot (``conversations.open``, cached)."""
        if user not in self._dms:
            self._dms[user] = (await self.client.conversations_open(users=user))["channel"]["id"]
        return self._dms[user]

    async def _roles(self, user: str) -> tuple[str, ...]:
        """``("coordinator",)`` for members of a configured coordinator user group."""
        for group in self.settings.slack.coordinator_groups:
            if user in await self._group_members(group):
                return ("coordinator",)
        return ()

    async def _group_members(self, group: str) -> frozenset[str]:
        cached = self._groups.get(group)
        if cached and time.monotonic() - cached[0] < GROUP_CACHE_SECONDS:
            return cached[1]
        try:
            users = frozenset((await self.client.usergroups_users_list(usergroup=group)).get("users", []))
        except SlackApiError as exc:
            log.warning("cannot read user group %s: %s", group, exc.response.get("error"))
            users = cached[1] if cached else frozenset()
        self._groups[group] = (time.monotonic(), users)
        return users

    async def _question_of_thread(self, channel: str, thread_ts: str | None) -> str | None:
        """The question id an "Ask the network" post carries in its metadata, if the message replies to one."""
        if not thread_ts:
            return None
        try:
            found = await self.client.conversations_replies(channel=channel, ts=thread_ts, limit=1,
                                                            include_all_metadata=True)
        except SlackApiError:
            return None
        for message in found.get("messages", [])[:1]:
            payload = (message.get("metadata") or {}).get("event_payload") or {}
            if payload.get("question_id"):
                return str(payload["question_id"])
        return None


def _with_note(reply: Reply, note: str) -> Reply:
    return Reply(reply.blocks + (Text(note, "muted"),), ephemeral=reply.ephemeral, is_error=reply.is_error,
                 channel=reply.channel, replace=reply.replace)


def _dm_note(pictures: list[Image]) -> str:
    what = "The picture is" if len(pictures) == 1 else f"The {len(pictures)} pictures are"
    return f"{what} in your direct messages with the bot, so this answer stays private."


def _upload_failed(error: str) -> str:
    """What a member is told when the pictures of a private answer could not be uploaded (the log has the error)."""
    reason = f" ({error})" if re.fullmatch(r"[a-z_]{1,60}", error) else ""  # Slack's error codes only, not bodies
    return f"I could not upload the pictures{reason}; the figures above are complete without them."


def _same_token_warning(record: logging.LogRecord) -> bool:
    """Bolt reads SLACK_BOT_TOKEN itself and warns that our client (built from that same token) wins."""
    return "`token` will be unused" not in record.getMessage()


def _strip_mentions(text: str) -> str:
    return " ".join(_MENTION.sub(" ", text).split())


def _from_bot(event: dict[str, Any]) -> bool:
    return bool(event.get("bot_id")) or event.get("subtype") == "bot_message"
