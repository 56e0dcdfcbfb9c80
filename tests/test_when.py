"""Session starts typed as people type them (bot/sessions/when.py), through the service, the chat command and the CLI.

The service calls take a fixed ``now``: Wednesday 10 March 2027, 09:17 in Madrid (08:17 UTC). The chat command and
the CLI run on the real clock, so they use a far absolute date or work the expected date out from the clock.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from adapters.cli import app
from bot import Runtime
from bot.errors import InvalidInput
from bot.messages import Actions
from bot.sessions.recurrence import parse_local
from bot.sessions.service import Sessions
from bot.sessions.when import human_local, human_time, parse_start
from bot.testing import TestAdapter
from bot.sessions.draft import SessionDraft
from conftest import make_settings

MADRID = "Europe/Madrid"
NOW = datetime(2027, 3, 10, 8, 17, 37, tzinfo=UTC)  # Wednesday 09:17:37 CET


def at(*parts: int) -> datetime:
    return datetime(*parts)  # type: ignore[arg-type]


# -- ISO 8601: exactly as before --------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("2027-03-16T15:00", at(2027, 3, 16, 15, 0)), ("2027-03-16 15:00", at(2027, 3, 16, 15, 0)),
    ("2027-03-16T15:00:30", at(2027, 3, 16, 15, 0, 30)), (" 2027-03-16T15:00 ", at(2027, 3, 16, 15, 0)),
])
def test_iso_input_reads_as_parse_local_always_did(text: str, expected: datetime) -> None:
    assert parse_start(text, MADRID, NOW) == parse_local(text) == expected


@pytest.mark.parametrize("text", ["2027-03-16T15:00+01:00", "2027-02-30T15:00", "2027-03-16T15:00Z"])
def test_iso_errors_are_the_old_ones(text: str) -> None:
    with pytest.raises(InvalidInput) as old:
        parse_local(text)
    with pytest.raises(InvalidInput) as new:
        parse_start(text, MADRID, NOW)
    assert str(new.value) == str(old.value)


def test_an_iso_start_in_the_past_is_left_to_the_schedule_as_before() -> None:
    assert parse_start("2020-01-01T10:00", MADRID, NOW) == at(2020, 1, 1, 10, 0)


# -- the network's languages ----------------------------------------------------------------------------------------

TUESDAY_15 = at(2027, 3, 16, 15, 0)
TOMORROW_15 = at(2027, 3, 11, 15, 0)


@pytest.mark.parametrize("text, expected", [
    # en
    ("next Tuesday 15:00", TUESDAY_15), ("tomorrow 3pm", TOMORROW_15), ("16 March 15:00", TUESDAY_15),
    ("tuesday at 3pm", TUESDAY_15), ("Tue 16 Mar 3:30 p.m.", at(2027, 3, 16, 15, 30)),
    ("tomorrow at noon", at(2027, 3, 11, 12, 0)), ("16/03/2027 15:00", TUESDAY_15), ("15:00", at(2027, 3, 10, 15)),
    # es
    ("el martes a las 15:00", TUESDAY_15), ("martes 16:00", at(2027, 3, 16, 16, 0)),
    ("mañana a las 15", TOMORROW_15), ("16 de marzo de 2027 15:00", TUESDAY_15), ("hoy a las 20h", at(2027, 3, 10, 20)),
    # pt
    ("terça-feira às 15:00", TUESDAY_15), ("amanhã às 15h", TOMORROW_15), ("16 de março às 15h", TUESDAY_15),
    ("próxima terça às 15h", TUESDAY_15),
    # fr
    ("mardi prochain 15h", TUESDAY_15), ("le 16 mars à 15h", TUESDAY_15), ("demain à 15h30", at(2027, 3, 11, 15, 30)),
    # it
    ("martedì alle 15:00", TUESDAY_15), ("domani alle 15", TOMORROW_15), ("martedì prossimo alle 15", TUESDAY_15),
    ("16 marzo alle ore 15", TUESDAY_15),
    # pl
    ("wtorek 15:00", TUESDAY_15), ("jutro o 15:00", TOMORROW_15), ("w przyszły wtorek o 15:00", TUESDAY_15),
    ("16 marca o 15", TUESDAY_15),
    # nl
    ("dinsdag 15:00", TUESDAY_15), ("morgen om 15:00", TOMORROW_15), ("volgende dinsdag om 15 uur", TUESDAY_15),
    ("16 maart 15.00 uur", TUESDAY_15),
])
def test_typed_starts_in_each_language(text: str, expected: datetime) -> None:
    assert parse_start(text, MADRID, NOW) == expected


@pytest.mark.parametrize("tz, text, instant", [
    (MADRID, "16 de marzo de 2027 15:00", datetime(2027, 3, 16, 14, 0, tzinfo=UTC)),
    (MADRID, "le 16 avril à 15h", datetime(2027, 4, 16, 13, 0, tzinfo=UTC)),  # summer time: UTC+2
    ("America/Sao_Paulo", "amanhã às 15h", datetime(2027, 3, 11, 18, 0, tzinfo=UTC)),
    ("America/Mexico_City", "mañana a las 15:00", datetime(2027, 3, 11, 21, 0, tzinfo=UTC)),
    ("America/Los_Angeles", "next Tuesday 3pm", datetime(2027, 3, 16, 22, 0, tzinfo=UTC)),  # PDT from 14 March
])
def test_typed_starts_give_the_right_instant_in_the_session_zone(tz: str, text: str, instant: datetime) -> None:
    local = parse_start(text, tz, NOW)
    assert local.replace(tzinfo=ZoneInfo(tz)).astimezone(UTC) == instant


def test_relative_days_count_from_now_in_the_session_zone() -> None:
    late = datetime(2027, 3, 10, 23, 30, tzinfo=UTC)  # Thursday 00:30 in Madrid, still Wednesday 17:30 in Mexico
    assert parse_start("tomorrow 15:00", MADRID, late) == at(2027, 3, 12, 15, 0)
    assert parse_start("tomorrow 15:00", "America/Mexico_City", late) == at(2027, 3, 11, 15, 0)
    with pytest.raises(InvalidInput, match="in the past"):
        parse_start("15:00", "America/Mexico_City", late)  # 15:00 today in Mexico City has passed


def test_today_named_as_a_weekday_or_a_date_means_today_and_next_means_in_a_week() -> None:
    assert parse_start("Wednesday 15:00", MADRID, NOW) == at(2027, 3, 10, 15, 0)
    assert parse_start("10 March 15:00", MADRID, NOW) == at(2027, 3, 10, 15, 0)
    assert parse_start("next Wednesday 15:00", MADRID, NOW) == at(2027, 3, 17, 15, 0)
    assert parse_start("mercredi prochain 15h", MADRID, NOW) == at(2027, 3, 17, 15, 0)
    with pytest.raises(InvalidInput, match="Wed 10 Mar 2027, 08:00 CET, which is in the past"):
        parse_start("Wednesday 08:00", MADRID, NOW)  # not silently moved to next week


def test_a_date_in_the_spring_forward_gap_is_kept_as_typed_for_the_schedule() -> None:
    eve = datetime(2027, 3, 27, 10, 0, tzinfo=UTC)
    assert parse_start("tomorrow 02:30", MADRID, eve) == at(2027, 3, 28, 2, 30)
    assert human_local(at(2027, 3, 28, 2, 30), MADRID) == "Sun 28 Mar 2027, 03:30 CEST"  # as people see it


# -- refused, with the forms to type --------------------------------------------------------------------------------


@pytest.mark.parametrize("text, fragment", [
    ("", "Cannot read the time ''"),
    ("tomorrow", "Cannot read the time 'tomorrow': it has no time of day"),
    ("next tuesday", "Cannot read the time 'next tuesday'"),
    ("16 March", "no time of day"),
    ("blah 15:00", "Cannot read the time 'blah 15:00'"),
    ("March 15:00", "does not say which day"),
    ("03/04/2027 15:00", "ambiguous: 03/04 reads as day/month and as month/day"),
    ("tomorrow at 3", "3 in the morning or in the afternoon? Write 3am, 3pm or 03:00"),
    ("tomorrow 15:00 16:00", "more than one time of day"),
    ("tomorrow 25:00", "no valid time of day"),
    ("tomorrow 13pm", "13pm is not a time"),
    ("tomorrow 15:00 UTC", "names a time zone or UTC offset: give the local time in Europe/Madrid"),
    ("tomorrow 15:00+02:00", "names a time zone or UTC offset"),
    ("yesterday 15:00", "'yesterday 15:00' is Tue 9 Mar 2027, 15:00 CET, which is in the past"),
    ("08:00", "which is in the past"),
    ("x" * 101, "too long (100 characters at most)"),
])
def test_unreadable_vague_ambiguous_or_past_starts_are_refused(text: str, fragment: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_start(text, MADRID, NOW)
    message = str(refused.value)
    assert fragment in message and "\n" not in message
    if "Cannot read" in fragment or "which day" in fragment:
        assert "2027-03-16T15:00" in message and "tomorrow 3pm" in message  # the accepted forms


def test_an_unknown_zone_is_refused_before_the_words_are_read() -> None:
    with pytest.raises(InvalidInput, match="Unknown time zone 'Mars/Olympus'"):
        parse_start("tomorrow 15:00", "Mars/Olympus", NOW)


def test_human_time_in_the_zone_and_utc() -> None:
    assert human_time(datetime(2027, 3, 16, 14, 0, tzinfo=UTC), MADRID) == "Tue 16 Mar 2027, 15:00 CET (14:00 UTC)"
    assert human_time(datetime(2027, 3, 16, 23, 30, tzinfo=UTC), MADRID) == \
        "Wed 17 Mar 2027, 00:30 CET (Tue 16 Mar 23:30 UTC)"
    assert human_time(datetime(2027, 3, 16, 18, 0, tzinfo=UTC), "America/Sao_Paulo") == \
        "Tue 16 Mar 2027, 15:00 UTC-03 (18:00 UTC)"
    assert human_time(datetime(2027, 3, 16, 18, 0, tzinfo=UTC), "UTC") == "Tue 16 Mar 2027, 18:00 UTC"


# -- through the service, the chat command and the CLI ---------------------------------------------------------------


@pytest.fixture
def network(tmp_path: Path):
    settings = make_settings(tmp_path / "data", RRR_BOT__COORDINATORS='["slack:BOSS"]')
    with Runtime.open(settings) as rt:
        yield rt


def test_the_service_reads_typed_starts_on_add_and_edit(network: Runtime) -> None:
    sessions: Sessions = network.sessions
    info = sessions.add(SessionDraft(title="Working group", start="mardi prochain 15h", tz=MADRID, repeat="weekly",
                                     count=4), now=NOW)
    assert info.schedule.start == TUESDAY_15 and info.schedule.first().start_utc == datetime(2027, 3, 16, 14, 0,
                                                                                             tzinfo=UTC)
    edited = sessions.edit(info.id, {"start": "jueves 17:30"}, now=NOW)  # Thursday 11 March
    assert edited.schedule.start == at(2027, 3, 11, 17, 30)
    with pytest.raises(InvalidInput, match="in the past"):
        sessions.edit(info.id, {"start": "yesterday 15:00"}, now=NOW)
    assert sessions.get(info.id).schedule.start == at(2027, 3, 11, 17, 30), "nothing saved"


def say(adapter: TestAdapter, text: str):
    return asyncio.run(adapter.send(text))


def test_chat_session_add_and_edit_take_typed_starts(network: Runtime) -> None:
    boss = TestAdapter(network.bot, platform="slack", user="BOSS")
    echoed = say(boss, 'session add title:"Working group" start:"16 de marzo de 2031 15:00" tz:Europe/Madrid '
                       'repeat:weekly').assert_reply("I read it as Sun 16 Mar 2031, 15:00 CET (14:00 UTC)")
    assert network.sessions.list() == [], "nothing saved before the confirmation"
    (confirm, _cancel) = echoed.blocks(Actions)[0].buttons
    asyncio.run(boss.click(confirm.action_id, confirm.value)).assert_reply("Session scheduled")
    (info,) = network.sessions.list()
    assert info.schedule.start == at(2031, 3, 16, 15, 0)

    local_now = datetime.now(UTC).astimezone(ZoneInfo(MADRID))
    edit = say(boss, f'session edit {info.id} start:"tomorrow 9am"').assert_reply("I read it as")
    assert network.sessions.get(info.id).schedule.start == at(2031, 3, 16, 15, 0), "nothing changed before the OK"
    (confirm, _cancel) = edit.blocks(Actions)[0].buttons
    asyncio.run(boss.click(confirm.action_id, confirm.value)).assert_reply("Session updated")
    tomorrows = {(local_now + timedelta(days=1)).date(), (datetime.now(UTC).astimezone(ZoneInfo(MADRID))
                                                           + timedelta(days=1)).date()}
    start = network.sessions.get(info.id).schedule.start
    assert start.time().hour == 9 and start.date() in tomorrows

    refused = say(boss, f'session edit {info.id} start:"tomorrow at 3"')
    refused.assert_error().assert_reply("3 in the morning or in the afternoon?")
    assert network.sessions.get(info.id).schedule.start == start, "nothing saved"


def cli(data_dir: Path, *args: str):
    result = CliRunner().invoke(app, list(args), env={"RRR_DATA_DIR": str(data_dir)})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def test_cli_add_saves_a_typed_start_at_once_and_echoes_it(cli_env: None, tmp_path: Path) -> None:
    data = tmp_path / "data"
    added = cli(data, "sessions", "add", "--title", "T", "--start", "16 de marzo de 2031 15:00", "--tz", MADRID,
                "--json")
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["start"] == "2031-03-16T15:00:00"

    said = cli(data, "sessions", "add", "--title", "U", "--start", "le 16 mars 2031 à 15h", "--tz", MADRID)
    assert said.exit_code == 0, said.output
    assert said.stdout.splitlines() == ["#2 U: once, from 2031-03-16 15:00 Europe/Madrid, 60 min",
                                        "Starts Sun 16 Mar 2031, 15:00 CET (14:00 UTC)."]

    edited = cli(data, "sessions", "edit", "2", "--start", "16 april 2031 3pm")
    assert edited.exit_code == 0, edited.output
    assert edited.stdout.splitlines()[-1] == "Starts Wed 16 Apr 2031, 15:00 CEST (13:00 UTC)."

    iso = cli(data, "sessions", "add", "--title", "V", "--start", "2031-03-16T15:00", "--tz", MADRID, "--json")
    assert json.loads(iso.stdout)["start"] == "2031-03-16T15:00:00", "scripts keep working with ISO times"


@pytest.mark.parametrize("start, fragment", [
    ("yesterday 15:00", "which is in the past"),
    ("03/04/2031 15:00", "ambiguous"),
    ("next week", "Cannot read the time 'next week'"),
])
def test_cli_refuses_a_bad_typed_start_in_one_line_and_saves_nothing(cli_env: None, tmp_path: Path, start: str,
                                                                      fragment: str) -> None:
    data = tmp_path / "data"
    refused = cli(data, "sessions", "add", "--title", "T", "--start", start, "--tz", MADRID)
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    errors = [line for line in refused.stderr.splitlines() if not line.startswith(("INFO ", "DEBUG "))]
    assert len(errors) == 1 and fragment in errors[0], refused.stderr
    assert cli(data, "sessions", "list", "--json").stdout.strip() == "[]"
