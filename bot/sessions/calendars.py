"""A session as an iCalendar (.ics) file and as an "add to Google Calendar" link.

Both carry the local wall-clock start with its IANA zone and the recurrence rule, so calendar apps expand the
series themselves and keep the local time across daylight-saving changes, as :mod:`.recurrence` does.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import quote, unquote, urlencode
from zoneinfo import ZoneInfo

from .recurrence import Schedule, check_zone

_PRODID = "-//RRR network//rrr-bot//EN"
_GOOGLE_RENDER = "https://calendar.google.com/calendar/render"
#: How many years after the start (or the until date) the VTIMEZONE lists offset changes for.
_ZONE_YEARS = 30
_LOCAL_STAMP = "%Y%m%dT%H%M%S"
#: What a shortened ``details`` of a Google link ends with: the .ics and the session card hold the whole agenda.
CUT_NOTE = "… (the full agenda is in the session's calendar file)"


def session_ics(*, uid: str, title: str, schedule: Schedule, description: str = "", url: str | None = None,
                cancelled: bool = False, now: datetime | None = None) -> bytes:
    """An .ics calendar (METHOD:PUBLISH, CRLF line endings) holding the session as one VEVENT with its VTIMEZONE."""
    from icalendar import Calendar, Event, vRecur  # only here: it costs every command's start otherwise

    zone = check_zone(schedule.tz)
    calendar = Calendar()
    calendar.add("prodid", _PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0))
    event.add("summary", title)
    text = "\n".join(part for part in (description, url) if part)
    if text:
        event.add("description", text)
    if url:
        event.add("url", url)
    event.add("dtstart", schedule.start.replace(tzinfo=zone))
    event.add("dtend", _local_end(schedule, zone).replace(tzinfo=zone))
    if schedule.rule is not None:
        recur = vRecur.from_ical(schedule.rule)
        if schedule.count is not None:
            recur["COUNT"] = [schedule.count]
        if schedule.until is not None:
            recur["UNTIL"] = [_until_utc(schedule.until, zone)]
        event.add("rrule", recur)
    for skipped in schedule.skipped_occurrences():  # by the local time people see (03:30 in a 02:30 gap)
        event.add("exdate", skipped.start_local)
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    calendar.add_component(event)
    last = schedule.until or schedule.start.date()
    calendar.add_missing_timezones(first_date=date(schedule.start.year, 1, 1),
                                   last_date=date(last.year + _ZONE_YEARS, 1, 1))
    return calendar.to_ical()


def google_calendar_link(*, title: str, schedule: Schedule, details: str = "") -> str:
    """A Google Calendar "create event" link: local start/end with ``ctz``, plus ``recur`` for a series.

    The link gives the same dates as the .ics: skipped dates at the head of the series move its start to the first
    date left (and shorten COUNT to match), the others go in an ``EXDATE`` line of ``recur`` (the lines that
    Google's recurrence field takes, RFC 5545, one per line).
    """
    zone = check_zone(schedule.tz)
    schedule = _without_leading_skips(schedule)
    params = {"action": "TEMPLATE", "text": title,
              "dates": f"{schedule.start:{_LOCAL_STAMP}}/{_local_end(schedule, zone):{_LOCAL_STAMP}}"}
    if details:
        params["details"] = details
    params["ctz"] = schedule.tz
    if schedule.rule is not None:
        lines = [f"RRULE:{schedule.rule}{_bounds(schedule, zone)}"]
        first = schedule.start.replace(tzinfo=zone, fold=0).astimezone(UTC)
        if skipped := [o for o in schedule.skipped_occurrences() if o.start_utc >= first]:
            stamps = ",".join(f"{o.start_local:{_LOCAL_STAMP}}" for o in skipped)
            lines.append(f"EXDATE;TZID={schedule.tz}:{stamps}")
        params["recur"] = "\n".join(lines)
    return f"{_GOOGLE_RENDER}?{urlencode(params, quote_via=quote)}"


def fit_google_link(url: str, max_length: int) -> str | None:
    """``url`` when it has at most ``max_length`` characters; else, for a Google Calendar link made by
    :func:`google_calendar_link`, the same link with its ``details`` cut (ending in :data:`CUT_NOTE`, or left out)
    until it fits; None when it cannot fit. Title, dates, zone and recurrence (skipped dates included) stay exact:
    only the ``details`` parameter changes, every other byte of the link is kept."""
    if len(url) <= max_length:
        return url
    head, sep, query = url.partition("?")
    if head != _GOOGLE_RENDER or not sep:
        return None
    params = query.split("&")
    index = next((i for i, p in enumerate(params) if p.startswith("details=")), None)
    if index is None:
        return None
    details = unquote(params[index].removeprefix("details="))

    def with_details(text: str) -> str:
        rest = params[:index] + ([f"details={quote(text, safe='')}"] if text else []) + params[index + 1:]
        return f"{head}?{'&'.join(rest)}"

    if len(with_details("")) > max_length:
        return None
    low, high = 0, len(details)  # the longest head of the agenda that fits with the note: a binary search
    while low < high:
        middle = (low + high + 1) // 2
        if len(with_details(details[:middle].rstrip() + CUT_NOTE)) <= max_length:
            low = middle
        else:
            high = middle - 1
    cut = details[:low]
    if low < len(details) and " " in cut[len(cut) // 2:]:  # end on a whole word when one is near
        cut = cut[:cut.rstrip().rfind(" ")]
    return with_details(cut.rstrip() + CUT_NOTE) if cut.strip() else with_details("")


def _without_leading_skips(schedule: Schedule) -> Schedule:
    """The series from its first date that is not skipped, with the same dates (COUNT counts the dates dropped).

    A date of the rule starts the same series: the rule's periods (weeks, months, every N days) stay aligned.
    """
    if schedule.rule is None or not schedule.skipped:
        return schedule
    for dropped, occurrence in enumerate(schedule.rule_starts()):
        if not schedule.is_skipped(occurrence):
            if dropped == 0 or occurrence.rule_local is None:
                return schedule
            count = None if schedule.count is None else schedule.count - dropped
            return replace(schedule, start=occurrence.rule_local, count=count)
    return schedule  # every date is skipped: nothing better to offer than the series as it is


def _local_end(schedule: Schedule, zone: ZoneInfo) -> datetime:
    """The naive local end of the first session: its real instant plus the duration, so a DST change inside the
    session (or a start in the spring-forward gap) keeps the duration exact."""
    start_utc = schedule.start.replace(tzinfo=zone, fold=0).astimezone(UTC)
    return (start_utc + schedule.duration).astimezone(zone).replace(tzinfo=None)


def _until_utc(until: date, zone: ZoneInfo) -> datetime:
    """The last second of the local day ``until``, in UTC (RFC 5545: UNTIL is UTC when DTSTART has a TZID)."""
    end_of_day = datetime.combine(until + timedelta(days=1), time(), tzinfo=zone).astimezone(UTC)
    return end_of_day - timedelta(seconds=1)


def _bounds(schedule: Schedule, zone: ZoneInfo) -> str:
    if schedule.count is not None:
        return f";COUNT={schedule.count}"
    if schedule.until is not None:
        return f";UNTIL={_until_utc(schedule.until, zone):%Y%m%dT%H%M%SZ}"
    return ""
