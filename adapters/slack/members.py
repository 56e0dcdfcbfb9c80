"""Who a Slack member is to the core: display name, time zone and coordinator role (read from Slack, cached), and
the :class:`~bot.Incoming` of what they wrote."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import Incoming

from .platform import PLATFORM

log = logging.getLogger(__name__)
GROUP_CACHE_SECONDS = 300


class Members:
    """``users.info`` (cached) and the members of the coordinator user groups (cached for a while)."""

    def __init__(self, client: AsyncWebClient, coordinator_groups: Sequence[str]) -> None:
        self.client = client
        self.coordinator_groups = coordinator_groups
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}
        self._profiles: dict[str, dict[str, Any]] = {}

    async def incoming(self, user: str, text: str, channel: str, team: str, *, thread: str | None = None,
                       is_direct: bool = False, name: str = "") -> Incoming:
        return Incoming(platform=PLATFORM, user=user, text=text, channel=channel, workspace=team, thread=thread,
                        is_direct=is_direct, roles=await self.roles(user), user_name=name or await self.name(user))

    async def name(self, user: str) -> str:
        """The member's display name, so city profiles list people rather than ids."""
        profile = await self.profile(user)
        return (profile.get("profile", {}).get("display_name") or profile.get("real_name") or profile.get("name")
                or "")

    async def profile(self, user: str) -> dict[str, Any]:
        """The member's ``users.info``: names, and the time zone the session form preselects."""
        if user not in self._profiles:
            try:
                self._profiles[user] = (await self.client.users_info(user=user)).get("user") or {}
            except SlackApiError as exc:
                log.info("no profile for %s: %s", user, exc.response.get("error"))
                return {}
        return self._profiles[user]

    async def roles(self, user: str) -> tuple[str, ...]:
        """``("coordinator",)`` for members of a configured coordinator user group."""
        for group in self.coordinator_groups:
            if user in await self._group_members(group):
                return ("coordinator",)
        return ()

    async def _group_members(self, group: str) -> frozenset[str]:
        cached = self._groups.get(group)
        if cached and time.monotonic() - cached[0] < GROUP_CACHE_SECONDS:
            return cached[1]
        try:
            listed = await self.client.usergroups_users_list(usergroup=group)
            users: frozenset[str] = frozenset(listed.get("users", []))
        except SlackApiError as exc:
            log.warning("cannot read user group %s: %s", group, exc.response.get("error"))
            users = cached[1] if cached else frozenset()
        self._groups[group] = (time.monotonic(), users)
        return users
