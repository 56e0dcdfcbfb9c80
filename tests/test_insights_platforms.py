"""The insights with their charts on Slack and Discord: ``insights`` by mention and slash command, a member's view
of their own city, the weekly digest delivered from the outbox, and what happens when an upload fails.

As in ``test_slack.py`` / ``test_discord.py``: the real slack-bolt app is served over HTTP on 127.0.0.1 and calls the
local fake Slack (``slack_fake.FakeSlack``, which now takes ``files_upload_v2``'s three steps and keeps the files);
the real discord.py client runs against the local fake Discord (``discord_fake.FakeDiscord``, which keeps the files
of multipart messages). The core runs for real on a private copy of the seeded network, with some activity made
through the bot first (a member links to Bilbao and asks two questions). Nothing of ours is mocked; every wait is a
polling loop with a deadline.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from bot import Runtime
from bot.services import Outgoing
from bot.messages import Image, Reply, Text
from bot.services.insights_messages import ALT, queue_digest
from bot.store.models import OutboxMessage, utcnow
from discord_fake import (BOT_ID, COORDINATOR_ID, DM_CHANNEL_ID, EPHEMERAL, GUILD_ID, MEMBER_ID, NETWORK_CHANNEL_ID,
                          PEER_ID, FakeDiscord, Request)
from discord_fake import wait_until as discord_wait
from discord_harness import (Served, discord_settings, fake_discord,  # noqa: F401  (fixtures)
                             restore_discord_endpoints, served, slash_deferred)
from slack_fake import Call, FakeSlack
from slack_harness import ACK_BUDGET, ServedSlack, fake_slack, serve_slack, slack_settings  # noqa: F401  (fixtures)

pytestmark = pytest.mark.timeout(240)

PNG = b"\x89PNG"
CHARTS = ["network.png", "weekly.png", "gaps.png"]
VOUCHERS = "how did cities support local shops with vouchers?"
#: Far from anything the RRR cities did: an unanswered question, so the coverage gaps have something to show.
OUT_OF_SCOPE = "which football team won the 1998 world cup?"
ANSWER = 30.0  # an answer embeds the question and, for insights, draws three charts in a worker thread
QUIET = 1.0


def assert_charts(files: list[Any], names: list[str]) -> None:
    """Uploaded/attached pictures: these names in order, real PNG bytes, the alt text of each chart."""
    assert [f.filename for f in files] == names, files
    for f in files:
        assert f.data.startswith(PNG) and f.size == len(f.data) > 1000, f
        if f.filename in ALT:
            alt = getattr(f, "alt_txt", None) or getattr(f, "description", None)
            assert alt == ALT[f.filename], (f, alt)


# == Slack ===========================================================================================================

COORDINATOR = "UCOORD"  # the fake's coordinator user group S0COORD holds this member
MEMBER = "U0ANA"
STRANGER = "U0NOBODY"
CHANNEL = "C0GENERAL"
DIGEST_CHANNEL = "C0COORDS"


class Slack(ServedSlack):
    def mention(self, text: str, user: str, channel: str = CHANNEL) -> dict:
        """@mention the bot; the app must acknowledge within Slack's 3 seconds. Returns the event."""
        event, sent = super().mention(text, user=user, channel=channel)
        assert sent.status == 200 and sent.seconds < ACK_BUDGET, (sent.status, sent.seconds, sent.text)
        return event

    def command(self, text: str, user: str) -> str:
        """``/rrr text``; returns the name of its response_url."""
        name, sent = super().command(text, user=user, channel=CHANNEL)
        assert sent.status == 200 and sent.seconds < ACK_BUDGET, (sent.status, sent.seconds, sent.text)
        return name

    def thread_posts(self, event: dict, count: int = 1) -> list[Call]:
        return self.fake.wait_for("chat.postMessage", count, ANSWER,
                                  where=lambda c: c.params.get("thread_ts") == event["ts"])

    def with_activity(self) -> Slack:
        """A member of Bilbao (linked as an approved request links them) asks two questions (one answered, one
        not) through the bot."""
        self.runtime.directory.link("slack", MEMBER, "Bilbao")
        for question in (VOUCHERS, OUT_OF_SCOPE):
            self.thread_posts(self.mention(question, MEMBER))
        assert self.runtime.directory.member_city("slack", MEMBER) == "Bilbao"
        return self


@pytest.fixture
def slack(serve_slack, fake_slack: FakeSlack, seeded_dir: Path) -> Slack:
    return serve_slack(slack_settings(seeded_dir, fake_slack), Slack, warm_up=True)


def test_slack_coordinator_mention_gets_the_text_then_three_charts_in_its_thread(slack: Slack) -> None:
    slack.with_activity()
    event = slack.mention("insights", COORDINATOR)
    [post] = slack.thread_posts(event)
    assert post.params["channel"] == CHANNEL
    for expected in ("Network insights", "Questions asked", "Coverage gaps", "Bilbao"):
        assert expected in post.text, post.text
    assert "[image:" not in post.text and "network.png" not in post.text  # pictures are files, not text
    files = slack.fake.wait_for_files(3, CHANNEL, thread_ts=event["ts"], timeout=ANSWER)
    assert_charts(files, CHARTS)
    assert [f.title for f in files] == [ALT[name] for name in CHARTS]
    # one upload of the three: after the text, so they show under it in the thread
    [complete] = slack.fake.calls_to("files.completeUploadExternal")
    assert complete.params["channel_id"] == CHANNEL and complete.params["thread_ts"] == event["ts"]
    assert complete.at > post.at
    assert len(slack.fake.calls_to("upload")) == 3


def test_slack_slash_insights_stays_private_and_the_charts_go_to_the_coordinators_dm(slack: Slack) -> None:
    slack.with_activity()
    name = slack.command("insights", COORDINATOR)
    [answer] = slack.fake.wait_for_response(name, 1, ANSWER)
    assert answer.params["response_type"] == "ephemeral"
    assert "Network insights" in answer.text and "direct messages with the bot" in answer.text, answer.text
    [opened] = slack.fake.wait_for("conversations.open", 1, ANSWER)
    assert opened.params["users"] == COORDINATOR
    dm = "DCOORD"  # what the fake's conversations.open answers for UCOORD
    files = slack.fake.wait_for_files(3, dm, timeout=ANSWER)
    assert_charts(files, CHARTS)
    assert all(f.thread_ts is None for f in files)
    # nothing was shown in the channel the command was typed in
    assert not slack.fake.files_in(CHANNEL)
    assert not slack.fake.calls_to("chat.postMessage", where=lambda c: "Network insights" in c.text)
    assert len(slack.fake.responses(name)) == 1  # no "could not upload" note


def test_slack_member_sees_only_their_city_and_a_stranger_is_asked_to_link(slack: Slack) -> None:
    slack.with_activity()
    event = slack.mention("insights", MEMBER)
    [post] = slack.thread_posts(event)
    assert "Insights for Bilbao" in post.text and "Questions asked" in post.text, post.text
    for hidden in ("Network insights", "Coverage gaps", "Turin", "Warsaw", "football"):
        assert hidden not in post.text, (hidden, post.text)
    [chart] = slack.fake.wait_for_files(1, CHANNEL, thread_ts=event["ts"], timeout=ANSWER)
    assert_charts([chart], ["weekly-bilbao.png"])

    stranger = slack.mention("insights", STRANGER)
    [polite] = slack.thread_posts(stranger)
    assert "iam CITY" in polite.text and "Questions asked" not in polite.text, polite.text
    slack.fake.assert_quiet("files.getUploadURLExternal", QUIET, count=1)  # only the member's chart
    assert [f.filename for f in slack.fake.files_in()] == ["weekly-bilbao.png"]


def test_slack_weekly_digest_is_delivered_to_the_channel_with_its_charts(slack: Slack) -> None:
    slack.with_activity()
    rt = slack.runtime
    assert queue_digest(rt.bot.insights, rt.outbox, {"slack": DIGEST_CHANNEL}, datetime.now(timezone.utc)) == 1
    assert slack.loop.run(slack.adapter.deliver_outbox(), ANSWER) == 1
    [post] = slack.fake.calls_to("chat.postMessage", where=lambda c: c.params.get("channel") == DIGEST_CHANNEL)
    assert "Weekly insights digest" in post.text and "Coverage gaps" in post.text, post.text
    assert "thread_ts" not in post.params
    assert_charts(slack.fake.files_in(DIGEST_CHANNEL), CHARTS)
    assert rt.outbox.pending("slack") == 0
    assert slack.loop.run(slack.adapter.deliver_outbox(), ANSWER) == 0  # delivered once


def test_slack_a_failing_upload_still_posts_the_text_and_logs_the_error(slack: Slack,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    slack.with_activity()
    caplog.set_level(logging.ERROR, logger="adapters.slack.uploads")
    slack.fake.fail("upload", "storage_down", status=500)
    event = slack.mention("insights", COORDINATOR)
    [post] = slack.thread_posts(event)
    assert "Network insights" in post.text
    discord_wait(lambda: [r for r in caplog.records if "cannot upload" in r.getMessage()], ANSWER,
                 "the upload error in the log")
    [record] = [r for r in caplog.records if "cannot upload" in r.getMessage()]
    assert "network.png" in record.getMessage() and "500" in record.getMessage(), record.getMessage()
    assert not slack.fake.calls_to("files.completeUploadExternal") and not slack.fake.files_in()
    # the next answer uploads again
    again = slack.mention("insights", COORDINATOR)
    slack.thread_posts(again)
    assert_charts(slack.fake.wait_for_files(3, CHANNEL, thread_ts=again["ts"], timeout=ANSWER), CHARTS)


def test_slack_a_private_answer_whose_upload_fails_says_so(slack: Slack) -> None:
    slack.fake.fail("files.getUploadURLExternal", "ratelimited_forever")
    name = slack.command("insights", COORDINATOR)
    answer, note = slack.fake.wait_for_response(name, 2, ANSWER)
    assert "Network insights" in answer.text
    assert "could not upload the pictures (ratelimited_forever)" in note.text, note.text
    assert note.params["response_type"] == "ephemeral" and not slack.fake.files_in()


def test_slack_digest_counts_as_failed_only_when_its_text_was_not_posted(slack: Slack,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    rt = slack.runtime
    caplog.set_level(logging.ERROR, logger="adapters.slack.uploads")
    assert queue_digest(rt.bot.insights, rt.outbox, {"slack": DIGEST_CHANNEL}, datetime.now(timezone.utc)) == 1
    # the text is refused: nothing is uploaded, the message is kept for a retry
    slack.fake.fail("chat.postMessage", "channel_not_found")
    assert slack.loop.run(slack.adapter.deliver_outbox(), ANSWER) == 0
    assert not slack.fake.calls_to("files.getUploadURLExternal") and rt.outbox.pending("slack") == 1

    # the retry (its backoff skipped) posts the text; the pictures fail: sent all the same, since another retry
    # would post the text twice
    with rt.db.session() as session:
        session.exec(update(OutboxMessage).where(OutboxMessage.platform == "slack", OutboxMessage.sent_at.is_(None))
                     .values(not_before=utcnow() - timedelta(seconds=1)))
    slack.fake.fail("files.completeUploadExternal", "not_in_channel")
    assert slack.loop.run(slack.adapter.deliver_outbox(), ANSWER) == 1
    refused, post = slack.fake.calls_to("chat.postMessage", where=lambda c: c.params.get("channel") == DIGEST_CHANNEL)
    assert refused.response["error"] == "channel_not_found" and post.response["ok"] is True
    assert "Weekly insights digest" in post.text
    assert rt.outbox.pending("slack") == 0 and not slack.fake.files_in()
    assert any("cannot upload" in r.getMessage() and "not_in_channel" in r.getMessage() for r in caplog.records)


# == Discord =========================================================================================================

@pytest.fixture
def rt(seeded_dir: Path, fake_discord: FakeDiscord) -> Iterator[Runtime]:
    with Runtime.open(discord_settings(seeded_dir, fake_discord)) as runtime:
        runtime.knowledge.warm_up()
        yield runtime


def discord_activity(fake: FakeDiscord, rt: Runtime) -> None:
    """A member of Bilbao (linked as an approved request links them) asks two questions, through the bot
    (mentions in #general)."""
    rt.directory.link("discord", str(MEMBER_ID), "Bilbao")
    for text in (VOUCHERS, OUT_OF_SCOPE):
        message = fake.send_message(f"<@{BOT_ID}> {text}", mentions=[BOT_ID], author_id=MEMBER_ID)
        fake.wait_reply(message, timeout=ANSWER)
    assert rt.directory.member_city("discord", str(MEMBER_ID)) == "Bilbao"


def slash_followup(fake: FakeDiscord, name: str, user_id: int, **options: Any) -> tuple[Request, Request]:
    """Run ``/name``: the private deferral within 3 s, then the one follow-up."""
    interaction, callback = slash_deferred(fake, name, options, timeout=ANSWER, user_id=user_id)
    [followup] = fake.wait_followups(interaction, 1, timeout=ANSWER)
    return callback, followup


def test_discord_insights_command_is_synced_with_a_weeks_option(served: Served, fake_discord: FakeDiscord) -> None:
    synced = {c["name"]: c for c in fake_discord.calls("sync_guild_commands", guild=str(GUILD_ID))[-1].json}
    [weeks] = synced["insights"]["options"]
    assert (weeks["name"], weeks["type"], weeks.get("required", False), weeks["min_value"]) == ("weeks", 4, False, 1)


def test_discord_coordinator_mention_gets_the_text_with_three_charts_attached(
        served: Served, fake_discord: FakeDiscord, rt: Runtime) -> None:
    discord_activity(fake_discord, rt)
    message = fake_discord.send_message(f"<@{BOT_ID}> insights", mentions=[BOT_ID], author_id=COORDINATOR_ID)
    reply = fake_discord.wait_reply(message, timeout=ANSWER)
    assert "Network insights" in reply.text and "Coverage gaps" in reply.text and "Bilbao" in reply.text, reply
    assert "[image:" not in reply.text
    assert_charts(reply.files, CHARTS)
    assert [a["filename"] for a in reply.body["attachments"]] == CHARTS  # the JSON part names them too
    assert [a["filename"] for a in reply.response["attachments"]] == CHARTS


def test_discord_slash_insights_answers_the_coordinator_privately_with_the_charts(
        served: Served, fake_discord: FakeDiscord, rt: Runtime) -> None:
    discord_activity(fake_discord, rt)
    callback, followup = slash_followup(fake_discord, "insights", COORDINATOR_ID, weeks=8)
    assert callback.data.get("flags") == EPHEMERAL
    assert int(followup.body.get("flags") or 0) & EPHEMERAL
    assert "Network insights" in followup.text and "Questions asked" in followup.text, followup
    assert_charts(followup.files, CHARTS)


def test_discord_member_gets_only_their_city_and_a_stranger_is_asked_to_link(
        served: Served, fake_discord: FakeDiscord, rt: Runtime) -> None:
    discord_activity(fake_discord, rt)
    _, followup = slash_followup(fake_discord, "insights", MEMBER_ID)
    assert "Insights for Bilbao" in followup.text and "Questions asked" in followup.text, followup
    for hidden in ("Network insights", "Coverage gaps", "Turin", "football"):
        assert hidden not in followup.text, (hidden, followup.text)
    assert_charts(followup.files, ["weekly-bilbao.png"])

    _, polite = slash_followup(fake_discord, "insights", PEER_ID)
    assert "iam CITY" in polite.text and not polite.files, polite


def test_discord_weekly_digest_is_delivered_to_the_channel_with_its_charts(
        served: Served, fake_discord: FakeDiscord, rt: Runtime) -> None:
    discord_activity(fake_discord, rt)
    channels = {"discord": str(NETWORK_CHANNEL_ID)}
    assert queue_digest(rt.bot.insights, rt.outbox, channels, datetime.now(timezone.utc)) == 1
    assert served.loop.run(served.adapter.deliver_outbox(), ANSWER) == 1
    [post] = fake_discord.channel_messages(NETWORK_CHANNEL_ID)
    assert "Weekly insights digest" in post.text and "Coverage gaps" in post.text, post
    assert_charts(post.files, CHARTS)
    assert rt.outbox.pending("discord") == 0


def test_discord_more_than_ten_pictures_go_in_a_second_message_to_a_dm(
        served: Served, fake_discord: FakeDiscord, rt: Runtime) -> None:
    pictures = tuple(Image(f"chart-{i:02d}.png", PNG + bytes([i]) * 2000, f"chart {i}") for i in range(12))
    assert rt.outbox.enqueue([Outgoing("pictures-dm", "discord", Reply((Text("Twelve charts"),) + pictures),
                                      users=(str(MEMBER_ID),))]) == 1
    assert served.loop.run(served.adapter.deliver_outbox(), ANSWER) == 1
    first, second = fake_discord.channel_messages(DM_CHANNEL_ID)
    assert first.body.get("content") == "Twelve charts" and len(first.files) == 10
    assert not second.body.get("content") and len(second.files) == 2
    assert [f.filename for f in first.files + second.files] == [p.name for p in pictures]
    assert [f.data for f in first.files + second.files] == [p.data for p in pictures]
    assert [f.description for f in first.files] == [p.alt for p in pictures[:10]]
    assert [a["filename"] for a in json.loads(json.dumps(second.response))["attachments"]] == \
        ["chart-10.png", "chart-11.png"]
