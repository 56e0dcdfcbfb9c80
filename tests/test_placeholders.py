"""A slow answer shows a placeholder first, which the answer replaces; a full queue of questions still acknowledges
every event, tells the askers their answer is coming, and answers each question exactly once.

Slack: the real slack-bolt app over HTTP with signed requests, against the local fake Slack Web API (``chat.update``
replaces the placeholder). Discord: the real discord.py client against the local fake gateway (a message edit).
``[bot] placeholder_seconds = 0`` makes every answer "slow", so nothing here depends on timing; a full queue is made
by holding the model's own lock while the questions arrive (the worker waits for the model as it would for a
long batch).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import Runtime, Settings
from bot.core import BUSY_REPLY, PLACEHOLDER_REPLY
from discord_fake import BOT_ID, GENERAL_CHANNEL_ID, FakeDiscord, wait_until
from discord_harness import (Served, discord_settings, fake_discord,  # noqa: F401  (fixtures)
                             restore_discord_endpoints, served)
from slack_fake import BOT_USER_ID, FakeSlack, app_mention, event_callback, next_ts
from slack_harness import ACK_BUDGET, ANSWER_WAIT, ServedSlack, fake_slack, serve_slack, slack_settings  # noqa: F401

pytestmark = pytest.mark.timeout(180)

VOUCHERS = "how did cities support local shops with vouchers?"
BILBAO_VOUCHERS = "Bono Bilbao co-funded vouchers"
ANSWER = 30.0


def plain(call) -> str:
    """A Slack call's notification text (without its blocks')."""
    return str(call.params.get("text") or "")


def test_slack_a_slow_answer_shows_a_placeholder_in_its_thread_that_the_answer_replaces(
        serve_slack, fake_slack: FakeSlack, seeded_dir: Path) -> None:
    slack: ServedSlack = serve_slack(slack_settings(seeded_dir, fake_slack, RRR_BOT__PLACEHOLDER_SECONDS="0"))
    event, sent = slack.mention(VOUCHERS, channel="C0SLOW")
    assert sent.status == 200 and sent.seconds < ACK_BUDGET
    update = fake_slack.wait_for("chat.update", 1, ANSWER, where=lambda c: c.params.get("channel") == "C0SLOW")[0]
    posted = fake_slack.calls_to("chat.postMessage", where=lambda c: c.params.get("channel") == "C0SLOW")
    assert len(posted) == 1 and plain(posted[0]) == PLACEHOLDER_REPLY, posted
    assert posted[0].params["thread_ts"] == event["ts"], "the placeholder is not in the question's thread"
    assert update.params["ts"] == posted[0].response["ts"], "the answer did not replace the placeholder"
    now = fake_slack.message("C0SLOW", posted[0].response["ts"])
    assert now is not None and "Bilbao, Spain" in now["text"] and BILBAO_VOUCHERS in str(now["blocks"])
    fake_slack.assert_quiet("chat.postMessage", 1.0, count=1, where=lambda c: c.params.get("channel") == "C0SLOW")


def test_slack_a_reply_that_is_not_an_answer_also_replaces_its_placeholder(
        serve_slack, fake_slack: FakeSlack, seeded_dir: Path) -> None:
    slack: ServedSlack = serve_slack(slack_settings(seeded_dir, fake_slack, RRR_BOT__PLACEHOLDER_SECONDS="0"))
    slack.mention("cities", channel="C0LIST")
    update = fake_slack.wait_for("chat.update", 1, ANSWER, where=lambda c: c.params.get("channel") == "C0LIST")[0]
    assert "Bilbao" in update.text and "Turin" in update.text
    assert [plain(c) for c in fake_slack.calls_to("chat.postMessage",
                                                where=lambda c: c.params.get("channel") == "C0LIST")] == \
        [PLACEHOLDER_REPLY]


def test_slack_a_slow_slash_command_answer_replaces_its_private_placeholder(
        serve_slack, fake_slack: FakeSlack, seeded_dir: Path) -> None:
    slack: ServedSlack = serve_slack(slack_settings(seeded_dir, fake_slack, RRR_BOT__PLACEHOLDER_SECONDS="0"))
    name, sent = slack.command(f"ask {VOUCHERS}")
    assert sent.status == 200 and sent.seconds < ACK_BUDGET
    first, answer = fake_slack.wait_for_response(name, 2, ANSWER)[:2]
    assert plain(first) == PLACEHOLDER_REPLY and first.params["response_type"] == "ephemeral"
    assert not first.params.get("replace_original")
    assert answer.params.get("replace_original") is True, "the answer did not replace the placeholder"
    assert answer.params["response_type"] == "ephemeral" and BILBAO_VOUCHERS in answer.text


def test_slack_a_full_queue_acknowledges_tells_the_askers_and_answers_each_question_once(
        serve_slack, fake_slack: FakeSlack, seeded_dir: Path) -> None:
    slack: ServedSlack = serve_slack(slack_settings(seeded_dir, fake_slack, RRR_BOT__QUESTION_QUEUE="1",
                                                RRR_BOT__QUESTION_BATCH="16"),
                                     warm_up=True)
    model = slack.runtime.knowledge.embedder._lock  # the model is busy until the test lets go
    threads = []
    with model:
        for i in range(3):  # three members: one takes the queue's only place, two wait for it
            ts = next_ts()
            sent = slack.sender.event(event_callback(app_mention(f"<@{BOT_USER_ID}> {VOUCHERS}", user=f"U0Q{i}",
                                                                 channel="C0BURST", ts=ts)))
            assert sent.status == 200 and sent.seconds < ACK_BUDGET, "an event was not acknowledged in time"
            threads.append(ts)
        busy = fake_slack.wait_for("chat.postMessage", 2, ANSWER,
                                   where=lambda c: c.params.get("channel") == "C0BURST" and plain(c) == BUSY_REPLY)
        assert not fake_slack.calls_to("chat.update"), "an answer came while the model was busy"
    answers = fake_slack.wait_for("chat.update", 2, ANSWER, where=lambda c: c.params.get("channel") == "C0BURST")
    assert {a.params["ts"] for a in answers} == {b.response["ts"] for b in busy}, "a busy reply was not replaced"
    assert all("Bilbao, Spain" in a.text for a in answers)
    direct = fake_slack.wait_for("chat.postMessage", 1, ANSWER, where=lambda c: c.params.get("channel") == "C0BURST"
                                 and plain(c) not in (BUSY_REPLY, PLACEHOLDER_REPLY))
    assert "Bilbao, Spain" in direct[0].text
    answered = sorted([b.params["thread_ts"] for b in busy] + [direct[0].params["thread_ts"]])
    assert answered == sorted(threads), "each question's thread gets one answer"
    fake_slack.assert_quiet("chat.postMessage", 1.0, count=3, where=lambda c: c.params.get("channel") == "C0BURST")
    assert len(fake_slack.calls_to("chat.update")) == 2


# -- Discord -----------------------------------------------------------------------------------------------------

@pytest.fixture
def rt(seeded_dir: Path, fake_discord: FakeDiscord) -> Iterator[Runtime]:
    settings: Settings = discord_settings(seeded_dir, fake_discord, RRR_BOT__PLACEHOLDER_SECONDS="0")
    with Runtime.open(settings) as runtime:
        yield runtime


def test_discord_a_slow_answer_replies_with_a_placeholder_that_is_edited_into_the_answer(
        served: Served, fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    message = fake.send_message(f"<@{BOT_ID}> {VOUCHERS}", mentions=[BOT_ID])
    reply = fake.wait_reply(message, timeout=ANSWER)
    assert reply.body["content"] == PLACEHOLDER_REPLY and reply.params["channel"] == str(GENERAL_CHANNEL_ID)
    placeholder_id = reply.response["id"]
    edit = wait_until(lambda: next(iter(fake.calls("edit_message", message=placeholder_id)), None), ANSWER,
                      "the placeholder's edit", fake.describe)
    assert edit.status == 200
    now = fake.message_now(placeholder_id)
    assert now is not None and now["content"] != PLACEHOLDER_REPLY
    assert BILBAO_VOUCHERS in [e.get("title") for e in now["embeds"]], now["embeds"]
    assert now["edited_timestamp"] is not None
    assert len(fake.replies_to(message)) == 1, "the answer was sent besides the placeholder"
