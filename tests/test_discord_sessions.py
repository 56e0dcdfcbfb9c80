"""Peer sessions through the Discord adapter: ``/session-add`` (and a scheduled event), ``/session-list``,
``/session-show``, and RSVP buttons whose clicks edit the card in place.

As in ``test_discord.py``: the real discord.py client runs on its own loop thread against the local fake Discord
(``discord_fake.FakeDiscord``: REST and gateway); the tests push INTERACTION_CREATE events and read what the client
sent back. The core runs for real on an empty network (sessions need no knowledge base). Nothing of ours is mocked;
every wait polls with a deadline.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import discord
import pytest

from adapters.discord.sessions import EVENT_REF, NO_EVENTS
from bot import Runtime
from knowledge.corpus import CITIES_FILE
from knowledge.importers import read_cities
from knowledge.records import CityRecord
from bot.messages import Actions, Button, Reply, Text
from discord_fake import (AUTOCOMPLETE_RESULT, BASE_PERMISSIONS, BOT_ID, COORDINATOR_ID, DEFERRED_UPDATE, EPHEMERAL,
                          GENERAL_CHANNEL_ID, GUILD_ID, MANAGE_EVENTS, MEMBER_ID, NETWORK_CHANNEL_ID, PEER_ID,
                          READONLY_CHANNEL_ID, UPDATE_MESSAGE, FakeDiscord, Request, custom_ids, walk_components)
from discord_harness import (Served, discord_settings, fake, fake_discord, no_traceback,  # noqa: F401
                             restore_discord_endpoints, served, slash_deferred)

pytestmark = pytest.mark.timeout(120)

ANSWER = 20.0
VIDEO = "https://meet.example.org/rrr-energy"
CALENDAR = "https://calendar.google.com/calendar/render?action=TEMPLATE"
DAY = date.today() + timedelta(days=40)
#: The zones of the nine seeded cities (one city each: by name), and UTC last.
ZONES = ["America/Los_Angeles", "America/Mexico_City", "America/Sao_Paulo", "America/Toronto", "Europe/Amsterdam",
         "Europe/Dublin", "Europe/Madrid", "Europe/Rome", "Europe/Warsaw", "UTC"]
MAY_CREATE_EVENTS = BASE_PERMISSIONS | MANAGE_EVENTS


def event_of(rt: Runtime, session_id: int) -> str | None:
    """The id of the session's Discord scheduled event, as the adapter keeps it (None when it has none)."""
    return rt.bot.external_refs.get("discord", EVENT_REF, str(session_id))


LINK_STYLE = 5


# -- the client under test (see discord_harness.py) -----------------------------------------------------------------

@pytest.fixture
def rt(tmp_path: Path, fake: FakeDiscord) -> Iterator[Runtime]:
    with Runtime.open(discord_settings(tmp_path / "data", fake)) as runtime:
        runtime.directory.import_cities(read_cities(CITIES_FILE).records)  # their zones are /session-add's
        yield runtime


# -- helpers ---------------------------------------------------------------------------------------------------------

def utc_start(day: date, hhmm: str, zone: str) -> datetime:
    local = datetime.combine(day, datetime.strptime(hhmm, "%H:%M").time(), tzinfo=ZoneInfo(zone))
    return local.astimezone(timezone.utc)


def options(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"title": "Energy communities working group", "start": f"{DAY}T15:00",
                              "tz": "Europe/Rome", "repeat": "weekly", "count": 4, "duration": 90, "video": VIDEO,
                              "agenda": "Share figures on citizen-owned solar roofs."}
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


def add(fake: FakeDiscord, user_id: int = COORDINATOR_ID, permissions: int = BASE_PERMISSIONS,
        followups: int = 2, **changes: Any) -> tuple[dict, list[Request]]:
    """``/session-add``: check the private deferral within 3 s; return the interaction and its first follow-ups."""
    interaction, callback = slash_deferred(fake, "session-add", options(**changes), timeout=ANSWER, user_id=user_id,
                                           app_permissions=permissions)
    assert callback.data.get("flags") == EPHEMERAL, callback
    return interaction, fake.wait_followups(interaction, followups, timeout=ANSWER)


def flags(request: Request) -> int:
    return int(request.body.get("flags") or 0)


def buttons(components: list[dict]) -> list[dict]:
    return [c for c in walk_components(components) if c.get("type") == 2]


def labels(components: list[dict]) -> dict[str, str]:
    """Button labels by action (``rrr:ACTION:VALUE``), link buttons under ``link``."""
    out = {}
    for button in buttons(components):
        out["link" if "url" in button else button["custom_id"].split(":")[1]] = button["label"]
    return out


def rsvp_id(components: list[dict], action: str = "rsvp_going") -> str:
    return next(c for c in custom_ids(components) if c.startswith(f"rrr:{action}:"))


# -- commands --------------------------------------------------------------------------------------------------------

def test_session_commands_are_synced_with_typed_options(served: Served, fake: FakeDiscord) -> None:
    synced = {c["name"]: c for c in fake.calls("sync_guild_commands", guild=str(GUILD_ID))[-1].json}
    assert {"session-add", "session-list", "session-show"} <= set(synced)
    opts = {o["name"]: o for o in synced["session-add"]["options"]}
    assert list(opts) == ["title", "start", "tz", "repeat", "count", "duration", "video", "agenda"]
    assert {n for n, o in opts.items() if o.get("required")} == {"title", "start", "tz"}
    assert opts["tz"]["autocomplete"] is True and opts["title"]["max_length"] == 200
    assert [c["value"] for c in opts["repeat"]["choices"]] == ["none", "weekly", "every 2 weeks", "monthly"]
    assert (opts["count"]["type"], opts["count"]["min_value"], opts["count"]["max_value"]) == (4, 1, 500)
    assert opts["duration"]["type"] == 4
    show = synced["session-show"]["options"]
    assert [(o["name"], o["type"], o.get("required")) for o in show] == [("id", 4, True)]


def test_zone_autocomplete_offers_the_network_zones(served: Served, fake: FakeDiscord, rt: Runtime) -> None:
    def choices(typed: str) -> list[dict]:
        interaction = fake.autocomplete("session-add", "tz", typed, others={"title": "x"})
        callback = fake.wait_callback(interaction, timeout=ANSWER)
        assert callback.body["type"] == AUTOCOMPLETE_RESULT
        return callback.data["choices"]

    assert [c["value"] for c in choices("")] == ZONES
    assert choices("bilb") == [{"name": "Europe/Madrid (Bilbao)", "value": "Europe/Madrid"}]
    assert [c["value"] for c in choices("america")] == [z for z in ZONES if z.startswith("America/")]
    # the zones are the stored cities': a city that joins later is offered, and a zone of two cities comes first
    rt.directory.import_cities([CityRecord("Lisbon", "Portugal", "Europe/Lisbon"),
                                CityRecord("Valencia", "Spain", "Europe/Madrid")])
    assert choices("lisb") == [{"name": "Europe/Lisbon (Lisbon)", "value": "Europe/Lisbon"}]
    assert choices("")[0] == {"name": "Europe/Madrid (Bilbao, Valencia)", "value": "Europe/Madrid"}


def test_a_coordinator_schedules_a_session_the_card_is_posted_and_an_event_published(
        served: Served, fake: FakeDiscord, rt: Runtime) -> None:
    _, (note, card) = add(fake, permissions=MAY_CREATE_EVENTS)
    (info,) = rt.sessions.list()
    assert info.title == "Energy communities working group" and info.channels == (f"discord:{GENERAL_CHANNEL_ID}",)
    assert (info.schedule.tz, info.schedule.rule, info.schedule.count) == ("Europe/Rome", "FREQ=WEEKLY", 4)
    assert info.schedule.duration == timedelta(minutes=90) and info.video_url == VIDEO
    assert info.created_by == f"discord:{COORDINATOR_ID}"
    # the outcome is private, the card is for everyone
    assert flags(note) & EPHEMERAL and f"Session #{info.id} is scheduled" in note.text
    assert not flags(card) & EPHEMERAL and "Session scheduled" in card.text
    start = utc_start(DAY, "15:00", "Europe/Rome")
    key = start.strftime("%Y%m%dT%H%M%SZ")
    assert f"<t:{int(start.timestamp())}:F>" in card.text
    assert rsvp_id(card.components) == f"rrr:rsvp_going:{info.id}:{key}"
    assert labels(card.components) == {"rsvp_going": "Going (0)", "rsvp_maybe": "Maybe (0)", "rsvp_no": "Can't (0)",
                                       "link": "Add to Google Calendar", "session_ics": "Calendar file (.ics)"}
    (link,) = [b for b in buttons(card.components) if "url" in b]
    assert link["style"] == LINK_STYLE and link["url"].startswith(CALENDAR) and "custom_id" not in link
    assert all(len(c) <= 100 for c in custom_ids(card.components))
    # the scheduled event: external, guild only, at the first occurrence in UTC
    (request,) = fake.calls("create_scheduled_event", guild=str(GUILD_ID))
    event = request.body
    assert datetime.fromisoformat(event["scheduled_start_time"]) == start
    assert datetime.fromisoformat(event["scheduled_end_time"]) == start + timedelta(minutes=90)
    assert (event["entity_type"], event["privacy_level"]) == (3, 2)  # external, guild only
    assert event["entity_metadata"] == {"location": VIDEO} and event["name"] == info.title
    assert event["description"].startswith("Share figures")
    stored = event_of(rt, info.id)
    assert stored == request.response["id"] and stored in note.text


def test_a_refused_scheduled_event_does_not_break_the_add(served: Served, fake: FakeDiscord, rt: Runtime,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    fake.refuse("create_scheduled_event", 403)
    _, (note, card) = add(fake, permissions=MAY_CREATE_EVENTS, video="https://meet.example.org/" + "r" * 120)
    (request,) = fake.calls("create_scheduled_event", guild=str(GUILD_ID))
    assert request.status == 403
    # a link too long for Discord's location goes to the description
    assert request.body["entity_metadata"] == {"location": "Online"}
    assert request.body["description"].startswith("https://meet.example.org/rrr")
    (info,) = rt.sessions.list()
    assert event_of(rt, info.id) is None
    assert f"Session #{info.id} is scheduled" in note.text and "It is also a Discord event" not in note.text
    assert NO_EVENTS in note.text, "the coordinator is told, not left to wonder (once: see test_discord_cards...)"
    assert "rsvp_going" in labels(card.components)
    assert any("refused the scheduled event" in r.getMessage() for r in caplog.records)
    no_traceback(caplog, note.text, card.text)


def test_no_event_is_attempted_without_the_permission(served: Served, fake: FakeDiscord, rt: Runtime) -> None:
    _, (note, card) = add(fake)  # the bot's permissions in the channel lack Manage Events
    assert "rsvp_going" in labels(card.components) and len(rt.sessions.list()) == 1
    time.sleep(0.3)
    assert not fake.calls("create_scheduled_event")


def test_list_and_show(served: Served, fake: FakeDiscord, rt: Runtime) -> None:
    add(fake, title="Budget clinic")
    listing = fake.wait_followups(fake.slash("session-list"), timeout=ANSWER)[0]
    assert flags(listing) & EPHEMERAL and "#1 Budget clinic" in listing.text and "every week" in listing.text
    shown = fake.wait_followups(fake.slash("session-show", {"id": 1}), timeout=ANSWER)[0]
    assert not flags(shown) & EPHEMERAL and "Budget clinic" in shown.text
    assert {"rsvp_going", "link"} <= set(labels(shown.components))
    missing = fake.wait_followups(fake.slash("session-show", {"id": 99}), timeout=ANSWER)[0]
    assert "No session 99" in missing.text


# -- RSVP ------------------------------------------------------------------------------------------------------------

def test_rsvp_clicks_edit_the_card_in_place(served: Served, fake: FakeDiscord, rt: Runtime) -> None:
    _, (_, card_request) = add(fake)
    card = fake.response_message(card_request)
    going = rsvp_id(card["components"])
    session_id, key = int(going.split(":")[2]), going.split(":", 3)[3]

    sent = time.monotonic()
    click = fake.click(card, going, user_id=MEMBER_ID)
    callback = fake.wait_callback(click, timeout=ANSWER)
    assert callback.body["type"] == UPDATE_MESSAGE and callback.at - sent < 3.0, callback
    assert labels(callback.data["components"])["rsvp_going"] == "Going (1)"
    assert callback.data["embeds"][0]["title"].startswith(f"#{session_id} ")
    assert callback.data["allowed_mentions"]["parse"] == []
    now = fake.messages[int(card["id"])]  # the same message, edited
    assert labels(now["components"])["rsvp_going"] == "Going (1)" and now["edited_timestamp"]
    assert labels(now["components"])["link"] == "Add to Google Calendar"
    (noted,) = fake.wait_followups(click, timeout=ANSWER)
    assert flags(noted) & EPHEMERAL and "Noted: Going." in noted.text

    maybe = fake.click(fake.messages[int(card["id"])], rsvp_id(card["components"], "rsvp_maybe"), user_id=MEMBER_ID)
    assert fake.wait_callback(maybe, timeout=ANSWER).body["type"] == UPDATE_MESSAGE
    fake.wait_followups(maybe, timeout=ANSWER)
    now = labels(fake.messages[int(card["id"])]["components"])
    assert (now["rsvp_going"], now["rsvp_maybe"]) == ("Going (0)", "Maybe (1)")
    peer = fake.click(fake.messages[int(card["id"])], going, user_id=PEER_ID)
    fake.wait_followups(peer, timeout=ANSWER)
    now = labels(fake.messages[int(card["id"])]["components"])
    assert (now["rsvp_going"], now["rsvp_maybe"], now["rsvp_no"]) == ("Going (1)", "Maybe (1)", "Can't (0)")
    assert rt.sessions.counts(session_id, key) == {"going": 1, "maybe": 1, "no": 0}
    assert len(fake.calls("create_message")) == 0, "nothing is posted anew"


def test_a_slow_redraw_is_never_overtaken_by_a_later_click(served: Served, fake: FakeDiscord) -> None:
    """The first click's answer fails once (HTTP 500; discord.py retries a second later) while a second click comes:
    the card must end with the counts of the last click, not be overwritten by the stale first redraw."""
    _, (_, card_request) = add(fake)
    card = fake.response_message(card_request)
    going = rsvp_id(card["components"])
    fake.refuse("callback", status=500, code=0, message="500: Internal Server Error")
    first = fake.click(card, going, user_id=MEMBER_ID)
    fake.wait_for(lambda: [r for r in fake.calls("callback") if r.status == 500], ANSWER, "the failed first answer")
    second = fake.click(card, going, user_id=PEER_ID)
    fake.wait_followups(first, timeout=ANSWER)
    fake.wait_followups(second, timeout=ANSWER)
    # the first click redraws with its callback; the second, which found the card busy, was deferred at once
    # (within Discord's 3 s) and redraws by editing @original after the first
    (redraw,) = [r for r in fake.callbacks(first) if r.status == 200]
    assert fake.wait_callback(second).body["type"] == DEFERRED_UPDATE
    (edit,) = [r for r in fake.followups(second) if r.route == "edit_followup"]
    assert labels(redraw.data["components"])["rsvp_going"] == "Going (1)"
    assert labels(edit.components)["rsvp_going"] == "Going (2)" and edit.at > redraw.at
    assert labels(fake.messages[int(card["id"])]["components"])["rsvp_going"] == "Going (2)"


def test_rsvp_buttons_of_a_message_the_client_never_sent_still_work(served: Served, fake: FakeDiscord,
                                                                    rt: Runtime) -> None:
    """As after a restart: the click is routed from the custom id alone (``rrr:rsvp_going:ID:KEY``)."""
    add(fake)
    (info,) = rt.sessions.list()
    key = rt.sessions.next_occurrence(info).key()
    message = {"id": "1400000000000000001", "channel_id": str(GENERAL_CHANNEL_ID), "guild_id": str(GUILD_ID),
               "author": {"id": str(served.adapter.client.user.id), "username": "rrr-bot", "discriminator": "0",
                          "avatar": None, "bot": True},
               "content": "old card", "timestamp": datetime.now(timezone.utc).isoformat(), "edited_timestamp": None,
               "tts": False, "mention_everyone": False, "mentions": [], "mention_roles": [], "attachments": [],
               "embeds": [], "pinned": False, "type": 0, "flags": 0,
               "components": [{"type": 1, "components": [
                   {"type": 2, "style": 2, "label": "Can't (0)", "custom_id": f"rrr:rsvp_no:{info.id}:{key}"}]}]}
    click = fake.click(message, f"rrr:rsvp_no:{info.id}:{key}", user_id=PEER_ID)
    callback = fake.wait_callback(click, timeout=ANSWER)
    assert callback.body["type"] == UPDATE_MESSAGE, callback
    assert labels(callback.data["components"])["rsvp_no"] == "Can't (1)"
    assert rt.sessions.counts(info.id, key)["no"] == 1


def test_a_slow_answer_defers_the_update_then_edits_the_card(served: Served, fake: FakeDiscord) -> None:
    _, (_, card_request) = add(fake)
    card = fake.response_message(card_request)
    served.adapter.edit_answer_seconds = 0  # answer Discord before the core does, as when the database is slow
    click = fake.click(card, rsvp_id(card["components"]), user_id=MEMBER_ID)
    assert fake.wait_callback(click, timeout=ANSWER).body["type"] == DEFERRED_UPDATE
    edit, noted = fake.wait_followups(click, 2, timeout=ANSWER)
    assert edit.route == "edit_followup" and edit.params["message"] == "@original"
    assert labels(edit.components)["rsvp_going"] == "Going (1)"
    assert labels(fake.messages[int(card["id"])]["components"])["rsvp_going"] == "Going (1)"
    assert flags(noted) & EPHEMERAL and "Noted: Going." in noted.text


def test_an_rsvp_for_a_past_occurrence_is_refused_privately(served: Served, fake: FakeDiscord, rt: Runtime) -> None:
    _, (_, card_request) = add(fake)
    card = fake.response_message(card_request)
    (info,) = rt.sessions.list()
    stale = f"rrr:rsvp_going:{info.id}:20200101T100000Z"
    message = dict(card, components=[{"type": 1, "components": [
        {"type": 2, "style": 1, "label": "Going (0)", "custom_id": stale}]}])
    click = fake.click(message, stale, user_id=MEMBER_ID)
    assert fake.wait_callback(click, timeout=ANSWER).body["type"] == DEFERRED_UPDATE  # nothing to redraw
    (answer,) = fake.wait_followups(click, timeout=ANSWER)
    assert flags(answer) & EPHEMERAL and "already begun" in answer.text
    assert labels(fake.messages[int(card["id"])]["components"])["rsvp_going"] == "Going (0)"


# -- coordinators only, bad input ------------------------------------------------------------------------------------

def test_a_member_is_politely_refused(served: Served, fake: FakeDiscord, rt: Runtime,
                                      caplog: pytest.LogCaptureFixture) -> None:
    _, (refusal,) = add(fake, user_id=MEMBER_ID, permissions=MAY_CREATE_EVENTS, followups=1)
    assert flags(refusal) & EPHEMERAL and "Only coordinators can `session add`" in refusal.text
    time.sleep(0.3)
    assert rt.sessions.list() == [] and not fake.calls("create_scheduled_event")
    assert len(fake.calls("followup")) == 1, "nothing is posted for everyone"
    no_traceback(caplog, refusal.text)


@pytest.mark.parametrize(("changes", "says"), [
    ({"start": "2020-03-16T15:00"}, "is in the past"),
    ({"tz": "Mars/Olympus_Mons"}, "Unknown time zone 'Mars/Olympus_Mons'"),
    ({"start": "next tuesday"}, "Cannot read the time 'next tuesday'"),
    ({"repeat": "none", "count": 3}, "needs a repeat rule"),
    ({"video": "ftp://files.example.org/x"}, "http:// or https://"),
], ids=["past-start", "unknown-zone", "unreadable-start", "count-without-repeat", "video"])
def test_bad_input_is_reported_privately_and_nothing_is_stored(served: Served, fake: FakeDiscord, rt: Runtime,
                                                               caplog: pytest.LogCaptureFixture,
                                                               changes: dict[str, Any], says: str) -> None:
    caplog.set_level(logging.INFO)
    _, (error,) = add(fake, permissions=MAY_CREATE_EVENTS, followups=1, **changes)
    assert flags(error) & EPHEMERAL and says in error.text, error
    time.sleep(0.3)
    assert rt.sessions.list() == [] and not fake.calls("create_scheduled_event")
    no_traceback(caplog, error.text)


# -- rendering -------------------------------------------------------------------------------------------------------

def test_link_buttons_render_as_link_buttons_and_long_links_as_text() -> None:
    from adapters.discord.render import render
    from adapters.discord.views import make_view

    long_link = "https://docs.example.org/agenda?text=" + "x" * 600  # (a long Google link is shortened instead)
    rendered = render(Reply((Text("Card"), Actions((
        Button("Going (0)", "rsvp_going", "7:20300101T100000Z", "primary"),
        Button("Add to Google Calendar", "open_url", url=CALENDAR),
        Button("Full details", "open_url", url=long_link))))))
    view = make_view(rendered.buttons)
    assert view is not None
    items = view.children
    assert [type(i).__name__ for i in items] == ["ActionButton", "Button"]
    link = items[1]
    assert link.style is discord.ButtonStyle.link and link.url == CALENDAR and link.custom_id is None
    assert f"[Full details](<{long_link}>)" in rendered.content, "a link too long for a button is written out"
    assert len(rendered.content) <= 2000


# -- announcing in other channels ------------------------------------------------------------------------------------

def test_a_channel_the_bot_may_not_post_in_is_refused_before_anything_is_stored(served: Served, fake: FakeDiscord,
                                                                                rt: Runtime) -> None:
    base = f'session add title:"Budget clinic" start:{DAY}T09:30 tz:Europe/Dublin repeat:weekly'

    def say(text: str) -> Request:
        message = fake.send_message(f"<@{BOT_ID}> {text}", author_id=COORDINATOR_ID, mentions=[BOT_ID])
        return fake.wait_reply(message, timeout=ANSWER)

    read_only = say(base + f" channel:here,discord:{READONLY_CHANNEL_ID}")
    assert f"I cannot post in discord:{READONLY_CHANNEL_ID}" in read_only.text, read_only.text
    assert "may not send messages in #announcements" in read_only.text
    missing = say(base + " channel:discord:1299999999999999999")
    assert "there is no such channel" in missing.text, missing.text
    assert rt.sessions.list() == []
    card = say(base + f" channel:here,discord:{NETWORK_CHANNEL_ID}")
    assert "rsvp_going" in labels(card.components), card
    (info,) = rt.sessions.list()
    assert info.channels == (f"discord:{GENERAL_CHANNEL_ID}", f"discord:{NETWORK_CHANNEL_ID}")
    # the other channel hears of it through the outbox, with the RSVP and link buttons
    assert served.loop.run(served.adapter.deliver_outbox(), 20) == 1
    (announced,) = fake.channel_messages(NETWORK_CHANNEL_ID)
    assert "New peer session" in announced.text
    assert set(labels(announced.components)) == {"rsvp_going", "rsvp_maybe", "rsvp_no", "link", "session_ics"}
