"""The Slack endpoint under hostile and broken requests, on the real slack-bolt app served over HTTP.

The signature and timestamp are checked before anything else reads the body; what fails is answered 401 (not
signed as Slack signs) or 400 (signed, but not a payload Slack sends), never 500, and never with a traceback in the
log. A signed slash command sent twice is answered once. ``/metrics`` is not on the public Slack port.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.parse
from pathlib import Path

import pytest
import slack_harness
from scale_helpers import Processes, free_port, http_get, tracebacks, wait_ready
from slack_fake import (
    BOT_USER_ID,
    FakeSlack,
    SlackSender,
    app_mention,
    direct_message,
    event_callback,
    sign,
    slash_command,
)
from slack_harness import ANSWER_WAIT, ServedSlack, no_traceback, slack_settings

#: The harness's fixtures, used by name.
fake_slack, fake, serve_slack = slack_harness.fake_slack, slack_harness.fake, slack_harness.serve_slack

pytestmark = pytest.mark.timeout(180)

VOUCHERS = "how did cities support local shops with vouchers?"
BILBAO_VOUCHERS = "Bono Bilbao co-funded vouchers"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def slack(serve_slack, fake: FakeSlack, seeded_dir: Path) -> ServedSlack:
    return serve_slack(slack_settings(seeded_dir, fake), warm_up=True)


def test_unsigned_and_malformed_requests_get_401_or_400_and_no_traceback(
        slack: ServedSlack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    sender = slack.sender
    garbage = b"payload=%7Bnot-json"
    now = str(int(time.time()))
    unsigned = {
        "no signature at all": {},
        "a timestamp that is not a number": {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=00"},
        "a timestamp of 5,000 digits": {"X-Slack-Request-Timestamp": "9" * 5000, "X-Slack-Signature": "v0=00"},
        "a signature that is not ASCII": {"X-Slack-Request-Timestamp": now, "X-Slack-Signature": "v0=\u00e9"},
        "a signature of another secret": sign(garbage, "not-the-secret"),
    }
    for what, headers in unsigned.items():
        sent = sender.post(garbage, FORM, signed=False, headers=headers)
        assert sent.status == 401, (what, sent.status, sent.text)
    signed_but_malformed = {
        "broken JSON": (b'{"type": "event_callback", "event": ', "application/json"),
        "a JSON array": (b"[1, 2, 3]", "application/json"),
        "a JSON string": (b'"event_callback"', "application/json"),
        "not UTF-8": (b'{"type": "\xff\xfe"}', "application/json"),
        "a form payload that is not JSON": (garbage, FORM),
        "a form payload that is a JSON list": (b"payload=%5B1%5D", FORM),
        "an event that is not an object": (json.dumps({"type": "event_callback", "event": "x",
                                                       "team_id": "T1"}).encode(), "application/json"),
    }
    for what, (body, content_type) in signed_but_malformed.items():
        sent = sender.post(body, content_type)
        assert sent.status == 400, (what, sent.status, sent.text)
    no_traceback(caplog)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    slack.fake.assert_quiet("chat.postMessage", 1.0)
    _, sent = slack.mention(VOUCHERS)  # the endpoint still answers Slack
    assert sent.status == 200
    assert BILBAO_VOUCHERS in slack.posts()[0].text


def test_a_repeated_signed_slash_command_is_answered_once(slack: ServedSlack) -> None:
    fields = slash_command("cities", response_url=slack.fake.response_url("twice"))
    first = slack.sender.command(fields)
    again = slack.sender.command(fields, timestamp=int(time.time()) + 1)  # Slack's retry: signed anew, same trigger
    assert first.status == again.status == 200
    assert "Bilbao" in slack.fake.wait_for_response("twice", timeout=ANSWER_WAIT)[0].text
    slack.fake.assert_quiet("response:twice", 2.0, count=1)
    other, _ = slack.command("cities")  # a new invocation (its own trigger_id) is answered
    assert "Bilbao" in slack.fake.wait_for_response(other, timeout=ANSWER_WAIT)[0].text


def test_events_and_commands_missing_fields_are_handled_politely(
        slack: ServedSlack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    event = app_mention(f"<@{BOT_USER_ID}> {VOUCHERS}", channel="C0NOTS")
    del event["ts"], event["event_ts"]
    assert slack.sender.event(event_callback(event)).status == 200
    post = slack.posts("C0NOTS")[0]
    assert BILBAO_VOUCHERS in post.text and not post.params.get("thread_ts")
    for missing in ("user", "channel"):
        broken = app_mention(f"<@{BOT_USER_ID}> {VOUCHERS}", channel="C0BROKEN")
        del broken[missing]
        assert slack.sender.event(event_callback(broken)).status == 200
    dm = direct_message(VOUCHERS, channel="D0BROKEN")
    del dm["user"]
    assert slack.sender.event(event_callback(dm)).status == 200
    command = slash_command("cities", response_url=slack.fake.response_url("nouser"))
    del command["user_id"]
    assert slack.sender.command(command).status == 200
    slack.fake.assert_quiet("chat.postMessage", 1.5, count=1)
    no_traceback(caplog)


def test_metrics_are_served_on_the_ops_port_not_on_the_public_slack_port(
        procs: Processes, fake: FakeSlack, seeded_dir: Path) -> None:
    """``run slack --http``: /healthz and /readyz on the Slack port; /metrics only on the ops port (127.0.0.1),
    which ``RRR_OPS__PORT`` turns on as the README's systemd unit expects; bad requests log no traceback."""
    port, ops_port = free_port(), free_port()
    worker = procs.slack_worker("worker", seeded_dir, port, fake.api_url, RRR_OPS__PORT=str(ops_port))
    wait_ready(worker, port)
    wait_ready(worker, ops_port)
    assert http_get(f"http://127.0.0.1:{port}/healthz")[0] == 200
    assert http_get(f"http://127.0.0.1:{port}/metrics")[0] == 404
    status, text = http_get(f"http://127.0.0.1:{ops_port}/metrics")
    assert status == 200 and "rrr_questions_total" in text
    sender = SlackSender(f"http://127.0.0.1:{port}/slack/events")
    headers = {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=00"}
    assert sender.post(b"payload=%7Bnot-json", FORM, signed=False, headers=headers).status == 401
    assert sender.post(b"payload=%7Bnot-json", FORM).status == 400
    body = urllib.parse.urlencode({"payload": "[]"}).encode()
    assert sender.post(body, FORM).status == 400
    assert sender.event(event_callback(app_mention(f"<@{BOT_USER_ID}> {VOUCHERS}"))).status == 200
    fake.wait_for("chat.postMessage", timeout=ANSWER_WAIT)
    assert not tracebacks(worker.log()), worker.log()[-4000:]
