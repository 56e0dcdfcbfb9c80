"""When a peer session happens: a local wall-clock start in an IANA zone, a duration and a recurrence rule.

Recurrence keeps the *local* wall-clock time: a rule is expanded with dateutil in naive local time (``dtstart`` is
the naive start), and only then is each start attached to the zone, so a 15:00 Europe/Madrid session stays at 15:00
in Madrid and its UTC time moves when daylight saving starts or ends.

Two wall-clock times need a convention; both follow RFC 5545 (section 3.3.5) and what calendar apps do:

* a time that does not exist (the spring-forward gap, e.g. 02:30 on 2027-03-28 in Europe/Madrid) is read with the
  UTC offset in force before the gap, which moves it forward by the gap length: 02:30 becomes 03:30 local;
* an ambiguous time (the autumn fold, e.g. 02:30 on 2027-10-31 in Europe/Madrid) takes its first occurrence, the
  earlier UTC instant (``fold=0``).

A rule must include its start (RFC 5545 leaves a ``DTSTART`` outside its rule undefined, and calendar apps disagree),
and may repeat at most daily; the time of day always comes from the start.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, cached_property
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from dateutil.rrule import rrule, rrulestr

from ..errors import InvalidInput, about

MAX_OCCURRENCES = 500
_MAX_COUNT = 10_000
_MAX_INTERVAL = 1000
_MAX_DURATION = timedelta(hours=24)
#: Sessions are booked up to the end of this year: far enough for any plan, and far from datetime's year 9999, so
#: no date arithmetic (UTC offsets, the calendar file's time zone table) can overflow.
LAST_YEAR = 2199

_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)*")
_NOT_ZONES = frozenset({"localtime", "posixrules"})
_LOCAL = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?")
_OFFSET = re.compile(r"(?:Z|[+-]\d{2}(?::?\d{2})?)$", re.IGNORECASE)
_LOCAL_FORMAT = "YYYY-MM-DDTHH:MM in local time, e.g. 2027-03-16T15:00"
_EVERY_WEEKS = re.compile(r"every[\s-]+(\d+)[\s-]+weeks?")
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_BYDAY = re.compile(r"([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)")
#: Rule parts in canonical order; the ranges of the numeric BYxxx parts (RFC 5545, section 3.3.10).
_ORDER = ("FREQ", "INTERVAL", "BYMONTH", "BYWEEKNO", "BYYEARDAY", "BYMONTHDAY", "BYDAY", "BYSETPOS", "WKST")
_RANGES = MappingProxyType({"BYMONTH": (1, 12, False), "BYWEEKNO": (1, 53, True), "BYYEARDAY": (1, 366, True),
                            "BYMONTHDAY": (1, 31, True), "BYSETPOS": (1, 366, True)})
#: Which frequencies each part may be used with (RFC 5545); absent parts go with every frequency.
_PART_FREQS = MappingProxyType({"BYWEEKNO": frozenset({"YEARLY"}), "BYYEARDAY": frozenset({"YEARLY"}),
                               "BYMONTHDAY": frozenset({"YEARLY", "MONTHLY", "DAILY"})})
_OUTSIDE = ("Leave COUNT, UNTIL and DTSTART out of the rule: the start is given separately, "
            "and the number of sessions or the last date go in --count / --until.")
_ACCEPTED = ("Use once, daily, weekly, biweekly, every N weeks (N from 1 to 52), monthly (on the same weekday of "
             "the month as the start) or an RRULE such as FREQ=WEEKLY;BYDAY=TU,TH.")
#: The first year the never-occurring probe may start in; the Gregorian calendar repeats every 400 years.
_PROBE_FROM = 9500


def check_zone(name: str) -> ZoneInfo:
    """The zone called ``name`` (an IANA name such as Europe/Madrid); InvalidInput when there is none."""
    if isinstance(name, str) and _ZONE_NAME.fullmatch(name) and name not in _NOT_ZONES and len(name) <= 64:
        try:
            return ZoneInfo(name)
        except (ValueError, ZoneInfoNotFoundError, OSError):
            pass
    hint = _zone_names().get(name.lower()) if isinstance(name, str) else None
    tip = f" Did you mean {hint}?" if hint else ""
    raise InvalidInput(f"Unknown time zone '{name}'. Use an IANA name such as Europe/Madrid or "
                       f"America/Mexico_City.{tip}")


@cache
def _zone_names() -> dict[str, str]:
    return {zone.lower(): zone for zone in available_timezones() if zone not in _NOT_ZONES}


def parse_local(text: str) -> datetime:
    """A naive local wall-clock time from ``2027-03-16T15:00``, ``2027-03-16 15:00`` or ``2027-03-16T15:00:00``."""
    text = text.strip()
    if _LOCAL.fullmatch(text):
        try:
            return datetime.fromisoformat(text)
        except ValueError as exc:
            raise InvalidInput(f"'{text}' is not a valid date and time ({exc}). Give it as {_LOCAL_FORMAT}.") from exc
    if _OFFSET.search(text) and _LOCAL.match(text):
        raise InvalidInput(f"'{text}' has a UTC offset; give the local wall-clock time without one, as "
                           f"{_LOCAL_FORMAT}, and the time zone separately.")
    raise InvalidInput(f"Cannot read the time '{text}'. Give it as {_LOCAL_FORMAT}.")


def parse_repeat(text: str | None, start: datetime) -> str | None:
    """The canonical RRULE body for a user's repeat ``text`` (no DTSTART, COUNT or UNTIL), or None for a one-off."""
    words = " ".join((text or "").lower().split())
    if words in ("", "none", "once"):
        return None
    if words == "daily":
        return "FREQ=DAILY"
    if words == "weekly":
        return "FREQ=WEEKLY"
    if words == "monthly":
        nth = (start.day - 1) // 7 + 1
        return f"FREQ=MONTHLY;BYDAY={-1 if nth == 5 else nth:+d}{_WEEKDAYS[start.weekday()]}"
    weeks = 2 if words == "biweekly" else None
    if (match := _EVERY_WEEKS.fullmatch(words)) is not None:
        weeks = int(match.group(1))
        if not 1 <= weeks <= 52:
            raise InvalidInput(f"'{text}': the number of weeks must be from 1 to 52.")
    if weeks is not None:
        return "FREQ=WEEKLY" if weeks == 1 else f"FREQ=WEEKLY;INTERVAL={weeks}"
    if words.startswith(("rrule:", "freq=")):
        return _canonical_rule(str(text).strip(), start)
    raise InvalidInput(f"Unknown repeat '{text}'. {_ACCEPTED}")


def _canonical_rule(text: str, start: datetime) -> str:
    parts: dict[str, str] = {}
    for piece in filter(None, (p.strip() for p in re.sub(r"(?i)^rrule:", "", text).split(";"))):
        name, _, value = piece.partition("=")
        name, value = name.strip().upper(), value.strip().upper()
        if name in ("COUNT", "UNTIL", "DTSTART"):
            raise InvalidInput(f"The rule '{text}' contains {name}. {_OUTSIDE}")
        if name in parts:
            raise _bad(text, f"{name} is given twice")
        parts[name] = value
    if parts.get("FREQ") in ("HOURLY", "MINUTELY", "SECONDLY"):
        raise InvalidInput(f"The rule '{text}' repeats {parts['FREQ'].lower()}; sessions repeat at most daily.")
    if {"BYHOUR", "BYMINUTE", "BYSECOND"} & parts.keys():
        raise InvalidInput(f"The rule '{text}' sets BYHOUR, BYMINUTE or BYSECOND; sessions repeat at most daily "
                           "and take their time of day from the start.")
    if "FREQ" not in parts:
        raise _bad(text, "it has no FREQ (e.g. FREQ=WEEKLY)")
    try:
        rrulestr(";".join(f"{name}={value}" for name, value in parts.items()), dtstart=start)
    except (ValueError, TypeError, KeyError, OverflowError) as exc:
        raise _bad(text, str(exc)) from exc
    if unknown := sorted(parts.keys() - set(_ORDER)):
        raise _bad(text, f"{', '.join(unknown)} is not supported")
    canonical = {name: _canonical_part(text, parts["FREQ"], name, parts[name]) for name in _ORDER if name in parts}
    if "BYSETPOS" in canonical and not {"BYMONTH", "BYWEEKNO", "BYYEARDAY", "BYMONTHDAY", "BYDAY"} & parts.keys():
        raise _bad(text, "BYSETPOS needs another BYxxx part")
    return ";".join(f"{name}={value}" for name, value in canonical.items() if value)


def _canonical_part(text: str, freq: str, name: str, value: str) -> str:
    """One rule part checked against RFC 5545 and written in a stable form ('' = the default, left out)."""
    if name in _PART_FREQS and freq not in _PART_FREQS[name]:
        raise _bad(text, f"{name} cannot be used with FREQ={freq}")
    if name == "FREQ":
        return value
    if name == "WKST":
        return "" if value == "MO" else value
    if name == "INTERVAL":
        if not value.isdigit() or not 1 <= int(value) <= _MAX_INTERVAL:
            raise _bad(text, f"INTERVAL must be a whole number from 1 to {_MAX_INTERVAL}")
        return "" if int(value) == 1 else str(int(value))
    if name == "BYDAY":
        days: set[tuple[int, int | None]] = set()
        for item in value.split(","):
            match = _BYDAY.fullmatch(item)
            if match is None:
                raise _bad(text, f"BYDAY={value}: write days as MO, TU, ... optionally with a position, e.g. +3TU")
            nth = int(match.group(1)) if match.group(1) else None
            if nth is not None and (freq not in ("MONTHLY", "YEARLY") or not 1 <= abs(nth) <= 53):
                raise _bad(text, f"BYDAY={value}: a numbered day needs FREQ=MONTHLY or YEARLY and 1 <= |n| <= 53")
            days.add((_WEEKDAYS.index(match.group(2)), nth))
        return ",".join(f"{'' if n is None else f'{n:+d}'}{_WEEKDAYS[d]}"
                        for d, n in sorted(days, key=lambda x: (x[0], x[1] or 0)))
    low, high, signed = _RANGES[name]
    try:
        numbers = sorted({int(item) for item in value.split(",")})
    except ValueError:
        numbers = []
    if not numbers or not all(low <= (abs(n) if signed else n) <= high for n in numbers):
        either = f"{low} to {high}" + (f" or -{high} to -{low}" if signed else "")
        raise _bad(text, f"{name} values must be whole numbers from {either}")
    return ",".join(map(str, numbers))


def _bad(text: str, why: str) -> InvalidInput:
    return InvalidInput(f"The rule '{text}' is not valid: {why.rstrip('.')}.")


@dataclass(frozen=True)
class Occurrence:
    """One session: its instant in UTC and the wall-clock time people see in the session's zone.

    ``rule_local`` is the naive local time the rule produced, the id a skipped date is stored by. It differs from
    ``start_local`` only in a spring-forward gap: the rule says 02:30, people see 03:30.
    """

    start_utc: datetime
    start_local: datetime
    rule_local: datetime | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.rule_local is None:
            object.__setattr__(self, "rule_local", self.start_local.replace(tzinfo=None))

    def key(self) -> str:
        """A stable id of this occurrence: its UTC start as ``YYYYMMDDTHHMMSSZ``."""
        return self.start_utc.strftime("%Y%m%dT%H%M%SZ")


@dataclass(frozen=True)
class Schedule:
    """A one-off or recurring session, in local wall-clock time of an IANA zone."""

    start: datetime
    tz: str
    duration: timedelta = timedelta(hours=1)
    rule: str | None = None
    count: int | None = None
    until: date | None = None
    skipped: frozenset[datetime] = frozenset()

    def validate(self, now: datetime) -> None:
        """InvalidInput unless this schedule can be booked at ``now`` (aware)."""
        check_zone(self.tz)  # an unknown zone is named before anything else
        if not 1900 <= self.start.year <= LAST_YEAR:
            raise InvalidInput(f"The start must be a date from now to the end of {LAST_YEAR}.", field="start")
        if self.until is not None and self.until.year > LAST_YEAR:
            raise InvalidInput(f"The until date must be at most {LAST_YEAR}-12-31.", field="until")
        if not timedelta(0) < self.duration <= _MAX_DURATION:
            raise InvalidInput("The duration must be more than 0 and at most 24 hours.", field="duration")
        if self.count is not None and self.until is not None:
            raise InvalidInput("Give either a count or an until date, not both.", field="count")
        if self.rule is None and (self.count is not None or self.until is not None):
            raise InvalidInput("A count or an until date needs a repeat rule; this session happens once.",
                               field="until" if self.count is None else "count")
        if self.count is not None and self.count < 1:
            raise InvalidInput("count must be at least 1.", field="count")
        if self.count is not None and self.count > _MAX_COUNT:
            raise InvalidInput(f"count must be at most {_MAX_COUNT}.", field="count")
        if self.until is not None and self.until < self.start.date():
            raise InvalidInput(f"The until date {self.until} is before the start {self.start.date()}.",
                               field="until")
        if self.start_utc <= now:
            raise InvalidInput(f"The start {self.start:%Y-%m-%d %H:%M} {self.tz} is in the past.", field="start")
        with about("repeat"):
            self._expansion  # noqa: B018 - raises InvalidInput for a rule that never occurs or misses the start

    def occurrences(self, after: datetime | None = None, limit: int = 10) -> list[Occurrence]:
        """The next ``limit`` occurrences starting strictly after ``after`` (aware; None = from the first)."""
        if not 1 <= limit <= MAX_OCCURRENCES:
            raise InvalidInput(f"Ask for 1 to {MAX_OCCURRENCES} occurrences, not {limit}.")
        found: list[Occurrence] = []
        for occurrence in self._iter(after):
            if after is None or occurrence.start_utc > after:
                found.append(occurrence)
                if len(found) == limit:
                    break
        return found

    def between(self, start_utc: datetime, end_utc: datetime) -> list[Occurrence]:
        """The occurrences starting in ``[start_utc, end_utc)``; InvalidInput if there are over MAX_OCCURRENCES."""
        found: list[Occurrence] = []
        for occurrence in self._iter(start_utc):
            if occurrence.start_utc >= end_utc:
                break
            if occurrence.start_utc >= start_utc:
                if len(found) == MAX_OCCURRENCES:
                    raise InvalidInput(f"More than {MAX_OCCURRENCES} sessions in that period; ask for a shorter one.")
                found.append(occurrence)
        return found

    def is_endless(self) -> bool:
        """True for a rule with neither count nor until."""
        return self.rule is not None and self.count is None and self.until is None

    @property
    def start_utc(self) -> datetime:
        """The start as an aware UTC time (the rule's first date: a rule always includes its start)."""
        return _localize(self.start, self._zone).start_utc

    def first(self) -> Occurrence:
        """The first occurrence that is not skipped; InvalidInput when every one is."""
        found = self.occurrences(limit=1)
        if not found:
            raise InvalidInput("Every occurrence of this session is cancelled.")
        return found[0]

    def skipped_occurrences(self) -> list[Occurrence]:
        """The skipped dates as occurrences (UTC and local wall-clock time), in order."""
        zone = self._zone
        return sorted({_localize(naive, zone) for naive in self.skipped}, key=lambda o: o.start_utc)

    def rule_starts(self) -> Iterator[Occurrence]:
        """Every date the rule produces, skipped ones included, in order (the start alone for a one-off)."""
        expansion = self._expansion
        for naive in [self.start] if expansion is None else expansion:
            yield _localize(naive, self._zone)

    def is_skipped(self, occurrence: Occurrence) -> bool:
        """Whether ``occurrence`` (one of :meth:`rule_starts`) is a skipped date."""
        # Skipped dates are stored by the rule's local time; older rows hold a date in the spring-forward gap by
        # the shifted time people saw (03:30 for the rule's 02:30), which names the same instant: honour both.
        return bool(self.skipped) and (occurrence.rule_local in self.skipped
                                       or occurrence.start_local.replace(tzinfo=None) in self.skipped)

    def describe(self) -> str:
        """Short English, e.g. ``every 2 weeks, 10 times`` or ``monthly on the last Tuesday, until 2027-12-31``."""
        rule = self.rule or ""
        if not rule:
            text = "once"
        elif rule in _SIMPLE:
            text = _SIMPLE[rule]
        elif match := re.fullmatch(r"FREQ=WEEKLY;INTERVAL=(\d+)", rule):
            text = f"every {match.group(1)} weeks"
        elif match := re.fullmatch(r"FREQ=MONTHLY;BYDAY=(\+[1-4]|-1)(MO|TU|WE|TH|FR|SA|SU)", rule):
            text = f"monthly on the {_NTH[int(match.group(1))]} {_DAY_NAMES[_WEEKDAYS.index(match.group(2))]}"
        else:
            text = f"RRULE:{rule}"
        if self.count is not None:
            text += f", {self.count} time{'' if self.count == 1 else 's'}"
        if self.until is not None:
            text += f", until {self.until.isoformat()}"
        return text

    @cached_property
    def _zone(self) -> ZoneInfo:
        return check_zone(self.tz)

    @cached_property
    def _expansion(self) -> rrule | None:
        """The dateutil rule with count/until, after checking that it includes the start."""
        if self.rule is None:
            return None
        try:
            base = rrulestr(_with_wkst(self.rule), dtstart=self.start)
            probe_start = _probe_start(self.start)
            first = next(iter(base.replace(dtstart=probe_start)), None)
        except (ValueError, TypeError, KeyError, OverflowError) as exc:
            raise _bad(self.rule, str(exc)) from exc
        if first is None:
            raise InvalidInput(f"The rule '{self.rule}' never produces a session (no date matches it).")
        if first != probe_start:
            raise InvalidInput(f"The rule '{self.rule}' does not include the start {self.start:%Y-%m-%d %H:%M} "
                               f"({self.start:%A}); start on a day the rule includes.")
        until = None if self.until is None else datetime.combine(self.until, time.max)
        return base.replace(count=self.count, until=until)

    def _iter(self, after: datetime | None) -> Iterator[Occurrence]:
        """Occurrences in order, not skipped, from about two days before ``after`` (the callers filter exactly)."""
        zone = self._zone
        expansion = self._expansion
        starts: Iterator[datetime] = iter([self.start]) if expansion is None else iter(expansion)
        lower = None if after is None else after.astimezone(zone).replace(tzinfo=None) - timedelta(days=2)
        last: datetime | None = None
        for naive in starts:
            if lower is not None and naive < lower:
                continue
            occurrence = _localize(naive, zone)
            if self.is_skipped(occurrence):
                continue
            if last is None or occurrence.start_utc > last:  # a skipped calendar day can map two starts together
                last = occurrence.start_utc
                yield occurrence


_SIMPLE = MappingProxyType({"FREQ=WEEKLY": "every week", "FREQ=DAILY": "every day"})
_NTH = MappingProxyType({1: "1st", 2: "2nd", 3: "3rd", 4: "4th", -1: "last"})


def _localize(naive: datetime, zone: ZoneInfo) -> Occurrence:
    """Attach ``zone`` (fold=0: a gap time moves forward by the gap, a fold time takes the earlier instant)."""
    start_utc = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    return Occurrence(start_utc=start_utc, start_local=start_utc.astimezone(zone), rule_local=naive)


def _with_wkst(rule: str) -> str:
    """The rule with an explicit week start, so dateutil never falls back on ``calendar.firstweekday()``."""
    return rule if "WKST=" in rule else f"{rule};WKST=MO"


def _probe_start(start: datetime) -> datetime:
    """``start`` moved by whole 400-year Gregorian cycles (same weekdays, same leap years) to 9500-9899.

    dateutil stops iterating after year 9999, so a rule no date matches is searched for at most 500 years there,
    instead of for up to 8000 years from now.
    """
    cycles = (_PROBE_FROM + 399 - start.year) // 400
    return start.replace(year=start.year + 400 * cycles)
