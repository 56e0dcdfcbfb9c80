"""Peer sessions: the service (validation, edits, RSVPs, reminders claimed in the outbox), the chat command and the
``rrr-bot sessions`` command line, and the weekly pulse.

Service calls take a fixed ``now`` (1 March 2027); the sessions start on Tuesday 16 March 2027 at 15:00 in Madrid
(14:00 UTC), weekly, so the third one falls after the European change to summer time (28 March: 13:00 UTC).
The chat and CLI run on the real clock, which is months before that start.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlmodel import col, select
from typer.testing import CliRunner

from adapters.cli import app
from bot import Runtime
from bot.core import ERROR_REPLY
from bot.errors import InvalidInput, NotFound
from bot.messages import Actions, Time
from bot.services.pulse import queue_pulse
from bot.sessions.service import Sessions
from bot.store.models import OutboxMessage, Rsvp, utcnow
from bot.testing import Exchange, TestAdapter
from bot.sessions import views as session_views
from bot.sessions.draft import SessionDraft
from conftest import make_settings

UTC = timezone.utc
NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
START = "2027-03-16T15:00"  # a Tuesday; Europe/Madrid is on CET (UTC+1) until 2027-03-28
FIRST = datetime(2027, 3, 16, 14, 0, tzinfo=UTC)
FIRST_KEY = "20270316T140000Z"
#: The first three occurrences of the weekly 15:00 Madrid session: the third is after the change to CEST.
THREE = [
    {"start_utc": "2027-03-16T14:00:00+00:00", "start_local": "2027-03-16T15:00:00+01:00"},
    {"start_utc": "2027-03-23T14:00:00+00:00", "start_local": "2027-03-23T15:00:00+01:00"},
    {"start_utc": "2027-03-30T13:00:00+00:00", "start_local": "2027-03-30T15:00:00+02:00"},
]
ADD = 'session add title:"Working group" start:2027-03-16T15:00 tz:Europe/Madrid repeat:weekly count:4'


def add(sessions: Sessions, **changes):
    """The weekly working group (4 times, reminders 24 h and 15 min before, announced in slack:C1)."""
    now = changes.pop("now", NOW)
    created_by = changes.pop("created_by", "")
    draft = SessionDraft(title="Working group", start=START, tz="Europe/Madrid", repeat="weekly", count=4,
                         channels=("slack:C1",))
    return sessions.add(replace(draft, **changes), created_by=created_by, now=now)


def outbox_rows(rt: Runtime, prefix: str = "reminder:") -> list[OutboxMessage]:
    with rt.db.session() as session:
        return list(session.exec(select(OutboxMessage).where(col(OutboxMessage.key).startswith(prefix))
                                 .order_by(OutboxMessage.id)))


def messages(rows: list[OutboxMessage]) -> list[OutboxMessage]:
    """The rows that are deliverable messages (not the claim rows, whose platform is "-")."""
    return [r for r in rows if r.platform != "-"]


def due(sessions: Sessions, now: datetime) -> list[tuple[int, str, int, tuple[int, ...]]]:
    return [(d.session.id, d.occurrence.key(), d.offset, d.superseded) for d in sessions.due_reminders(now)]


# -- add: validated as a whole --------------------------------------------------------------------------------


@pytest.mark.parametrize("changes, fragment", [
    ({"start": "2027-02-20T15:00"}, "in the past"),
    ({"tz": "Mars/Olympus_Mons"}, "Unknown time zone"),
    ({"tz": "europe/madrid"}, "Did you mean Europe/Madrid"),
    ({"repeat": "FREQ=WEEKLY;BYDAY=XX"}, "not valid"),
    ({"repeat": "FREQ=SOMETIMES"}, "not valid"),
    ({"repeat": "fortnightly-ish"}, "Unknown repeat"),
    ({"count": 0}, "count must be at least 1"),
    ({"count": 3, "until": date(2027, 4, 30)}, "either a count or an until"),
    ({"repeat": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "count": None}, "never produces a session"),
    ({"channels": ["slack:C1", "nochannel"]}, "'nochannel' is not a channel"),
    ({"video": "zoom.example/room"}, "video link"),
    ({"reminders": [15, 0]}, "between 1 and 10080"),
    ({"title": "   "}, "title"),
    ({"start": "2027-03-16T15:00+01:00"}, "UTC offset"),
    ({"agenda": "x" * 3001}, "The agenda is too long (3,000 characters at most)"),
], ids=["past", "zone", "zone-case", "rrule-day", "rrule-freq", "repeat-word", "count-0", "count-and-until",
        "never-occurs", "channel", "video", "reminder-0", "title", "offset", "agenda"])
def test_add_refuses_a_bad_part_and_stores_nothing(runtime: Runtime, changes: dict, fragment: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        add(runtime.sessions, **changes)
    assert fragment in str(raised.value)
    assert runtime.sessions.list(include_cancelled=True) == []
    assert outbox_rows(runtime, "") == []


def test_add_stores_a_valid_session(runtime: Runtime) -> None:
    info = add(runtime.sessions, video="https://meet.example/wg", reminders=[15, 1440, 15],
               agenda="  Figures of the year.\n")
    assert info.id == 1
    assert info.agenda == "Figures of the year." and info.as_dict()["agenda"] == "Figures of the year."
    assert runtime.sessions.edit(1, {"agenda": "x" * 3000}, now=NOW).agenda == "x" * 3000  # the limit itself
    assert runtime.sessions.edit(1, {"title": "Renamed"}, now=NOW).agenda == "x" * 3000  # kept by other edits
    assert info.reminders == (1440, 15)  # sorted, without duplicates
    assert info.schedule.describe() == "every week, 4 times"
    assert [i.id for i in runtime.sessions.list()] == [1]
    occurrences = runtime.sessions.occurrences(1, count=10)
    assert [o.start_utc.isoformat() for o in occurrences][:3] == [t["start_utc"] for t in THREE]
    assert len(occurrences) == 4


# -- edit, cancel ---------------------------------------------------------------------------------------------


def test_edit_start_is_validated_again(runtime: Runtime) -> None:
    sessions = runtime.sessions
    info = add(sessions)
    with pytest.raises(InvalidInput, match="in the past"):
        sessions.edit(info.id, {"start": "2027-02-20T15:00"}, now=NOW)
    with pytest.raises(InvalidInput, match="Unknown time zone"):
        sessions.edit(info.id, {"tz": "Nowhere/Town"}, now=NOW)
    assert sessions.get(info.id).schedule == info.schedule  # the refused edits changed nothing

    moved = sessions.edit(info.id, {"start": "2027-03-17T10:00", "count": 2}, now=NOW)
    assert [o.key() for o in sessions.occurrences(moved.id)] == ["20270317T090000Z", "20270324T090000Z"]


def test_editing_only_the_title_of_a_session_that_has_begun_works(runtime: Runtime) -> None:
    sessions = runtime.sessions
    info = add(sessions)
    later = datetime(2027, 3, 20, 12, 0, tzinfo=UTC)  # after the first occurrence
    edited = sessions.edit(info.id, {"title": "Working group (renamed)"}, now=later)
    assert edited.title == "Working group (renamed)"
    assert sessions.get(info.id).schedule == info.schedule
    with pytest.raises(InvalidInput, match="in the past"):  # the start itself still may not move into the past
        sessions.edit(info.id, {"start": "2027-03-19T15:00"}, now=later)


def test_editing_the_title_after_skipping_the_first_occurrence(runtime: Runtime) -> None:
    sessions = runtime.sessions
    info = add(sessions)
    assert sessions.skip_next(info.id, now=NOW).key() == FIRST_KEY
    edited = sessions.edit(info.id, {"title": "Renamed"}, now=NOW)  # NOW is two weeks before the start
    assert edited.title == "Renamed"


@pytest.mark.parametrize("changes, fragment", [
    ({"until": date(2031, 4, 30), "count": 0}, "either a count or an until"),
    ({"count": 0}, "count must be at least 1"),
    ({"until": date(2027, 3, 1), "count": None}, "is before the start"),
], ids=["count-and-until", "count-0", "until-before-start"])
@pytest.mark.parametrize("when", ["before", "begun"])
def test_edit_that_keeps_the_start_names_what_is_wrong(runtime: Runtime, changes: dict, fragment: str,
                                                       when: str) -> None:
    """The rule's own fields are checked as such, not reported as "every occurrence is cancelled"."""
    info = add(runtime.sessions)
    now = NOW if when == "before" else datetime(2027, 3, 20, 12, 0, tzinfo=UTC)
    with pytest.raises(InvalidInput, match=fragment):
        runtime.sessions.edit(info.id, changes, now=now)
    assert runtime.sessions.get(info.id).schedule == info.schedule


def test_edit_refuses_unknown_fields_and_empty_changes(runtime: Runtime) -> None:
    info = add(runtime.sessions)
    with pytest.raises(InvalidInput, match="Cannot change colour"):
        runtime.sessions.edit(info.id, {"title": "x", "colour": "red"}, now=NOW)
    with pytest.raises(InvalidInput, match="Nothing to change"):
        runtime.sessions.edit(info.id, {}, now=NOW)
    with pytest.raises(NotFound):
        runtime.sessions.edit(99, {"title": "x"}, now=NOW)
    assert runtime.sessions.get(info.id).title == "Working group"


def test_a_cancelled_session_refuses_changes_and_answers(runtime: Runtime) -> None:
    sessions = runtime.sessions
    info = add(sessions)
    assert sessions.cancel(info.id, now=NOW).cancelled
    for change in (lambda: sessions.edit(info.id, {"title": "x"}, now=NOW),
                   lambda: sessions.cancel(info.id, now=NOW),
                   lambda: sessions.skip_next(info.id, now=NOW),
                   lambda: sessions.rsvp(info.id, None, "slack", "U1", "going", now=NOW)):
        with pytest.raises(InvalidInput, match="cancelled"):
            change()
    assert sessions.list() == []
    assert [i.id for i in sessions.list(include_cancelled=True)] == [info.id]
    assert sessions.get(info.id).title == "Working group"


# -- skip_next ------------------------------------------------------------------------------------------------


def test_skip_next_removes_one_occurrence_and_its_reminders(runtime: Runtime) -> None:
    sessions = runtime.sessions
    info = add(sessions)
    skipped = sessions.skip_next(info.id, now=NOW)
    assert skipped.key() == FIRST_KEY
    keys = [o.key() for o in sessions.occurrences(info.id)]
    assert keys == ["20270323T140000Z", "20270330T130000Z", "20270406T130000Z"]
    assert sessions.next_occurrence(sessions.get(info.id), NOW).key() == "20270323T140000Z"

    assert due(sessions, FIRST - timedelta(minutes=10)) == []
    assert sessions.queue_due_reminders(FIRST - timedelta(minutes=10)) == 0
    assert sessions.reminder_times(FIRST - timedelta(hours=1), timedelta(hours=2)) == []
    with pytest.raises(InvalidInput, match="no occurrence at that time"):
        sessions.rsvp(info.id, FIRST_KEY, "slack", "U1", "going", now=NOW)
    # the next one is untouched
    second = datetime(2027, 3, 23, 14, 0, tzinfo=UTC)
    assert due(sessions, second - timedelta(minutes=10)) == [(info.id, "20270323T140000Z", 15, (1440,))]
    assert sessions.ics(info.id).count(b"EXDATE") == 1


# -- RSVP -----------------------------------------------------------------------------------------------------


def test_rsvp_counts_and_replacement(runtime: Runtime) -> None:
    sessions = runtime.sessions
    info = add(sessions)
    occ, counts = sessions.rsvp(info.id, None, "slack", "U1", "going", now=NOW)
    assert occ.key() == FIRST_KEY
    assert counts == {"going": 1, "maybe": 0, "no": 0}
    assert sessions.rsvp(info.id, None, "slack", "U2", "maybe", now=NOW)[1] == {"going": 1, "maybe": 1, "no": 0}
    assert sessions.rsvp(info.id, FIRST_KEY, "slack", "U3", "no", now=NOW)[1] == {"going": 1, "maybe": 1, "no": 1}
    # U1 changes their mind: the answer is replaced, not added
    assert sessions.rsvp(info.id, None, "slack", "U1", "maybe", now=NOW)[1] == {"going": 0, "maybe": 2, "no": 1}
    assert sessions.rsvp(info.id, None, "discord", "U1", "going", now=NOW)[1] == {"going": 1, "maybe": 2, "no": 1}
    with runtime.db.session() as session:
        assert len(list(session.exec(select(Rsvp)))) == 4
    assert sessions.attendees(info.id, FIRST_KEY) == [("slack", "U1"), ("slack", "U2"), ("discord", "U1")]

    # another occurrence has its own answers
    third = "20270330T130000Z"
    assert sessions.rsvp(info.id, third, "slack", "U3", "going", now=NOW)[1] == {"going": 1, "maybe": 0, "no": 0}
    assert sessions.counts(info.id, FIRST_KEY) == {"going": 1, "maybe": 2, "no": 1}
    assert sessions.attendees(info.id, third) == [("slack", "U3")]


def test_rsvp_refusals(runtime: Runtime) -> None:
    sessions = runtime.sessions
    info = add(sessions)
    with pytest.raises(InvalidInput, match="going, maybe, no"):
        sessions.rsvp(info.id, None, "slack", "U1", "perhaps", now=NOW)
    with pytest.raises(InvalidInput, match="already begun"):
        sessions.rsvp(info.id, FIRST_KEY, "slack", "U1", "going", now=FIRST + timedelta(minutes=5))
    with pytest.raises(InvalidInput, match="no occurrence at that time"):
        sessions.rsvp(info.id, "20270317T140000Z", "slack", "U1", "going", now=NOW)
    with pytest.raises(InvalidInput, match="not an occurrence"):
        sessions.rsvp(info.id, "tomorrow", "slack", "U1", "going", now=NOW)
    with pytest.raises(NotFound):
        sessions.rsvp(99, None, "slack", "U1", "going", now=NOW)
    assert sessions.counts(info.id, FIRST_KEY) == {"going": 0, "maybe": 0, "no": 0}


# -- reminders ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reminders, before, expected", [
    ([1440, 15], timedelta(hours=25), []),
    ([1440, 15], timedelta(hours=23), [(1440, ())]),
    ([1440, 15], timedelta(minutes=16), [(1440, ())]),
    ([1440, 15], timedelta(minutes=14), [(15, (1440,))]),
    ([1440, 15], timedelta(seconds=1), [(15, (1440,))]),
    ([1440, 15], -timedelta(seconds=1), []),
    ([15], timedelta(minutes=16), []),
    ([15], timedelta(minutes=14, seconds=59), [(15, ())]),
    ([15], timedelta(seconds=1), [(15, ())]),
    ([15], -timedelta(minutes=30), []),
])
def test_due_reminders_window(runtime: Runtime, reminders: list[int], before: timedelta, expected: list) -> None:
    info = add(runtime.sessions, reminders=reminders)
    assert due(runtime.sessions, FIRST - before) == [(info.id, FIRST_KEY, o, s) for o, s in expected]


def test_a_reminder_is_due_at_its_exact_time(runtime: Runtime) -> None:
    info = add(runtime.sessions, reminders=[15])
    [(send_at, session_id, key, offset)] = runtime.sessions.reminder_times(FIRST - timedelta(hours=1),
                                                                          timedelta(hours=2))
    assert (send_at, session_id, key, offset) == (FIRST - timedelta(minutes=15), info.id, FIRST_KEY, 15)
    assert due(runtime.sessions, send_at) == [(info.id, FIRST_KEY, 15, ())]


def test_after_downtime_only_the_latest_reminder_is_sent_and_the_earlier_one_claimed(runtime: Runtime) -> None:
    sessions = runtime.sessions
    info = add(sessions)
    now = FIRST - timedelta(minutes=10)  # the bot was down: the 24 h and the 15 min reminders are both due
    assert sessions.queue_due_reminders(now) == 1
    base = f"reminder:{info.id}:{FIRST_KEY}"
    assert runtime.outbox.taken([f"{base}:1440", f"{base}:15", f"{base}:5"]) == {f"{base}:1440", f"{base}:15"}
    sent = messages(outbox_rows(runtime))
    assert [(r.key, r.platform, r.channel) for r in sent] == [(f"{base}:15:slack:C1", "slack", "C1")]
    assert sent[0].expires_at == FIRST

    assert sessions.queue_due_reminders(now) == 0  # a second pass queues nothing
    assert sessions.queue_due_reminders(now + timedelta(minutes=5)) == 0
    assert len(outbox_rows(runtime)) == 3  # two claims and one message

    [pending] = runtime.outbox.claim("slack", now=now + timedelta(seconds=1))
    assert pending.channel == "C1"
    assert "Reminder: Working group starts in 15 minutes" in pending.reply.as_text()


def test_the_24h_reminder_alone_when_the_bot_runs(runtime: Runtime) -> None:
    sessions = runtime.sessions
    info = add(sessions)
    assert sessions.queue_due_reminders(FIRST - timedelta(hours=23)) == 1
    assert sessions.queue_due_reminders(FIRST - timedelta(minutes=10)) == 1  # then the 15 min one
    keys = [r.key for r in messages(outbox_rows(runtime))]
    assert keys == [f"reminder:{info.id}:{FIRST_KEY}:1440:slack:C1", f"reminder:{info.id}:{FIRST_KEY}:15:slack:C1"]
    replies = [p.reply.as_text() for p in runtime.outbox.claim("slack", now=FIRST - timedelta(minutes=9))]
    assert "starts tomorrow" in replies[0] and "starts in 15 minutes" in replies[1]


@pytest.mark.parametrize("offset, heading", [
    (1, "Reminder: Working group starts in 1 minute"),
    (15, "Reminder: Working group starts in 15 minutes"),
    (60, "Reminder: Working group starts in 1 hour"),
    (120, "Reminder: Working group starts in 2 hours"),
    (1440, "Reminder: Working group starts tomorrow"),
])
def test_reminder_heading(runtime: Runtime, offset: int, heading: str) -> None:
    info = add(runtime.sessions, reminders=[offset])
    [reminder] = runtime.sessions.due_reminders(FIRST - timedelta(seconds=30))
    assert reminder.offset == offset
    reply = session_views.reminder(runtime.sessions.card(info, reminder.occurrence), offset)
    assert reply.as_text().splitlines()[0] == heading


def test_a_reminder_not_delivered_before_the_start_is_dropped(runtime: Runtime) -> None:
    sessions = runtime.sessions
    add(sessions)
    assert sessions.queue_due_reminders(FIRST - timedelta(minutes=10)) == 1
    assert runtime.outbox.pending("slack") == 1
    assert runtime.outbox.claim("slack", now=FIRST + timedelta(seconds=1)) == []
    [row] = messages(outbox_rows(runtime))
    assert row.dropped_at == FIRST + timedelta(seconds=1)
    assert row.sent_at is None
    assert runtime.outbox.claim("slack", now=FIRST + timedelta(hours=1)) == []
    assert runtime.outbox.pending("slack") == 0
    # and a reminder asked for after the start is not even queued
    assert sessions.queue_due_reminders(FIRST + timedelta(seconds=1)) == 0


def test_a_cancelled_session_has_no_reminder(runtime: Runtime) -> None:
    sessions = runtime.sessions
    info = add(sessions)
    assert due(sessions, FIRST - timedelta(minutes=10)) != []
    sessions.cancel(info.id, now=NOW)
    assert due(sessions, FIRST - timedelta(minutes=10)) == []
    assert sessions.queue_due_reminders(FIRST - timedelta(minutes=10)) == 0
    assert sessions.reminder_times(FIRST - timedelta(hours=1), timedelta(hours=2)) == []
    assert outbox_rows(runtime) == []


def test_reminders_go_to_each_channel_and_to_the_attendees(runtime: Runtime) -> None:
    sessions = runtime.sessions
    info = add(sessions, channels=["slack:C1", "discord:D9"])
    for platform, user, status in (("slack", "U1", "going"), ("slack", "U2", "maybe"), ("slack", "U3", "no"),
                                   ("discord", "77", "going")):
        sessions.rsvp(info.id, None, platform, user, status, now=NOW)
    now = FIRST - timedelta(minutes=14)
    assert sessions.queue_due_reminders(now) == 5
    slack = runtime.outbox.claim("slack", now=now)
    discord = runtime.outbox.claim("discord", now=now)
    assert sorted((p.channel or "", p.users) for p in slack) == [("", ("U1",)), ("", ("U2",)), ("C1", ())]
    assert sorted((p.channel or "", p.users) for p in discord) == [("", ("77",)), ("D9", ())]
    for pending in slack + discord:
        text = pending.reply.as_text()
        assert "Reminder: Working group starts in 15 minutes" in text
        assert "Going (2)" in text and "Maybe (1)" in text and "Can't (1)" in text
    assert runtime.outbox.claim("slack", now=now) == []  # leased: nobody else gets them


# -- chat -----------------------------------------------------------------------------------------------------


@pytest.fixture
def network(tmp_path: Path):
    settings = make_settings(tmp_path / "data", RRR_BOT__COORDINATORS='["slack:BOSS"]')
    with Runtime.open(settings) as rt:
        yield rt


def say(adapter: TestAdapter, text: str, *, is_direct: bool = False, **kw) -> Exchange:
    return asyncio.run(adapter.send(text, is_direct=is_direct, **kw))


def click(adapter: TestAdapter, action_id: str, value: str, **kw) -> Exchange:
    return asyncio.run(adapter.click(action_id, value, **kw))


def labels(exchange: Exchange) -> list[str]:
    return [b.label for actions in exchange.blocks(Actions) for b in actions.buttons]


def test_members_cannot_change_sessions(network: Runtime) -> None:
    member = TestAdapter(network.bot, platform="slack", user="U2")
    for command in (ADD, "session cancel 1", "session skip-next 1", "session edit 1 title:x"):
        exchange = say(member, command)
        assert len(exchange.replies) == 1 and exchange.replies[0].is_error
        sub = command.split()[1]
        assert exchange.text == f"Only coordinators can `session {sub}`."
    assert network.sessions.list(include_cancelled=True) == []
    say(member, "session list").assert_reply("No session is scheduled")


def test_a_coordinator_schedules_and_members_answer(network: Runtime) -> None:
    boss = TestAdapter(network.bot, platform="slack", user="BOSS")
    added = say(boss, ADD)
    assert not any(r.is_error for r in added.replies), added.text
    added.assert_reply("Session scheduled", "#1 Working group", "When: every week, 4 times", "Zone: Europe/Madrid")
    assert labels(added) == ["Going (0)", "Maybe (0)", "Can't (0)", "Add to Google Calendar", "Calendar file (.ics)"]
    value = f"1:{FIRST_KEY}"
    assert [b.value for a in added.blocks(Actions) for b in a.buttons][:3] == [value] * 3
    assert network.sessions.get(1).channels == ("slack:C1",)  # channel:here by default

    say(boss, "session list").assert_reply("#1 Working group - every week, 4 times (Europe/Madrid)")
    shown = say(boss, "session show 1").assert_reply("#1 Working group")
    assert labels(shown)[:3] == ["Going (0)", "Maybe (0)", "Can't (0)"]
    nxt = say(boss, "session next 1 3").assert_reply("Next dates of #1 Working group")
    assert [t.at.isoformat() for t in nxt.blocks(Time)] == [t["start_utc"] for t in THREE]

    member = TestAdapter(network.bot, platform="slack", user="U2")
    answered = say(member, "session rsvp 1 going", is_direct=True)
    assert answered.text == "Noted: Going for 'Working group'. Going 1, maybe 0, can't 0."

    clicked = click(member, "rsvp_maybe", value, user="U3")
    card, note = clicked.replies
    assert card.replace and not card.is_error
    assert labels(Exchange([card]))[:3] == ["Going (1)", "Maybe (1)", "Can't (0)"]
    assert note.ephemeral and note.as_text() == "Noted: Maybe."
    again = click(member, "rsvp_no", value, user="U3")  # a second click replaces the first answer
    assert labels(Exchange([again.replies[0]]))[:3] == ["Going (1)", "Maybe (0)", "Can't (1)"]
    assert network.sessions.counts(1, FIRST_KEY) == {"going": 1, "maybe": 0, "no": 1}


@pytest.mark.parametrize("command, fragment", [
    ("session add title:x", "Unknown time zone ''"),  # the zone is checked first; the start is missing too
    ("session add title:x tz:Europe/Madrid", "Cannot read the time ''"),
    ("session add title:x start:2020-01-01T10:00 tz:Europe/Madrid", "in the past"),
    ("session add title:x start:2030-01-01T10:00 tz:Europe/Madrid colour:red", "not a key:value pair"),
    ('session add title:"unbalanced start:2030-01-01T10:00', "Unbalanced quotes"),
    ("session show 99", "No session 99"),
    ("session show one", "Expected a session id"),
    ("session rsvp 1 perhaps", "going, maybe, no"),
    ("session rsvp 1", "Usage: `session rsvp ID going|maybe|no`"),
    ("session next 1 0", "Ask for 1 to 500"),
    ("session frobnicate", "Unknown `session frobnicate`"),
])
def test_bad_session_commands_get_an_error_reply(network: Runtime, command: str, fragment: str) -> None:
    boss = TestAdapter(network.bot, platform="slack", user="BOSS")
    say(boss, ADD.replace("Working group", "Existing"))
    exchange = say(boss, command)
    assert len(exchange.replies) == 1 and exchange.replies[0].is_error, exchange.text
    assert ERROR_REPLY not in exchange.text  # a polite error, not a crash
    exchange.assert_reply(fragment)
    assert [i.title for i in network.sessions.list()] == ["Existing"]


def test_a_click_on_a_stale_card_is_an_error(network: Runtime) -> None:
    boss = TestAdapter(network.bot, platform="slack", user="BOSS")
    say(boss, ADD)
    say(boss, "session skip-next 1").assert_reply("Skipped the next 'Working group'")
    exchange = click(boss, "rsvp_going", f"1:{FIRST_KEY}")
    assert exchange.replies[0].is_error and ERROR_REPLY not in exchange.text
    exchange.assert_reply("no occurrence at that time")
    say(boss, "session cancel 1").assert_reply("Cancelled #1 'Working group'")
    click(boss, "rsvp_going", "1:20270323T140000Z").assert_error().assert_reply("cancelled")


def test_a_coordinator_schedules_from_a_direct_message(network: Runtime) -> None:
    """In a direct message there is no "here": the session gets no channel unless one is given."""
    boss = TestAdapter(network.bot, platform="slack", user="BOSS")
    exchange = say(boss, ADD, is_direct=True)
    assert not any(r.is_error for r in exchange.replies), exchange.text
    assert network.sessions.get(1).channels == ()
    refused = say(boss, ADD + " channel:here", is_direct=True)
    refused.assert_error().assert_reply("`channel:here` needs a channel")
    assert [i.id for i in network.sessions.list()] == [1]


# -- the command line -----------------------------------------------------------------------------------------


def cli(data_dir: Path, *args: str):
    result = CliRunner().invoke(app, list(args), env={"RRR_DATA_DIR": str(data_dir)})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a crash, not a handled error: show its traceback
    return result


CLI_ADD = ("sessions", "add", "--title", "Working group", "--start", START, "--tz", "Europe/Madrid",
           "--repeat", "weekly", "--count", "4", "--channel", "slack:C1", "--reminder", "15")


def test_cli_add_and_occurrences_across_the_change_to_summer_time(cli_env: None, tmp_path: Path) -> None:
    data = tmp_path / "data"
    added = cli(data, *CLI_ADD, "--json")
    assert added.exit_code == 0, added.output
    info = json.loads(added.stdout)
    assert {k: info[k] for k in ("id", "title", "start", "timezone", "repeat", "count", "channels", "reminders",
                                 "cancelled", "describe")} == {
        "id": 1, "title": "Working group", "start": "2027-03-16T15:00:00", "timezone": "Europe/Madrid",
        "repeat": "FREQ=WEEKLY", "count": 4, "channels": ["slack:C1"], "reminders": [15], "cancelled": False,
        "describe": "every week, 4 times"}

    occurrences = cli(data, "sessions", "occurrences", "1", "--count", "3", "--json")
    assert occurrences.exit_code == 0, occurrences.output
    assert json.loads(occurrences.stdout) == THREE

    listed = cli(data, "sessions", "list", "--json")
    assert [s["id"] for s in json.loads(listed.stdout)] == [1]
    shown = cli(data, "sessions", "show", "1")
    assert shown.stdout.strip() == "#1 Working group: every week, 4 times, from 2027-03-16 15:00 Europe/Madrid, 60 min"


def test_cli_ics_file(cli_env: None, tmp_path: Path) -> None:
    from icalendar import Calendar

    data = tmp_path / "data"
    assert cli(data, *CLI_ADD).exit_code == 0
    target = tmp_path / "wg.ics"
    written = cli(data, "sessions", "ics", "1", "-o", str(target))
    assert written.exit_code == 0, written.output
    assert f"Wrote {target}" in written.stdout
    calendar = Calendar.from_ical(target.read_bytes())
    [event] = calendar.walk("VEVENT")
    dtstart = event["DTSTART"]
    assert dtstart.params["TZID"] == "Europe/Madrid"
    assert dtstart.dt.replace(tzinfo=None) == datetime(2027, 3, 16, 15, 0)
    assert dtstart.dt.utcoffset() == timedelta(hours=1)
    assert str(event["SUMMARY"]) == "Working group"
    assert event["RRULE"]["FREQ"] == ["WEEKLY"] and event["RRULE"]["COUNT"] == [4]
    assert [str(z["TZID"]) for z in calendar.walk("VTIMEZONE")] == ["Europe/Madrid"]


@pytest.mark.parametrize("args, code, fragment", [
    (("sessions", "add", "--title", "x", "--start", START, "--tz", "Mars/Olympus"), 1, "Unknown time zone"),
    (("sessions", "add", "--title", "x", "--start", "2020-01-01T10:00", "--tz", "Europe/Madrid"), 1, "in the past"),
    (("sessions", "add", "--title", "x", "--start", START, "--tz", "UTC", "--count", "0", "--repeat", "daily"),
     1, "count must be at least 1"),
    (("sessions", "add", "--title", "x", "--start", START, "--tz", "UTC", "--channel", "nochannel"),
     1, "not a channel"),
    (("sessions", "add", "--title", "x", "--start", START, "--tz", "UTC", "--reminder", "0"), 1, "between 1"),
    (("sessions", "add", "--title", "x"), 2, "missing --start, --tz"),
    (("sessions", "show", "99"), 1, "No session 99"),
    (("sessions", "occurrences", "99"), 1, "No session 99"),
    (("sessions", "cancel", "99"), 1, "No session 99"),
    (("sessions", "edit", "99", "--title", "x"), 1, "No session 99"),
])
def test_cli_bad_input_is_one_error_line(cli_env: None, tmp_path: Path, args: tuple, code: int,
                                         fragment: str) -> None:
    data = tmp_path / "data"
    result = cli(data, *args)
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert result.stderr.startswith("error: ") and fragment in result.stderr, result.stderr
    listed = cli(data, "sessions", "list", "--all", "--json")
    assert listed.exit_code == 0 and json.loads(listed.stdout) == []


def test_cli_cancel_and_skip_next(cli_env: None, tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert cli(data, *CLI_ADD).exit_code == 0
    skipped = cli(data, "sessions", "skip-next", "1")
    assert skipped.exit_code == 0 and "Skipped 2027-03-16 15:00 CET" in skipped.stdout
    occurrences = json.loads(cli(data, "sessions", "occurrences", "1", "--json").stdout)
    assert [o["start_utc"] for o in occurrences] == [t["start_utc"] for t in THREE[1:]] + ["2027-04-06T13:00:00+00:00"]
    assert cli(data, "sessions", "cancel", "1").stdout.strip() == "Cancelled #1 Working group."
    again = cli(data, "sessions", "cancel", "1")
    assert again.exit_code == 1 and "is cancelled" in again.stderr
    assert json.loads(cli(data, "sessions", "list", "--json").stdout) == []
    [everything] = json.loads(cli(data, "sessions", "list", "--all", "--json").stdout)
    assert everything["cancelled"] is True


# -- the weekly pulse -----------------------------------------------------------------------------------------


def test_weekly_pulse_is_queued_once_a_week(runtime: Runtime) -> None:
    rt = runtime
    now = utcnow()
    asked = rt.knowledge.ask("how do we teach penguins to juggle flaming bagpipes?", asker=("slack", "U7"))
    assert not asked.answered and asked.question_id is not None
    rt.knowledge.save_answer(title="Neighbourhood repair cafés", city="Bilbao", country="Spain",
                             summary="Volunteers repair household objects every Saturday in civic centres.",
                             saved_by="slack:BOSS")
    start = (now + timedelta(days=2)).astimezone(timezone.utc).replace(tzinfo=None, second=0, microsecond=0)
    rt.sessions.add(SessionDraft(title="Repair cafés exchange", start=start, tz="UTC", channels=("slack:C1",)))
    assert queue_pulse(rt.sessions, rt.knowledge, {"slack": "C1"}, now) == 1
    assert queue_pulse(rt.sessions, rt.knowledge, {"slack": "C1"}, now + timedelta(seconds=5)) == 0
    year, week, _ = now.isocalendar()
    [row] = messages(outbox_rows(rt, "pulse:"))
    assert (row.key, row.platform, row.channel) == (f"pulse:{year}-W{week:02d}:slack", "slack", "C1")
    [pending] = rt.outbox.claim("slack", now=now + timedelta(seconds=1))
    rt.outbox.sent(pending.id)
    text = pending.reply.as_text()
    assert "1 new solution(s):\n- Neighbourhood repair cafés (Bilbao)" in text
    assert f"#{asked.question_id} how do we teach penguins to juggle flaming bagpipes?" in text
    assert "Repair cafés exchange:" in text

    # eight days later is another ISO week, and this week's news is old news
    later = now + timedelta(days=8)
    assert queue_pulse(rt.sessions, rt.knowledge, {"slack": "C1"}, later) == 1
    newest = [p.reply.as_text() for p in rt.outbox.claim("slack", now=later)]
    assert len(newest) == 1
    assert "No new solution this week." in newest[0] and "No question was asked this week." in newest[0]
    assert "Every question found an answer" not in newest[0]  # nobody asked: nothing was answered either


@pytest.mark.parametrize("command, field", [
    ("session add title:x", "tz"),
    ("session add title:x tz:Europe/Madrid", "start"),
    ("session add title:x start:2020-01-01T10:00 tz:Europe/Madrid", "start"),
    ("session add title:x start:2030-01-01T10:00 tz:Europe/Madrid repeat:hourly", "repeat"),
    ("session add title:x start:2030-01-01T10:00 tz:Europe/Madrid count:3", "count"),
    ("session add title:x start:2030-01-01T10:00 tz:Europe/Madrid repeat:weekly count:many", "count"),
    ("session add title:x start:2030-01-01T10:00 tz:Europe/Madrid repeat:weekly until:soon", "until"),
    ("session add title:x start:2030-01-01T10:00 tz:Europe/Madrid duration:0", "duration"),
    ("session add title:x start:2030-01-01T10:00 tz:Europe/Madrid video:ftp://x", "video"),
    ("session add title:x start:2030-01-01T10:00 tz:Europe/Madrid channel:nowhere", "channels"),
    ('session add title:"" start:2030-01-01T10:00 tz:Europe/Madrid', "title"),
    ("session show one", None),
])
def test_an_error_names_the_field_it_is_about_so_forms_need_not_read_the_message(
        network: Runtime, command: str, field: str | None) -> None:
    from bot.messages import reply_from_dict, reply_to_dict

    [reply] = say(TestAdapter(network.bot, platform="slack", user="BOSS"), command).replies
    assert reply.is_error and reply.field == field, (reply.as_text(), reply.field)
    assert reply_from_dict(reply_to_dict(reply)).field == field  # it survives the stored outbox too
