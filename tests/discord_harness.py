"""The harness of the Discord adapter tests: the real discord.py client on a loop thread of its own, against the local
fake Discord (``discord_fake.FakeDiscord``: REST and gateway on 127.0.0.1).

Fixtures, to import into a test module by name together with the fixtures they use: ``restore_discord_endpoints``
(autouse: ``point_at`` sets class attributes of discord.py, put back after each test), ``fake_discord`` (the fake,
which must not have been called on routes it does not know; ``fake`` for short) and ``served`` (the adapter of the
module's own ``rt`` fixture, connected and ready; a test that restarts the bot uses :func:`connected` itself).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import discord
import discord.gateway
import discord.http
import pytest

from adapters.discord import DiscordAdapter, DiscordSecrets
from bot import Runtime, Settings
from conftest import make_settings
from discord_fake import (COORDINATOR_ROLE_ID, DEFERRED_CHANNEL_MESSAGE, GUILD_ID, TOKEN, FakeDiscord, LoopThread,
                          Request, wait_until)
from slack_harness import no_traceback  # noqa: F401  (the same log check for both platforms)

READY = 30.0
#: How long discord.py waits after READY for one more GUILD_CREATE before it calls itself ready (its default is 2 s,
#: for Discord's trickle of guilds). The fake sends its one guild right behind READY, so the harness waits for that
#: guild itself (:meth:`Served.start`) and saves the 2 s on every connection.
GUILD_READY_TIMEOUT = 0.1


class Served:
    """A :class:`DiscordAdapter` running the real discord.py client on its own loop thread."""

    def __init__(self, runtime: Runtime, settings: Settings) -> None:
        self.runtime = runtime
        self.adapter = DiscordAdapter(runtime.bot, settings, DiscordSecrets(token=TOKEN))
        self.adapter.client._connection.guild_ready_timeout = GUILD_READY_TIMEOUT
        self.loop = LoopThread("discord-client")
        self.task = None

    def start(self) -> Served:
        self.task = self.loop.spawn(self.adapter.start())
        client = self.adapter.client
        wait_until(lambda: (client.is_ready() and client.get_guild(GUILD_ID) is not None) or self.task.done(), READY,
                   "the client to be ready, with the fake's guild")
        if self.task.done():
            self.task.result()  # raise what stopped it
            raise AssertionError("the client stopped before it was ready")
        return self

    def stop(self) -> None:
        try:
            if not self.adapter.client.is_closed():
                self.loop.run(self.adapter.close(), 15)
            if self.task is not None:
                self.task.result(15)
        finally:
            self.loop.close()

    def run_in_thread(self, func, *args):
        """Run ``func(*args)`` in a worker thread of the client's loop (``asyncio.to_thread``), as the core does."""
        async def go():
            return await asyncio.to_thread(func, *args)
        return self.loop.spawn(go())


def discord_settings(data_dir: Path, fake: FakeDiscord, **env: str) -> Settings:
    """Settings pointing the adapter at ``fake``'s guild, with its coordinator role; ``env`` adds settings. The outbox
    pump first runs an hour after the client is ready: tests deliver by hand. The placeholder of a slow answer is off
    (a test waiting for a reply sees the answer) unless ``env`` sets ``RRR_BOT__PLACEHOLDER_SECONDS``."""
    env.setdefault("RRR_BOT__PLACEHOLDER_SECONDS", "600")
    return make_settings(data_dir, RRR_BOT__OUTBOX_INTERVAL="3600", RRR_DISCORD__API_BASE_URL=fake.api_base_url,
                         RRR_DISCORD__GATEWAY_URL=fake.gateway_url, RRR_DISCORD__GUILD_ID=str(GUILD_ID),
                         RRR_DISCORD__COORDINATOR_ROLE=str(COORDINATOR_ROLE_ID), **env)


@pytest.fixture(autouse=True)
def restore_discord_endpoints() -> Iterator[None]:
    """``point_at`` sets class attributes of discord.py; put the originals back after each test."""
    base, gateway = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    yield
    discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = base, gateway


@pytest.fixture
def fake_discord() -> Iterator[FakeDiscord]:
    with FakeDiscord(heartbeat_interval_ms=500) as server:
        yield server
        assert not server.unknown, f"discord.py called routes the fake does not know: {server.unknown}"


@pytest.fixture
def fake(fake_discord: FakeDiscord) -> FakeDiscord:
    """``fake_discord``, by the short name the tests of one platform use."""
    return fake_discord


@contextmanager
def connected(runtime: Runtime) -> Iterator[Served]:
    """The adapter of ``runtime``, connected to the fake and ready; stopped afterwards (even if it never got ready)."""
    served = Served(runtime, runtime.settings)
    try:
        yield served.start()
    finally:
        served.stop()


@pytest.fixture
def settings(seeded_dir: Path, fake: FakeDiscord) -> Settings:
    """The seeded network's settings for the fake Discord (a test module may define its own ``settings``)."""
    return discord_settings(seeded_dir, fake)


@pytest.fixture
def rt(settings: Settings) -> Iterator[Runtime]:
    """The runtime of the module's ``settings``."""
    with Runtime.open(settings) as runtime:
        yield runtime


@pytest.fixture
def served(rt: Runtime, fake_discord: FakeDiscord) -> Iterator[Served]:
    """The adapter of the ``rt`` fixture (see :func:`connected`)."""
    with connected(rt) as bot:
        yield bot


def slash_deferred(fake: FakeDiscord, name: str, options: dict[str, Any] | None = None, *, timeout: float,
                   **kw: Any) -> tuple[dict, Request]:
    """``/name options``: the interaction and its callback, which must defer it within Discord's 3 seconds."""
    sent = time.monotonic()
    interaction = fake.slash(name, options, **kw)
    callback = fake.wait_callback(interaction, timeout=timeout)
    assert callback.body["type"] == DEFERRED_CHANNEL_MESSAGE, callback
    assert callback.at - sent < 3.0, f"deferred after {callback.at - sent:.2f}s"
    return interaction, callback
