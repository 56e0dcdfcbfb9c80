"""Rounds of introductions: recency, pause and opt-out, delivery through the stored outbox, follow-ups."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from bot import Runtime
from bot.services import Outgoing
from bot.errors import InvalidInput
from bot.store.models import IntroductionMember, Member, OutboxMessage
from bot.testing import TestAdapter
from sqlmodel import select

NOW = datetime(2027, 3, 1, 9, tzinfo=timezone.utc)
CONTACTS = {"Bilbao": ("slack", "UBIL"), "Dublin": ("slack", "UDUB"), "Warsaw": ("slack", "UWAR"),
            "Turin": ("slack", "UTUR"), "Montréal": ("slack", "UMTL")}


def link(rt: Runtime, contacts=CONTACTS) -> None:
    for city, (platform, user) in contacts.items():
        rt.directory.link(platform, user, city, name=f"{user.lower()}-name")


def outbox(rt: Runtime) -> list[OutboxMessage]:
    with rt.db.session() as session:
        return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)))


def pairs(groups) -> set[frozenset[str]]:
    return {frozenset((a, b)) for g in groups for i, a in enumerate(g.cities) for b in g.cities[i + 1:]}


def test_a_run_stores_introductions_queues_messages_and_is_never_repeated_within_recency(seeded: Runtime) -> None:
    link(seeded)
    groups, queued = seeded.intros.run(now=NOW)
    cities = [c for g in groups for c in g.cities]
    assert sorted(cities) == sorted(CONTACTS) and len(cities) == len(set(cities))  # 5 cities: a pair and a trio
    assert sorted(len(g.cities) for g in groups) == [2, 3]
    messages = outbox(seeded)
    assert queued == len(messages) == len(groups)  # everyone on Slack: one group DM per introduction
    for message, group in zip(messages, groups):
        assert message.platform == "slack" and len(message.users) == len(group.cities)
        text = str(message.payload)
        assert "Meet your peers" in text and all(c in text for c in group.cities)
    made = pairs(groups)
    again, _ = seeded.intros.preview(now=NOW + timedelta(weeks=2))
    assert not (pairs(again) & made)
    later, _ = seeded.intros.preview(now=NOW + timedelta(weeks=seeded.settings.intros.recency_weeks + 1))
    assert later  # after the recency window the best pairs may come back


def test_opted_out_and_paused_members_are_skipped(seeded: Runtime) -> None:
    link(seeded)
    adapter = TestAdapter(seeded.bot, platform="slack")
    asyncio.run(adapter.send("intro optout", user="UMTL")).assert_reply("no more introductions")
    asyncio.run(adapter.send("intro pause until 2099-01-01", user="UTUR")).assert_reply("paused until 2099-01-01")
    groups, _ = seeded.intros.run(now=NOW)
    assert {c for g in groups for c in g.cities} == {"Bilbao", "Dublin", "Warsaw"}
    asyncio.run(adapter.send("intro optin", user="UMTL")).assert_reply("back in the introduction rounds")
    assert "Montréal" in seeded.intros.available_members(NOW)


@pytest.mark.parametrize("text, expected", [
    ("intro pause until 2001-01-01", "date in the future"),
    ("intro pause until next week", "YYYY-MM-DD"),
    ("intro pause", "YYYY-MM-DD"),
])
def test_bad_pause_dates_change_nothing(seeded: Runtime, text: str, expected: str) -> None:
    link(seeded)
    asyncio.run(TestAdapter(seeded.bot, platform="slack").send(text, user="UBIL")).assert_error().assert_reply(expected)
    assert "Bilbao" in seeded.intros.available_members(NOW)


def test_rounds_need_contacts_in_two_cities(seeded: Runtime) -> None:
    with pytest.raises(InvalidInput, match="contacts"):
        seeded.intros.run(now=NOW)
    link(seeded, {"Bilbao": ("slack", "UBIL")})
    with pytest.raises(InvalidInput, match="two cities"):
        seeded.intros.run(now=NOW)
    assert outbox(seeded) == []


def test_split_platforms_get_one_dm_each_naming_the_others(seeded: Runtime) -> None:
    link(seeded, {"Bilbao": ("slack", "UBIL"), "Dublin": ("discord", "4242")})
    (group,), queued = seeded.intros.run(now=NOW)
    messages = outbox(seeded)
    assert queued == 2 and sorted((m.platform, tuple(m.users)) for m in messages) == [
        ("discord", ("4242",)), ("slack", ("UBIL",))]
    for message in messages:
        text = str(message.payload)
        assert "ubil-name (slack)" in text and "4242-name (discord)" in text


def test_follow_up_asks_did_you_meet_and_stores_outcomes(seeded: Runtime) -> None:
    link(seeded, {"Bilbao": ("slack", "UBIL"), "Dublin": ("slack", "UDUB")})
    seeded.intros.run(now=NOW)
    assert seeded.intros.queue_followups(now=NOW + timedelta(days=3)) == 0  # not due yet
    due = NOW + timedelta(days=seeded.settings.intros.followup_days, hours=1)
    assert seeded.intros.queue_followups(now=due) == 2
    assert seeded.intros.queue_followups(now=due) == 0  # asked once
    followups = [m for m in outbox(seeded) if m.key.startswith("followup:")]
    buttons = [b for b in followups[0].payload["blocks"] if b["kind"] == "Actions"][0]["buttons"]
    assert [b[1] for b in buttons] == ["intro_met", "intro_not_yet", "intro_could_not"]
    adapter = TestAdapter(seeded.bot, platform="slack")
    link_id = buttons[0][2]
    asyncio.run(adapter.click("intro_not_yet", link_id, user="UBIL")).assert_reply("ask again in two days")
    again = [m for m in outbox(seeded) if m.key == f"followup:{link_id}:again:slack:UBIL"]
    assert again and again[0].not_before.replace(tzinfo=timezone.utc) > datetime.now(timezone.utc) + timedelta(hours=47)
    asyncio.run(adapter.click("intro_met", link_id, user="UBIL")).assert_reply("Great")
    with seeded.db.session() as session:
        assert session.get(IntroductionMember, int(link_id)).outcome == "met"


def test_three_ignored_introductions_pause_the_member(seeded: Runtime) -> None:
    link(seeded, {"Bilbao": ("slack", "UBIL"), "Dublin": ("slack", "UDUB"), "Warsaw": ("slack", "UWAR")})
    weeks = seeded.settings.intros.recency_weeks + 1
    for round_number in range(4):
        now = NOW + timedelta(weeks=weeks * round_number)
        try:
            seeded.intros.run(now=now)
        except InvalidInput:
            break
        seeded.intros.queue_followups(now=now + timedelta(days=30))
        with seeded.db.session() as session:  # everyone but Bilbao's contact answers
            for link_row, member in session.exec(select(IntroductionMember, Member).join(Member)):
                if member.user_id != "UBIL" and link_row.outcome is None:
                    link_row.outcome = "met"
    with seeded.db.session() as session:
        bilbao = session.exec(select(Member).where(Member.user_id == "UBIL")).one()
        assert bilbao.ignored_streak >= 3 and bilbao.paused_until is not None
    assert any(m.key.startswith("paused:") and m.users == ["UBIL"] for m in outbox(seeded))
    assert "Bilbao" not in seeded.intros.available_members(NOW + timedelta(weeks=weeks * 5))


def test_outbox_keys_make_queueing_idempotent(seeded: Runtime) -> None:
    from bot.messages import Reply

    assert seeded.outbox.enqueue([Outgoing("k", "slack", Reply.text("hi"), users=("U1",))]) == 1
    assert seeded.outbox.enqueue([Outgoing("k", "slack", Reply.text("hi again"), users=("U1",))]) == 0
    (claimed,) = seeded.outbox.claim("slack")
    assert seeded.outbox.claim("slack") == []  # leased
    seeded.outbox.failed(claimed.id, "slack is down")
    assert seeded.outbox.claim("slack") == []  # backing off
    assert seeded.outbox.claim("slack", now=datetime.now(timezone.utc) + timedelta(minutes=2))[0].id == claimed.id
    seeded.outbox.sent(claimed.id)
    assert seeded.outbox.pending("slack") == 0
