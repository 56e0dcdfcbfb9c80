"""The core is platform-free: it asks a platform's declared capabilities, never its name.

A pretend platform with other capabilities than Slack's and Discord's (no group DMs, small messages) gets the same
answers, delivered its way: an introduction as one DM each, a long reply as several messages within its size.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest
from sqlmodel import select

from adapters.outbox_pump import deliver
from adapters.platforms import PLATFORMS
from bot import Runtime
from bot.messages import Actions, Button, Reply, SolutionCard, Text
from bot.platforms import UNKNOWN, Capabilities, Platform, Platforms, fit_reply
from bot.services import Outgoing, Pending
from bot.store.models import OutboxMessage
from bot.testing import TestAdapter

NOW = datetime(2027, 3, 1, 9, tzinfo=timezone.utc)
GROUPS = Capabilities(group_dms=True)
TINY = Capabilities(group_dms=False, file_upload=False, max_message_chars=300)


def test_the_adapters_declare_what_the_core_used_to_guess() -> None:
    known = Platforms(PLATFORMS)
    assert known.capabilities("slack").group_dms and not known.capabilities("discord").group_dms
    assert known.capabilities("discord").scheduled_events and not known.capabilities("slack").scheduled_events
    assert known.capabilities("matrix") == UNKNOWN and not UNKNOWN.group_dms  # one DM each always works
    with pytest.raises(ValueError, match="declared differently"):
        known.add(Platform("slack", TINY))
    known.add(PLATFORMS[0])  # the same declaration again: nothing changes
    assert list(known) == ["slack", "discord"]


@pytest.mark.parametrize("platform, capabilities, messages_per_group", [
    ("groupchat", GROUPS, "one"), ("tiny", TINY, "each"), ("undeclared", None, "each"),
])
def test_an_introduction_is_a_group_dm_only_where_the_platform_has_them(
        seeded: Runtime, platform: str, capabilities: Capabilities | None, messages_per_group: str) -> None:
    if capabilities is not None:
        TestAdapter(seeded.bot, platform=platform, capabilities=capabilities)  # registers it, as an adapter does
    users = {"Bilbao": "UBIL", "Dublin": "UDUB", "Warsaw": "UWAR"}
    for city, user in users.items():
        seeded.directory.link(platform, user, city, name=user.lower())
    groups, queued = seeded.intros.run(now=NOW)
    with seeded.db.session() as session:
        rows = list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)))
    assert {row.platform for row in rows} == {platform}
    if messages_per_group == "one":
        assert queued == len(rows) == len(groups) and sorted(len(r.users) for r in rows) == [3]
        assert rows[0].key.endswith(f":{platform}")
    else:
        assert queued == len(rows) == 3 and sorted(u for r in rows for u in r.users) == sorted(users.values())
        assert all(len(r.users) == 1 for r in rows)


def test_a_long_reply_comes_as_several_messages_within_the_platform_size(seeded: Runtime) -> None:
    wide = asyncio.run(TestAdapter(seeded.bot, platform="test").send("help"))
    tiny = asyncio.run(TestAdapter(seeded.bot, platform="tiny", capabilities=TINY).send("help"))
    assert len(wide.replies) == 1 and len(wide.text) > 300
    assert len(tiny.replies) > 1 and all(len(r.as_text()) <= 300 for r in tiny.replies)
    for line in wide.text.splitlines():  # nothing is lost: every line is there, in order (a long one in pieces)
        words = line.split()
        assert " ".join(words) in " ".join(tiny.text.split()), line


def test_a_queued_message_is_delivered_within_the_platform_size_and_acknowledged_once(seeded: Runtime) -> None:
    TestAdapter(seeded.bot, platform="tiny", capabilities=TINY)
    long = Reply((Text("Reminder", "heading"), Text("Bring the figures of the year. " * 40)))
    assert len(long.as_text()) > 1000
    seeded.intros.outbox.enqueue([Outgoing("test:long", "tiny", long, channel="C1")])
    sent: list[Pending] = []

    async def send(item: Pending) -> None:
        sent.append(item)

    assert asyncio.run(deliver(seeded.bot, "tiny", send)) == 1  # one message of the outbox ...
    assert len(sent) > 3 and all(len(p.reply.as_text()) <= 300 and p.channel == "C1" for p in sent)  # ... in parts
    assert " ".join(" ".join(p.reply.as_text() for p in sent).split()) == " ".join(long.as_text().split())
    assert asyncio.run(deliver(seeded.bot, "tiny", send)) == 0  # acknowledged: not sent again


def test_fit_reply_cuts_text_keeps_cards_whole_and_replaces_once() -> None:
    card = SolutionCard("s1", "Vouchers", "Bilbao", "Spain", "x" * 500, "featured in RRR sources")
    buttons = Actions((Button("Helpful", "feedback_helpful", "7"),))
    reply = Reply((Text("heading", "heading"), Text("word " * 120), card, buttons), ephemeral=True, replace=True)
    parts = fit_reply(reply, 200)
    assert [b for p in parts for b in p.blocks if not isinstance(b, Text)] == [card, buttons]
    assert all(len(p.as_text()) <= 200 for p in parts if card not in p.blocks)
    assert [p.blocks for p in parts if card in p.blocks] == [(card,)]  # longer than a message: alone, whole
    assert " ".join(" ".join(p.as_text() for p in parts if card not in p.blocks).split()).count("word") == 120
    assert all(p.ephemeral for p in parts) and [p.replace for p in parts] == [True] + [False] * (len(parts) - 1)
    assert fit_reply(reply, None) == [reply] and fit_reply(Reply.text("short"), 200) == [Reply.text("short")]
    assert [p.as_text() for p in fit_reply(Reply.text("y" * 450), 200)] == ["y" * 200, "y" * 200, "y" * 50]
