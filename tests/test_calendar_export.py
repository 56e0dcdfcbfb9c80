"""Calendar export: the .ics parses back to the same local series, and the Google link carries it too.

Expected instants are worked out by hand: Madrid is +01:00 until 2027-03-28 and from 2027-10-31, +02:00 between;
Los Angeles is -07:00 until 2027-11-07, -08:00 after.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr
from icalendar import Calendar, Event

from bot.sessions.calendars import google_calendar_link, session_ics
from bot.sessions.recurrence import Schedule

MADRID = ZoneInfo("Europe/Madrid")
START = datetime(2027, 3, 16, 15, 0)
STAMP = datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def ics(schedule: Schedule, **kwargs: object) -> tuple[bytes, Calendar, Event]:
    raw = session_ics(uid="session-7@rrr-bot", title="Heat plans: peers; Q&A", schedule=schedule, now=STAMP,
                      **kwargs)  # type: ignore[arg-type]
    calendar = Calendar.from_ical(raw)
    events = calendar.walk("VEVENT")
    assert len(events) == 1
    return raw, calendar, events[0]


def expand(event: Event, limit: int = 50) -> list[datetime]:
    """The event's starts in UTC, expanded the way a calendar app would: RRULE from the local DTSTART."""
    dtstart = event["DTSTART"].dt
    local = list(rrulestr(event["RRULE"].to_ical().decode(), dtstart=dtstart)[:limit])
    excluded = {d.dt for prop in _list(event.get("EXDATE")) for d in prop.dts}
    return [d.astimezone(UTC) for d in local if d not in excluded]


def _list(value: object) -> list:
    return [] if value is None else value if isinstance(value, list) else [value]


def test_calendar_header_and_event_fields() -> None:
    schedule = Schedule(START, "Europe/Madrid", timedelta(minutes=90), rule="FREQ=WEEKLY", count=10)
    raw, calendar, event = ics(schedule, description="Agenda: heat waves", url="https://rrr.example/s/7")
    assert str(calendar["PRODID"]) == "-//RRR network//rrr-bot//EN"
    assert str(calendar["VERSION"]) == "2.0" and str(calendar["METHOD"]) == "PUBLISH"
    assert str(event["UID"]) == "session-7@rrr-bot"
    assert str(event["SUMMARY"]) == "Heat plans: peers; Q&A"
    assert str(event["DESCRIPTION"]) == "Agenda: heat waves\nhttps://rrr.example/s/7"
    assert str(event["URL"]) == "https://rrr.example/s/7"
    assert event["DTSTAMP"].dt == STAMP
    assert str(event["STATUS"]) == "CONFIRMED"
    assert b"\r\n" in raw and raw.count(b"\n") == raw.count(b"\r\n")


def test_dtstart_is_local_wall_clock_with_its_zone() -> None:
    _, _, event = ics(Schedule(START, "Europe/Madrid", timedelta(minutes=90), rule="FREQ=WEEKLY", count=10))
    start, end = event["DTSTART"].dt, event["DTEND"].dt
    assert start.replace(tzinfo=None) == START and start.tzinfo.key == "Europe/Madrid"
    assert end.replace(tzinfo=None) == datetime(2027, 3, 16, 16, 30) and end.tzinfo.key == "Europe/Madrid"
    assert event["DTSTART"].params["TZID"] == "Europe/Madrid"


def test_rrule_count_expands_to_the_right_utc_instants_across_dst() -> None:
    raw, _, event = ics(Schedule(START, "Europe/Madrid", rule="FREQ=WEEKLY", count=4))
    assert b"RRULE:FREQ=WEEKLY;COUNT=4" in raw
    assert dict(event["RRULE"]) == {"FREQ": ["WEEKLY"], "COUNT": [4]}
    assert expand(event) == [utc(2027, 3, 16, 14), utc(2027, 3, 23, 14), utc(2027, 3, 30, 13), utc(2027, 4, 6, 13)]


def test_until_is_given_in_utc_and_ends_the_series() -> None:
    schedule = Schedule(START, "Europe/Madrid", rule="FREQ=MONTHLY;BYDAY=+3TU", until=date(2027, 12, 31))
    raw, _, event = ics(schedule)
    # End of 2027-12-31 in Madrid (+01:00) is 22:59:59Z.
    assert b"UNTIL=20271231T225959Z" in raw
    assert event["RRULE"]["UNTIL"] == [utc(2027, 12, 31, 22, 59, 59)]
    found = expand(event)
    assert len(found) == 10  # March to December
    assert found[:2] == [utc(2027, 3, 16, 14), utc(2027, 4, 20, 13)]
    assert found[-2:] == [utc(2027, 11, 16, 14), utc(2027, 12, 21, 14)]


def test_los_angeles_series_across_november() -> None:
    schedule = Schedule(datetime(2027, 10, 25, 9), "America/Los_Angeles", rule="FREQ=WEEKLY", until=date(2027, 11, 8))
    raw, _, event = ics(schedule)
    assert b"UNTIL=20271109T075959Z" in raw  # end of 11-08 at -08:00
    assert expand(event) == [utc(2027, 10, 25, 16), utc(2027, 11, 1, 16), utc(2027, 11, 8, 17)]


def test_skipped_start_becomes_exdate() -> None:
    schedule = Schedule(START, "Europe/Madrid", rule="FREQ=WEEKLY", count=3,
                        skipped=frozenset({datetime(2027, 3, 23, 15)}))
    raw, _, event = ics(schedule)
    assert b"EXDATE;TZID=Europe/Madrid:20270323T150000" in raw
    exdates = [d.dt for prop in _list(event.get("EXDATE")) for d in prop.dts]
    assert exdates == [datetime(2027, 3, 23, 15, tzinfo=MADRID)]
    assert expand(event) == [utc(2027, 3, 16, 14), utc(2027, 3, 30, 13)]


def test_cancelled_session_and_one_off() -> None:
    raw, _, event = ics(Schedule(START, "Europe/Madrid"), cancelled=True)
    assert str(event["STATUS"]) == "CANCELLED"
    assert "RRULE" not in event and "EXDATE" not in event and "URL" not in event
    assert b"STATUS:CANCELLED" in raw


def test_vtimezone_is_included() -> None:
    _, calendar, _ = ics(Schedule(START, "Europe/Madrid", rule="FREQ=WEEKLY"))
    zones = calendar.walk("VTIMEZONE")
    assert [str(z["TZID"]) for z in zones] == ["Europe/Madrid"]
    offsets = {sub["TZOFFSETTO"].td for sub in zones[0].subcomponents}
    assert offsets == {timedelta(hours=1), timedelta(hours=2)}
    assert calendar.get_missing_tzids() == set()


def test_spring_gap_start_keeps_its_wall_clock_and_a_one_hour_end() -> None:
    _, _, event = ics(Schedule(datetime(2027, 3, 28, 2, 30), "Europe/Madrid"))
    assert event["DTSTART"].dt.replace(tzinfo=None) == datetime(2027, 3, 28, 2, 30)
    # 02:30 does not exist; read as 01:30Z (03:30 local), it ends an hour later at 04:30 local.
    assert event["DTEND"].dt.replace(tzinfo=None) == datetime(2027, 3, 28, 4, 30)


def query(link: str) -> dict[str, str]:
    parts = urlsplit(link)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "calendar.google.com", "/calendar/render")
    values = parse_qs(parts.query, keep_blank_values=True, strict_parsing=True)
    assert all(len(v) == 1 for v in values.values())
    return {k: v[0] for k, v in values.items()}


def test_google_link_for_a_series() -> None:
    schedule = Schedule(START, "Europe/Madrid", timedelta(minutes=90), rule="FREQ=WEEKLY", count=10)
    link = google_calendar_link(title="Heat plans & Q+A", schedule=schedule, details="Bring data; 2 pages")
    assert query(link) == {"action": "TEMPLATE", "text": "Heat plans & Q+A",
                           "dates": "20270316T150000/20270316T163000", "details": "Bring data; 2 pages",
                           "ctz": "Europe/Madrid", "recur": "RRULE:FREQ=WEEKLY;COUNT=10"}
    assert "+" not in link.split("?", 1)[1]  # spaces are %20 and '+' is %2B (quote, not quote_plus)


def test_google_link_with_until_and_a_numbered_weekday() -> None:
    schedule = Schedule(START, "Europe/Madrid", rule="FREQ=MONTHLY;BYDAY=+3TU", until=date(2027, 12, 31))
    values = query(google_calendar_link(title="Monthly", schedule=schedule))
    assert values["recur"] == "RRULE:FREQ=MONTHLY;BYDAY=+3TU;UNTIL=20271231T225959Z"
    assert values["dates"] == "20270316T150000/20270316T160000"


def test_google_link_for_a_one_off_has_no_recur() -> None:
    values = query(google_calendar_link(title="Kick-off", schedule=Schedule(datetime(2027, 6, 1, 10),
                                                                            "America/Sao_Paulo")))
    assert values["dates"] == "20270601T100000/20270601T110000" and values["ctz"] == "America/Sao_Paulo"
    assert "recur" not in values and values["text"] == "Kick-off"
