"""The Slack App Home people act on (issue #14, 11): the member's city, their next sessions with RSVP buttons, their
open introductions with "We met" / "Not yet", and buttons for Ask, Intro and Insights, each click working end to
end and the home published again after it.

The adapter's real Bolt app is served over HTTP on 127.0.0.1 and receives requests signed as Slack signs them; it
calls the local fake Slack (``slack_fake.FakeSlack``). The core runs for real on a copy of the seeded network.
Nothing of ours is mocked; every wait is a polling loop with a deadline.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from bot.store.models import Introduction, IntroductionMember, Member
from bot.sessions.draft import SessionDraft
from slack_fake import (APP_ID, TEAM_ID, Call, FakeSlack, blocks_text, event_callback, next_ts, view_submission,
                        walk_blocks)
from slack_harness import (  # noqa: F401  (fixtures)
    ACK_BUDGET, ANSWER_WAIT, ServedSlack, assert_block_kit, assert_modal, fake_slack, serve_slack, slack_settings,
)

pytestmark = pytest.mark.timeout(180)

USER = "U0BILBAO"
DAY = date.today() + timedelta(days=30)


@pytest.fixture
def slack(serve_slack, fake_slack: FakeSlack, seeded_dir: Path) -> ServedSlack:
    served = serve_slack(slack_settings(seeded_dir, fake_slack), ServedSlack)
    rt = served.runtime
    rt.directory.link("slack", USER, "Bilbao", "Ane")
    rt.sessions.add(SessionDraft(title="Energy communities", start=f"{DAY}T15:00", tz="Europe/Madrid",
                                 repeat="weekly", count=4, channels=("slack:C0GENERAL",)))
    rt.sessions.add(SessionDraft(title="Budget clinic", start=f"{DAY + timedelta(days=2)}T10:00", tz="Europe/Rome",
                                 channels=("slack:C0GENERAL",)))
    with rt.db.session() as session:  # an introduction of Bilbao and Turin, not answered yet
        member = session.exec(select(Member).where(Member.user_id == USER)).one()
        intro = Introduction(cities=["Bilbao", "Turin"], score=0.8, shared=[])
        session.add(intro)
        session.flush()
        session.add(IntroductionMember(introduction_id=intro.id, member_id=member.id))
    return served


def open_home(slack: ServedSlack, count: int = 1) -> Call:
    event = {"type": "app_home_opened", "user": USER, "channel": "D0BILBAO", "tab": "home", "event_ts": next_ts()}
    assert slack.sender.event(event_callback(event)).status == 200
    return published(slack, count)


def published(slack: ServedSlack, count: int) -> Call:
    """The ``count``-th home published, checked against Block Kit's limits for a home view (100 blocks)."""
    call = slack.fake.wait_for("views.publish", count, ANSWER_WAIT)[count - 1]
    assert call.params["user_id"] == USER and call.view["type"] == "home"
    assert_block_kit(call.view["blocks"], "home", max_blocks=100)
    return call


def home_click(slack: ServedSlack, home: Call, action_id: str, value: str | None = None) -> Any:
    """A click on a button of the published home, as Slack sends it (a ``view`` container, no message)."""
    value = buttons(home.view["blocks"])[action_id]["value"] if value is None else value
    payload = {
        "type": "block_actions", "user": {"id": USER, "username": "ane", "name": "ane", "team_id": TEAM_ID},
        "api_app_id": APP_ID, "token": "verification-token-unused", "container": {"type": "view", "view_id": "V0HOME"},
        "trigger_id": f"{next_ts()}.trigger", "team": {"id": TEAM_ID, "domain": "rrr-network"},
        "enterprise": None, "is_enterprise_install": False,
        "view": {"id": "V0HOME", "type": "home", "blocks": home.view["blocks"], "state": {"values": {}}},
        "actions": [{"action_id": action_id, "block_id": "b", "value": value, "type": "button",
                     "text": {"type": "plain_text", "text": action_id}, "action_ts": next_ts()}],
    }
    sent = slack.sender.interactive(payload)
    assert sent.status == 200 and sent.seconds < ACK_BUDGET, (sent.status, sent.text)
    return sent


def buttons(blocks: list[dict]) -> dict[str, dict]:
    """The buttons of a view by action id, the first of each (the nearest session's RSVPs, the newest
    introduction's answers)."""
    found: dict[str, dict] = {}
    for element in walk_blocks(blocks):
        if element.get("type") == "button":
            found.setdefault(element["action_id"], element)
    return found


def labels(call: Call) -> dict[str, str]:
    return {a: b["text"]["text"] for a, b in buttons(call.view["blocks"]).items()}


def test_the_home_shows_the_city_next_sessions_open_introductions_and_the_feature_buttons(slack: ServedSlack) -> None:
    home = open_home(slack)
    text = blocks_text(home.view["blocks"])
    assert "Your city: Bilbao (Spain)" in text, text
    assert text.index("#1 Energy communities") < text.index("#2 Budget clinic"), "nearest first"
    assert "you have not answered" in text and "Did you meet your peers from Bilbao + Turin?" in text
    found = buttons(home.view["blocks"])
    assert {"home_ask", "home_intro", "home_insights", "rsvp_going", "rsvp_maybe", "rsvp_no", "intro_met",
            "intro_not_yet"} <= set(found)
    key = slack.runtime.sessions.next_occurrence(slack.runtime.sessions.get(1)).key()
    assert found["rsvp_going"]["value"] == f"1:{key}:home"


def test_an_rsvp_on_the_home_is_stored_and_the_home_published_again(slack: ServedSlack) -> None:
    home = open_home(slack)
    home_click(slack, home, "rsvp_going")
    again = published(slack, 2)
    key = slack.runtime.sessions.next_occurrence(slack.runtime.sessions.get(1)).key()
    assert slack.runtime.sessions.counts(1, key)["going"] == 1
    assert slack.runtime.sessions.answer_of(1, key, "slack", USER) == "going"
    text = blocks_text(again.view["blocks"])
    assert "Noted: Going." in text and "#1 Energy communities · you: Going" in text, text
    assert labels(again)["rsvp_going"] == "#1 Going (1)"
    assert buttons(again.view["blocks"])["rsvp_going"].get("style") == "primary", "the member's answer stands out"
    # the click changed the home, not a channel: no card posted or updated anywhere
    assert not slack.fake.calls_to("chat.postMessage") and not slack.fake.calls_to("chat.update")
    assert not slack.fake.calls_to("chat.postEphemeral")


def test_we_met_on_the_home_closes_the_introduction(slack: ServedSlack) -> None:
    home = open_home(slack)
    home_click(slack, home, "intro_met")
    again = published(slack, 2)
    text = blocks_text(again.view["blocks"])
    assert "Great, thanks for telling me!" in text and "No open introduction." in text, text
    with slack.runtime.db.session() as session:
        assert session.exec(select(IntroductionMember.outcome)).all() == ["met"]


def test_not_yet_keeps_the_introduction_open(slack: ServedSlack) -> None:
    home_click(slack, open_home(slack), "intro_not_yet")
    text = blocks_text(published(slack, 2).view["blocks"])
    assert "I will ask again in two days" in text and "Bilbao + Turin" in text, text


def test_a_stale_rsvp_says_why_on_the_home_and_stores_nothing(slack: ServedSlack) -> None:
    home = open_home(slack)
    slack.runtime.sessions.cancel(1)  # cancelled after the home was drawn
    home_click(slack, home, "rsvp_going")
    text = blocks_text(published(slack, 2).view["blocks"])
    assert "Not done: 'Energy communities' was cancelled" in text, text
    assert "#1 Energy communities" not in text
    key = home.view["blocks"] and buttons(home.view["blocks"])["rsvp_going"]["value"].split(":")[1]
    assert slack.runtime.sessions.counts(1, key) == {"going": 0, "maybe": 0, "no": 0}


def test_ask_opens_a_form_and_the_answer_comes_in_the_messages_tab(slack: ServedSlack) -> None:
    home = open_home(slack)
    home_click(slack, home, "home_ask")
    form = slack.fake.wait_for("views.open", 1, ANSWER_WAIT)[0].view
    assert_modal(form)
    sent = slack.sender.interactive(view_submission(form, {"question": ""}, user=USER))
    assert (sent.json or {}).get("response_action") == "errors", "an empty question is refused on its field"
    sent = slack.sender.interactive(view_submission(form, {"question": "how did cities support local shops with "
                                                                       "vouchers?"}, user=USER))
    assert sent.status == 200 and sent.seconds < ACK_BUDGET
    answer = slack.fake.wait_for("chat.postMessage", 1, ANSWER_WAIT, where=lambda c: c.params["channel"] == USER)[0]
    assert_block_kit(answer.blocks)
    assert "voucher" in answer.text.lower(), answer.text
    assert "Messages tab" in blocks_text(published(slack, 2).view["blocks"])


@pytest.mark.parametrize(("action_id", "expected"), [("home_intro", "Cities to talk to about Bilbao"),
                                                      ("home_insights", "Bilbao")])
def test_intro_and_insights_answer_in_the_messages_tab(slack: ServedSlack, action_id: str, expected: str) -> None:
    home_click(slack, open_home(slack), action_id)
    answer = slack.fake.wait_for("chat.postMessage", 1, ANSWER_WAIT, where=lambda c: c.params["channel"] == USER)[0]
    assert expected in answer.text, answer.text
    assert "Messages tab" in blocks_text(published(slack, 2).view["blocks"])
