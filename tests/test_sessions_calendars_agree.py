"""One calendar truth: ``occurrences``, reminders, the .ics and the Google Calendar link give the same dates, skipped
ones left out, across the 2027 daylight-saving changes.

The .ics is expanded by an independent RFC 5545 library (recurring-ical-events); the Google link's ``dates``,
``ctz`` and ``recur`` lines are expanded with dateutil and compared by instant, as a calendar does.

Europe/Madrid moves from 02:00 to 03:00 on 2027-03-28 (02:30 does not exist: it is read as 03:30 CEST, 01:30 UTC)
and from 03:00 back to 02:00 on 2027-10-31 (02:30 happens twice: the first one, 00:30 UTC, is meant).
America/Sao_Paulo and America/Mexico_City keep one offset all year (-03:00 and -06:00 since 2019 and 2022).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import recurring_ical_events
from dateutil.rrule import rrulestr
from icalendar import Calendar
from typer.testing import CliRunner

from adapters.cli import app
from bot import Runtime
from bot.errors import InvalidInput
from bot.sessions.calendars import google_calendar_link, session_ics
from bot.sessions.recurrence import Schedule
from bot.sessions.service import Sessions
from bot.sessions import views as session_views
from bot.sessions.draft import SessionDraft

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
GAP_DAY = datetime(2027, 3, 28, 1, 30, tzinfo=UTC)  # 02:30 Madrid on the day of the change to summer time
FOLD_DAY = datetime(2027, 10, 31, 0, 30, tzinfo=UTC)  # the first 02:30 Madrid on the day back to winter time


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def ics_starts(raw: bytes) -> list[datetime]:
    """The starts of the .ics in UTC, expanded by recurring-ical-events."""
    calendar = Calendar.from_ical(raw)
    events = recurring_ical_events.of(calendar).between(date(2026, 1, 1), date(2032, 1, 1))
    return sorted(e["DTSTART"].dt.astimezone(UTC) for e in events)


def link_starts(url: str, limit: int = 600) -> list[datetime]:
    """The starts a Google Calendar link creates, in UTC: ``dates`` read in ``ctz``, then the ``recur`` lines.

    Times are compared as instants (a local time in the spring-forward gap is read with the offset before it).
    """
    query = parse_qs(urlsplit(url).query, strict_parsing=True)
    assert query["action"] == ["TEMPLATE"]
    zone = ZoneInfo(query["ctz"][0])
    start = datetime.strptime(query["dates"][0].split("/")[0], "%Y%m%dT%H%M%S")
    lines = query["recur"][0].split("\n") if "recur" in query else []
    rules = [line for line in lines if line.startswith("RRULE:")]
    assert len(rules) <= 1 and all(line.startswith(("RRULE:", "EXDATE;TZID=")) for line in lines), lines
    aware = start.replace(tzinfo=zone)  # dateutil steps in wall-clock time and keeps the zone (fold=0)
    local = list(rrulestr(rules[0], dtstart=aware)[:limit]) if rules else [aware]
    excluded: set[datetime] = set()
    for line in lines:
        if line.startswith("EXDATE;TZID="):
            params, _, values = line.partition(":")
            exzone = ZoneInfo(params.removeprefix("EXDATE;TZID="))
            excluded |= {_instant(datetime.strptime(v, "%Y%m%dT%H%M%S"), exzone) for v in values.split(",")}
    return [s for s in (d.astimezone(UTC) for d in local) if s not in excluded]


def _instant(naive: datetime, zone: ZoneInfo) -> datetime:
    return naive.replace(tzinfo=zone, fold=0).astimezone(UTC)


def occurrence_starts(schedule: Schedule) -> list[datetime]:
    return [o.start_utc for o in schedule.occurrences(limit=500)]


def assert_agree(schedule: Schedule) -> list[datetime]:
    """occurrences == .ics == Google link; returns the dates."""
    expected = occurrence_starts(schedule)
    raw = session_ics(uid="s@rrr-bot", title="T", schedule=schedule, now=NOW)
    assert ics_starts(raw) == expected
    assert link_starts(google_calendar_link(title="T", schedule=schedule)) == expected
    return expected


# -- skipping a date in the spring-forward gap and in the autumn fold ----------------------------------------------


def test_skip_next_skips_a_date_in_the_spring_forward_gap(runtime: Runtime) -> None:
    sessions = runtime.sessions
    info = sessions.add(SessionDraft(title="T", start="2027-03-25T02:30", tz="Europe/Madrid", repeat="daily",
                                     count=10, channels=("slack:C1",), reminders=(15,)), now=NOW)
    skipped = [sessions.skip_next(info.id, now=NOW) for _ in range(4)]
    assert [o.start_utc for o in skipped] == [utc(2027, 3, 25, 1, 30), utc(2027, 3, 26, 1, 30),
                                              utc(2027, 3, 27, 1, 30), GAP_DAY]
    assert f"{skipped[-1].start_local:%Y-%m-%d %H:%M %Z}" == "2027-03-28 03:30 CEST"
    fifth = sessions.skip_next(info.id, now=NOW)  # the next call skips the next date, not the gap date again
    assert fifth.start_utc == utc(2027, 3, 29, 0, 30)

    starts = [o.start_utc for o in sessions.occurrences(info.id, count=20)]
    assert GAP_DAY not in starts and starts[0] == utc(2027, 3, 30, 0, 30) and len(starts) == 5
    assert ics_starts(sessions.ics(info.id, now=NOW)) == starts
    assert link_starts(sessions.calendar_link(sessions.get(info.id))) == starts

    # no reminder for the skipped gap date, whether planned ahead or found due just before it
    planned = sessions.reminder_times(utc(2027, 3, 27, 12), timedelta(days=3))
    assert [key for _, _, key, _ in planned] == ["20270330T003000Z"]  # the 28th and 29th are skipped
    assert sessions.due_reminders(GAP_DAY - timedelta(minutes=10)) == []
    assert sessions.due_reminders(utc(2027, 3, 30, 0, 20))[0].occurrence.start_utc == utc(2027, 3, 30, 0, 30)


def test_a_gap_date_skipped_before_the_fix_stays_skipped() -> None:
    """Older rows hold a skipped gap date by the shifted time people saw (03:30): it still names that date."""
    schedule = Schedule(datetime(2027, 3, 25, 2, 30), "Europe/Madrid", rule="FREQ=DAILY", count=6,
                        skipped=frozenset({datetime(2027, 3, 28, 3, 30)}))
    dates = assert_agree(schedule)
    assert GAP_DAY not in dates and len(dates) == 5
    [gone] = schedule.skipped_occurrences()
    assert gone.start_utc == GAP_DAY and gone.start_local.hour == 3


def test_skip_next_in_the_autumn_fold_skips_the_first_0230(runtime: Runtime) -> None:
    sessions = runtime.sessions
    info = sessions.add(SessionDraft(title="T", start="2027-10-30T02:30", tz="Europe/Madrid", repeat="daily",
                                     count=4), now=NOW)
    assert sessions.skip_next(info.id, now=NOW).start_utc == utc(2027, 10, 30, 0, 30)
    skipped = sessions.skip_next(info.id, now=NOW)
    assert skipped.start_utc == FOLD_DAY and f"{skipped.start_local:%H:%M %Z}" == "02:30 CEST"
    starts = [o.start_utc for o in sessions.occurrences(info.id)]
    assert starts == [utc(2027, 11, 1, 1, 30), utc(2027, 11, 2, 1, 30)]  # 02:30 CET
    assert ics_starts(sessions.ics(info.id, now=NOW)) == starts
    assert link_starts(sessions.calendar_link(sessions.get(info.id))) == starts


# -- the three calendars agree across zones, rules and skipped dates ---------------------------------------------

ZONES = ("Europe/Madrid", "America/Sao_Paulo", "America/Mexico_City")
#: (start, rule) pairs; the Madrid gap and fold fall inside every series.
SERIES = [
    (datetime(2027, 3, 20, 2, 30), "FREQ=DAILY"),
    (datetime(2027, 3, 14, 2, 30), "FREQ=WEEKLY"),
    (datetime(2027, 3, 14, 2, 30), "FREQ=WEEKLY;INTERVAL=2;BYDAY=TH,SU"),
    (datetime(2027, 1, 31, 2, 30), "FREQ=MONTHLY;BYDAY=-1SU"),
    (datetime(2027, 3, 9, 18, 0), "FREQ=MONTHLY;BYDAY=+2TU"),
]


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("start, rule", SERIES)
@pytest.mark.parametrize("skip", ["none", "first", "first two and the 4th", "the 3rd and the 5th"])
def test_occurrences_ics_and_google_link_agree(zone: str, start: datetime, rule: str, skip: str) -> None:
    rule_dates = list(rrulestr(rule, dtstart=start)[:12])  # the rule's wall-clock dates, the skip ids
    picks = {"none": [], "first": [0], "first two and the 4th": [0, 1, 3], "the 3rd and the 5th": [2, 4]}[skip]
    schedule = Schedule(start, zone, rule=rule, count=12, skipped=frozenset(rule_dates[i] for i in picks))
    expected = [_instant(d, ZoneInfo(zone)) for i, d in enumerate(rule_dates) if i not in picks]
    assert assert_agree(schedule) == expected and len(expected) == 12 - len(picks)


@pytest.mark.parametrize("until", [None, date(2027, 12, 31)])
def test_until_and_endless_series_agree_with_skipped_dates(until: date | None) -> None:
    schedule = Schedule(datetime(2027, 3, 21, 2, 30), "Europe/Madrid", rule="FREQ=WEEKLY", until=until,
                        skipped=frozenset({datetime(2027, 3, 21, 2, 30), datetime(2027, 3, 28, 2, 30),
                                           datetime(2027, 10, 31, 2, 30)}))
    expected = [start for start in occurrence_starts(schedule) if start.year < 2032]  # ics_starts' window
    assert expected[0] == utc(2027, 4, 4, 0, 30) and GAP_DAY not in expected and FOLD_DAY not in expected
    assert len(expected) == (38 if until else 247)  # Sundays to 2031, 3 skipped
    link = link_starts(google_calendar_link(title="T", schedule=schedule), limit=len(expected) + 3)
    raw = session_ics(uid="s@rrr-bot", title="T", schedule=schedule, now=NOW)
    assert ics_starts(raw) == expected and link[:len(expected)] == expected


def test_google_link_of_a_weekly_session_with_two_skipped_dates_creates_38_events() -> None:
    start = datetime(2027, 3, 16, 15, 0)
    schedule = Schedule(start, "Europe/Madrid", rule="FREQ=WEEKLY", count=40,
                        skipped=frozenset({datetime(2027, 3, 30, 15, 0), datetime(2027, 6, 1, 15, 0)}))
    url = google_calendar_link(title="Working group", schedule=schedule)
    recur = parse_qs(urlsplit(url).query)["recur"][0]
    assert recur == ("RRULE:FREQ=WEEKLY;COUNT=40\n"
                     "EXDATE;TZID=Europe/Madrid:20270330T150000,20270601T150000")
    assert len(link_starts(url)) == 38 == len(assert_agree(schedule))


def test_google_link_starts_at_the_first_date_left() -> None:
    """A skipped first date moves the link's start (and shortens COUNT) rather than relying on EXDATE of DTSTART."""
    schedule = Schedule(datetime(2027, 3, 16, 15, 0), "Europe/Madrid", timedelta(minutes=90), rule="FREQ=WEEKLY",
                        count=4, skipped=frozenset({datetime(2027, 3, 16, 15, 0)}))
    query = parse_qs(urlsplit(google_calendar_link(title="T", schedule=schedule)).query)
    assert query["dates"] == ["20270323T150000/20270323T163000"]
    assert query["recur"] == ["RRULE:FREQ=WEEKLY;COUNT=3"]


def test_every_date_skipped_still_gives_a_link_and_no_occurrence() -> None:
    schedule = Schedule(datetime(2027, 3, 16, 15, 0), "Europe/Madrid", rule="FREQ=WEEKLY", count=2,
                        skipped=frozenset({datetime(2027, 3, 16, 15, 0), datetime(2027, 3, 23, 15, 0)}))
    assert assert_agree(schedule) == []
    with pytest.raises(InvalidInput, match="Every occurrence"):
        schedule.first()


# -- the command line: --json on cancel and skip-next, skipped dates in show ----------------------------------


def cli(data_dir: Path, *args: str):
    result = CliRunner().invoke(app, list(args), env={"RRR_DATA_DIR": str(data_dir)})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


GAP_ADD = ("sessions", "add", "--title", "T", "--start", "2027-03-27T02:30", "--tz", "Europe/Madrid",
           "--repeat", "daily", "--count", "4")


def test_cli_skip_next_json_through_the_gap(cli_env: None, tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert cli(data, *GAP_ADD).exit_code == 0
    first = cli(data, "sessions", "skip-next", "1", "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout) == {
        "id": 1, "title": "T",
        "skipped": {"start_utc": "2027-03-27T01:30:00+00:00", "start_local": "2027-03-27T02:30:00+01:00"},
        "next": {"start_utc": "2027-03-28T01:30:00+00:00", "start_local": "2027-03-28T03:30:00+02:00"}}
    second = json.loads(cli(data, "sessions", "skip-next", "1", "--json").stdout)
    assert second["skipped"]["start_utc"] == "2027-03-28T01:30:00+00:00"
    assert second["next"]["start_utc"] == "2027-03-29T00:30:00+00:00"
    occurrences = json.loads(cli(data, "sessions", "occurrences", "1", "--json").stdout)
    assert [o["start_utc"] for o in occurrences] == ["2027-03-29T00:30:00+00:00", "2027-03-30T00:30:00+00:00"]

    shown = cli(data, "sessions", "show", "1")
    assert shown.stdout.splitlines()[1] == "Skipped: 2027-03-27 02:30 CET, 2027-03-28 03:30 CEST"
    info = json.loads(cli(data, "sessions", "show", "1", "--json").stdout)
    assert [s["start_local"] for s in info["skipped"]] == ["2027-03-27T02:30:00+01:00", "2027-03-28T03:30:00+02:00"]
    expected = [datetime.fromisoformat(o["start_utc"]) for o in occurrences]
    assert link_starts(info["google_calendar_url"]) == expected

    ics = tmp_path / "t.ics"
    assert cli(data, "sessions", "ics", "1", "-o", str(ics)).exit_code == 0
    assert ics_starts(ics.read_bytes()) == expected

    assert json.loads(cli(data, "sessions", "skip-next", "1", "--json").stdout)["next"] is not None
    last = json.loads(cli(data, "sessions", "skip-next", "1", "--json").stdout)
    assert last["skipped"]["start_utc"] == "2027-03-30T00:30:00+00:00" and last["next"] is None
    nothing = cli(data, "sessions", "skip-next", "1", "--json")
    assert nothing.exit_code == 1 and nothing.stdout == ""
    assert nothing.stderr.strip() == "error: Session 1 has no future occurrence to skip."


def test_cli_cancel_json(cli_env: None, tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert cli(data, *GAP_ADD).exit_code == 0
    cancelled = cli(data, "sessions", "cancel", "1", "--json")
    assert cancelled.exit_code == 0, cancelled.output
    info = json.loads(cancelled.stdout)
    assert (info["id"], info["title"], info["cancelled"], info["skipped"]) == (1, "T", True, [])
    again = cli(data, "sessions", "cancel", "1", "--json")
    assert again.exit_code == 1 and again.stdout == ""
    assert again.stderr.strip() == "error: Session 1 ('T') is cancelled."


@pytest.mark.parametrize("command", ["cancel", "skip-next"])
def test_cli_json_commands_refuse_an_unknown_session_in_one_line(cli_env: None, tmp_path: Path,
                                                                 command: str) -> None:
    result = cli(tmp_path / "data", "sessions", command, "99", "--json")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.strip() == "error: No session 99. `session list` shows them."


def test_the_card_names_the_skipped_dates_to_come(runtime: Runtime) -> None:
    sessions: Sessions = runtime.sessions
    info = sessions.add(SessionDraft(title="T", start="2027-03-25T02:30", tz="Europe/Madrid", repeat="daily",
                                     count=10), now=NOW)
    for _ in range(4):
        sessions.skip_next(info.id, now=NOW)
    text = session_views.card(sessions.card(sessions.get(info.id))).as_text()
    assert "2027-03-25 02:30 CET, 2027-03-26 02:30 CET, 2027-03-27 02:30 CET and 1 more" in text
