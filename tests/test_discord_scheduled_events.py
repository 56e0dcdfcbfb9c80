"""A session's Discord scheduled event follows the session (issue #14, 6): an edit, a skip or a cancellation made in
chat edits or deletes the event at once, a refusal is told to the coordinator, and the adapter's pass catches up with
changes made elsewhere (the CLI, another process) and with a series whose date is over.

The real discord.py client runs on its own loop thread against the local fake Discord (``discord_fake.FakeDiscord``),
which keeps the events as Discord would (``GET``/``PATCH``/``DELETE /guilds/{id}/scheduled-events/{id}``, a start in
the past refused). Nothing of ours is mocked; every wait polls with a deadline.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from adapters.discord.sessions import EVENT_REF, NO_PERMISSION
from bot import Runtime
from discord_fake import BASE_PERMISSIONS, BOT_ID, COORDINATOR_ID, GUILD_ID, MANAGE_EVENTS, FakeDiscord, Request
from discord_harness import (Served, discord_settings, fake, fake_discord, no_traceback,  # noqa: F401
                             restore_discord_endpoints, served, slash_deferred)

pytestmark = pytest.mark.timeout(120)

ANSWER = 20.0
DAY = date.today() + timedelta(days=40)
VIDEO = "https://meet.example.org/rrr-energy"
MAY_CREATE_EVENTS = BASE_PERMISSIONS | MANAGE_EVENTS


def event_of(rt: Runtime, session_id: int) -> str | None:
    """The id of the session's Discord scheduled event, as the adapter keeps it (None when it has none)."""
    return rt.bot.external_refs.get("discord", EVENT_REF, str(session_id))


@pytest.fixture
def rt(tmp_path: Path, fake: FakeDiscord) -> Iterator[Runtime]:
    # the adapter's own pass waits 5 minutes between runs: the tests run it by hand
    with Runtime.open(discord_settings(tmp_path / "data", fake, RRR_SESSIONS__SYNC_SECONDS="300")) as runtime:
        yield runtime


def utc(day: date, hhmm: str, zone: str = "Europe/Rome") -> datetime:
    local = datetime.combine(day, datetime.strptime(hhmm, "%H:%M").time(), tzinfo=ZoneInfo(zone))
    return local.astimezone(timezone.utc)


def add_with_event(fake: FakeDiscord, rt: Runtime) -> dict[str, Any]:
    """``/session-add`` (weekly, 4 times, 90 min) where the bot may create events; the event Discord holds."""
    options = {"title": "Energy communities", "start": f"{DAY}T15:00", "tz": "Europe/Rome", "repeat": "weekly",
               "count": 4, "duration": 90, "video": VIDEO, "agenda": "Solar roofs."}
    interaction, _ = slash_deferred(fake, "session-add", options, timeout=ANSWER, user_id=COORDINATOR_ID,
                                    app_permissions=MAY_CREATE_EVENTS)
    fake.wait_followups(interaction, 2, timeout=ANSWER)
    (event,) = fake.scheduled_events
    assert event_of(rt, 1) == event["id"]
    return event


def say(fake: FakeDiscord, text: str) -> Request:
    """A coordinator's chat command (a mention of the bot); the bot's reply."""
    message = fake.send_message(f"<@{BOT_ID}> {text}", author_id=COORDINATOR_ID, mentions=[BOT_ID])
    return fake.wait_reply(message, timeout=ANSWER)


def starts(event: dict[str, Any]) -> tuple[datetime, datetime]:
    return (datetime.fromisoformat(event["scheduled_start_time"]),
            datetime.fromisoformat(event["scheduled_end_time"]))


def test_an_edit_in_chat_moves_and_renames_the_event(served: Served, fake: FakeDiscord, rt: Runtime) -> None:
    event = add_with_event(fake, rt)
    assert starts(event) == (utc(DAY, "15:00"), utc(DAY, "16:30"))

    reply = say(fake, f'session edit 1 title:"Energy communities (moved)" start:{DAY}T17:00 agenda:"Heat pumps."')
    assert "Session updated" in reply.text and "Discord event" not in reply.text, reply.text
    (patch,) = fake.calls("edit_scheduled_event", guild=str(GUILD_ID), event=event["id"])
    assert patch.status == 200
    assert patch.body["name"] == "Energy communities (moved)" and patch.body["description"] == "Heat pumps."
    assert "entity_metadata" not in patch.body, "only what changed is sent"
    (now,) = fake.scheduled_events
    assert now["id"] == event["id"] and starts(now) == (utc(DAY, "17:00"), utc(DAY, "18:30"))
    assert now["name"] == "Energy communities (moved)"


def test_skip_next_points_the_event_at_the_next_date(served: Served, fake: FakeDiscord, rt: Runtime) -> None:
    add_with_event(fake, rt)
    reply = say(fake, "session skip-next 1")
    assert "Skipped the next" in reply.text, reply.text
    (now,) = fake.scheduled_events
    second = DAY + timedelta(days=7)
    assert starts(now) == (utc(second, "15:00"), utc(second, "16:30"))
    assert [o.start_utc for o in rt.sessions.occurrences(1, 1)] == [utc(second, "15:00")]


def test_cancel_deletes_the_event_and_forgets_it(served: Served, fake: FakeDiscord, rt: Runtime) -> None:
    event = add_with_event(fake, rt)
    reply = say(fake, "session cancel 1")
    assert "Cancelled #1" in reply.text and "Discord event" not in reply.text, reply.text
    (delete,) = fake.calls("delete_scheduled_event", guild=str(GUILD_ID), event=event["id"])
    assert delete.status == 204 and fake.scheduled_events == []
    assert event_of(rt, 1) is None


def test_a_refusal_is_told_to_the_coordinator(served: Served, fake: FakeDiscord, rt: Runtime,
                                              caplog: pytest.LogCaptureFixture) -> None:
    event = add_with_event(fake, rt)
    fake.refuse("edit_scheduled_event", 403)
    reply = say(fake, f"session edit 1 start:{DAY}T18:00")
    assert "Session updated" in reply.text and NO_PERMISSION in reply.text, reply.text
    assert starts(fake.scheduled_events[0])[0] == utc(DAY, "15:00")  # Discord kept it
    assert event_of(rt, 1) == event["id"]
    assert any("refused to change the scheduled event" in r.getMessage() for r in caplog.records)
    no_traceback(caplog, reply.text)


def test_the_pass_catches_up_with_changes_made_elsewhere(served: Served, fake: FakeDiscord, rt: Runtime) -> None:
    event = add_with_event(fake, rt)
    events = served.adapter.session_add.events
    # the CLI (another process) moves the session: nothing tells this adapter but its pass
    rt.sessions.edit(1, {"start": f"{DAY + timedelta(days=1)}T09:00", "duration": 60})
    assert not fake.calls("edit_scheduled_event")
    assert served.loop.run(events.sync_all(), ANSWER) == 1
    (now,) = fake.scheduled_events
    later = DAY + timedelta(days=1)
    assert starts(now) == (utc(later, "09:00"), utc(later, "10:00")) and now["id"] == event["id"]
    # a second pass has nothing to do: no request at all
    before = len(fake.calls())
    assert served.loop.run(events.sync_all(), ANSWER) == 0
    assert len(fake.calls()) == before
    # the CLI cancels it: the pass deletes the event
    rt.sessions.cancel(1)
    assert served.loop.run(events.sync_all(), ANSWER) == 1
    assert fake.scheduled_events == [] and event_of(rt, 1) is None


def test_a_series_moves_on_once_a_date_is_over(served: Served, fake: FakeDiscord, rt: Runtime) -> None:
    event = add_with_event(fake, rt)
    events = served.adapter.session_add.events
    first, second = utc(DAY, "15:00"), utc(DAY + timedelta(days=7), "15:00")
    # during the first date the event stays put
    assert served.loop.run(events.sync_all(first + timedelta(minutes=30)), ANSWER) == 1
    assert starts(fake.scheduled_events[0])[0] == first and not fake.calls("edit_scheduled_event")
    assert served.loop.run(events.sync_all(first + timedelta(minutes=60)), ANSWER) == 0, "left alone until it ends"
    # once it is over, the event points at the second date
    assert served.loop.run(events.sync_all(first + timedelta(minutes=91)), ANSWER) == 1
    assert starts(fake.scheduled_events[0]) == (second, second + timedelta(minutes=90))
    # Discord ended the event by itself: the next date gets an event of its own
    fake.scheduled_events[0]["status"] = 3
    info = rt.sessions.get(1)
    assert served.loop.run(events.sync(info, second + timedelta(minutes=91)), ANSWER) is None
    created = fake.calls("create_scheduled_event")
    assert len(created) == 2 and created[-1].status == 200
    third = utc(DAY + timedelta(days=14), "15:00")
    assert datetime.fromisoformat(created[-1].body["scheduled_start_time"]) == third
    assert event_of(rt, 1) == created[-1].response["id"] != event["id"]


def test_an_event_deleted_on_discord_is_forgotten(served: Served, fake: FakeDiscord, rt: Runtime,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    add_with_event(fake, rt)
    fake.scheduled_events.clear()  # a moderator deleted it
    caplog.set_level(logging.INFO)
    reply = say(fake, "session edit 1 title:Renamed")
    assert "Session updated" in reply.text and "Discord event" not in reply.text
    assert event_of(rt, 1) is None and not fake.calls("edit_scheduled_event")
    no_traceback(caplog, reply.text)
