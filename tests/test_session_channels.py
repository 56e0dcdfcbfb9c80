"""A session announced in a channel the bot cannot post in is refused up front, through the adapter's check."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import make_settings

from bot import Runtime
from bot.testing import TestAdapter
from bot.platforms import Platform

ADD = 'session add title:"Working group" start:2031-03-18T15:00 tz:Europe/Madrid repeat:weekly count:3'


@pytest.fixture
def network(tmp_path: Path) -> Iterator[Runtime]:
    settings = make_settings(tmp_path / "data", RRR_BOT__COORDINATORS='["test:BOSS"]')
    with Runtime.open(settings) as rt:
        yield rt


def test_a_channel_the_adapter_refuses_stores_nothing(network: Runtime) -> None:
    checked: list[str] = []

    async def check(channel_id: str) -> str | None:
        checked.append(channel_id)
        return None if channel_id == "C1" else "the bot is not a member of that channel; invite it first"

    network.bot.register_platform(Platform("test"), channel_check=check)
    boss = TestAdapter(network.bot, user="BOSS")
    refused = asyncio.run(boss.send(ADD + " channel:test:C404", is_direct=False))
    refused.assert_error().assert_reply("I cannot post in test:C404", "invite it first")
    assert network.sessions.list() == [] and checked == ["C404"]

    accepted = asyncio.run(boss.send(ADD + " channel:here,test:C1", is_direct=False))
    assert not any(r.is_error for r in accepted.replies), accepted.text
    [info] = network.sessions.list()
    assert info.channels == ("test:C1",)  # "here" is C1 too: one channel, checked once, not for being "here"
    assert checked == ["C404"]


def test_a_platform_not_served_here_is_trusted(network: Runtime) -> None:
    boss = TestAdapter(network.bot, user="BOSS")
    exchange = asyncio.run(boss.send(ADD + " channel:slack:C0123", is_direct=False))
    assert not any(r.is_error for r in exchange.replies), exchange.text
    assert network.sessions.list()[0].channels == ("slack:C0123",)
    # ... and it is announced there through the outbox (the command's own channel sees the reply instead)
    pending = network.outbox.claim("slack")
    assert [p.channel for p in pending] == ["C0123"] and "Working group" in pending[0].reply.as_text()
