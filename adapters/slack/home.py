"""The App Home tab (:mod:`bot.home` builds it): published when the member opens it, and again after each click on
it. An RSVP or an introduction's answer clicked there is answered by the core with the home drawn again, which is
published in place; "Ask a question" opens a form, and the answers of Ask, Intro and Insights go to the app's
Messages tab (the member's DM with the bot), the home saying so.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import Action, Bot, Reply

from . import modals
from .members import PLATFORM, Members
from .posting import Poster
from .render import to_blocks

log = logging.getLogger(__name__)
#: What the home says after a feature button's answer went to the Messages tab.
SENT = "The answer is in the Messages tab of this app."


def on_home(body: dict[str, Any]) -> bool:
    """Whether a ``block_actions`` payload is a click on the App Home (a view, not a message)."""
    return (body.get("container") or {}).get("type") == "view" and (body.get("view") or {}).get("type") == "home"


class HomeTab:
    """Publishes the home and answers the clicks made on it."""

    def __init__(self, bot: Bot, client: AsyncWebClient, members: Members, poster: Poster) -> None:
        self.bot = bot
        self.client = client
        self.members = members
        self.poster = poster

    async def publish(self, user: str, home: Reply | None = None) -> None:
        """Publish ``home`` (else the member's home, built now) as ``user``'s App Home."""
        home = home or await self.bot.home(PLATFORM, user, await self.members.roles(user))
        try:
            await self.client.views_publish(user_id=user, view={"type": "home", "blocks": to_blocks(home)})
        except SlackApiError as exc:
            log.error("cannot publish the App Home of %s: %s", user, exc.response.get("error"))

    async def click(self, body: dict[str, Any], action: dict[str, Any]) -> None:
        """A button of the home: "Ask a question" opens its form; the others are the core's, and the home is
        published again (the core's redrawn home, or the home saying where the answer went)."""
        user = body["user"]["id"]
        if action["action_id"] == "home_ask":
            try:
                await self.client.views_open(trigger_id=body["trigger_id"], view=modals.ask_modal())
            except SlackApiError as exc:  # an expired trigger: the member can still type the question
                log.warning("cannot open the ask form: %s", exc.response.get("error"))
                await self.publish(user, await self._notice(user, "I could not open the form: try again, or ask "
                                                                  "in the Messages tab."))
            return
        event = Action(PLATFORM, user, action["action_id"], action.get("value", ""), channel=user,
                       roles=await self.members.roles(user))
        await self._answer(user, await self.bot.handle_action(event))

    async def submit_ask(self, ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        """The ask form: the member's question, answered in the Messages tab."""
        question = modals.values(view).get("question", "")
        if not question.strip():
            await ack(response_action="errors", errors={"question": "Type your question."})
            return
        await ack()
        user = body["user"]["id"]
        event = Action(PLATFORM, user, "home_ask", fields=(("question", question),), channel=user,
                       roles=await self.members.roles(user))
        await self._answer(user, await self.bot.handle_action(event))

    async def _answer(self, user: str, replies: list[Reply]) -> None:
        redrawn = next((r for r in replies if r.replace and not r.channel), None)
        others = [r for r in replies if r is not redrawn]
        for reply in others:
            await self.poster.post(reply, channel=reply.channel or user, user=user)
        if redrawn is not None:
            await self.publish(user, redrawn)
        elif others:
            await self.publish(user, await self._notice(user, SENT))

    async def _notice(self, user: str, text: str) -> Reply:
        return await self.bot.home_page.view(PLATFORM, user, await self.members.roles(user), notice=text)
