"""Who may do what: the coordinator check every feature asks, with the directory's answer read off the event loop."""

from __future__ import annotations

import asyncio

from .services.directory import Directory


class CoordinatorCheck:
    """``await is_coordinator(platform, user, roles)``: whether a member is a coordinator (a configured id, the
    stored role, or one of the platform roles that the settings name)."""

    def __init__(self, directory: Directory) -> None:
        self.directory = directory

    async def __call__(self, platform: str, user: str, roles: tuple[str, ...] = ()) -> bool:
        return await asyncio.to_thread(self.directory.is_coordinator, platform, user, roles)
