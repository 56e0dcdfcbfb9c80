"""End-to-end tests of the Slack adapter with the real slack-bolt app and real slack_sdk clients.

The adapter's Bolt app is served over HTTP on 127.0.0.1 (aiohttp ``AppRunner``), receives requests signed exactly
as Slack signs them, and calls a local fake Slack (``slack_fake.FakeSlack``: Web API, response URLs, Socket Mode
websocket) that records every call. The core runs for real on a private copy of the seeded network. Nothing of
ours is mocked; every wait is a polling loop with a deadline.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot import Runtime
from bot.services import Outgoing
from adapters.platforms import SECRET_ENV
from bot.store import Questions
from knowledge.records import solution_from_mapping
from slack_fake import (
    APP_TOKEN, BOT_ID, BOT_TOKEN, BOT_USER_ID, SIGNING_SECRET, Call, FakeSlack, LoopThread, SlackSender, app_mention,
    blocks_text, buttons, direct_message, event_callback, input_values, message_shortcut, next_ts, sign,
    slash_command, view_submission, wait_until,
)
from slack_harness import (  # noqa: F401  (fixtures)
    ACK_BUDGET, ANSWER_WAIT, ServedSlack, assert_block_kit, assert_modal, fake, fake_slack, serve_slack,
    slack_settings,
)

pytestmark = pytest.mark.timeout(180)

NETWORK_CHANNEL = "CNET"
VOUCHERS = "how did cities support local shops with vouchers?"
BILBAO_VOUCHERS = "Bono Bilbao co-funded vouchers"
#: Far from anything the RRR cities did (nearest score well under the calibrated threshold).
OUT_OF_SCOPE = "which football team won the 1998 world cup?"
BROADCASTS = ("<!channel>", "<!here>", "<!everyone>")
#: The heading of a reply that found no answer: "Not sure: no record is about this exactly." or "The network has no
#: record about this." (which of the two is the calibration's call).
NO_ANSWER = re.compile(r"no record (is )?about this")


# -- the harness (see slack_harness.py) ------------------------------------------------------------------------------

class Slack(ServedSlack):
    def response(self, name: str, count: int = 1, timeout: float = ANSWER_WAIT) -> list[Call]:
        calls = self.fake.wait_for_response(name, count, timeout)
        for call in calls:
            assert_block_kit(call.blocks, f"response_url {name}")
        return calls

    def opened_view(self, count: int = 1, timeout: float = ANSWER_WAIT) -> dict:
        call = self.fake.wait_for("views.open", count, timeout)[count - 1]
        assert_modal(call.view)
        return call.view


@pytest.fixture
def start_slack(serve_slack, fake: FakeSlack, seeded_dir: Path) -> Callable[..., Slack]:
    """Start the adapter over HTTP on a copy of the seeded network; ``env`` adds settings
    (test_the_outbox_pump_delivers_by_itself shortens the outbox interval)."""
    def start(**env: str) -> Slack:
        settings = slack_settings(seeded_dir, fake, RRR_BOT__NETWORK_CHANNELS=json.dumps({"slack": NETWORK_CHANNEL}),
                                  **env)
        return serve_slack(settings, Slack, warm_up=True)

    return start


@pytest.fixture
def slack(start_slack) -> Slack:
    return start_slack()


def first_section_after(blocks: list[dict], heading: str) -> str:
    texts = [b["text"]["text"] for b in blocks if b.get("type") == "section" and "text" in b]
    index = next(i for i, t in enumerate(texts) if heading in t)
    return texts[index + 1]


def feedback_rows(runtime: Runtime, question_id: int) -> list[tuple[bool, str, str]]:
    with runtime.db.session() as session:
        return [(f.helpful, f.reason, f.user_id) for f in Questions(session).feedback_for(question_id)]


def no_broadcast(call: Call) -> None:
    raw = json.dumps(call.params, ensure_ascii=False)
    for token in BROADCASTS:
        assert token not in raw, f"{token} reached Slack unescaped in {call!r}"


# -- the fake itself, against the real slack_sdk ---------------------------------------------------------------------

def test_signing_matches_slack_sdk_verifier() -> None:
    body = b'{"type":"event_callback","event":{"text":"caf\xc3\xa9"}}'
    headers = sign(body, SIGNING_SECRET)
    verifier = SignatureVerifier(SIGNING_SECRET)
    assert verifier.is_valid_request(body, headers)
    assert verifier.is_valid(body.decode(), headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"])
    assert not SignatureVerifier("other").is_valid_request(body, headers)
    assert not verifier.is_valid_request(body + b" ", headers)
    stale = sign(body, SIGNING_SECRET, int(time.time()) - 6 * 60)
    assert not verifier.is_valid_request(body, stale)
    assert verifier.generate_signature(timestamp="1531420618", body=body) == \
        sign(body, SIGNING_SECRET, 1531420618)["X-Slack-Signature"]


def test_fake_answers_the_real_web_client(fake: FakeSlack) -> None:
    """Form, JSON and query parameters, tokens, 429 with Retry-After, response URLs, threads."""
    loop = LoopThread("client")

    async def scenario() -> dict[str, Any]:
        client = AsyncWebClient(token=BOT_TOKEN, base_url=fake.api_url,
                                retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)])
        out: dict[str, Any] = {"auth": (await client.auth_test()).data}
        posted = await client.chat_postMessage(channel="C1", text="hi", blocks=[{"type": "divider"}],
                                               metadata={"event_type": "t", "event_payload": {"q": 1}})
        out["posted"] = posted.data
        await client.chat_postMessage(channel="C1", text="in thread", thread_ts=posted["ts"])
        out["replies"] = (await client.conversations_replies(channel="C1", ts=posted["ts"],
                                                             include_all_metadata=True)).data
        await client.api_call("chat.postEphemeral", data={"channel": "C1", "user": "U1", "text": "psst",
                                                          "blocks": json.dumps([{"type": "divider"}])})
        out["user"] = (await client.users_info(user="U42")).data
        out["group"] = (await client.usergroups_users_list(usergroup="S0COORD")).data
        fake.rate_limit("views.open", times=1, retry_after=1)
        out["view"] = (await client.views_open(trigger_id="1.t", view={"type": "modal", "blocks": []})).data
        try:
            await AsyncWebClient(token="xoxb-wrong", base_url=fake.api_url).auth_test()
        except SlackApiError as exc:
            out["wrong_token"] = exc.response["error"]
        out["socket_url"] = (await AsyncWebClient(token=APP_TOKEN, base_url=fake.api_url)
                             .apps_connections_open(app_token=APP_TOKEN)).data
        out["webhook"] = (await AsyncWebhookClient(fake.response_url("r1")).send(text="done")).status_code
        return out

    try:
        out = loop.run(scenario(), timeout=15)
    finally:
        loop.close()
    assert out["auth"]["user_id"] == BOT_USER_ID and out["auth"]["bot_id"] == BOT_ID
    assert out["posted"]["ok"] and out["posted"]["channel"] == "C1" and out["posted"]["ts"]
    assert [m["text"] for m in out["replies"]["messages"]] == ["hi", "in thread"]
    assert out["replies"]["messages"][0]["metadata"]["event_payload"] == {"q": 1}
    ephemeral = fake.calls_to("chat.postEphemeral")[0]
    assert ephemeral.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert ephemeral.params["blocks"] == [{"type": "divider"}]  # form-posted JSON is decoded
    assert fake.calls_to("chat.postMessage")[0].headers["Content-Type"].startswith("application/json")
    assert fake.calls_to("users.info")[0].params == {"user": "U42"}  # a GET with a query string
    assert out["user"]["user"]["id"] == "U42"
    assert out["group"]["users"] == ["UCOORD"]
    assert [c.status for c in fake.calls_to("views.open", ok_only=False)] == [429, 200]
    assert out["view"]["ok"] and out["view"]["view"]["id"].startswith("V")
    assert out["wrong_token"] == "invalid_auth"
    assert out["socket_url"]["url"].startswith(f"ws://127.0.0.1:{fake.port}/link/")
    assert fake.calls_to("apps.connections.open")[0].headers["Authorization"] == f"Bearer {APP_TOKEN}"
    assert out["webhook"] == 200 and fake.responses("r1")[0].params["text"] == "done"
    assert all(c.headers.get("Authorization") == f"Bearer {BOT_TOKEN}" for c in fake.calls_to("chat.postMessage"))


def test_fake_socket_mode_serves_a_plain_bolt_app(fake: FakeSlack) -> None:
    """The fake's websocket works with the real AsyncSocketModeHandler (independently of our adapter)."""
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
    from slack_bolt.async_app import AsyncApp

    loop = LoopThread("plain-bolt")

    async def connect() -> AsyncSocketModeHandler:
        app = AsyncApp(client=AsyncWebClient(token=BOT_TOKEN, base_url=fake.api_url), signing_secret="unused")

        @app.event("app_mention")
        async def answer(event, say) -> None:
            await say(text="pong", thread_ts=event["ts"])

        handler = AsyncSocketModeHandler(app, APP_TOKEN,
                                         web_client=AsyncWebClient(token=APP_TOKEN, base_url=fake.api_url))
        await handler.connect_async()
        return handler

    try:
        handler = loop.run(connect(), timeout=15)
        fake.wait_for_socket()
        event = app_mention(f"<@{BOT_USER_ID}> ping")
        envelope = fake.push(event_callback(event))
        assert fake.wait_for_ack(envelope) == {"envelope_id": envelope}
        post = fake.wait_for("chat.postMessage")[0]
        assert post.params["thread_ts"] == event["ts"] and post.params["text"] == "pong"
        loop.run(handler.close_async())
    finally:
        loop.close()


# -- asking ----------------------------------------------------------------------------------------------------------

def test_mention_is_answered_in_its_thread_with_solutions_and_buttons(slack: Slack) -> None:
    event, sent = slack.mention(VOUCHERS, channel="C0GENERAL")
    assert sent.status == 200 and sent.seconds < ACK_BUDGET
    post = slack.posts("C0GENERAL")[0]
    assert post.params["thread_ts"] == event["ts"]
    assert post.headers["Authorization"] == f"Bearer {BOT_TOKEN}"
    assert BILBAO_VOUCHERS in first_section_after(post.blocks, "What peer cities did")
    assert "Bilbao, Spain" in post.text
    found = buttons(post.blocks)
    assert {"feedback_helpful", "feedback_not_helpful"} <= set(found)
    assert found["feedback_helpful"]["value"].isdigit()
    assert post.params.get("text"), "a message needs a notification text besides its blocks"
    slack.fake.assert_quiet("chat.postMessage", 1.0, count=1)


def test_mention_inside_a_thread_is_answered_in_that_thread(slack: Slack) -> None:
    root = next_ts()
    event, sent = slack.mention(VOUCHERS, channel="C0GENERAL", thread_ts=root)
    assert sent.status == 200
    assert slack.posts("C0GENERAL")[0].params["thread_ts"] == root


def test_direct_message_is_answered(slack: Slack) -> None:
    sent = slack.sender.event(event_callback(direct_message(VOUCHERS, channel="D0ASKER")))
    assert sent.status == 200 and sent.seconds < ACK_BUDGET
    post = slack.posts("D0ASKER")[0]
    assert BILBAO_VOUCHERS in post.text
    assert {"feedback_helpful", "feedback_not_helpful"} <= set(buttons(post.blocks))


def test_channel_messages_that_do_not_mention_the_bot_are_ignored(slack: Slack) -> None:
    event = direct_message(VOUCHERS, channel="C0GENERAL", channel_type="channel")
    assert slack.sender.event(event_callback(event)).status == 200
    slack.fake.assert_quiet("chat.postMessage", 1.5)


def test_slash_ask_acks_fast_and_answers_ephemerally_with_a_share_button(slack: Slack) -> None:
    name, sent = slack.command(f"ask {VOUCHERS}")
    assert sent.status == 200 and sent.seconds < ACK_BUDGET
    response = slack.response(name)[0]
    assert response.params.get("response_type") == "ephemeral"
    assert BILBAO_VOUCHERS in response.text
    share = buttons(response.blocks).get("share_answer")
    assert share is not None, f"no Share in channel button in {response.blocks}"
    assert share["text"]["text"] == "Share in channel" and share["value"].isdigit()
    assert not slack.fake.calls_to("chat.postMessage"), "an ephemeral answer must not be posted in the channel"


def test_share_in_channel_posts_the_answer(slack: Slack) -> None:
    name, _ = slack.command(f"ask {VOUCHERS}", channel="C0GENERAL")
    share = buttons(slack.response(name)[0].blocks)["share_answer"]
    clicked, sent = slack.click("share_answer", share["value"], channel="C0GENERAL", container_type="message",
                                is_ephemeral=True)
    assert sent.status == 200 and sent.seconds < ACK_BUDGET
    post = slack.posts("C0GENERAL")[0]
    assert BILBAO_VOUCHERS in post.text
    assert "thread_ts" not in post.params
    assert "Shared" in slack.response(clicked)[0].text


def test_slash_help_cities_and_empty_text(slack: Slack) -> None:
    help_name, sent = slack.command("help")
    assert sent.status == 200
    text = slack.response(help_name)[0].text
    assert "ask QUESTION" in text and "`unanswered" not in text
    cities_name, _ = slack.command("cities")
    cities = slack.response(cities_name)[0]
    assert "9 cities in the network" in cities.text and "Montréal" in cities.text
    assert cities.params.get("response_type") == "ephemeral"
    empty_name, _ = slack.command("")
    assert "ask QUESTION" in slack.response(empty_name)[0].text
    city_name, _ = slack.command("city bilbao")
    assert "Europe/Madrid" in slack.response(city_name)[0].text


def test_unknown_subcommand_is_a_polite_error(slack: Slack) -> None:
    name, sent = slack.command("/frobnicate now")
    assert sent.status == 200
    assert "Unknown command" in slack.response(name)[0].text


def test_iam_links_the_slack_user_to_a_city_once_a_coordinator_approves(slack: Slack) -> None:
    name, _ = slack.command("iam Bilbao", user="U0BILBAO")
    assert "asked the coordinators and the members of Bilbao" in slack.response(name)[0].text
    assert slack.runtime.directory.member_city("slack", "U0BILBAO") is None
    approved, _ = slack.command("approve 1", user="UCOORD")  # UCOORD is in the coordinators' user group
    assert "Request #1 approved" in slack.response(approved)[0].text
    assert slack.runtime.directory.member_city("slack", "U0BILBAO") == "Bilbao"
    who, _ = slack.command("whoami", user="U0BILBAO")
    assert "linked to Bilbao" in slack.response(who)[0].text


def test_iam_records_the_slack_name_shown_as_city_contact(slack: Slack) -> None:
    name, _ = slack.command("iam Bilbao", user="U0BILBAO", user_name="ana.garcia")
    slack.response(name)
    slack.response(slack.command("approve 1", user="UCOORD")[0])
    city, _ = slack.command("city Bilbao")
    text = slack.response(city)[0].text
    assert "ana.garcia" in text, text


def test_find_similar_shortcut_answers_ephemerally(slack: Slack) -> None:
    message = {"type": "message", "user": "U0PEER", "ts": next_ts(),
               "text": "Could we give shoppers vouchers to spend in the local shops of our neighbourhoods?"}
    name = "similar"
    sent = slack.sender.interactive(message_shortcut("find_similar", message,
                                                     response_url=slack.fake.response_url(name)))
    assert sent.status == 200 and sent.seconds < ACK_BUDGET
    response = slack.response(name)[0]
    assert BILBAO_VOUCHERS in response.text
    assert response.params.get("response_type") == "ephemeral"


# -- saving answers --------------------------------------------------------------------------------------------------

REPAIR = ("Turin opened a tool library for neighbourhood repair cafes. 40 volunteers fixed 1,200 items in 2023 "
          "and the city paid EUR 15,000 for the tools and the insurance.")


def test_save_solution_shortcut_opens_a_prefilled_modal_and_stores_the_solution(slack: Slack) -> None:
    slack.runtime.directory.link("slack", "U0PEER", "Turin")
    message = {"type": "message", "user": "U0PEER", "ts": next_ts(), "text": REPAIR}
    sent = slack.sender.interactive(message_shortcut("save_solution", message,
                                                     response_url=slack.fake.response_url("save")))
    assert sent.status == 200 and sent.seconds < ACK_BUDGET
    view = slack.opened_view()
    assert view["callback_id"] == "save_solution_modal"
    prefilled = {block: initial for block, (_, _, initial) in input_values(view).items()}
    assert set(prefilled) >= {"title", "city", "country", "summary", "source_url"}
    assert prefilled["title"] == "Turin opened a tool library for neighbourhood repair cafes."
    assert prefilled["summary"] == REPAIR
    assert prefilled["city"] == "Turin"
    assert (prefilled["source_url"] or "").startswith("https://"), "the permalink of the message"

    submitted = slack.sender.interactive(view_submission(view, {"title": "Tool library for repair cafes"}))
    assert submitted.status == 200 and submitted.seconds < ACK_BUDGET
    assert not submitted.body or json.loads(submitted.body).get("response_action") != "errors", submitted.text

    def saved():
        return [s for s in slack.runtime.knowledge.list(city="Turin") if s.title == "Tool library for repair cafes"]
    solution = wait_until(saved, ANSWER_WAIT, "the saved solution", slack.fake.describe)[0]
    assert solution.provenance == "network" and solution.status == "pending"  # a member's save waits for review
    assert solution.saved_by == "slack:U0ASKER"
    assert solution.country == "Italy" and solution.summary == REPAIR
    confirmation = slack.posts("C0GENERAL", method="chat.postEphemeral")[0]
    assert solution.id in confirmation.text and confirmation.params["user"] == "U0ASKER"
    assert "for review" in confirmation.text
    question = "tool library for neighbourhood repair cafes"
    [waiting] = [r for r in slack.runtime.knowledge.ask(question).results if r.id == solution.id]
    assert waiting.status == "pending" and waiting.match != "close"  # searchable only as unreviewed until approved
    slack.response(slack.command(f"approve {solution.id}", user="UCOORD")[0])
    practices = [r for r in slack.runtime.knowledge.ask(question).results if r.kind == "practice"]
    assert practices[0].id == solution.id


def test_saving_for_a_city_outside_the_network_needs_a_country(slack: Slack) -> None:
    message = {"type": "message", "user": "U0STRANGER", "ts": next_ts(), "text": REPAIR}
    slack.sender.interactive(message_shortcut("save_solution", message, response_url=slack.fake.response_url("s")))
    view = slack.opened_view()
    sent = slack.sender.interactive(view_submission(view, {"city": "Lyon"}))
    assert sent.status == 200 and "Lyon" in sent.text and "country" in sent.text
    assert not [s for s in slack.runtime.knowledge.list() if s.summary == REPAIR]
    # with the country it is saved
    slack.sender.interactive(message_shortcut("save_solution", message, response_url=slack.fake.response_url("t")))
    view = slack.opened_view(count=2)
    slack.sender.interactive(view_submission(view, {"city": "Lyon", "country": "France"}))
    wait_until(lambda: [s for s in slack.runtime.knowledge.list(city="Lyon") if s.summary == REPAIR], ANSWER_WAIT,
               "the solution saved for Lyon", slack.fake.describe)


def test_unknown_city_without_country_is_a_modal_field_error(slack: Slack) -> None:
    message = {"type": "message", "user": "U0STRANGER", "ts": next_ts(), "text": REPAIR}
    slack.sender.interactive(message_shortcut("save_solution", message, response_url=slack.fake.response_url("s")))
    view = slack.opened_view()
    sent = slack.sender.interactive(view_submission(view, {"city": "Lyon"}))
    assert sent.status == 200
    answer = sent.json or {}
    assert answer.get("response_action") == "errors" and "country" in answer.get("errors", {}), sent.text


def test_save_solution_modal_reports_missing_fields(slack: Slack) -> None:
    message = {"type": "message", "user": "U0STRANGER", "ts": next_ts(), "text": REPAIR}
    slack.sender.interactive(message_shortcut("save_solution", message, response_url=slack.fake.response_url("s")))
    view = slack.opened_view()
    sent = slack.sender.interactive(view_submission(view, {"city": "", "source_url": "not a link"}))
    assert sent.status == 200
    answer = sent.json
    assert answer["response_action"] == "errors"
    assert set(answer["errors"]) == {"city", "source_url"}
    slack.fake.assert_quiet("chat.postEphemeral", 0.5)
    assert not [s for s in slack.runtime.knowledge.list() if s.summary == REPAIR]


def test_saving_a_reply_in_a_network_thread_links_it_to_the_question(slack: Slack) -> None:
    assert not slack.runtime.knowledge.ask(OUT_OF_SCOPE).answered
    _, _ = slack.mention(OUT_OF_SCOPE, channel="C0GENERAL")
    ask = buttons(slack.posts("C0GENERAL")[0].blocks)["ask_network"]
    slack.click("ask_network", ask["value"], channel="C0GENERAL")
    root = slack.posts(NETWORK_CHANNEL)[0]
    root_ts = root.response["ts"]
    reply = {"type": "message", "user": "U0PEER", "ts": next_ts(), "thread_ts": root_ts,
             "text": "France won the 1998 World Cup, beating Brazil 3-0 in the final in Saint-Denis."}
    slack.fake.remember(NETWORK_CHANNEL, reply)
    slack.sender.interactive(message_shortcut("save_solution", reply, response_url=slack.fake.response_url("s"),
                                              channel=NETWORK_CHANNEL))
    view = slack.opened_view()
    sent = slack.sender.interactive(view_submission(view, {"city": "Bilbao"}))
    assert sent.status == 200

    def saved():
        return [s for s in slack.runtime.knowledge.list(city="Bilbao") if "1998" in s.summary]
    solution = wait_until(saved, ANSWER_WAIT, "the saved solution", slack.fake.describe)[0]
    assert solution.from_question_id == int(ask["value"])
    assert solution.challenge == OUT_OF_SCOPE


# -- buttons ---------------------------------------------------------------------------------------------------------

def test_helpful_button_stores_feedback(slack: Slack) -> None:
    slack.mention(VOUCHERS, channel="C0GENERAL")
    post = slack.posts("C0GENERAL")[0]
    value = buttons(post.blocks)["feedback_helpful"]["value"]
    message = {**post.response["message"], "ts": post.response["ts"]}
    _, sent = slack.click("feedback_helpful", value, channel="C0GENERAL", message=message)
    assert sent.status == 200 and sent.seconds < ACK_BUDGET
    rows = wait_until(lambda: feedback_rows(slack.runtime, int(value)), ANSWER_WAIT, "a feedback row")
    assert rows == [(True, "", "U0ASKER")]
    thanks = slack.posts("C0GENERAL", method="chat.postEphemeral")[0]
    assert "glad it helped" in thanks.text and thanks.params["user"] == "U0ASKER"


def test_not_helpful_opens_a_modal_whose_submission_stores_the_reason(slack: Slack) -> None:
    slack.mention(VOUCHERS, channel="C0GENERAL")
    post = slack.posts("C0GENERAL")[0]
    value = buttons(post.blocks)["feedback_not_helpful"]["value"]
    _, sent = slack.click("feedback_not_helpful", value, channel="C0GENERAL")
    assert sent.status == 200 and sent.seconds < ACK_BUDGET
    view = slack.opened_view()
    assert view["callback_id"] == "not_helpful_modal"
    assert input_values(view)["reason"][0] == "reason"
    assert not feedback_rows(slack.runtime, int(value)), "feedback waits for the modal"
    submitted = slack.sender.interactive(view_submission(view, {"reason": "We need figures for 2024."}))
    assert submitted.status == 200 and submitted.seconds < ACK_BUDGET
    rows = wait_until(lambda: feedback_rows(slack.runtime, int(value)), ANSWER_WAIT, "a feedback row")
    assert rows == [(False, "We need figures for 2024.", "U0ASKER")]


def test_ask_the_network_posts_to_the_network_channel_and_tags_the_closest_cities(slack: Slack) -> None:
    result = slack.runtime.knowledge.ask(OUT_OF_SCOPE)
    assert not result.answered and result.closest_cities
    contacts = {city: f"U0C{i:02d}" for i, city in enumerate(slack.runtime.directory.city_names())}
    for city, user in contacts.items():
        slack.runtime.directory.link("slack", user, city)
    slack.mention(OUT_OF_SCOPE, channel="C0GENERAL")
    answer = slack.posts("C0GENERAL")[0]
    assert NO_ANSWER.search(answer.text), answer.text
    found = buttons(answer.blocks)
    assert "ask_network" in found and "feedback_helpful" not in found
    _, sent = slack.click("ask_network", found["ask_network"]["value"], channel="C0GENERAL")
    assert sent.status == 200 and sent.seconds < ACK_BUDGET
    post = slack.posts(NETWORK_CHANNEL)[0]
    assert OUT_OF_SCOPE in post.text
    mentioned = set(re.findall(r"<@(U[A-Z0-9]+)>", json.dumps(post.params)))
    expected = {contacts[c] for c in result.closest_cities}
    assert expected <= mentioned, f"expected mentions of {expected}, got {mentioned}"
    assert mentioned <= set(contacts.values())
    assert post.params.get("metadata", {}).get("event_payload", {}).get("question_id") == \
        found["ask_network"]["value"]
    note = slack.posts("C0GENERAL", method="chat.postEphemeral")[0]
    assert "network channel" in note.text and note.params["user"] == "U0ASKER"


# -- robustness ------------------------------------------------------------------------------------------------------

def test_a_retried_event_is_answered_once(slack: Slack) -> None:
    payload = event_callback(app_mention(f"<@{BOT_USER_ID}> {VOUCHERS}"))
    assert slack.sender.event(payload).status == 200
    retry = slack.sender.event(payload, headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert retry.status == 200
    slack.posts()
    slack.fake.assert_quiet("chat.postMessage", 2.0, count=1)


def test_a_retry_arriving_while_the_first_delivery_runs_is_answered_once(slack: Slack) -> None:
    payload = event_callback(app_mention(f"<@{BOT_USER_ID}> {VOUCHERS}"))
    first = slack.sender.event(payload)
    second = slack.sender.event(payload, headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "timeout"})
    third = slack.sender.event(payload, headers={"X-Slack-Retry-Num": "2", "X-Slack-Retry-Reason": "timeout"})
    assert (first.status, second.status, third.status) == (200, 200, 200)
    slack.posts()
    slack.fake.assert_quiet("chat.postMessage", 2.0, count=1)


def test_concurrent_events_are_each_acked_within_three_seconds_and_answered_once(slack: Slack) -> None:
    from concurrent.futures import ThreadPoolExecutor

    events = [app_mention(f"<@{BOT_USER_ID}> {VOUCHERS}", channel=f"C0BURST{i}") for i in range(6)]
    with ThreadPoolExecutor(len(events)) as pool:
        sent = list(pool.map(lambda e: slack.sender.event(event_callback(e)), events))
    assert [s.status for s in sent] == [200] * len(events)
    assert max(s.seconds for s in sent) < ACK_BUDGET, [round(s.seconds, 2) for s in sent]
    posts = slack.posts(count=len(events), timeout=ANSWER_WAIT * 2)
    assert sorted(p.params["channel"] for p in posts) == sorted(e["channel"] for e in events)
    assert all(p.params["thread_ts"] == e["ts"] for e in events for p in posts if p.params["channel"] == e["channel"])
    slack.fake.assert_quiet("chat.postMessage", 1.0, count=len(events))


def test_a_refused_post_is_survived(slack: Slack) -> None:
    slack.fake.fail("chat.postMessage", "not_in_channel")
    slack.mention(VOUCHERS, channel="C0PRIVATE")
    wait_until(lambda: slack.fake.calls_to("chat.postMessage", where=lambda c: c.response.get("ok") is False),
               ANSWER_WAIT, "the refused post", slack.fake.describe)
    slack.mention(VOUCHERS, channel="C0GENERAL")
    assert BILBAO_VOUCHERS in slack.posts("C0GENERAL")[0].text


def test_a_bad_signature_is_rejected_and_nothing_is_posted(slack: Slack) -> None:
    payload = event_callback(app_mention(f"<@{BOT_USER_ID}> {VOUCHERS}"))
    assert slack.sender.event(payload, secret="not-the-secret").status == 401
    assert slack.sender.event(payload, signed=False).status == 401
    forged = sign(b"{}", SIGNING_SECRET)  # a valid signature of another body
    assert slack.sender.event(payload, signed=False, headers=forged).status == 401
    name = "forged"
    sent = slack.sender.command(slash_command("cities", response_url=slack.fake.response_url(name)),
                                secret="not-the-secret")
    assert sent.status == 401
    slack.fake.assert_quiet(None, 1.5, where=lambda c: c.method != "auth.test")


def test_a_stale_timestamp_is_rejected(slack: Slack) -> None:
    payload = event_callback(app_mention(f"<@{BOT_USER_ID}> {VOUCHERS}"))
    assert slack.sender.event(payload, timestamp=int(time.time()) - 5 * 60 - 30).status == 401
    assert slack.sender.event(payload, timestamp=int(time.time()) + 5 * 60 + 30).status == 401
    slack.fake.assert_quiet("chat.postMessage", 1.5)
    assert slack.sender.event(payload, timestamp=int(time.time()) - 60).status == 200  # within five minutes
    slack.posts()


def test_url_verification_challenge(slack: Slack) -> None:
    sent = slack.sender.event({"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                               "type": "url_verification"})
    assert sent.status == 200
    assert "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in sent.text


def test_a_rate_limited_post_is_retried_and_arrives_once(slack: Slack) -> None:
    slack.fake.rate_limit("chat.postMessage", times=1, retry_after=1)
    event, sent = slack.mention(VOUCHERS, channel="C0GENERAL")
    assert sent.status == 200
    post = slack.posts("C0GENERAL", timeout=ANSWER_WAIT + 3)[0]
    assert BILBAO_VOUCHERS in post.text and post.params["thread_ts"] == event["ts"]
    attempts = slack.fake.calls_to("chat.postMessage", ok_only=False)
    assert [c.status for c in attempts] == [429, 200]
    assert attempts[1].at - attempts[0].at >= 0.9, "the client must wait for Retry-After"
    slack.fake.assert_quiet("chat.postMessage", 1.0, count=1)


def test_broadcast_mentions_in_questions_never_ping(slack: Slack) -> None:
    slack.mention(f"<!channel> {VOUCHERS} <!here> <!everyone>", channel="C0GENERAL")
    slack.mention("city <!channel>", channel="C0GENERAL")
    slack.mention("city <!subteam^S0COORD|@coordinators> <@U0OTHER>", channel="C0GENERAL")
    slack.mention("/<!here> now", channel="C0GENERAL")
    posts = slack.posts("C0GENERAL", count=4)
    assert any(BILBAO_VOUCHERS in p.text for p in posts)
    for post in posts:
        no_broadcast(post)
        assert "<!subteam" not in json.dumps(post.params) and "<@U0OTHER>" not in json.dumps(post.params)


def test_a_question_with_broadcasts_asked_of_the_network_does_not_ping(slack: Slack) -> None:
    question = f"<!channel> {OUT_OF_SCOPE} <!here>"
    assert not slack.runtime.knowledge.ask(question).answered
    slack.mention(question, channel="C0GENERAL")
    value = buttons(slack.posts("C0GENERAL")[0].blocks)["ask_network"]["value"]
    slack.click("ask_network", value, channel="C0GENERAL")
    post = slack.posts(NETWORK_CHANNEL)[0]
    assert OUT_OF_SCOPE in post.text
    no_broadcast(post)


def test_own_messages_and_other_bots_are_ignored(slack: Slack) -> None:
    own = direct_message(VOUCHERS, user=BOT_USER_ID, bot_id=BOT_ID)
    own_mention = app_mention(f"<@{BOT_USER_ID}> {VOUCHERS}", user=BOT_USER_ID)
    own_mention["bot_id"] = BOT_ID
    other = direct_message(VOUCHERS, user="U0OTHERBOT", bot_id="B0OTHER", subtype="bot_message")
    other_mention = app_mention(f"<@{BOT_USER_ID}> {VOUCHERS}", user="U0OTHERBOT")
    other_mention["bot_id"] = "B0OTHER"
    edited = direct_message(VOUCHERS, subtype="message_changed")
    for event in (own, own_mention, other, other_mention, edited):
        assert slack.sender.event(event_callback(event)).status == 200
    slack.fake.assert_quiet("chat.postMessage", 2.0)
    # a person's message after them is still answered
    slack.sender.event(event_callback(direct_message(VOUCHERS, channel="D0PERSON")))
    assert slack.posts("D0PERSON")


def test_app_home_opened_publishes_the_home_view(slack: Slack) -> None:
    slack.runtime.directory.link("slack", "U0BILBAO", "Bilbao")
    event = {"type": "app_home_opened", "user": "U0BILBAO", "channel": "D0BILBAO", "tab": "home",
             "event_ts": next_ts()}
    assert slack.sender.event(event_callback(event)).status == 200
    call = slack.fake.wait_for("views.publish", timeout=ANSWER_WAIT)[0]
    assert call.params["user_id"] == "U0BILBAO"
    assert call.view["type"] == "home"
    assert_block_kit(call.view["blocks"], "home", max_blocks=100)
    text = blocks_text(call.view["blocks"])
    assert "Your city: Bilbao" in text and "member" in text
    messages_tab = {"type": "app_home_opened", "user": "U0BILBAO", "channel": "D0BILBAO", "tab": "messages",
                    "event_ts": next_ts()}
    slack.sender.event(event_callback(messages_tab))
    slack.fake.assert_quiet("views.publish", 1.0, count=1)


def test_members_of_the_coordinator_user_group_are_coordinators(slack: Slack) -> None:
    refused, _ = slack.command("unanswered", user="U0ASKER")
    assert "Only coordinators" in slack.response(refused)[0].text
    allowed, _ = slack.command("unanswered", user="UCOORD")
    text = slack.response(allowed)[0].text
    assert "Only coordinators" not in text
    assert "unanswered" in text or "close match" in text
    groups = slack.fake.calls_to("usergroups.users.list")
    assert groups and all(c.params["usergroup"] == "S0COORD" for c in groups)
    helped, _ = slack.command("help", user="UCOORD")
    assert "`unanswered [PAGE]` - " in slack.response(helped)[0].text


# -- Block Kit limits ------------------------------------------------------------------------------------------------

def _long_solution(i: int, title: str, summary: str) -> Any:
    return solution_from_mapping({
        "id": f"long-{i}", "city": "Bilbao", "country": "Spain", "title": title,
        "challenge": "Keep the small shops of every neighbourhood alive with vouchers",
        "summary": summary, "source_url": f"https://example.org/long/{i}", "provenance": "network"})


LONG_QUESTION = "neighbourhood shop vouchers co-funded by the city"


@pytest.mark.parametrize("threshold", ["0", "1.5"], ids=["answered", "no-close-match"])
def test_long_solutions_are_trimmed_to_block_kit_limits(start_slack, threshold: str) -> None:
    slack = start_slack(RRR_KNOWLEDGE__THRESHOLD=threshold)
    title = ("Neighbourhood shop vouchers co-funded by the city " * 80)[:300]  # the longest title a record takes
    summary = ("The city co-funded vouchers for local shops; each voucher worth EUR 10 cost shoppers EUR 5 and "
               "brought EUR 3.2 million of spending into 1,200 neighbourhood shops. ") * 40
    summary = summary[:5000]
    assert len(title) == 300 and len(summary) == 5000
    slack.runtime.knowledge.import_records([_long_solution(1, title, summary)])
    result = slack.runtime.knowledge.ask(LONG_QUESTION)
    assert result.results[0].id == "long-1" and result.answered == (threshold == "0")
    slack.mention(LONG_QUESTION, channel="C0GENERAL")
    post = slack.posts("C0GENERAL")[0]  # posts() checks every limit
    assert "Neighbourhood shop vouchers" in post.text
    assert ("ask_network" if threshold != "0" else "feedback_helpful") in buttons(post.blocks)
    # the modal prefilled from a 5,000-character message stays within its inputs' limits
    message = {"type": "message", "user": "U0PEER", "ts": next_ts(), "text": title + ". " + summary}
    slack.sender.interactive(message_shortcut("save_solution", message, response_url=slack.fake.response_url("s")))
    view = slack.opened_view()  # checks initial values against max_length
    values = {b: v for b, (_, _, v) in input_values(view).items()}
    assert 0 < len(values["title"]) <= 150 and 0 < len(values["summary"]) <= 3000


def test_more_than_fifty_blocks_are_trimmed_keeping_a_valid_message(start_slack) -> None:
    slack = start_slack(RRR_KNOWLEDGE__THRESHOLD="0", RRR_KNOWLEDGE__TOP_K="50")
    extra = [_long_solution(i, f"Voucher scheme variant {i}", f"Variant {i} of a voucher scheme for local shops.")
             for i in range(20)]
    slack.runtime.knowledge.import_records(extra)
    assert len(slack.runtime.knowledge.ask(VOUCHERS, k=50).results) == 50
    slack.mention(VOUCHERS, channel="C0GENERAL")
    post = slack.posts("C0GENERAL")[0]
    assert len(post.blocks) == 50


def test_trimming_keeps_the_feedback_buttons(start_slack) -> None:
    slack = start_slack(RRR_KNOWLEDGE__THRESHOLD="0", RRR_KNOWLEDGE__TOP_K="50")
    extra = [_long_solution(i, f"Voucher scheme variant {i}", f"Variant {i} of a voucher scheme for local shops.")
             for i in range(20)]
    slack.runtime.knowledge.import_records(extra)
    slack.mention(VOUCHERS, channel="C0GENERAL")
    post = slack.posts("C0GENERAL")[0]
    assert {"feedback_helpful", "feedback_not_helpful"} <= set(buttons(post.blocks))


# -- Socket Mode -----------------------------------------------------------------------------------------------------

def test_socket_mode_dispatches_an_envelope_to_an_answer_and_acks_it(slack: Slack) -> None:
    task = slack.loop.spawn(slack.adapter.start_socket_mode())
    slack.fake.wait_for_socket(timeout=15)
    opened = slack.fake.calls_to("apps.connections.open")
    assert opened and opened[0].headers["Authorization"] == f"Bearer {APP_TOKEN}"
    event = app_mention(f"<@{BOT_USER_ID}> {VOUCHERS}", channel="C0SOCKET")
    envelope = slack.fake.push(event_callback(event))
    assert slack.fake.wait_for_ack(envelope)["envelope_id"] == envelope
    post = slack.posts("C0SOCKET")[0]
    assert post.params["thread_ts"] == event["ts"] and BILBAO_VOUCHERS in post.text
    assert post.headers["Authorization"] == f"Bearer {BOT_TOKEN}"
    # a slash command through the socket: acked, answered at its response_url
    command = slash_command("cities", response_url=slack.fake.response_url("sock"))
    envelope = slack.fake.push(command, type="slash_commands", accepts_response_payload=True)
    slack.fake.wait_for_ack(envelope)
    assert "9 cities" in slack.response("sock")[0].text
    # a retried envelope of the same event is not answered again
    envelope = slack.fake.push(event_callback(event) | {"event_id": "EvSOCKRETRY"})
    slack.fake.wait_for_ack(envelope)
    retry = slack.fake.push(event_callback(event) | {"event_id": "EvSOCKRETRY"}, retry_attempt=1,
                            retry_reason="timeout")
    slack.fake.wait_for_ack(retry)
    slack.posts("C0SOCKET", count=2)
    slack.fake.assert_quiet("chat.postMessage", 1.5, count=2, where=lambda c: c.params.get("channel") == "C0SOCKET")
    # a modal submitted through the socket gets its validation errors in the ack's payload
    message = {"type": "message", "user": "U0PEER", "ts": next_ts(), "text": REPAIR}
    slack.fake.push(message_shortcut("save_solution", message, response_url=slack.fake.response_url("s"),
                                     channel="C0SOCKET"), type="interactive")
    view = slack.opened_view()
    envelope = slack.fake.push(view_submission(view, {"title": ""}), type="interactive",
                               accepts_response_payload=True)
    ack = slack.fake.wait_for_ack(envelope)
    assert ack.get("payload", {}).get("response_action") == "errors", ack
    assert "title" in ack["payload"]["errors"]
    assert not task.done(), "start_socket_mode() serves until cancelled"
    task.cancel()  # closed within the test: the client's last log line must not outlive the test's log capture
    wait_until(lambda: slack.fake.open_sockets == 0, 5.0, "the websocket to be closed after cancelling")


def test_stopping_socket_mode_closes_the_connection(slack: Slack) -> None:
    task = slack.loop.spawn(slack.adapter.start_socket_mode())
    slack.fake.wait_for_socket(timeout=15)
    task.cancel()
    wait_until(lambda: slack.fake.open_sockets == 0, 5.0, "the websocket to be closed after cancelling")


# -- the command line, as an operator runs it ------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rrr_bot() -> list[str]:
    found = shutil.which("rrr-bot", path=str(Path(sys.executable).parent)) or shutil.which("rrr-bot")
    return [found] if found else [sys.executable, "-c", "from adapters.cli import main; main()"]


@pytest.fixture
def run_slack(fake: FakeSlack, seeded_dir: Path) -> Iterator:
    """Start ``rrr-bot run slack ARGS`` with only the environment variables set; stopped (bounded) afterwards."""
    procs: list[subprocess.Popen] = []

    def run(*args: str) -> subprocess.Popen:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RRR_") and k not in SECRET_ENV}
        env.pop("XDG_DATA_HOME", None)
        env.update(RRR_DATA_DIR=str(seeded_dir), HOME=str(seeded_dir.parent), SLACK_BOT_TOKEN=BOT_TOKEN,
                   SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_APP_TOKEN=APP_TOKEN,
                   RRR_SLACK__API_BASE_URL=fake.api_url, NO_COLOR="1")
        proc = subprocess.Popen([*_rrr_bot(), "run", "slack", *args], env=env, cwd=seeded_dir.parent,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(proc)
        return proc

    yield run
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def _output(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        return "(still running)"
    out, err = proc.communicate(timeout=5)
    return f"exit {proc.returncode}\nstdout:\n{out}\nstderr:\n{err}"


def test_run_slack_socket_mode_answers_a_mention_in_its_thread(fake: FakeSlack, run_slack) -> None:
    proc = run_slack()
    wait_until(lambda: fake.open_sockets or proc.poll() is not None, 60, "the Socket Mode connection")
    assert proc.poll() is None, _output(proc)
    event = app_mention(f"<@{BOT_USER_ID}> {VOUCHERS}", channel="C0CLI")
    envelope = fake.push(event_callback(event))
    fake.wait_for_ack(envelope)
    post = fake.wait_for("chat.postMessage", timeout=ANSWER_WAIT)[0]
    assert post.params["channel"] == "C0CLI" and post.params["thread_ts"] == event["ts"]
    assert BILBAO_VOUCHERS in post.text


def test_run_slack_http_serves_signed_events(fake: FakeSlack, run_slack) -> None:
    port = _free_port()
    proc = run_slack("--http", "--host", "127.0.0.1", "--port", str(port))
    sender = SlackSender(f"http://127.0.0.1:{port}/slack/events")

    def up() -> bool:
        if proc.poll() is not None:
            return True
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            return False
    wait_until(up, 60, "the HTTP server")
    assert proc.poll() is None, _output(proc)
    event = app_mention(f"<@{BOT_USER_ID}> {VOUCHERS}", channel="C0HTTP")
    assert sender.event(event_callback(event)).status == 200
    post = fake.wait_for("chat.postMessage", timeout=ANSWER_WAIT)[0]
    assert post.params["thread_ts"] == event["ts"] and BILBAO_VOUCHERS in post.text
    assert sender.event(event_callback(event), secret="wrong").status == 401


def test_iam_by_mention_records_the_slack_display_name(slack: Slack) -> None:
    """Events carry no user name: the adapter reads it with users.info, so profiles list people, not ids."""
    slack.mention("iam Turin", user="U0TURIN", channel="C0GENERAL")
    assert "Turin" in slack.posts("C0GENERAL")[0].text
    assert slack.fake.calls_to("users.info")[0].params == {"user": "U0TURIN"}
    slack.response(slack.command("approve 1", user="UCOORD")[0])
    assert "user-u0turin" in slack.runtime.directory.profile("Turin").members


def test_introductions_are_delivered_from_the_outbox_as_a_group_dm(slack: Slack) -> None:
    for city, user in (("Bilbao", "U0BILBAO"), ("Dublin", "U0DUBLIN")):
        slack.runtime.directory.link("slack", user, city)
    (group,), queued = slack.runtime.intros.run()
    assert queued == 1
    assert slack.loop.run(slack.adapter.deliver_outbox()) == 1
    opened = slack.fake.calls_to("conversations.open")[-1]
    assert set(str(opened.params["users"]).split(",")) == {"U0BILBAO", "U0DUBLIN"}
    post = slack.fake.calls_to("chat.postMessage")[-1]
    assert "Meet your peers" in post.text and "Bilbao" in post.text and "Dublin" in post.text
    assert slack.loop.run(slack.adapter.deliver_outbox()) == 0  # sent once
    assert slack.runtime.outbox.pending("slack") == 0


def test_outbox_keeps_a_message_slack_refused_and_sends_it_later(slack: Slack) -> None:
    from bot.messages import Reply

    slack.runtime.outbox.enqueue([Outgoing("note", "slack", Reply.text("hello"), channel="C0GENERAL")])
    slack.fake.fail("chat.postMessage", "service_unavailable")
    delivered = slack.loop.run(slack.adapter.deliver_outbox())
    assert delivered == 0, slack.fake.describe()
    assert slack.runtime.outbox.pending("slack") == 1


def test_the_outbox_pump_delivers_by_itself(start_slack) -> None:
    from bot.messages import Reply

    slack = start_slack(RRR_BOT__OUTBOX_INTERVAL="0.2")
    slack.runtime.outbox.enqueue([Outgoing("pumped", "slack", Reply.text("from the pump"), channel="C0GENERAL")])
    post = slack.posts("C0GENERAL")[0]
    assert "from the pump" in post.text
    slack.fake.assert_quiet("chat.postMessage", 1.0, count=1)
