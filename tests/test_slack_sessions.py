"""Peer sessions through the Slack adapter: the "Schedule a session" form, the session card with its RSVP and link
buttons, and RSVP clicks that redraw the card in place.

As in ``test_slack.py``: the adapter's real Bolt app is served over HTTP on 127.0.0.1 and receives requests signed
as Slack signs them; it calls the local fake Slack (``slack_fake.FakeSlack``), which records every call. The core
runs for real on an empty network (sessions need no knowledge base). Nothing of ours is mocked; every wait is a
polling loop with a deadline.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from knowledge.corpus import CITIES_FILE
from knowledge.importers import read_cities
from adapters.slack import modals
from bot.messages import Actions, Button, Reply, Text
from slack_fake import Call, FakeSlack, buttons, input_values, view_submission, wait_until
from slack_harness import (  # noqa: F401  (fixtures)
    ACK_BUDGET, ANSWER_WAIT, ServedSlack, assert_block_kit, assert_modal, fake_slack, no_traceback, serve_slack,
    slack_settings,
)

pytestmark = pytest.mark.timeout(120)

COORDINATOR = "UCOORD"  # the fake's coordinator user group S0COORD holds this member
MEMBER = "U0MEMBER"
PEER = "U0PEER"
CHANNEL = "C0GENERAL"
#: The zones of the nine seeded cities (one city each: by name), and UTC last.
ZONES = ["America/Los_Angeles", "America/Mexico_City", "America/Sao_Paulo", "America/Toronto", "Europe/Amsterdam",
         "Europe/Dublin", "Europe/Madrid", "Europe/Rome", "Europe/Warsaw", "UTC"]
VIDEO = "https://meet.example.org/rrr-energy"
#: A day well ahead, whatever today is (the core refuses a start in the past).
DAY = date.today() + timedelta(days=40)


# -- the harness (see slack_harness.py) ------------------------------------------------------------------------------

class Slack(ServedSlack):
    def open_form(self, user: str = COORDINATOR) -> dict:
        """``/rrr session add`` as ``user``; the form the adapter opened."""
        before = len(self.fake.calls_to("views.open"))
        _, sent = self.command("session add", user=user)
        assert sent.status == 200 and sent.seconds < ACK_BUDGET
        view = self.fake.wait_for("views.open", before + 1, ANSWER_WAIT)[before].view
        assert_modal(view)
        return view

    def submit(self, view: dict, values: dict[str, str], user: str = COORDINATOR) -> Any:
        sent = self.sender.interactive(view_submission(view, values, user=user))
        assert sent.status == 200 and sent.seconds < ACK_BUDGET, (sent.status, sent.seconds, sent.text)
        return sent

    def submit_and_confirm(self, view: dict, values: dict[str, str], user: str = COORDINATOR) -> Any:
        """Submit the form, check its second step (the session as read, pushed), and submit that ("Schedule")."""
        sent = self.submit(view, values, user=user)
        answer = sent.json or {}
        assert answer.get("response_action") == "push", sent.text
        step = answer["view"]
        assert step["callback_id"] == "session_confirm_modal" and "I read it as" in json.dumps(step), step
        assert_modal(step)
        return self.submit(step, {}, user=user)

    def posts(self, channel: str = CHANNEL, count: int = 1, method: str = "chat.postMessage") -> list[Call]:
        return super().posts(channel, count, method=method)


@pytest.fixture
def slack(serve_slack, fake_slack: FakeSlack, tmp_path: Path) -> Slack:
    served = serve_slack(slack_settings(tmp_path / "data", fake_slack), Slack)
    served.runtime.directory.import_cities(read_cities(CITIES_FILE).records)  # their zones are the form's
    return served


# -- helpers ---------------------------------------------------------------------------------------------------------

def utc_start(day: date, hhmm: str, zone: str) -> datetime:
    hours, minutes = map(int, hhmm.split(":"))
    return datetime.combine(day, time(hours, minutes), tzinfo=ZoneInfo(zone)).astimezone(timezone.utc)


def form(**changes: str) -> dict[str, str]:
    """The values a coordinator types into the form (by block id)."""
    values = {"title": "Energy communities working group", "date": DAY.isoformat(), "time": "15:00",
              "tz": "Europe/Rome", "repeat": "weekly", "count": "4", "duration": "90", "video": VIDEO,
              "agenda": "Share figures on citizen-owned solar roofs."}
    values.update(changes)
    return values


def labels(blocks: list[dict]) -> dict[str, str]:
    return {action_id: b["text"]["text"] for action_id, b in buttons(blocks).items()}


def schedule(slack: Slack, **changes: str) -> Call:
    """A coordinator schedules a session through the form; the card posted in the channel."""
    before = len(slack.fake.calls_to("chat.postMessage"))
    sent = slack.submit_and_confirm(slack.open_form(), form(**changes))
    assert (sent.json or {}).get("response_action") == "clear", sent.text
    return slack.posts(count=before + 1)[before]


def card_message(post: Call) -> dict:
    """The card as Slack keeps it (what a click payload carries)."""
    return {**post.response["message"], "ts": post.response["ts"]}


# -- the form --------------------------------------------------------------------------------------------------------

def test_session_add_opens_the_schedule_form_for_a_coordinator(slack: Slack) -> None:
    view = slack.open_form()
    assert view["callback_id"] == "session_add_modal"
    assert json.loads(view["private_metadata"]) == {"channel": CHANNEL}
    inputs = input_values(view)
    kinds = {block: kind for block, (_, kind, _) in inputs.items()}
    assert kinds == {"title": "plain_text_input", "date": "datepicker", "time": "timepicker", "tz": "static_select",
                     "repeat": "static_select", "count": "number_input", "duration": "number_input",
                     "video": "url_text_input", "agenda": "plain_text_input"}
    blocks = {b["block_id"]: b for b in view["blocks"]}
    assert [o["value"] for o in blocks["tz"]["element"]["options"]] == ZONES
    assert "Bilbao" in json.dumps(blocks["tz"]["element"]["options"], ensure_ascii=False)
    assert inputs["tz"][2]["value"] == "Europe/Madrid", "the member's own Slack zone (users.info) is preselected"
    assert [o["value"] for o in blocks["repeat"]["element"]["options"]] == ["none", "weekly", "every 2 weeks",
                                                                            "monthly"]
    assert inputs["repeat"][2]["value"] == "none" and inputs["duration"][2] == "60"
    assert {b for b, block in blocks.items() if block["optional"]} == {"count", "video", "agenda"}


def test_the_form_offers_the_members_own_zone_when_no_city_of_the_network_has_it() -> None:
    network = [("Europe/Madrid", ("Bilbao", "Valencia")), ("UTC", ())]
    view = modals.session_modal(channel=CHANNEL, zones=network, zone="Asia/Tokyo")
    tz = next(b for b in view["blocks"] if b["block_id"] == "tz")["element"]
    assert [o["value"] for o in tz["options"]] == ["Asia/Tokyo", "Europe/Madrid", "UTC"]
    assert tz["initial_option"]["value"] == "Asia/Tokyo"
    assert tz["options"][1]["text"]["text"] == "Europe/Madrid (Bilbao, Valencia)"
    view = modals.session_modal(channel=CHANNEL, zones=network, zone="Europe/Madrid")
    tz = next(b for b in view["blocks"] if b["block_id"] == "tz")["element"]
    assert [o["value"] for o in tz["options"]] == ["Europe/Madrid", "UTC"]


def test_a_coordinator_schedules_a_session_and_its_card_is_posted_in_the_channel(slack: Slack) -> None:
    post = schedule(slack)
    (info,) = slack.runtime.sessions.list()
    assert info.title == "Energy communities working group" and info.agenda.startswith("Share figures")
    assert (info.schedule.tz, info.schedule.rule, info.schedule.count) == ("Europe/Rome", "FREQ=WEEKLY", 4)
    assert info.schedule.start == datetime.combine(DAY, time(15, 0))
    assert info.schedule.duration == timedelta(minutes=90) and info.video_url == VIDEO
    assert info.channels == (f"slack:{CHANNEL}",) and info.created_by == f"slack:{COORDINATOR}"
    start = utc_start(DAY, "15:00", "Europe/Rome")
    found = buttons(post.blocks)
    key = start.strftime("%Y%m%dT%H%M%SZ")
    assert {a: found[a]["value"] for a in ("rsvp_going", "rsvp_maybe", "rsvp_no")} == \
        dict.fromkeys(("rsvp_going", "rsvp_maybe", "rsvp_no"), f"{info.id}:{key}")
    assert labels(post.blocks)["rsvp_going"] == "Going (0)" and found["rsvp_going"].get("style") == "primary"
    link = found["open_url"]
    assert link["url"].startswith("https://calendar.google.com/calendar/render?action=TEMPLATE")
    assert "value" not in link and link["text"]["text"] == "Add to Google Calendar"
    assert f"<!date^{int(start.timestamp())}^" in post.text, "the next time, shown in each reader's zone"
    assert "Session scheduled" in post.text and "thread_ts" not in post.params
    # the channel sees the card now; nothing else is queued for it
    assert slack.runtime.outbox.pending("slack") == 0


def test_rsvp_clicks_redraw_the_card_in_place(slack: Slack) -> None:
    post = schedule(slack)
    message = card_message(post)
    value = buttons(post.blocks)["rsvp_going"]["value"]
    session_id, key = int(value.split(":")[0]), value.split(":", 1)[1]

    _, sent = slack.click("rsvp_going", value, user=MEMBER, message=message)
    assert sent.status == 200 and sent.seconds < ACK_BUDGET
    update = slack.fake.wait_for("chat.update", 1, ANSWER_WAIT)[0]
    assert update.params["channel"] == CHANNEL and update.params["ts"] == message["ts"]
    assert update.response["ok"] is True
    assert_block_kit(update.blocks, "chat.update")
    assert labels(update.blocks).items() >= {"rsvp_going": "Going (1)", "rsvp_maybe": "Maybe (0)",
                                             "rsvp_no": "Can't (0)"}.items()
    assert buttons(update.blocks)["open_url"]["url"].startswith("https://calendar.google.com/")
    assert labels(slack.fake.message(CHANNEL, message["ts"])["blocks"])["rsvp_going"] == "Going (1)"
    noted = slack.posts(method="chat.postEphemeral")[0]
    assert noted.params["user"] == MEMBER and "Noted: Going." in noted.text

    _, sent = slack.click("rsvp_maybe", value, user=MEMBER, message=message)
    assert sent.status == 200 and sent.seconds < ACK_BUDGET
    moved = slack.fake.wait_for("chat.update", 2, ANSWER_WAIT)[1]
    assert labels(moved.blocks)["rsvp_going"] == "Going (0)" and labels(moved.blocks)["rsvp_maybe"] == "Maybe (1)"
    slack.click("rsvp_going", value, user=PEER, message=message)
    third = slack.fake.wait_for("chat.update", 3, ANSWER_WAIT)[2]
    assert labels(third.blocks)["rsvp_going"] == "Going (1)" and labels(third.blocks)["rsvp_maybe"] == "Maybe (1)"
    assert slack.runtime.sessions.counts(session_id, key) == {"going": 1, "maybe": 1, "no": 0}
    assert [n.params["user"] for n in slack.posts(method="chat.postEphemeral", count=3)] == [MEMBER, MEMBER, PEER]
    slack.fake.assert_quiet("chat.postMessage", 0.5, count=1)  # redrawn, never posted again
    assert not slack.fake.responses(), "a card in the channel is updated with chat.update, not its response_url"


def test_a_slow_redraw_is_never_overtaken_by_a_later_click(slack: Slack) -> None:
    """Two clicks on one card: the first redraw is held up (HTTP 429, Retry-After 1 s), the second click comes
    meanwhile. The card must end with the counts of the last click, not be overwritten by the stale first redraw."""
    post = schedule(slack)
    message = card_message(post)
    value = buttons(post.blocks)["rsvp_going"]["value"]
    slack.fake.rate_limit("chat.update", times=1, retry_after=1)
    slack.click("rsvp_going", value, user=MEMBER, message=message)
    wait_until(lambda: slack.fake.calls_to("chat.update", ok_only=False), ANSWER_WAIT, "the rate-limited redraw")
    slack.click("rsvp_going", value, user=PEER, message=message)
    updates = slack.fake.wait_for("chat.update", 2, ANSWER_WAIT)
    assert [labels(u.blocks)["rsvp_going"] for u in updates] == ["Going (1)", "Going (2)"]
    assert labels(slack.fake.message(CHANNEL, message["ts"])["blocks"])["rsvp_going"] == "Going (2)"


def test_an_rsvp_on_a_private_card_replaces_it_through_its_response_url(slack: Slack) -> None:
    schedule(slack)
    (info,) = slack.runtime.sessions.list()
    shown, _ = slack.command(f"session show {info.id}", user=MEMBER)
    card = slack.fake.wait_for_response(shown, 1, ANSWER_WAIT)[0]
    assert card.params.get("response_type") == "ephemeral"
    value = buttons(card.blocks)["rsvp_no"]["value"]
    clicked, sent = slack.click("rsvp_no", value, user=MEMBER, container_type="message", is_ephemeral=True)
    assert sent.status == 200 and sent.seconds < ACK_BUDGET
    redrawn = slack.fake.wait_for_response(clicked, 1, ANSWER_WAIT)[0]
    assert redrawn.params.get("replace_original") is True
    assert_block_kit(redrawn.blocks, "response_url")
    assert labels(redrawn.blocks)["rsvp_no"] == "Can't (1)"
    assert not slack.fake.calls_to("chat.update"), "an ephemeral message cannot be updated with chat.update"


def test_an_rsvp_on_a_message_slack_cannot_update_falls_back_to_the_response_url(slack: Slack) -> None:
    post = schedule(slack)
    value = buttons(post.blocks)["rsvp_going"]["value"]
    slack.fake.fail("chat.update", "cant_update_message")
    clicked, _ = slack.click("rsvp_going", value, user=MEMBER, message=card_message(post))
    redrawn = slack.fake.wait_for_response(clicked, 1, ANSWER_WAIT)[0]
    assert redrawn.params.get("replace_original") is True and labels(redrawn.blocks)["rsvp_going"] == "Going (1)"


def test_a_click_on_the_link_button_is_only_acknowledged(slack: Slack) -> None:
    post = schedule(slack)
    link = buttons(post.blocks)["open_url"]
    clicked, sent = slack.click(link["action_id"], "", user=MEMBER, message=card_message(post))
    assert sent.status == 200 and sent.seconds < ACK_BUDGET
    for method in ("chat.postEphemeral", "chat.update", f"response:{clicked}"):
        slack.fake.assert_quiet(method, 0.4)
    slack.fake.assert_quiet("chat.postMessage", 0.4, count=1)


def test_link_buttons_render_with_their_url_and_unique_action_ids() -> None:
    from adapters.slack.render import LINK_ACTION, to_blocks

    too_long = "https://example.org/agenda?text=" + "x" * 3000  # (a long Google link is shortened instead)
    reply = Reply((Text("Links"), Actions((
        Button("Going (0)", "rsvp_going", "7:20300101T100000Z", "primary"),
        Button("Google Calendar", "open_url", url="https://calendar.google.com/calendar/render?action=TEMPLATE"),
        Button("Agenda", "open_url", url="https://example.org/agenda"),
        Button("Too long", "open_url", url=too_long)))))
    blocks = to_blocks(reply)
    assert_block_kit(blocks, "links")
    found = buttons(blocks)
    assert found["open_url"]["url"].startswith("https://calendar.google.com/")
    assert found["open_url_2"]["url"] == "https://example.org/agenda"
    assert "Too long" not in json.dumps(blocks), "a link Slack would refuse is left out, not the whole message"
    assert all(LINK_ACTION.match(a) for a in ("open_url", "open_url_2")) and not LINK_ACTION.match("rsvp_going")
    assert found["rsvp_going"]["value"] == "7:20300101T100000Z" and "url" not in found["rsvp_going"]


# -- coordinators only -----------------------------------------------------------------------------------------------

def test_a_member_is_politely_refused_the_form(slack: Slack, caplog: pytest.LogCaptureFixture) -> None:
    name, sent = slack.command("session add", user=MEMBER)
    assert sent.status == 200
    refusal = slack.fake.wait_for_response(name, 1, ANSWER_WAIT)[0]
    assert refusal.params.get("response_type") == "ephemeral"
    assert "Only coordinators can schedule a session" in refusal.text
    slack.fake.assert_quiet("views.open", 0.5)
    # a form opened by a coordinator but submitted by a member is refused by the core
    view = slack.open_form()
    answer = slack.submit(view, form(), user=MEMBER).json
    assert answer["response_action"] == "update", answer
    assert "Only coordinators can `session add`" in json.dumps(answer["view"])
    # and so is the typed form of the command
    typed, _ = slack.command(f'session add title:"Sneaky" start:{DAY}T10:00 tz:UTC', user=MEMBER)
    assert "Only coordinators" in slack.fake.wait_for_response(typed, 1, ANSWER_WAIT)[0].text
    assert slack.runtime.sessions.list() == []
    slack.fake.assert_quiet("chat.postMessage", 0.5)
    no_traceback(caplog, refusal.text)


# -- bad input -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("changes", "field", "says"), [
    ({"date": (date.today() - timedelta(days=3)).isoformat()}, "date", "is in the past"),
    ({"tz": "Mars/Olympus_Mons"}, "tz", "Unknown time zone 'Mars/Olympus_Mons'"),
    ({"count": "three"}, "count", "whole number"),
    ({"repeat": "none", "count": "3"}, "count", "needs a repeat rule"),
    ({"duration": "2000"}, "duration", "at most 24 hours"),
    ({"video": "ftp://files.example.org/x"}, "video", "http:// or https://"),
    ({"title": ""}, "title", "Required"),
], ids=["past-start", "unknown-zone", "count-not-a-number", "count-without-repeat", "duration", "video", "title"])
def test_bad_input_is_shown_on_its_field_and_nothing_is_stored(slack: Slack, caplog: pytest.LogCaptureFixture,
                                                               changes: dict[str, str], field: str, says: str) -> None:
    caplog.set_level(logging.INFO)
    answer = slack.submit(slack.open_form(), form(**changes)).json
    assert answer["response_action"] == "errors", answer
    assert set(answer["errors"]) == {field} and says in answer["errors"][field], answer
    assert slack.runtime.sessions.list() == []
    slack.fake.assert_quiet("chat.postMessage", 0.5)
    no_traceback(caplog, answer["errors"][field])


def test_the_typed_command_posts_the_card_in_the_channel_and_keeps_errors_private(slack: Slack) -> None:
    bad, _ = slack.command(f'session add title:"Budget clinic" start:{DAY}T09:30 tz:Europe/Atlantis', user=COORDINATOR)
    error = slack.fake.wait_for_response(bad, 1, ANSWER_WAIT)[0]
    assert error.params.get("response_type") == "ephemeral" and "Unknown time zone" in error.text
    assert slack.runtime.sessions.list() == []
    good, _ = slack.command(f'session add title:"Budget clinic" start:{DAY}T09:30 tz:Europe/Dublin', user=COORDINATOR)
    post = slack.posts()[0]
    assert "Budget clinic" in post.text and {"rsvp_going", "open_url"} <= set(buttons(post.blocks))
    assert not slack.fake.responses(good), "a new session is announced in the channel, not privately"
    (info,) = slack.runtime.sessions.list()
    assert info.channels == (f"slack:{CHANNEL}",)


def test_a_slow_core_closes_the_form_and_posts_the_outcome(slack: Slack) -> None:
    slack.adapter.form_answer_seconds = 0  # acknowledge before the core answers, as when the database is slow
    sent = slack.submit(slack.open_form(), form(title="Slow but sure"))
    assert not sent.body or (sent.json or {}).get("response_action") is None, sent.text
    echo = slack.posts(method="chat.postEphemeral")[0]  # the session as read comes privately, with Confirm
    assert echo.params["user"] == COORDINATOR and "I read it as" in echo.text
    slack.click("session_confirm", buttons(echo.blocks)["session_confirm"]["value"], user=COORDINATOR,
                container_type="message", is_ephemeral=True)
    post = slack.posts()[0]
    assert "Slow but sure" in post.text and "rsvp_going" in buttons(post.blocks)
    slack.submit(slack.open_form(), form(tz="Mars/Olympus_Mons"))
    error = slack.posts(method="chat.postEphemeral", count=2)[1]
    assert error.params["user"] == COORDINATOR and "Unknown time zone" in error.text
    assert [s.title for s in slack.runtime.sessions.list()] == ["Slow but sure"]


def test_a_card_the_bot_may_not_post_in_the_channel_goes_to_the_coordinator(slack: Slack) -> None:
    slack.fake.fail("chat.postMessage", "not_in_channel")
    slack.submit_and_confirm(slack.open_form(), form(title="Private room"))
    wait_until(lambda: slack.fake.calls_to("chat.postMessage", where=lambda c: c.params.get("channel") == COORDINATOR),
               ANSWER_WAIT, "the card sent to the coordinator", slack.fake.describe)
    sent = slack.fake.calls_to("chat.postMessage", where=lambda c: c.params.get("channel") == COORDINATOR)[0]
    assert "Private room" in sent.text and re.search(r"Going \(0\)", sent.text)


# -- announcing in other channels ------------------------------------------------------------------------------------

def test_a_channel_the_bot_is_not_in_is_refused_before_anything_is_stored(slack: Slack) -> None:
    def conversation(params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params.get("channel"))
        return {"ok": True, "channel": {"id": channel, "name": channel.lower(), "is_channel": True,
                                        "is_archived": False, "is_member": channel != "C0PRIVATE"}}

    slack.fake.on("conversations.info", conversation)
    base = f'session add title:"Budget clinic" start:{DAY}T09:30 tz:Europe/Dublin repeat:weekly'
    refused, _ = slack.command(base + " channel:here,slack:C0PRIVATE", user=COORDINATOR)
    error = slack.fake.wait_for_response(refused, 1, ANSWER_WAIT)[0]
    assert error.params.get("response_type") == "ephemeral"
    assert "I cannot post in slack:C0PRIVATE" in error.text and "/invite @rrr" in error.text, error.text
    assert slack.runtime.sessions.list() == []
    slack.command(base + " channel:here,slack:C0TOWN", user=COORDINATOR)
    card = slack.posts()[0]
    assert "Budget clinic" in card.text
    (info,) = slack.runtime.sessions.list()
    assert info.channels == (f"slack:{CHANNEL}", "slack:C0TOWN")
    checked = [c.params["channel"] for c in slack.fake.calls_to("conversations.info")]
    assert checked == ["C0PRIVATE", "C0TOWN"], "the command's own channel needs no check"
    # the other channel hears of it through the outbox, with the same buttons
    assert slack.loop.run(slack.adapter.deliver_outbox()) == 1
    announced = slack.posts("C0TOWN")[0]
    assert "New peer session" in announced.text
    assert {"rsvp_going", "rsvp_maybe", "rsvp_no", "open_url"} <= set(buttons(announced.blocks))
