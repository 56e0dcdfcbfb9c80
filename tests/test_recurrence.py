"""Session recurrence: local wall-clock time kept across the 2027 daylight-saving changes, and bad input refused.

2027 transitions: Europe on 03-28 and 10-31 (Madrid +01:00 <-> +02:00); US/Canada on 03-14 and 11-07
(Montreal -05:00 <-> -04:00, Los Angeles -08:00 <-> -07:00); Sao Paulo (-03:00) and Mexico City (-06:00) have none.
Every expected instant below is worked out by hand from those offsets.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.errors import InvalidInput
from bot.sessions.recurrence import MAX_OCCURRENCES, Occurrence, Schedule, check_zone, parse_local, parse_repeat

NOW = datetime(2027, 1, 1, tzinfo=UTC)
TUESDAY = datetime(2027, 3, 16, 15, 0)  # the 3rd Tuesday of March 2027


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def starts(schedule: Schedule, limit: int = 10, after: datetime | None = None) -> list[datetime]:
    return [o.start_utc for o in schedule.occurrences(after=after, limit=limit)]


# --- zones and times ---------------------------------------------------------------------------------------------

def test_check_zone_returns_the_zone() -> None:
    assert check_zone("Europe/Madrid").key == "Europe/Madrid"
    assert check_zone("America/Argentina/Buenos_Aires").key == "America/Argentina/Buenos_Aires"


@pytest.mark.parametrize("name", ["Mars/Base", "", "../etc/passwd", "/etc/localtime", "Europe/../Madrid",
                                  "Europe/Madrid ", "localtime", "Europe\\Madrid"])
def test_check_zone_refuses_unknown_and_malformed_names(name: str) -> None:
    with pytest.raises(InvalidInput, match="Unknown time zone") as info:
        check_zone(name)
    assert "Europe/Madrid or America/Mexico_City" in str(info.value)


def test_check_zone_suggests_the_right_case() -> None:
    with pytest.raises(InvalidInput, match="Did you mean Europe/Madrid"):
        check_zone("europe/madrid")


@pytest.mark.parametrize("text", ["2027-03-16T15:00", "2027-03-16 15:00", "2027-03-16T15:00:00", " 2027-03-16T15:00 "])
def test_parse_local_accepts_the_three_forms(text: str) -> None:
    parsed = parse_local(text)
    assert parsed == datetime(2027, 3, 16, 15, 0)
    assert parsed.tzinfo is None


@pytest.mark.parametrize("text", ["2027-03-16T15:00+01:00", "2027-03-16T15:00Z", "2027-03-16 15:00:00-0300"])
def test_parse_local_refuses_an_offset(text: str) -> None:
    with pytest.raises(InvalidInput, match="UTC offset"):
        parse_local(text)


@pytest.mark.parametrize("text", ["next tuesday", "2027-02-30T15:00", "16/03/2027 15:00", "2027-03-16", ""])
def test_parse_local_refuses_garbage_and_names_the_format(text: str) -> None:
    with pytest.raises(InvalidInput, match="YYYY-MM-DDTHH:MM"):
        parse_local(text)


# --- repeat rules ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "rule"), [
    (None, None), ("", None), ("none", None), ("Once", None),
    ("weekly", "FREQ=WEEKLY"), ("daily", "FREQ=DAILY"),
    ("biweekly", "FREQ=WEEKLY;INTERVAL=2"), ("every 2 weeks", "FREQ=WEEKLY;INTERVAL=2"),
    ("every-2-weeks", "FREQ=WEEKLY;INTERVAL=2"), ("every 3 weeks", "FREQ=WEEKLY;INTERVAL=3"),
    ("every 1 week", "FREQ=WEEKLY"), ("every 52 weeks", "FREQ=WEEKLY;INTERVAL=52"),
    ("monthly", "FREQ=MONTHLY;BYDAY=+3TU"),
    ("RRULE:freq=weekly;byday=th,tu", "FREQ=WEEKLY;BYDAY=TU,TH"),
    ("FREQ=WEEKLY;INTERVAL=1;BYDAY=TU,TH;WKST=MO", "FREQ=WEEKLY;BYDAY=TU,TH"),
    ("FREQ=MONTHLY;BYDAY=3TU", "FREQ=MONTHLY;BYDAY=+3TU"),
    ("FREQ=YEARLY;BYMONTHDAY=16;BYMONTH=3", "FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=16"),
])
def test_parse_repeat(text: str | None, rule: str | None) -> None:
    assert parse_repeat(text, TUESDAY) == rule


def test_monthly_uses_the_nth_weekday_and_last_for_the_fifth_week() -> None:
    assert parse_repeat("monthly", datetime(2027, 3, 2, 9)) == "FREQ=MONTHLY;BYDAY=+1TU"
    assert parse_repeat("monthly", datetime(2027, 3, 23, 9)) == "FREQ=MONTHLY;BYDAY=+4TU"
    assert parse_repeat("monthly", datetime(2027, 3, 30, 9)) == "FREQ=MONTHLY;BYDAY=-1TU"
    assert parse_repeat("monthly", datetime(2027, 3, 29, 9)) == "FREQ=MONTHLY;BYDAY=-1MO"


def test_equal_rules_are_equal_strings() -> None:
    a = parse_repeat("rrule:FREQ=weekly;BYDAY=TH,TU;INTERVAL=2", TUESDAY)
    b = parse_repeat("FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH", TUESDAY)
    assert a == b == "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH"


@pytest.mark.parametrize("text", ["FREQ=WEEKLY;BYDAY=XX", "FREQ=FORTNIGHTLY", "FREQ=WEEKLY;FOO=1",
                                  "FREQ=WEEKLY;INTERVAL=x", "FREQ=WEEKLY;INTERVAL=0", "RRULE:BYDAY=MO",
                                  "FREQ=MONTHLY;BYMONTHDAY=40", "FREQ=WEEKLY;BYDAY=+1MO", "FREQ=MONTHLY;BYSETPOS=1",
                                  "FREQ=WEEKLY;BYMONTHDAY=3", "FREQ=WEEKLY;BYDAY=TU;BYDAY=TH"])
def test_malformed_rules_are_refused_naming_the_rule(text: str) -> None:
    with pytest.raises(InvalidInput, match="is not valid") as info:
        parse_repeat(text, TUESDAY)
    assert text in str(info.value)


def test_malformed_rule_message_carries_dateutils_reason() -> None:
    with pytest.raises(InvalidInput, match="invalid 'BYDAY': XX"):
        parse_repeat("FREQ=WEEKLY;BYDAY=XX", TUESDAY)
    with pytest.raises(InvalidInput, match="invalid 'FREQ': FORTNIGHTLY"):
        parse_repeat("FREQ=FORTNIGHTLY", TUESDAY)


@pytest.mark.parametrize("text", ["FREQ=WEEKLY;COUNT=5", "RRULE:FREQ=WEEKLY;UNTIL=20271231T000000Z",
                                  "FREQ=WEEKLY;DTSTART=20270316T150000"])
def test_count_until_dtstart_inside_a_rule_point_to_the_options(text: str) -> None:
    with pytest.raises(InvalidInput, match="--count / --until"):
        parse_repeat(text, TUESDAY)


@pytest.mark.parametrize("text", ["FREQ=HOURLY", "freq=minutely;interval=30", "FREQ=SECONDLY",
                                  "FREQ=DAILY;BYHOUR=9,15"])
def test_more_than_daily_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="at most daily"):
        parse_repeat(text, TUESDAY)


@pytest.mark.parametrize("text", ["fortnightly", "every week day", "every 0 weeks", "every 53 weeks", "weekly-ish"])
def test_unknown_repeat_lists_the_accepted_forms(text: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_repeat(text, TUESDAY)
    assert "weeks" in str(info.value)
    if "every" not in text:
        assert all(form in str(info.value) for form in ("once", "daily", "weekly", "biweekly", "monthly", "RRULE"))


# --- expansion across daylight saving ----------------------------------------------------------------------------

def test_weekly_madrid_keeps_15h_across_the_spring_change() -> None:
    occurrences = Schedule(TUESDAY, "Europe/Madrid", rule="FREQ=WEEKLY").occurrences(limit=4)
    assert [o.start_utc for o in occurrences] == [utc(2027, 3, 16, 14), utc(2027, 3, 23, 14), utc(2027, 3, 30, 13),
                                                  utc(2027, 4, 6, 13)]
    assert {o.start_local.replace(tzinfo=None).time().isoformat() for o in occurrences} == {"15:00:00"}
    assert [o.start_local.utcoffset() for o in occurrences] == [timedelta(hours=h) for h in (1, 1, 2, 2)]
    assert all(isinstance(o.start_local.tzinfo, ZoneInfo) and o.start_local.tzinfo.key == "Europe/Madrid"
               for o in occurrences)
    assert occurrences[2].key() == "20270330T130000Z"


def test_weekly_madrid_across_the_autumn_change() -> None:
    schedule = Schedule(datetime(2027, 10, 26, 15), "Europe/Madrid", rule="FREQ=WEEKLY")
    assert starts(schedule, 2) == [utc(2027, 10, 26, 13), utc(2027, 11, 2, 14)]


def test_weekly_montreal_across_both_north_american_changes() -> None:
    # 2027-03-11 is a Thursday; EST (-5) until 03-14, EDT (-4) until 11-07, then EST again.
    schedule = Schedule(datetime(2027, 3, 11, 12), "America/Montreal", rule="FREQ=WEEKLY")
    found = starts(schedule, 40)
    assert found[:2] == [utc(2027, 3, 11, 17), utc(2027, 3, 18, 16)]
    assert utc(2027, 11, 4, 16) in found and utc(2027, 11, 11, 17) in found
    assert {o.start_local.hour for o in schedule.occurrences(limit=40)} == {12}


def test_weekly_los_angeles_across_the_november_change() -> None:
    schedule = Schedule(datetime(2027, 11, 1, 9), "America/Los_Angeles", rule="FREQ=WEEKLY")
    assert starts(schedule, 2) == [utc(2027, 11, 1, 16), utc(2027, 11, 8, 17)]


@pytest.mark.parametrize(("zone", "utc_hour", "offset"), [("America/Sao_Paulo", 18, -3),
                                                           ("America/Mexico_City", 21, -6)])
def test_zones_without_dst_keep_one_utc_time_all_year(zone: str, utc_hour: int, offset: int) -> None:
    occurrences = Schedule(datetime(2027, 1, 5, 15), zone, rule="FREQ=WEEKLY").occurrences(limit=52)
    assert len(occurrences) == 52 and occurrences[-1].start_utc.date() == date(2027, 12, 28)
    assert {(o.start_utc.hour, o.start_utc.minute) for o in occurrences} == {(utc_hour, 0)}
    assert {o.start_local.utcoffset() for o in occurrences} == {timedelta(hours=offset)}


def test_every_two_weeks_across_both_european_changes() -> None:
    rule = parse_repeat("every 2 weeks", TUESDAY)
    assert starts(Schedule(TUESDAY, "Europe/Madrid", rule=rule), 3) == [
        utc(2027, 3, 16, 14), utc(2027, 3, 30, 13), utc(2027, 4, 13, 13)]
    autumn = Schedule(datetime(2027, 10, 19, 15), "Europe/Madrid", rule=rule)
    assert starts(autumn, 2) == [utc(2027, 10, 19, 13), utc(2027, 11, 2, 14)]


def test_monthly_third_tuesday_across_dst() -> None:
    schedule = Schedule(TUESDAY, "Europe/Madrid", rule=parse_repeat("monthly", TUESDAY))
    found = starts(schedule, 9)
    assert found[:3] == [utc(2027, 3, 16, 14), utc(2027, 4, 20, 13), utc(2027, 5, 18, 13)]
    assert found[7:] == [utc(2027, 10, 19, 13), utc(2027, 11, 16, 14)]


def test_monthly_last_tuesday() -> None:
    start = datetime(2027, 3, 30, 15)
    schedule = Schedule(start, "Europe/Madrid", rule=parse_repeat("monthly", start))
    assert starts(schedule, 3) == [utc(2027, 3, 30, 13), utc(2027, 4, 27, 13), utc(2027, 5, 25, 13)]
    assert schedule.describe() == "monthly on the last Tuesday"


def test_one_off() -> None:
    schedule = Schedule(TUESDAY, "Europe/Madrid", duration=timedelta(minutes=90))
    assert starts(schedule) == [utc(2027, 3, 16, 14)]
    assert not schedule.is_endless()
    assert schedule.describe() == "once"
    madrid_15h = datetime(2027, 3, 16, 15, tzinfo=ZoneInfo("Europe/Madrid"))
    assert schedule.first() == Occurrence(utc(2027, 3, 16, 14), madrid_15h)
    assert schedule.occurrences(after=utc(2027, 3, 16, 14)) == []


def test_count_and_until_are_honoured() -> None:
    counted = Schedule(TUESDAY, "Europe/Madrid", rule="FREQ=WEEKLY", count=3)
    assert starts(counted) == [utc(2027, 3, 16, 14), utc(2027, 3, 23, 14), utc(2027, 3, 30, 13)]
    assert counted.describe() == "every week, 3 times" and not counted.is_endless()
    until = Schedule(TUESDAY, "Europe/Madrid", rule="FREQ=WEEKLY", until=date(2027, 4, 6))
    assert starts(until)[-1] == utc(2027, 4, 6, 13) and len(starts(until)) == 4
    assert until.describe() == "every week, until 2027-04-06"


def test_skipped_occurrence_is_absent_and_still_counts() -> None:
    schedule = Schedule(TUESDAY, "Europe/Madrid", rule="FREQ=WEEKLY", count=3,
                        skipped=frozenset({datetime(2027, 3, 23, 15)}))
    assert starts(schedule) == [utc(2027, 3, 16, 14), utc(2027, 3, 30, 13)]
    first_skipped = Schedule(TUESDAY, "Europe/Madrid", rule="FREQ=WEEKLY", skipped=frozenset({TUESDAY}))
    assert first_skipped.first().start_utc == utc(2027, 3, 23, 14)


def test_spring_forward_gap_moves_0230_to_0330() -> None:
    schedule = Schedule(datetime(2027, 3, 27, 2, 30), "Europe/Madrid", rule="FREQ=DAILY")
    occurrences = schedule.occurrences(limit=3)
    assert [o.start_utc for o in occurrences] == [utc(2027, 3, 27, 1, 30), utc(2027, 3, 28, 1, 30),
                                                  utc(2027, 3, 29, 0, 30)]
    gap = occurrences[1].start_local
    assert (gap.hour, gap.minute, gap.utcoffset()) == (3, 30, timedelta(hours=2))
    assert occurrences[2].start_local.hour == 2  # back to 02:30 the next day


def test_autumn_fold_takes_the_earlier_instant() -> None:
    schedule = Schedule(datetime(2027, 10, 30, 2, 30), "Europe/Madrid", rule="FREQ=DAILY")
    occurrences = schedule.occurrences(limit=3)
    assert [o.start_utc for o in occurrences] == [utc(2027, 10, 30, 0, 30), utc(2027, 10, 31, 0, 30),
                                                  utc(2027, 11, 1, 1, 30)]
    assert occurrences[1].start_local.utcoffset() == timedelta(hours=2)


def test_occurrences_after_is_strict() -> None:
    schedule = Schedule(TUESDAY, "Europe/Madrid", rule="FREQ=WEEKLY")
    assert starts(schedule, 1, after=utc(2027, 3, 23, 14)) == [utc(2027, 3, 30, 13)]
    assert starts(schedule, 1, after=utc(2027, 3, 23, 13, 59)) == [utc(2027, 3, 23, 14)]
    assert starts(schedule, 1, after=utc(2028, 1, 1)) == [utc(2028, 1, 4, 14)]


def test_endless_weekly_rule_stops_at_the_limit() -> None:
    schedule = Schedule(TUESDAY, "Europe/Madrid", rule="FREQ=WEEKLY")
    assert schedule.is_endless()
    assert len(schedule.occurrences(limit=5)) == 5
    assert len(schedule.occurrences(limit=MAX_OCCURRENCES)) == MAX_OCCURRENCES


@pytest.mark.parametrize("limit", [0, -1, MAX_OCCURRENCES + 1])
def test_limit_out_of_range_is_refused(limit: int) -> None:
    with pytest.raises(InvalidInput, match=str(MAX_OCCURRENCES)):
        Schedule(TUESDAY, "Europe/Madrid", rule="FREQ=WEEKLY").occurrences(limit=limit)


def test_between_is_half_open_and_bounded() -> None:
    schedule = Schedule(TUESDAY, "Europe/Madrid", rule="FREQ=WEEKLY")
    assert [o.start_utc for o in schedule.between(utc(2027, 3, 23, 14), utc(2027, 3, 30, 13))] == [utc(2027, 3, 23, 14)]
    assert [o.key() for o in schedule.between(utc(2027, 3, 1), utc(2027, 4, 1))] == [
        "20270316T140000Z", "20270323T140000Z", "20270330T130000Z"]
    assert schedule.between(utc(2027, 1, 1), utc(2027, 3, 16, 14)) == []
    daily = Schedule(TUESDAY, "Europe/Madrid", rule="FREQ=DAILY")
    with pytest.raises(InvalidInput, match="More than 500"):
        daily.between(utc(2027, 1, 1), utc(2029, 1, 1))


@pytest.mark.parametrize(("rule", "count", "until", "text"), [
    (None, None, None, "once"), ("FREQ=WEEKLY", None, None, "every week"),
    ("FREQ=WEEKLY;INTERVAL=2", 10, None, "every 2 weeks, 10 times"), ("FREQ=DAILY", 1, None, "every day, 1 time"),
    ("FREQ=MONTHLY;BYDAY=+3TU", None, date(2027, 12, 31), "monthly on the 3rd Tuesday, until 2027-12-31"),
    ("FREQ=WEEKLY;BYDAY=TU,TH", None, None, "RRULE:FREQ=WEEKLY;BYDAY=TU,TH"),
])
def test_describe(rule: str | None, count: int | None, until: date | None, text: str) -> None:
    assert Schedule(TUESDAY, "Europe/Madrid", rule=rule, count=count, until=until).describe() == text


# --- validation ------------------------------------------------------------------------------------------------

def test_a_good_schedule_validates() -> None:
    Schedule(TUESDAY, "Europe/Madrid", rule="FREQ=WEEKLY;BYDAY=TU,TH", count=10).validate(NOW)
    Schedule(TUESDAY, "America/Mexico_City").validate(NOW)


def test_start_in_the_past() -> None:
    with pytest.raises(InvalidInput) as info:
        Schedule(datetime(2020, 1, 1, 15), "Europe/Madrid").validate(NOW)
    assert str(info.value) == "The start 2020-01-01 15:00 Europe/Madrid is in the past."
    # The start is compared as an instant: 15:00 Madrid is 14:00Z.
    with pytest.raises(InvalidInput, match="in the past"):
        Schedule(TUESDAY, "Europe/Madrid").validate(utc(2027, 3, 16, 14))
    Schedule(TUESDAY, "Europe/Madrid").validate(utc(2027, 3, 16, 13, 59))


def test_unknown_zone_fails_validation() -> None:
    with pytest.raises(InvalidInput, match="Unknown time zone 'Mars/Base'"):
        Schedule(TUESDAY, "Mars/Base").validate(NOW)


@pytest.mark.parametrize(("changes", "message"), [
    ({"duration": timedelta(0)}, "duration"), ({"duration": timedelta(hours=24, seconds=1)}, "duration"),
    ({"count": 0}, "count must be at least 1"), ({"count": -3}, "count must be at least 1"),
    ({"count": 10_001}, "at most 10000"),
    ({"count": 5, "until": date(2027, 12, 31)}, "not both"),
    ({"rule": None, "count": 5}, "needs a repeat rule"), ({"rule": None, "until": date(2027, 12, 31)}, "repeat rule"),
    ({"until": date(2027, 3, 15)}, "before the start"),
    ({"rule": "FREQ=WEEKLY;BYDAY=MO"}, "does not include the start"),
])
def test_bad_schedules_are_refused(changes: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {"start": TUESDAY, "tz": "Europe/Madrid", "rule": "FREQ=WEEKLY", **changes}
    with pytest.raises(InvalidInput, match=message):
        Schedule(**fields).validate(NOW)  # type: ignore[arg-type]


@pytest.mark.timeout(10)
@pytest.mark.parametrize("rule", ["FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "FREQ=DAILY;BYMONTH=4;BYMONTHDAY=31",
                                  "FREQ=MONTHLY;BYDAY=+5MO;BYMONTH=2;BYMONTHDAY=1"])
def test_a_rule_that_never_occurs_is_refused_promptly(rule: str) -> None:
    schedule = Schedule(TUESDAY, "Europe/Madrid", rule=parse_repeat(rule, TUESDAY))
    with pytest.raises(InvalidInput, match="never produces a session"):
        schedule.validate(NOW)
    with pytest.raises(InvalidInput, match="never produces a session"):
        schedule.occurrences()


def test_a_rare_rule_that_does_occur_is_accepted() -> None:
    leap = datetime(2028, 2, 29, 15)
    schedule = Schedule(leap, "Europe/Madrid", rule=parse_repeat("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", leap))
    schedule.validate(NOW)
    assert [o.start_utc.date() for o in schedule.occurrences(limit=2)] == [date(2028, 2, 29), date(2032, 2, 29)]
