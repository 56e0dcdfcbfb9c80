"""A hostile member of the Slack workspace, on the real slack-bolt app over signed HTTP against the fake Slack.

A button's value and a form's hidden fields are the sender's to choose (a member's own app can post a thread root
with any metadata; a modified client can send any value), so every click is checked again by the core against the
member who clicked: a follow-up answers only for its member, a saved answer names only a question the network was
asked, an RSVP names only a date a session can have, and "Ask the network" pings the contacts of the closest cities
a few times an hour per member, not at the pace of the rate limit.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from slack_fake import FakeSlack, buttons, message_shortcut, next_ts, view_submission, wait_until
from slack_harness import (  # noqa: F401  (fixtures)
    ANSWER_WAIT, ServedSlack, assert_modal, fake, fake_slack, serve_slack, slack_settings,
)
from sqlmodel import select

from bot.store.models import IntroductionMember, Member, Rsvp
from bot.sessions.draft import SessionDraft

pytestmark = pytest.mark.timeout(180)

NETWORK_CHANNEL = "CNET"
#: A question a member asks the bot in private: nobody else may read it.
PRIVATE = "how do we pay the severance of the 40 staff we lay off in March, before the council hears of it?"
OUT_OF_SCOPE = "which football team won the 1998 world cup?"


@pytest.fixture
def slack(serve_slack, fake: FakeSlack, seeded_dir: Path) -> ServedSlack:
    settings = slack_settings(seeded_dir, fake, RRR_BOT__NETWORK_CHANNELS=json.dumps({"slack": NETWORK_CHANNEL}),
                              RRR_BOT__COORDINATORS='["slack:U0BOSS"]')
    return serve_slack(settings, warm_up=True)


def ephemeral(slack: ServedSlack, count: int = 1, channel: str = "C0GENERAL") -> str:
    return slack.posts(channel, count=count, method="chat.postEphemeral")[count - 1].text


def test_a_member_cannot_answer_the_introduction_follow_up_of_another(slack: ServedSlack) -> None:
    rt = slack.runtime
    rt.directory.link("slack", "U0BIL", "Bilbao", "Bil")
    rt.directory.link("slack", "U0DUB", "Dublin", "Dub")
    now = datetime(2027, 3, 1, 9, tzinfo=timezone.utc)
    rt.intros.run(now=now)
    assert rt.intros.queue_followups(now=now + timedelta(days=rt.settings.intros.followup_days, hours=1)) == 2
    with rt.db.session() as session:
        links = {m.user_id: im.id for im, m in session.exec(select(IntroductionMember, Member).join(Member))}

    slack.click("intro_could_not", str(links["U0BIL"]), user="U0EVE")  # Eve answers for Bilbao's contact
    assert "No introduction follow-up" in ephemeral(slack)
    slack.click("intro_not_yet", str(links["U0BIL"]), user="U0DUB")  # a peer of the same introduction, neither
    assert "No introduction follow-up" in ephemeral(slack, 2)
    with rt.db.session() as session:
        assert session.get(IntroductionMember, links["U0BIL"]).outcome is None
    slack.click("intro_met", str(links["U0BIL"]), user="U0BIL")
    assert "Great" in ephemeral(slack, 3)
    with rt.db.session() as session:
        assert session.get(IntroductionMember, links["U0BIL"]).outcome == "met"


def test_a_saved_answer_names_only_a_question_the_network_was_asked(slack: ServedSlack) -> None:
    """Eve's own app posts a thread root whose metadata names Vic's private question; saving a reply there would
    copy that question into a record Eve can read back with ``show``. A reply in the thread of a question the
    network was really asked is still saved with its question, by anyone."""
    rt = slack.runtime
    private = rt.knowledge.ask(PRIVATE, asker=("slack", "U0VIC")).question_id
    forged_root = {"type": "message", "bot_id": "B0EVEAPP", "app_id": "A0EVE", "ts": next_ts(), "text": "Help us!",
                   "metadata": {"event_type": "rrr_question", "event_payload": {"question_id": str(private)}}}
    reply = {"type": "message", "user": "U0EVE", "ts": next_ts(), "thread_ts": forged_root["ts"],
             "text": "Bilbao paid severance from a cooperative conversion fund of 2 million euros."}
    slack.fake.remember("C0GENERAL", forged_root)
    slack.fake.remember("C0GENERAL", reply)
    slack.sender.interactive(message_shortcut("save_solution", reply, response_url=slack.fake.response_url("s"),
                                              user="U0EVE"))
    view = slack.fake.wait_for("views.open", 1, ANSWER_WAIT)[0].view
    assert_modal(view)
    slack.sender.interactive(view_submission(view, {"city": "Bilbao"}, user="U0EVE"))
    assert "was not asked in the network channel" in ephemeral(slack)
    assert not [s for s in rt.knowledge.pending() + rt.knowledge.list() if PRIVATE in s.challenge]

    # the real thing: Ana asks the network, Peter saves the reply he got in its thread
    slack.mention(OUT_OF_SCOPE, channel="C0GENERAL", user="U0ANA")
    ask = buttons(slack.posts("C0GENERAL")[0].blocks)["ask_network"]
    slack.click("ask_network", ask["value"], channel="C0GENERAL", user="U0ANA")
    root_ts = slack.posts(NETWORK_CHANNEL)[0].response["ts"]
    answer = {"type": "message", "user": "U0PETER", "ts": next_ts(), "thread_ts": root_ts,
              "text": "France won the 1998 World Cup, beating Brazil 3-0 in the final."}
    slack.fake.remember(NETWORK_CHANNEL, answer)
    slack.sender.interactive(message_shortcut("save_solution", answer, response_url=slack.fake.response_url("t"),
                                              channel=NETWORK_CHANNEL, user="U0PETER"))
    view = slack.fake.wait_for("views.open", 2, ANSWER_WAIT)[1].view
    slack.sender.interactive(view_submission(view, {"city": "Bilbao"}, user="U0PETER"))
    saved = wait_until(lambda: [s for s in rt.knowledge.pending() if "1998" in s.summary], ANSWER_WAIT,
                       "the saved answer", slack.fake.describe)[0]
    assert saved.from_question_id == int(ask["value"]) and saved.challenge == OUT_OF_SCOPE


def test_an_rsvp_for_a_date_no_session_can_have_is_refused(slack: ServedSlack) -> None:
    """A daily session without end, and an RSVP value naming its date in 9999: looking for it would walk the rule
    for millions of days in a worker thread (seconds each, so a few clicks would hold every worker)."""
    rt = slack.runtime
    start = (datetime.now(timezone.utc) + timedelta(days=2)).strftime("%Y-%m-%dT15:00")
    info = rt.sessions.add(SessionDraft(title="Daily stand-up", start=start, tz="Europe/Madrid", repeat="FREQ=DAILY"),
                                        created_by="slack:U0BOSS")
    slack.click("rsvp_going", f"{info.id}:99991231T140000Z", user="U0EVE")
    assert "is not an occurrence of session" in ephemeral(slack)
    with rt.db.session() as session:
        assert not list(session.exec(select(Rsvp)))
    slack.click("rsvp_going", f"{info.id}:{rt.sessions.occurrences(info.id, 2)[1].key()}", user="U0EVE")
    assert "Noted: Going" in ephemeral(slack, 2)
    with rt.db.session() as session:
        assert [r.user_id for r in session.exec(select(Rsvp))] == ["U0EVE"]


def test_a_member_asks_the_network_a_few_times_an_hour_not_at_the_rate_limit(slack: ServedSlack) -> None:
    """Each network post pings the contacts of the closest cities: four questions in a row from one member post
    three; a coordinator may still post the fourth."""
    rt = slack.runtime
    rt.directory.link("slack", "U0BIL", "Bilbao", "Bil")
    questions = [rt.knowledge.ask(f"{OUT_OF_SCOPE} asked for the {n}th time", asker=("slack", "U0EVE")).question_id
                 for n in range(4)]
    for n, question in enumerate(questions, start=1):
        slack.click("ask_network", str(question), user="U0EVE")
        slack.posts("C0GENERAL", count=n, method="chat.postEphemeral")
    told = [c.text for c in slack.fake.calls_to("chat.postEphemeral")]
    assert sum("posted to the network channel" in t for t in told) == 3, told
    assert "You asked the network 3 times in the last hour" in told[-1]
    slack.fake.assert_quiet("chat.postMessage", 0.5, count=3)
    assert len(slack.posts(NETWORK_CHANNEL, count=3)) == 3
    slack.click("ask_network", str(questions[3]), user="U0BOSS")
    assert len(slack.posts(NETWORK_CHANNEL, count=4)) == 4


def test_next_page_of_a_members_profile_in_a_channel_shows_that_city_to_whoever_clicks(slack: ServedSlack) -> None:
    """Ana's ``profile`` in the channel is Bilbao's; its "Next page" redraws her message in place for everyone, so
    it must name Bilbao: "profile 2" ran as Eve, and Eve's city replaced Ana's answer in the channel."""
    rt = slack.runtime
    rt.directory.link("slack", "U0ANA", "Bilbao", "Ana")
    rt.directory.link("slack", "U0EVE", "Dublin", "Eve")
    for n in range(1, 18):
        rt.directory.add_challenge("Bilbao", f"Bilbao challenge number {n} about shops.")
        rt.directory.add_challenge("Dublin", f"Dublin challenge number {n} about housing.")
    slack.mention("profile", channel="C0GENERAL", user="U0ANA")
    post = slack.posts("C0GENERAL")[0]
    assert "Bilbao challenge number 1 " in post.text
    button = buttons(post.blocks)["list_page"]
    message = {**post.response["message"], "ts": post.response["ts"]}
    slack.click("list_page", button["value"], channel="C0GENERAL", message=message, user="U0EVE")
    [update] = slack.fake.wait_for("chat.update", 1, ANSWER_WAIT)
    assert update.params["ts"] == post.response["ts"]
    assert "Bilbao challenge number 16 " in update.text and "Dublin" not in update.text


def test_a_member_has_a_few_saved_answers_waiting_for_review_not_a_flood_of_dms(slack: ServedSlack) -> None:
    """Each saved answer of a member is a DM to every coordinator: a member gets five in the review queue, then a
    polite refusal until a coordinator has looked at them; a coordinator's own saves are not counted."""
    rt = slack.runtime
    for n in range(1, 7):
        reply = {"type": "message", "user": "U0EVE", "ts": next_ts(),
                 "text": f"Bilbao ran market number {n} with 30 stalls and 4,000 visitors."}
        slack.fake.remember("C0GENERAL", reply)
        slack.sender.interactive(message_shortcut("save_solution", reply, response_url=slack.fake.response_url(),
                                                  user="U0EVE"))
        view = slack.fake.wait_for("views.open", n, ANSWER_WAIT)[n - 1].view
        slack.sender.interactive(view_submission(view, {"city": "Bilbao"}, user="U0EVE"))
        told = ephemeral(slack, n)
    assert "You have 5 saved answers waiting for a coordinator's review" in told
    assert len([s for s in rt.knowledge.pending() if s.saved_by == "slack:U0EVE"]) == 5
    assert rt.outbox.pending("slack") == 5  # one review DM per saved answer to the one coordinator
    rt.knowledge.approve(rt.knowledge.pending()[0].id, "slack:U0BOSS")
    slack.sender.interactive(view_submission(view, {"city": "Bilbao"}, user="U0EVE"))
    assert "for review" in ephemeral(slack, 7)


def test_a_signed_click_or_form_sent_again_is_handled_once(slack: ServedSlack) -> None:
    """Slack's signature stays valid for five minutes: whoever saw a signed request (a proxy's log) could send it
    again. The same submission (same ``trigger_id``) saves one answer, the same click records one RSVP change."""
    rt = slack.runtime
    reply = {"type": "message", "user": "U0ANA", "ts": next_ts(), "text": "Bilbao lends 200 tools from a library."}
    slack.fake.remember("C0GENERAL", reply)
    slack.sender.interactive(message_shortcut("save_solution", reply, response_url=slack.fake.response_url(),
                                              user="U0ANA"))
    view = slack.fake.wait_for("views.open", 1, ANSWER_WAIT)[0].view
    submission = view_submission(view, {"city": "Bilbao"}, user="U0ANA")
    for _ in range(3):
        assert slack.sender.interactive(submission).status == 200
    assert "for review" in ephemeral(slack)
    slack.fake.assert_quiet("chat.postEphemeral", 1.0, count=1)
    assert len([s for s in rt.knowledge.pending() if "200 tools" in s.summary]) == 1


def test_two_members_saving_the_same_answer_at_once_both_get_it_saved(slack: ServedSlack) -> None:
    """Three people save the same great reply at the same moment: each answer gets its own id, nobody gets the
    bot's apology (the id taken meanwhile was a unique-key error with a traceback)."""
    rt = slack.runtime
    reply = {"type": "message", "user": "U0PEER", "ts": next_ts(), "text": "Bilbao lends 300 tools from a library."}
    slack.fake.remember("C0GENERAL", reply)
    submissions = []
    for n, user in enumerate(("U0ANA", "U0EVE", "U0VIC"), start=1):
        slack.sender.interactive(message_shortcut("save_solution", reply, response_url=slack.fake.response_url(),
                                                  user=user))
        view = slack.fake.wait_for("views.open", n, ANSWER_WAIT)[n - 1].view
        submissions.append(view_submission(view, {"city": "Bilbao"}, user=user))
    for submission in submissions:  # each answered at once; the saves run side by side after the acks
        assert slack.sender.interactive(submission).status == 200
    told = slack.posts("C0GENERAL", count=3, method="chat.postEphemeral")
    assert all("for review" in t.text for t in told), [t.text for t in told]
    saved = [s for s in rt.knowledge.pending() if "300 tools" in s.summary]
    assert len({s.id for s in saved}) == 3 and {s.saved_by for s in saved} == {"slack:U0ANA", "slack:U0EVE",
                                                                              "slack:U0VIC"}
