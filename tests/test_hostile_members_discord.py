"""A hostile member of the Discord server, on the real discord.py client against the fake gateway.

Discord's documentation asks apps to check a component's ``custom_id`` themselves ("ensure that the custom_id
originates from the received message"): here a member clicks buttons whose ids were rewritten, and the core checks
them against the member who clicked, as it does for Slack (tests/test_hostile_members.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import discord_harness
import pytest
from discord_fake import DM_CHANNEL_ID, MEMBER_ID, MESSAGE_COMPONENT, PEER_ID, FakeDiscord, custom_ids
from discord_harness import Served
from sqlmodel import select

from bot import Runtime
from bot.store.models import IntroductionMember, Member

restore_discord_endpoints, fake_discord, fake, served, settings, rt = (
    discord_harness.restore_discord_endpoints, discord_harness.fake_discord, discord_harness.fake,
    discord_harness.served, discord_harness.settings, discord_harness.rt)
pytestmark = pytest.mark.timeout(180)
ANSWER = 30.0




def test_a_rewritten_follow_up_button_cannot_answer_for_another_member(served: Served, fake: FakeDiscord,
                                                                       rt: Runtime) -> None:
    rt.directory.link("discord", str(MEMBER_ID), "Bilbao")
    rt.directory.link("discord", str(PEER_ID), "Dublin")
    now = datetime(2027, 3, 1, 9, tzinfo=timezone.utc)
    rt.intros.run(now=now)
    assert rt.intros.queue_followups(now=now + timedelta(days=rt.settings.intros.followup_days, hours=1)) == 2
    served.loop.run(served.adapter.deliver_outbox(), 20)
    with rt.db.session() as session:
        links = {m.user_id: im.id for im, m in session.exec(select(IntroductionMember, Member).join(Member))}
    followups = [m for m in fake.channel_messages(DM_CHANNEL_ID) if custom_ids(m.components)]
    own = next(fake.response_message(m) for m in followups
               if f"rrr:intro_met:{links[str(PEER_ID)]}" in custom_ids(m.components))
    forged = f"rrr:intro_could_not:{links[str(MEMBER_ID)]}"  # the peer's own card, the member's follow-up id
    message = {**own, "components": [{"type": 1, "components": [
        {"type": 2, "style": 2, "label": "Could not", "custom_id": forged}]}]}
    click = fake.send_interaction(MESSAGE_COMPONENT, {"custom_id": forged, "component_type": 2}, message=message,
                                  user_id=PEER_ID, channel_id=DM_CHANNEL_ID)
    assert "No introduction follow-up" in fake.wait_followups(click, timeout=ANSWER)[0].text
    with rt.db.session() as session:
        assert session.get(IntroductionMember, links[str(MEMBER_ID)]).outcome is None
    mine = f"rrr:intro_met:{links[str(PEER_ID)]}"
    click = fake.click(own, mine, user_id=PEER_ID, channel_id=DM_CHANNEL_ID)
    assert "Great" in fake.wait_followups(click, timeout=ANSWER)[0].text
    with rt.db.session() as session:
        assert session.get(IntroductionMember, links[str(PEER_ID)]).outcome == "met"
