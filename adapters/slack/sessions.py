"""Sessions on Slack: ``/rrr session add`` (nothing after it) opens the "Schedule a session" form; its submission
becomes the core's typed :class:`~bot.services.session_draft.SessionDraft`, sent as the member who submitted it
(``Bot.add_session``, confirmation first); the session as
the core read it is pushed as a second step ("Schedule" / "Back"), and once scheduled the new session's card is
posted in the channel (errors stay private, on the form's fields when they name one). Before a session is
announced in a channel the core asks :func:`channel_problem` whether the bot may post there.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import Action, Bot, Reply
from bot.errors import InvalidInput
from bot.messages import Actions
from bot.sessions.confirmations import CONFIRM

from . import modals
from .members import PLATFORM, Members
from .posting import Poster
from .render import to_blocks, trim

log = logging.getLogger(__name__)
#: How long a form submission may wait for the core before the modal is closed and the outcome posted instead
#: (Slack drops an acknowledgement that comes after 3 seconds).
FORM_ANSWER_SECONDS = 2.0
SESSION_ADD = re.compile(r"^[/!]?sessions?\s+add\b\s*(.*)$", re.IGNORECASE | re.DOTALL)


class SessionForm:
    """The form: opened for coordinators, submitted as the core's session draft, its card announced."""

    def __init__(self, bot: Bot, client: AsyncWebClient, members: Members, poster: Poster) -> None:
        self.bot = bot
        self.client = client
        self.members = members
        self.poster = poster
        self.answer_seconds = FORM_ANSWER_SECONDS

    async def open(self, command: dict[str, Any], respond) -> None:
        """``/rrr session add`` alone: the form, for coordinators (the core checks again on submission)."""
        user, channel = command["user_id"], command.get("channel_id", "")
        roles = await self.members.roles(user)
        if not await asyncio.to_thread(self.bot.directory.is_coordinator, PLATFORM, user, roles):
            await respond(response_type="ephemeral", text="Only coordinators can schedule a session.")
            return
        zone = (await self.members.profile(user)).get("tz")
        try:
            await self.client.views_open(trigger_id=command["trigger_id"],
                                         view=modals.session_modal(
                channel=channel, zones=await self.bot.session_zones(), zone=zone))
        except SlackApiError as exc:  # an expired trigger: the text form still works
            log.warning("cannot open the session form: %s", exc.response.get("error"))
            await respond(response_type="ephemeral",
                          text="I could not open the form; try again, or type it: `/rrr session add "
                               "title:\"Working group\" start:2027-03-16T15:00 tz:Europe/Madrid repeat:weekly`.")

    async def submit(self, ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        """The submission: the core's session draft as the submitting member; its errors go to the fields."""
        started = time.monotonic()
        trigger = body.get("trigger_id")
        if isinstance(trigger, str) and trigger and not await self.bot.first_delivery(PLATFORM,
                                                                                      f"interaction:{trigger}"):
            await ack()  # the same signed submission sent again (a replay): scheduled once
            return
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
        try:
            draft = modals.session_draft(values, channel)
        except InvalidInput as exc:  # a value the form's own checks let through
            await ack(response_action="errors", errors={modals.error_input(exc.field) or "title": trim(str(exc), 300)})
            return
        message = await self.members.incoming(user, "", channel, (body.get("team") or {}).get("id", ""))
        # echoed back with the date as read (a second step of the form), saved by the confirmation's submission
        task = asyncio.ensure_future(self.bot.add_session(message, draft, confirm_first=True))
        done, _ = await asyncio.wait({task}, timeout=max(0.0, self.answer_seconds - (time.monotonic() - started)))
        if not done:  # the core is slow: close the form now and post the outcome when it comes
            await ack()
            await self.announce(await task, channel=channel, user=user)
            return
        replies = task.result()
        failure = next((r for r in replies if r.is_error), None)
        echo = _draft_of(replies)
        if failure is None and echo:  # the session as read: confirmed on a second step of the form
            await ack(response_action="push", view=modals.confirm_modal(to_blocks(replies[0]), draft=echo,
                                                                         channel=channel))
            return
        if failure is None:
            await ack()
            await self.announce(replies, channel=channel, user=user)
            return
        text = failure.as_text()
        field = modals.error_input(failure.field)
        if field:
            await ack(response_action="errors", errors={field: trim(text, 300)})
        else:
            await ack(response_action="update", view=modals.notice_modal("Not scheduled", text))

    async def confirm(self, ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        """The second step's "Schedule": the core saves the draft (once, whatever the clicks); the forms close and
        the card is announced, or the step says why not."""
        meta = modals.metadata(view)
        user, channel = body["user"]["id"], str(meta.get("channel") or "")
        action = Action(PLATFORM, user, CONFIRM, str(meta.get("draft") or ""), channel=channel,
                        roles=await self.members.roles(user))
        task = asyncio.ensure_future(self.bot.handle_action(action))
        done, _ = await asyncio.wait({task}, timeout=self.answer_seconds)
        if not done:
            await ack(response_action="clear")
            await self.announce(await task, channel=channel, user=user)
            return
        replies = task.result()
        failure = next((r for r in replies if r.is_error), None)
        if failure is not None:
            await ack(response_action="update", view=modals.notice_modal("Not scheduled", failure.as_text()))
            return
        await ack(response_action="clear")
        await self.announce([r for r in replies if not r.replace], channel=channel, user=user)

    async def announce(self, replies: list[Reply], *, channel: str, user: str, respond=None) -> None:
        """Post the new session's card in ``channel`` (else to the member); errors only to the member."""
        for reply in replies:
            if reply.is_error or reply.ephemeral:
                if respond is not None:
                    await self.poster.respond(respond, reply, user=user)
                else:
                    await self.poster.post(Reply(reply.blocks, ephemeral=True, is_error=reply.is_error),
                                           channel=channel, user=user)
                continue
            target = reply.channel or channel
            if not await self.poster.post(reply, channel=target, user=user) and target != user:
                await self.poster.post(reply, channel=user)  # not a member of the channel: the coordinator gets it


def _draft_of(replies: list[Reply]) -> str:
    """The draft id an echo's Confirm button carries ("" when the replies are no echo)."""
    for reply in replies:
        for block in reply.blocks:
            if isinstance(block, Actions):
                for button in block.buttons:
                    if button.action_id == CONFIRM:
                        return button.value
    return ""


async def channel_problem(client: AsyncWebClient, channel: str) -> str | None:
    """Why the bot cannot post in ``channel`` (the core asks before a session is announced there), or None.
    What Slack does not say (a missing scope, an outage) is not held against the channel."""
    if channel[:1] in ("D", "U", "W"):  # a direct message: the bot can always write there
        return None
    try:
        info = (await client.conversations_info(channel=channel)).get("channel") or {}
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
