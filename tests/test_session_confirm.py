"""Confirm before save (issue #14): a session added in chat with its start typed in words is echoed back with the
date it was read as and "Confirm" / "Cancel"; nothing is stored until the coordinator who typed it confirms, and a
repeated, stale or someone else's click saves nothing more. ISO starts, and the CLI, save at once.

The core runs for real (``bot.testing.TestAdapter``); the Slack test runs the adapter's real Bolt app over HTTP
against the local fake Slack, the Discord test the real discord.py client against the local fake Discord.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from rich.console import Console

from adapters.console import render_reply
from bot import Runtime
from bot.messages import Actions, Button
from bot.sessions.confirmations import CONFIRM, DISCARD
from bot.testing import Exchange, TestAdapter
from conftest import make_settings
from slack_fake import FakeSlack, blocks_text, buttons, view_submission
from slack_harness import (  # noqa: F401  (fixtures)
    ACK_BUDGET, ANSWER_WAIT, ServedSlack, fake_slack, serve_slack, slack_settings,
)

pytestmark = pytest.mark.timeout(120)

MADRID = "Europe/Madrid"
TYPED = 'session add title:"Working group" start:"martes 16:00" tz:Europe/Madrid repeat:weekly count:4'


@pytest.fixture
def network(tmp_path: Path) -> Iterator[Runtime]:
    settings = make_settings(tmp_path / "data", RRR_BOT__COORDINATORS='["test:BOSS", "test:OTHER"]')
    with Runtime.open(settings) as rt:
        yield rt


def say(adapter: TestAdapter, text: str) -> Exchange:
    return asyncio.run(adapter.send(text))


def click(adapter: TestAdapter, button: Button, user: str | None = None) -> Exchange:
    return asyncio.run(adapter.click(button.action_id, button.value, user=user))


def echo_buttons(exchange: Exchange) -> tuple[Button, Button]:
    (row,) = exchange.blocks(Actions)
    confirm, cancel = row.buttons
    assert (confirm.action_id, cancel.action_id) == (CONFIRM, DISCARD)
    return confirm, cancel


def next_tuesday_16() -> datetime:
    """The next Tuesday 16:00 in Madrid still to come (today when it is Tuesday before 16:00)."""
    now = datetime.now(UTC).astimezone(ZoneInfo(MADRID))
    day = now.date() + timedelta(days=(1 - now.weekday()) % 7)
    start = datetime(day.year, day.month, day.day, 16, 0)
    return start if start.replace(tzinfo=ZoneInfo(MADRID)) > now else start + timedelta(days=7)


def test_a_typed_start_is_echoed_and_saved_only_once_confirmed(network: Runtime) -> None:
    boss = TestAdapter(network.bot, user="BOSS")
    echoed = say(boss, TYPED)
    expected = next_tuesday_16()
    echoed.assert_reply("Schedule this session?", "You typed “martes 16:00”: I read it as "
                        f"Tue {expected.day} ", f"{expected:%Y}, 16:00 CE", "Nothing is saved until you confirm")
    assert all(r.ephemeral for r in echoed.replies), "the echo is for the coordinator only"
    assert network.sessions.list() == [], "nothing saved before the confirmation"
    confirm, _ = echo_buttons(echoed)

    done = click(boss, confirm)
    done.assert_reply("Confirmed: 'Working group' is session #1.", "Session scheduled")
    assert done.replies[0].replace, "the echo is replaced by the outcome"
    (info,) = network.sessions.list()
    assert info.schedule.start == expected and info.schedule.count == 4

    again = click(boss, confirm)  # a repeated click (or a retry of the same one)
    again.assert_error().assert_reply("nothing more was saved")
    assert len(network.sessions.list()) == 1


def test_cancel_saves_nothing_and_a_later_confirm_is_refused(network: Runtime) -> None:
    boss = TestAdapter(network.bot, user="BOSS")
    confirm, cancel = echo_buttons(say(boss, TYPED))
    click(boss, cancel).assert_reply("Cancelled: 'Working group' was not scheduled.")
    click(boss, confirm).assert_error().assert_reply("nothing more was saved")
    assert network.sessions.list() == []


def test_only_the_coordinator_who_typed_it_can_confirm(network: Runtime) -> None:
    boss = TestAdapter(network.bot, user="BOSS")
    confirm, _ = echo_buttons(say(boss, TYPED))
    click(boss, confirm, user="OTHER").assert_error().assert_reply("Only the coordinator who typed this session")
    click(boss, confirm, user="SOMEONE").assert_error().assert_reply("Only coordinators")
    assert network.sessions.list() == []
    click(boss, confirm).assert_reply("Session scheduled")


def test_concurrent_confirms_save_exactly_once(network: Runtime) -> None:
    boss = TestAdapter(network.bot, user="BOSS")
    confirm, _ = echo_buttons(say(boss, TYPED))

    async def both():
        return await asyncio.gather(*(boss.click(confirm.action_id, confirm.value) for _ in range(5)))

    results = asyncio.run(both())
    assert sum("Session scheduled" in r.text for r in results) == 1, [r.text for r in results]
    assert len(network.sessions.list()) == 1


def test_a_stale_confirmation_saves_nothing(network: Runtime) -> None:
    boss = TestAdapter(network.bot, user="BOSS")
    confirm, _ = echo_buttons(say(boss, TYPED))
    drafts = network.bot.session_commands.drafts
    drafts.keep = timedelta(0)  # as if the coordinator came back after KEEP
    click(boss, confirm).assert_error().assert_reply("has expired")
    assert network.sessions.list() == []


def test_bad_typed_input_is_refused_at_once_and_iso_saves_at_once(network: Runtime) -> None:
    boss = TestAdapter(network.bot, user="BOSS")
    say(boss, 'session add title:T start:"yesterday 15:00" tz:Europe/Madrid').assert_error().assert_reply(
        "in the past")
    say(boss, 'session add title:T start:"tomorrow 3pm" tz:Mars/Olympus').assert_error()
    assert network.sessions.list() == []
    day = (datetime.now(UTC) + timedelta(days=30)).date()
    say(boss, f"session add title:T start:{day}T15:00 tz:Europe/Madrid").assert_reply("Session scheduled")
    assert len(network.sessions.list()) == 1, "an ISO start cannot be misread: saved at once"


def test_an_edit_with_a_start_in_words_is_echoed_and_changed_once_confirmed(network: Runtime) -> None:
    boss = TestAdapter(network.bot, user="BOSS")
    day = (datetime.now(UTC) + timedelta(days=30)).date()
    say(boss, f"session add title:T start:{day}T15:00 tz:Europe/Madrid").assert_reply("Session scheduled")
    (before,) = network.sessions.list()

    echoed = say(boss, f'session edit {before.id} start:"martes 16:00"')
    expected = next_tuesday_16()
    echoed.assert_reply(f"Change session #{before.id} like this?", "You typed “martes 16:00”: I read it as "
                        f"Tue {expected.day} ", "Nothing is saved until you confirm")
    assert network.sessions.get(before.id).schedule.start == before.schedule.start, "nothing changed yet"
    confirm, cancel = echo_buttons(echoed)
    click(boss, confirm, user="OTHER").assert_error().assert_reply("Only the coordinator who typed")

    done = click(boss, confirm)
    done.assert_reply(f"Confirmed: session #{before.id} is changed.", "Session updated")
    assert network.sessions.get(before.id).schedule.start == expected
    click(boss, confirm).assert_error().assert_reply("nothing more was saved")
    click(boss, cancel).assert_error().assert_reply("nothing more was saved")

    _, cancel = echo_buttons(say(boss, f'session edit {before.id} start:"mañana 10:00"'))
    click(boss, cancel).assert_reply(f"Cancelled: session #{before.id} was not changed.")
    assert network.sessions.get(before.id).schedule.start == expected, "a cancelled edit changes nothing"
    say(boss, f'session edit {before.id} start:"ayer 10:00"').assert_error().assert_reply("in the past")
    assert network.sessions.get(before.id).schedule.start == expected


# -- through Slack ---------------------------------------------------------------------------------------------------

COORDINATOR = "UCOORD"  # the fake's coordinator user group S0COORD holds this member
CHANNEL = "C0GENERAL"


def test_slack_rrr_session_add_with_words_confirms_in_place(serve_slack, fake_slack: FakeSlack,
                                                            tmp_path: Path) -> None:
    slack: ServedSlack = serve_slack(slack_settings(tmp_path / "data", fake_slack))
    name, sent = slack.command('session add title:"Budget clinic" start:"tomorrow 3pm" tz:Europe/Rome',
                               user=COORDINATOR, channel=CHANNEL)
    assert sent.status == 200 and sent.seconds < ACK_BUDGET
    (echo,) = fake_slack.wait_for_response(name, 1, ANSWER_WAIT)
    assert echo.params.get("response_type") == "ephemeral" and "I read it as" in echo.text, echo
    assert slack.runtime.sessions.list() == [] and not fake_slack.calls_to("chat.postMessage")
    value = buttons(echo.blocks)[CONFIRM]["value"]
    clicked, sent = slack.click(CONFIRM, value, user=COORDINATOR, channel=CHANNEL, container_type="message",
                                is_ephemeral=True)
    assert sent.status == 200 and sent.seconds < ACK_BUDGET
    (replaced,) = fake_slack.wait_for_response(clicked, 1, ANSWER_WAIT)
    assert replaced.params.get("replace_original") is True and "is session #1" in blocks_text(replaced.blocks)
    (card,) = slack.posts(CHANNEL)
    assert "Session scheduled" in card.text and "Budget clinic" in card.text
    slack.click(CONFIRM, value, user=COORDINATOR, channel=CHANNEL, container_type="message", is_ephemeral=True)
    fake_slack.wait_for("chat.postEphemeral", 1, ANSWER_WAIT)
    assert len(slack.runtime.sessions.list()) == 1, "a repeated click saves nothing more"


def test_the_slack_form_echoes_the_session_and_saves_on_its_second_step_once(serve_slack, fake_slack: FakeSlack,
                                                                             tmp_path: Path) -> None:
    slack: ServedSlack = serve_slack(slack_settings(tmp_path / "data", fake_slack))
    slack.command("session add", user=COORDINATOR, channel=CHANNEL)
    form = fake_slack.wait_for("views.open", 1, ANSWER_WAIT)[0].view
    day = (datetime.now(UTC) + timedelta(days=20)).date()
    values = {"title": "Energy communities", "date": day.isoformat(), "time": "15:00", "tz": "Europe/Rome",
              "repeat": "weekly", "count": "4"}
    answer = slack.sender.interactive(view_submission(form, values, user=COORDINATOR)).json
    assert answer["response_action"] == "push", answer
    step = answer["view"]
    shown = blocks_text(step["blocks"])
    assert f"I read it as {day:%a} {day.day} " in shown and "15:00 CE" in shown and "every week, 4 times" in shown
    assert (step["submit"]["text"], step["close"]["text"]) == ("Schedule", "Back")
    assert slack.runtime.sessions.list() == [] and not fake_slack.calls_to("chat.postMessage")

    done = slack.sender.interactive(view_submission(step, {}, user=COORDINATOR))
    assert done.status == 200 and done.seconds < ACK_BUDGET and (done.json or {}).get("response_action") == "clear"
    (card,) = slack.posts(CHANNEL)
    assert "Session scheduled" in card.text and "Energy communities" in card.text
    again = slack.sender.interactive(view_submission(step, {}, user=COORDINATOR)).json  # submitted twice
    assert again["response_action"] == "update" and "nothing more was saved" in json.dumps(again["view"])
    assert len(slack.runtime.sessions.list()) == 1


def test_the_console_types_what_the_buttons_do(network: Runtime) -> None:
    boss = TestAdapter(network.bot, user="BOSS")
    echoed = say(boss, TYPED)
    out = Console(file=io.StringIO(), width=200, color_system=None)
    for reply in echoed.replies:
        render_reply(out, reply, styled=False)
    confirm, _ = echo_buttons(echoed)
    assert f"Type `session confirm {confirm.value}` to save it" in out.file.getvalue()
    say(boss, f"session confirm {confirm.value}").assert_reply("Session scheduled")
    say(boss, f"session discard {confirm.value}").assert_error().assert_reply("nothing more was saved")
    assert len(network.sessions.list()) == 1
