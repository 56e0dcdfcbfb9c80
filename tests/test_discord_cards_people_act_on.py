"""Discord cards people act on (issue #14): a session card leads with its title and its local time, ``/home`` shows
the member's city, next sessions and open introductions with buttons that work, and a missing Manage Events
permission is told to the coordinator once.

The real discord.py client runs on its own loop thread against the local fake Discord (``discord_fake.FakeDiscord``);
the core runs for real. Nothing of ours is mocked; every wait polls with a deadline.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from sqlmodel import select

from adapters.discord.sessions import NO_EVENTS, NO_PERMISSION, RETRY_AFTER
from bot import Runtime
from bot.store.models import Introduction, IntroductionMember, Member, utcnow
from bot.sessions.draft import SessionDraft
from discord_fake import (BASE_PERMISSIONS, COORDINATOR_ID, EPHEMERAL, GENERAL_CHANNEL_ID, MANAGE_EVENTS, MEMBER_ID,
                          MODAL, UPDATE_MESSAGE, FakeDiscord, Request, custom_ids, modal_inputs)
from discord_harness import (Served, discord_settings, fake, fake_discord, no_traceback,  # noqa: F401
                             restore_discord_endpoints, served, slash_deferred)

pytestmark = pytest.mark.timeout(120)

ANSWER = 20.0
DAY = date.today() + timedelta(days=40)
AGENDA = "Share figures on citizen-owned solar roofs."
MAY_CREATE_EVENTS = BASE_PERMISSIONS | MANAGE_EVENTS


@pytest.fixture
def rt(seeded_dir: Path, fake: FakeDiscord) -> Iterator[Runtime]:
    # the adapter's own pass of the scheduled events waits 5 minutes between runs: the tests run it by hand
    with Runtime.open(discord_settings(seeded_dir, fake, RRR_SESSIONS__SYNC_SECONDS="300")) as runtime:
        yield runtime


def add_session(fake: FakeDiscord, **changes: Any) -> list:
    """``/session-add`` by the coordinator; the private note and the public card."""
    options = {"title": "Energy communities", "start": f"{DAY}T15:00", "tz": "Europe/Rome", "repeat": "weekly",
               "count": 4, "agenda": AGENDA, **changes}
    interaction, _ = slash_deferred(fake, "session-add", options, timeout=ANSWER, user_id=COORDINATOR_ID)
    return fake.wait_followups(interaction, 2, timeout=ANSWER)


# -- 2. the session card leads with its title and local time ---------------------------------------------------------

def test_a_session_card_leads_with_its_title_then_the_local_time(served: Served, fake: FakeDiscord,
                                                                 rt: Runtime) -> None:
    add_session(fake)
    shown = fake.wait_followups(fake.slash("session-show", {"id": 1}), timeout=ANSWER)[0]
    (embed,) = shown.embeds
    assert embed["title"] == "#1 Energy communities"
    first, *rest = embed["description"].split("\n")
    start = int(rt.sessions.next_occurrence(rt.sessions.get(1)).start_utc.timestamp())
    assert first == f"Next: <t:{start}:F> (<t:{start}:R>)", embed["description"]
    assert AGENDA in "\n".join(rest)
    content = shown.body.get("content") or ""
    assert AGENDA not in content and "<t:" not in content, "nothing of the card sits above its title"
    assert {f["name"] for f in embed["fields"]} >= {"When", "Zone", "Duration"}


# -- 1. /home: the member's city, next sessions and open introductions, with buttons that work -----------------------

def member_with_plans(rt: Runtime) -> None:
    """The member, linked to Turin, with a weekly session ahead and an introduction to Bilbao not answered yet."""
    rt.directory.link("discord", str(MEMBER_ID), "Turin", "Marta")
    rt.sessions.add(SessionDraft(title="Energy communities", start=f"{DAY}T15:00", tz="Europe/Rome", repeat="weekly",
                                 count=4, channels=("discord:1",)))
    with rt.db.session() as session:
        member = session.exec(select(Member).where(Member.user_id == str(MEMBER_ID))).one()
        intro = Introduction(cities=["Turin", "Bilbao"], score=0.8, shared=[])
        session.add(intro)
        session.flush()
        session.add(IntroductionMember(introduction_id=intro.id, member_id=member.id))


def open_home(fake: FakeDiscord) -> Request:
    home = fake.slash("home", user_id=MEMBER_ID)
    (shown,) = fake.wait_followups(home, timeout=ANSWER)
    assert int(shown.body.get("flags") or 0) & EPHEMERAL
    return shown


def button_of(request_or_message: Request | dict, prefix: str) -> str:
    components = request_or_message.components if isinstance(request_or_message, Request) else \
        request_or_message["components"]
    return next(c for c in custom_ids(components) if c.startswith(prefix))


def test_home_shows_the_city_sessions_introductions_and_the_feature_buttons(served: Served, fake: FakeDiscord,
                                                                            rt: Runtime) -> None:
    member_with_plans(rt)
    shown = open_home(fake)
    assert "Your city: Turin (Italy)" in shown.text and "#1 Energy communities" in shown.text, shown.text
    assert "Did you meet your peers from Turin + Bilbao?" in shown.text
    key = rt.sessions.next_occurrence(rt.sessions.get(1)).key()
    ids = custom_ids(shown.components)
    assert {f"rrr:rsvp_going:1:{key}:home", f"rrr:rsvp_no:1:{key}:home", "rrr:home_ask:ask", "rrr:home_intro:intro",
            "rrr:home_insights:insights"} <= set(ids), ids
    assert any(i.startswith("rrr:intro_met:") and i.endswith(":home") for i in ids)
    assert len(ids) <= 25


def test_an_rsvp_on_home_redraws_the_home_in_place(served: Served, fake: FakeDiscord, rt: Runtime) -> None:
    member_with_plans(rt)
    message = fake.response_message(open_home(fake))
    click = fake.click(message, button_of(message, "rrr:rsvp_going:"), user_id=MEMBER_ID)
    callback = fake.wait_callback(click, timeout=ANSWER)
    assert callback.body["type"] == UPDATE_MESSAGE, callback
    content = callback.data["content"]
    assert "Noted: Going." in content and "#1 Energy communities · you: Going" in content, content
    key = rt.sessions.next_occurrence(rt.sessions.get(1)).key()
    assert rt.sessions.answer_of(1, key, "discord", str(MEMBER_ID)) == "going"
    assert "Your city: Turin" in fake.messages[int(message["id"])]["content"], "the home, not a session card"
    assert not fake.calls("create_message")


def test_we_met_on_home_closes_the_introduction(served: Served, fake: FakeDiscord, rt: Runtime) -> None:
    member_with_plans(rt)
    message = fake.response_message(open_home(fake))
    click = fake.click(message, button_of(message, "rrr:intro_met:"), user_id=MEMBER_ID)
    callback = fake.wait_callback(click, timeout=ANSWER)
    assert callback.body["type"] == UPDATE_MESSAGE
    assert "No open introduction." in callback.data["content"]
    with rt.db.session() as session:
        assert session.exec(select(IntroductionMember.outcome)).all() == ["met"]


def test_ask_on_home_opens_a_form_answered_privately(served: Served, fake: FakeDiscord, rt: Runtime) -> None:
    member_with_plans(rt)
    message = fake.response_message(open_home(fake))
    click = fake.click(message, "rrr:home_ask:ask", user_id=MEMBER_ID)
    callback = fake.wait_callback(click, timeout=ANSWER)
    assert callback.body["type"] == MODAL, callback
    modal = callback.data
    assert [i["label"] for i in modal_inputs(modal)] == ["Your question, in any language"]
    submit = fake.submit(modal, {"Your question, in any language": "how did cities support local shops with "
                                                                   "vouchers?"}, user_id=MEMBER_ID)
    (answer,) = fake.wait_followups(submit, timeout=ANSWER)
    assert int(answer.body.get("flags") or 0) & EPHEMERAL and "voucher" in answer.text.lower(), answer.text


def test_intro_on_home_answers_privately(served: Served, fake: FakeDiscord, rt: Runtime) -> None:
    member_with_plans(rt)
    message = fake.response_message(open_home(fake))
    click = fake.click(message, "rrr:home_intro:intro", user_id=MEMBER_ID)
    (answer,) = fake.wait_followups(click, timeout=ANSWER)
    assert int(answer.body.get("flags") or 0) & EPHEMERAL and "Cities to talk to about Turin" in answer.text


# -- 3. a missing Manage Events permission is told to the coordinator once ------------------------------------------

def private_note(fake: FakeDiscord, permissions: int) -> str:
    """``/session-add`` by the coordinator; the text of its private note (the card is the other follow-up)."""
    options = {"title": "Budget clinic", "start": f"{DAY}T10:00", "tz": "Europe/Rome"}
    interaction, _ = slash_deferred(fake, "session-add", options, timeout=ANSWER, user_id=COORDINATOR_ID,
                                    app_permissions=permissions)
    note, _card = fake.wait_followups(interaction, 2, timeout=ANSWER)
    assert int(note.body.get("flags") or 0) & EPHEMERAL
    return note.text


def test_a_403_on_the_event_is_told_once_until_events_work_again(served: Served, fake: FakeDiscord,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    fake.refuse("create_scheduled_event", 403, times=2)
    first = private_note(fake, MAY_CREATE_EVENTS)
    assert NO_EVENTS in first and "Session #1 is scheduled" in first, first
    second = private_note(fake, MAY_CREATE_EVENTS)
    assert "Session #2 is scheduled" in second and NO_EVENTS not in second, "told once, not for every session"
    assert [r.status for r in fake.calls("create_scheduled_event")] == [403, 403] and not fake.scheduled_events
    # the permission is granted: the event is made, and a later refusal is news again
    third = private_note(fake, MAY_CREATE_EVENTS)
    assert "It is also a Discord event" in third and NO_EVENTS not in third
    fake.refuse("create_scheduled_event", 403)
    assert NO_EVENTS in private_note(fake, MAY_CREATE_EVENTS)
    no_traceback(caplog)


def test_no_permission_in_the_interaction_is_told_once(served: Served, fake: FakeDiscord) -> None:
    assert NO_EVENTS in private_note(fake, BASE_PERMISSIONS)
    assert NO_EVENTS not in private_note(fake, BASE_PERMISSIONS)
    assert not fake.calls("create_scheduled_event"), "the bot does not try what it may not do"


def test_the_pass_tells_the_creator_once_by_dm(served: Served, fake: FakeDiscord, rt: Runtime) -> None:
    private_note(fake, MAY_CREATE_EVENTS)
    private_note(fake, MAY_CREATE_EVENTS)
    assert len(fake.scheduled_events) == 2
    events = served.adapter.session_add.events
    fake.refuse("edit_scheduled_event", 403, times=2)
    for session_id in (1, 2):  # the CLI moves both sessions: only the pass sees it
        rt.sessions.edit(session_id, {"start": f"{DAY}T11:00"})
    assert served.loop.run(events.sync_all(), ANSWER) == 2
    assert [r.status for r in fake.calls("edit_scheduled_event")] == [403, 403]
    assert served.loop.run(served.adapter.deliver_outbox(), ANSWER) == 1, "one message for the two refusals"
    (dm,) = fake.calls("create_dm")
    assert str(dm.body["recipient_id"]) == str(COORDINATOR_ID)
    (told,) = [m for m in fake.calls("create_message") if m.params.get("channel") != str(GENERAL_CHANNEL_ID)]
    assert NO_PERMISSION in told.text and "Session #1 'Budget clinic'" in told.text, told.text
    # an hour later the pass tries again, is refused again, and says nothing more
    later = utcnow() + RETRY_AFTER + timedelta(minutes=1)
    fake.refuse("edit_scheduled_event", 403)
    assert served.loop.run(events.sync_all(later), ANSWER) >= 1
    assert served.loop.run(served.adapter.deliver_outbox(), ANSWER) == 0


# -- 4. a start typed in words waits for Confirm -------------------------------------------------------------------

def test_session_add_with_words_is_saved_only_once_confirmed(served: Served, fake: FakeDiscord,
                                                             rt: Runtime) -> None:
    options = {"title": "Budget clinic", "start": "tomorrow 3pm", "tz": "Europe/Rome"}
    interaction, _ = slash_deferred(fake, "session-add", options, timeout=ANSWER, user_id=COORDINATOR_ID,
                                    app_permissions=MAY_CREATE_EVENTS)
    (echo,) = fake.wait_followups(interaction, 1, timeout=ANSWER)
    assert int(echo.body.get("flags") or 0) & EPHEMERAL and "I read it as" in echo.text, echo.text
    assert rt.sessions.list() == [] and not fake.calls("create_scheduled_event"), "nothing saved yet"
    message = fake.response_message(echo)
    confirm = button_of(message, "rrr:session_confirm:")
    stale = copy.deepcopy(message)  # the echo as a slow client still shows it, Confirm and all

    click = fake.click(message, confirm, user_id=COORDINATOR_ID, app_permissions=MAY_CREATE_EVENTS)
    callback = fake.wait_callback(click, timeout=ANSWER)
    assert callback.body["type"] == UPDATE_MESSAGE and "is session #1" in callback.data["content"], callback
    card, note = fake.wait_followups(click, 2, timeout=ANSWER)
    assert not int(card.body.get("flags") or 0) & EPHEMERAL and "Session scheduled" in card.text
    assert "It is also a Discord event" in note.text and len(fake.scheduled_events) == 1
    (info,) = rt.sessions.list()
    assert info.title == "Budget clinic" and info.schedule.start.hour == 15

    again = fake.click(stale, confirm, user_id=COORDINATOR_ID)  # a second click on the old echo
    (refused,) = fake.wait_followups(again, 1, timeout=ANSWER)
    assert "nothing more was saved" in refused.text
    assert len(rt.sessions.list()) == 1 and len(fake.scheduled_events) == 1
