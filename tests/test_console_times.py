"""The console shows times in words, in the session's zone with UTC beside it, never as UTC ISO strings.

The console adapter runs in-process on a real runtime (SQLite) with piped input, as ``rrr-bot chat`` runs it; the
session starts on Tuesday 18 March 2031 at 15:00 in Madrid (14:00 UTC), weekly, so its third date is after the
change to summer time (30 March 2031).
"""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from rich.console import Console

from adapters.console import ConsoleAdapter, reader_zone, render_reply
from bot import Runtime
from bot.messages import Reply, Text, Time, reply_from_dict, reply_to_dict
from bot.sessions import views as session_views
from bot.sessions.draft import SessionDraft
from conftest import make_settings

FIRST = "Tue 18 Mar 2031, 15:00 CET (14:00 UTC)"
THIRD = "Tue 1 Apr 2031, 15:00 CEST (13:00 UTC)"


@pytest.fixture
def network(tmp_path: Path):
    with Runtime.open(make_settings(tmp_path / "data")) as rt:
        rt.sessions.add(SessionDraft(title="Working group", start="2031-03-18T15:00", tz="Europe/Madrid",
                                     repeat="weekly"))
        yield rt


def console(*, terminal: bool = False) -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=terminal, color_system=None, width=200), buffer


def chat(rt: Runtime, script: str, zone: str = "Asia/Tokyo") -> str:
    """Pipe ``script`` through the console adapter; the reader is in ``zone``, far from the session's."""
    out, buffer = console()
    handled = asyncio.run(ConsoleAdapter(rt.bot, io.StringIO(script), out, user="ana", zone=ZoneInfo(zone)).run())
    assert handled == len(script.splitlines())
    return buffer.getvalue()


def test_session_list_card_and_dates_show_the_session_zone_in_words(network: Runtime) -> None:
    text = chat(network, "session list\nsession show 1\nsession next 1 3\n")
    assert f"next: {FIRST}" in text  # the list
    assert f"Next: {FIRST}" in text  # the card
    dates = text[text.index("Next dates of #1 Working group:"):].splitlines()[1:4]
    assert dates == [FIRST, "Tue 25 Mar 2031, 15:00 CET (14:00 UTC)", THIRD]
    assert "2031-03-18T14:00:00+00:00" not in text and "+00:00" not in text


def test_a_styled_terminal_shows_the_same_words(network: Runtime) -> None:
    info = network.sessions.get(1)
    out, buffer = console(terminal=True)
    render_reply(out, session_views.card(network.sessions.card(info)), styled=True)
    assert f"Next: {FIRST}" in buffer.getvalue()


def test_a_time_of_no_session_is_shown_in_the_reader_zone() -> None:
    moment = datetime(2031, 3, 18, 14, 0, tzinfo=UTC)
    out, buffer = console()
    render_reply(out, Reply((Text("A time that suits both cities:"), Time(moment))), styled=False,
                 zone=ZoneInfo("America/Sao_Paulo"))
    assert buffer.getvalue().splitlines()[1] == "Tue 18 Mar 2031, 11:00 UTC-03 (14:00 UTC)"


def test_a_zone_this_machine_lacks_falls_back_to_the_reader_zone() -> None:
    out, buffer = console()
    render_reply(out, Reply((Time(datetime(2031, 3, 18, 14, 0, tzinfo=UTC), "Next:", "Mars/Olympus_Mons"),)),
                 styled=False, zone=ZoneInfo("UTC"))
    assert buffer.getvalue().splitlines()[0] == "Next: Tue 18 Mar 2031, 14:00 UTC"


def test_the_session_zone_survives_the_stored_outbox() -> None:
    reply = Reply((Time(datetime(2031, 3, 18, 14, 0, tzinfo=UTC), "Next:", "Europe/Madrid"),))
    assert reply_from_dict(reply_to_dict(reply)) == reply
    old = reply_to_dict(reply)
    del old["blocks"][0]["tz"]  # a reminder queued before this version
    assert reply_from_dict(old).blocks[0] == Time(datetime(2031, 3, 18, 14, 0, tzinfo=UTC), "Next:")


def test_the_reader_zone_is_tz_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Europe/Warsaw")
    assert reader_zone() == ZoneInfo("Europe/Warsaw")
    monkeypatch.setenv("TZ", "Not/A_Zone")
    assert isinstance(reader_zone(), ZoneInfo)  # this machine's, or UTC: never an error
