"""One hostile message cannot stall a real worker (#17, item 3): ``rrr-bot run slack --http`` over signed HTTP.

Before: a 900 KB single-word DM, signed as Slack signs it, kept a worker at 100 % CPU for over 4 minutes and it
ignored SIGTERM; a 40,000-character word blocked every other question for 10 s.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
import slack_harness
from scale_helpers import Processes, free_port, tracebacks, wait_ready
from slack_fake import BOT_USER_ID, FakeSlack, SlackSender, app_mention, direct_message, event_callback

fake_slack, fake = slack_harness.fake_slack, slack_harness.fake

pytestmark = pytest.mark.timeout(240)

VOUCHERS = "how did cities support local shops with vouchers?"


def test_a_900_kb_word_is_answered_fast_and_the_worker_still_stops_on_sigterm(
        procs: Processes, fake: FakeSlack, seeded_dir: Path) -> None:
    port = free_port()
    worker = procs.slack_worker("worker", seeded_dir, port, fake.api_url)
    wait_ready(worker, port)
    sender = SlackSender(f"http://127.0.0.1:{port}/slack/events")
    huge = direct_message("x" * 900_000, user="U0HOSTILE", channel="D0HOSTILE")
    started = time.monotonic()
    assert sender.event(event_callback(huge)).status == 200
    calm = sender.event(event_callback(app_mention(f"<@{BOT_USER_ID}> {VOUCHERS}", user="U0CALM")))
    assert calm.status == 200
    answers = fake.wait_for("chat.postMessage", 2, timeout=60)
    elapsed = time.monotonic() - started
    by_channel = {call.params.get("channel"): call.text for call in answers}
    assert "Your message was long" in by_channel["D0HOSTILE"]
    assert "Bono Bilbao" in json.dumps([c.blocks for c in answers]) or "Bono Bilbao" in " ".join(by_channel.values())
    assert elapsed < 30, f"two answers took {elapsed:.1f} s"
    # another huge one in flight, then SIGTERM: the process exits within a few seconds
    sender.event(event_callback(direct_message("y" * 900_000, user="U0HOSTILE2", channel="D0HOSTILE2")))
    stopping = time.monotonic()
    code = worker.stop(signal.SIGTERM, 10.0)
    assert code is not None, "the worker ignored SIGTERM for 10 s"
    assert time.monotonic() - stopping < 10
    assert not tracebacks(worker.log()), worker.log()[-4000:]
