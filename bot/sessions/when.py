"""Session starts as people type them, and moments as people read them.

:func:`parse_start` reads a typed start into a naive local wall-clock time of the session's zone:

* ISO 8601 (``2027-03-16T15:00``, ``2027-03-16 15:00``) exactly as :func:`~.recurrence.parse_local` always read it;
* anything else with `dateparser <https://dateparser.readthedocs.io>`_ in the network's languages (en, es, pt, fr,
  it, pl, nl): ``tomorrow 3pm``, ``next Tuesday 15:00``, ``16 March 15:00``, ``mardi prochain 15h``,
  ``el martes a las 15:00``, ``amanhã às 15h``, ``domani alle 15``, ``jutro o 15:00``, ``morgen om 15:00``.

The time of day is read here (``15:00``, ``15h``, ``3pm``, ``alle 15``, ``noon``), the date by dateparser, relative to
``now`` in the session's zone (passed in: there is no hidden clock). Nothing is guessed: no time of day, a vague day
("next week"), a numeric date that reads two ways (03/04), "at 3" without am/pm, a zone inside the text, or a time
already past is refused with a one-line :class:`~bot.errors.InvalidInput` naming the forms to type. A weekday or a date
that is today means today ("Tuesday 15:00" typed on a Tuesday morning); "next Tuesday" on a Tuesday is in a week.

:func:`human_time` writes a moment the way the console shows it: ``Tue 16 Mar 2027, 15:00 CET (14:00 UTC)``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ..errors import InvalidInput
from .recurrence import check_zone, parse_local

#: The network's languages (DESIGN.md), in which typed dates are read.
LANGUAGES = ("en", "es", "pt", "fr", "it", "pl", "nl")
#: The forms named in every refusal.
FORMS = ("Type a date and a time of day in the session's zone, e.g. 2027-03-16T15:00, 16 March 15:00, tomorrow 3pm, "
         "next Tuesday 15:00, martes 16:00 or le 16 mars à 15h.")
MAX_TEXT = 100

_ISO = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_AMPM = r"(?P<{}>[ap]\.?\s?m\.?)(?!\w)"
#: Words that introduce a time of day: at, a las, às, à, alle (ore), o (godz.), om.
_LEAD = r"(?:(?P<lead>at|@|a\s+las|a\s+la|às|ás|as|à|a|alle\s+ore|alle|all'|ore|o\s+godz\.?|o|godz\.?|om)\s*)?"
_HOURS = r"(?:h|hs|heures?|horas?|uur|u)(?!\w)"
_TIME = re.compile(
    rf"(?<![\w:/.-]){_LEAD}(?:"
    rf"(?P<h>\d{{1,2}})\s*(?::|h|\.(?=\d\d\s*{_HOURS}))(?P<m>\d{{2}})(?![\d:/.-]\d)\s*(?:{_AMPM.format('ap')}|{_HOURS})?"
    rf"|(?P<h2>\d{{1,2}})\s*{_AMPM.format('ap2')}"
    rf"|(?P<h3>\d{{1,2}})\s*{_HOURS}"
    rf"|(?P<noon>noon|midday|mediod[ií]a|meio-dia|midi|mezzogiorno|południe)(?!\w))",
    re.IGNORECASE)
#: A bare hour needs a lead word and nothing after it: "a las 15", "alle 15", "om 15", "at 15".
_BARE = re.compile(r"(?<!\w)(?P<lead>at|@|a\s+las|às|ás|à|alle\s+ore|alle|ore|o\s+godz\.?|o|godz\.?|om)\s+"
                   r"(?P<h>\d{1,2})(?=\s*(?:$|[,;)]))", re.IGNORECASE)
_NEXT = re.compile(r"(?<!\w)(?:next|coming|pr[oó]xim[oa]|que\s+viene|que\s+vem|prochaine?|prossim[oa]|"
                   r"przysz[lł][yaą]|nast[eę]pn[yaą]|volgende|komende)(?!\w)", re.IGNORECASE)
#: Articles and prepositions in front of a day that dateparser does not skip ("el viernes", "op dinsdag").
_FILLER = re.compile(r"^(?:el|la|il|ce|cette|na|no|op|em|dia)\s+", re.IGNORECASE)
_ZONE_WORD = re.compile(r"(?<!\w)(?:UTC|GMT|CET|CEST|WET|WEST|EET|EEST|BST|EST|EDT|CST|CDT|MST|MDT|PST|PDT|BRT)"
                        r"(?!\w)|(?<=\d:\d\d)\s*(?:Z|[+-]\d{1,2}(?::?\d{2})?)(?!\w)")
_NUMERIC_DATE = re.compile(r"(?<![\d/.-])(\d{1,2})[/.-](\d{1,2})(?:[/.-]\d{2,4})?(?![\d/.-])")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def parse_start(text: str, tz: str, now: datetime, *, languages: Sequence[str] = LANGUAGES) -> datetime:
    """The naive local start ``text`` means in zone ``tz`` (an IANA name), read relative to ``now`` (aware).

    ISO 8601 input is read as before (and checked for the past by the schedule, as before); typed words are read
    with dateparser and refused when in the past. Raises :class:`InvalidInput` with the accepted forms otherwise.
    """
    stripped = " ".join(str(text).split())
    if _ISO.match(stripped):
        return parse_local(stripped)
    zone = check_zone(tz)
    shown = _shown(stripped)
    if not stripped:
        raise InvalidInput(f"Cannot read the time ''. {FORMS}")
    if len(stripped) > MAX_TEXT:
        raise InvalidInput(f"The start '{shown}' is too long ({MAX_TEXT} characters at most). {FORMS}")
    if _ZONE_WORD.search(stripped):
        raise InvalidInput(f"'{shown}' names a time zone or UTC offset: give the local time in {tz} (the session's "
                           "zone; change it with the zone option), e.g. 16 March 15:00.")
    local_now = now.astimezone(zone).replace(tzinfo=None)
    clock, rest = _time_of_day(stripped, shown)
    day = _day(rest, shown, local_now, tuple(languages))
    start = datetime.combine(day, clock)
    if start.replace(tzinfo=zone, fold=0).astimezone(UTC) <= now:
        raise InvalidInput(f"'{shown}' is {human_local(start, tz)}, which is in the past. Give a time still to come, "
                           "e.g. tomorrow 15:00 or next Tuesday 15:00.")
    return start


def is_iso(text: str) -> bool:
    """Whether a typed start is an ISO 8601 local time (read exactly, never guessed), not words."""
    return bool(_ISO.match(" ".join(str(text).split())))


def human_local(local: datetime, tz: str) -> str:
    """A naive local time of zone ``tz`` in words: ``Tue 16 Mar 2027, 15:00 CET``."""
    zone = ZoneInfo(tz)
    aware = local.replace(tzinfo=zone, fold=0).astimezone(UTC).astimezone(zone)  # a gap time as people see it
    return f"{_date(aware)}, {aware:%H:%M} {_abbreviation(aware)}"


def human_time(moment: datetime, zone: ZoneInfo | str) -> str:
    """An aware ``moment`` in ``zone`` and in UTC: ``Tue 16 Mar 2027, 15:00 CET (14:00 UTC)``; the UTC date is
    added when it differs (``Wed 17 Mar 2027, 00:30 CET (Tue 16 Mar 23:30 UTC)``), the UTC part left out in UTC."""
    zone = ZoneInfo(zone) if isinstance(zone, str) else zone
    local, utc = moment.astimezone(zone), moment.astimezone(UTC)
    text = f"{_date(local)}, {local:%H:%M} {_abbreviation(local)}"
    if local.utcoffset() == timedelta(0) and _abbreviation(local) in ("UTC", "GMT"):
        return text
    on = "" if utc.date() == local.date() else f"{_DAYS[utc.weekday()]} {utc.day} {_MONTHS[utc.month - 1]} "
    return f"{text} ({on}{utc:%H:%M} UTC)"


def _date(moment: datetime) -> str:
    return f"{_DAYS[moment.weekday()]} {moment.day} {_MONTHS[moment.month - 1]} {moment.year}"


def _abbreviation(moment: datetime) -> str:
    """The zone's abbreviation (CET, EDT), or ``UTC-03`` for zones that have none (America/Sao_Paulo)."""
    name = moment.tzname() or ""
    return f"UTC{name}" if name[:1] in "+-" else name


def _shown(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."


def _time_of_day(text: str, shown: str) -> tuple[time, str]:
    """The time of day in ``text`` and the text without it (the date part)."""
    found = [(m, "time") for m in _TIME.finditer(text)] + [(m, "bare") for m in _BARE.finditer(text)]
    if not found:
        raise InvalidInput(f"Cannot read the time '{shown}': it has no time of day (15:00, 3pm, 15h). {FORMS}")
    if len(found) > 1:
        raise InvalidInput(f"'{shown}' has more than one time of day; give one. {FORMS}")
    match, kind = found[0]
    groups = match.groupdict()
    lead = (groups.get("lead") or "").lower()
    if groups.get("noon"):
        clock = (12, 0)
    else:
        hour = int(groups.get("h") or groups.get("h2") or groups.get("h3") or 0)
        minute = int(groups.get("m") or 0)
        meridiem = (groups.get("ap") or groups.get("ap2") or "").lower()[:1]
        if kind == "bare" and lead in ("at", "@") and 1 <= hour <= 12:
            raise InvalidInput(f"'{shown}': {hour} in the morning or in the afternoon? Write {hour}am, {hour}pm or "
                               f"{hour:02d}:00 (24-hour).")
        if meridiem:
            if not 1 <= hour <= 12:
                raise InvalidInput(f"'{shown}': {hour}{meridiem}m is not a time; use 1 to 12 with am/pm, or 24-hour "
                                   "times such as 15:00.")
            hour = hour % 12 + (12 if meridiem == "p" else 0)
        if hour > 23 or minute > 59:
            raise InvalidInput(f"'{shown}' has no valid time of day (00:00 to 23:59). {FORMS}")
        clock = (hour, minute)
    rest = (text[:match.start()] + " " + text[match.end():]).strip(" ,;")
    return time(*clock), " ".join(rest.split())


def _day(text: str, shown: str, local_now: datetime, languages: tuple[str, ...]) -> date:
    """The day ``text`` names ("" = today), read with dateparser relative to ``local_now``."""
    if not text:
        return local_now.date()
    wants_next = bool(_NEXT.search(text))
    words = " ".join(_NEXT.sub(" ", text).split())
    words = _FILLER.sub("", words).strip(" ,;")
    if not words:
        raise InvalidInput(f"Cannot read the time '{shown}': which day? {FORMS}")
    for first, second in _NUMERIC_DATE.findall(words):
        if first != second and int(first) <= 12 and int(second) <= 12:
            raise InvalidInput(f"'{shown}' is ambiguous: {first}/{second} reads as day/month and as month/day. "
                               "Write the month as a word (16 March) or the date as 2027-03-16.")
    ahead = _dateparser(words, local_now, "future", languages)
    if ahead is None or ahead.date_obj is None:
        raise InvalidInput(f"Cannot read the time '{shown}'. {FORMS}")
    if ahead.period != "day":
        raise InvalidInput(f"'{shown}' does not say which day; name the day too. {FORMS}")
    found: datetime = ahead.date_obj
    if found.time() not in (time(0), local_now.time()):
        raise InvalidInput(f"Cannot tell the time of day in '{shown}'; write it as 15:00 or 3pm. {FORMS}")
    if not wants_next:  # "Tuesday 15:00" on a Tuesday, "16 March" on 16 March: today, not in a week or a year
        this = _dateparser(words, local_now, "current_period", languages)
        if this is not None and this.date_obj is not None and this.date_obj.date() == local_now.date():
            return local_now.date()
    return found.date()


def _dateparser(text: str, base: datetime, prefer: str, languages: tuple[str, ...]):  # -> DateData | None
    from dateparser.date import DateDataParser  # imported here: 0.2 s that ISO input never pays

    settings = {"RELATIVE_BASE": base, "PREFER_DATES_FROM": prefer, "RETURN_AS_TIMEZONE_AWARE": False,
                "STRICT_PARSING": False}
    try:
        return DateDataParser(languages=list(languages), settings=settings).get_date_data(text)
    except (ValueError, OverflowError):  # a year or day dateparser cannot build a date from
        return None


__all__ = ["FORMS", "LANGUAGES", "human_local", "human_time", "is_iso", "parse_start"]
