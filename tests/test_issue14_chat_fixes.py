"""Chat fixes of issue #14: introductions to groups bigger than a Slack group DM, `role` targets that must be real
members, and insights that tell "no question asked yet" from "every question found an answer".

The Slack tests run the adapter's real Bolt app over HTTP against the local fake Slack (``slack_fake``), which
refuses ``conversations.open`` with more than 8 user ids, as Slack does.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from PIL import Image as PILImage
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import select
from typer.testing import CliRunner

from adapters.cli import app
from adapters.slack.posting import GROUP_DM_MAX
from bot import Runtime
from bot.messages import Image
from bot.services.insights import Insights
from bot.services.insights_charts import charts
from bot.store.models import Member, OutboxMessage, Question, utcnow
from bot.testing import TestAdapter
from conftest import make_settings
from discord_fake import BOT_ID as DISCORD_BOT
from discord_fake import COORDINATOR_ID, DM_CHANNEL_ID, PEER_ID, FakeDiscord
from discord_harness import connected, discord_settings, fake_discord, restore_discord_endpoints  # noqa: F401
from slack_fake import (
    BOT_TOKEN, MAX_CONVERSATION_USERS, Call, FakeSlack, blocks_text, direct_message, event_callback,
)
from slack_harness import (  # noqa: F401  (fixtures)
    ANSWER_WAIT, ServedSlack, fake, fake_slack, serve_slack, slack_settings,
)

pytestmark = pytest.mark.timeout(180)

ROOT = Path(__file__).resolve().parents[1]
COORDINATOR = '["test:BOSS"]'
VOUCHERS = "how did cities support local shops with vouchers?"
DISCORD_ANSWER = 30.0


@pytest.fixture
def slack(serve_slack, fake: FakeSlack, seeded_dir: Path) -> ServedSlack:
    return serve_slack(slack_settings(seeded_dir, fake))


# -- introductions on Slack: group DMs within Slack's limit, one DM each beyond -----------------------------------

def test_the_fake_refuses_more_users_than_slack_does(fake: FakeSlack) -> None:
    """Slack: "Provide 1 to 8 user IDs"; 9 are refused with too_many_users (the bot joins on its own)."""
    client = AsyncWebClient(token=BOT_TOKEN, base_url=fake.api_url)

    async def open_with(n: int) -> dict:
        return (await client.conversations_open(users=[f"U{i:03d}" for i in range(n)])).data

    assert MAX_CONVERSATION_USERS == GROUP_DM_MAX == 8
    assert asyncio.run(open_with(1))["channel"]["id"] == "D000"
    group = asyncio.run(open_with(8))["channel"]
    assert group["id"].startswith("G") and group["is_mpim"] and len(group["members"]) == 9
    with pytest.raises(SlackApiError) as refused:
        asyncio.run(open_with(9))
    assert refused.value.response["error"] == "too_many_users"


def the_manifest() -> dict:
    return yaml.safe_load((ROOT / "adapters" / "slack" / "manifest.yml").read_text("utf-8"))


def test_the_manifest_asks_for_group_dms() -> None:
    """conversations.open with several users needs mpim:write (im:write covers one-to-one DMs only)."""
    scopes = the_manifest()["oauth_config"]["scopes"]["bot"]
    assert {"im:write", "mpim:write"} <= set(scopes)


def introduce(slack: ServedSlack, per_city: int) -> list[str]:
    """Link ``per_city`` Slack members to Bilbao and to Dublin, make the round of introductions (one group of
    both cities), and deliver the outbox. Returns the members."""
    users = [f"U0{city.upper()}{i}" for city in ("Bilbao", "Dublin") for i in range(per_city)]
    for user in users:
        slack.runtime.directory.link("slack", user, "Bilbao" if "BILBAO" in user else "Dublin")
    (group,), queued = slack.runtime.intros.run()
    assert set(group.cities) == {"Bilbao", "Dublin"} and queued == 1
    slack.loop.run(slack.adapter.deliver_outbox())
    return users


def posted(fake: FakeSlack, channel: str | None = None) -> list[Call]:
    """The messages Slack accepted (to ``channel``)."""
    return fake.calls_to("chat.postMessage", where=lambda c: c.response.get("ok") and (
        channel is None or c.params.get("channel") == channel))


@pytest.mark.parametrize("per_city", [2, 4])
def test_a_group_within_the_limit_meets_in_one_group_dm(slack: ServedSlack, per_city: int) -> None:
    users = introduce(slack, per_city)
    [opened] = slack.fake.calls_to("conversations.open")
    assert str(opened.params["users"]).split(",") == users
    group = opened.response["channel"]["id"]
    assert group.startswith("G")
    [post] = posted(slack.fake, group)
    assert "Meet your peers" in post.text and "got this message on your own" not in blocks_text(post.blocks)
    assert slack.runtime.outbox.pending("slack") == 0


def test_a_group_beyond_the_limit_gets_one_dm_each_naming_the_others(slack: ServedSlack) -> None:
    """Ten people: Slack refuses a group DM of 10, so each gets the introduction in a DM with a mention of the nine
    others; nothing is refused and nothing is left for a retry."""
    users = introduce(slack, 5)
    assert all(c.response["ok"] for c in slack.fake.calls_to("conversations.open", ok_only=False))
    opened = slack.fake.calls_to("conversations.open")
    assert [str(c.params["users"]) for c in opened] == users  # one DM each, in order
    for user, call in zip(users, opened):
        dm = call.response["channel"]["id"]
        [post] = posted(slack.fake, dm)
        text = blocks_text(post.blocks)
        assert "Meet your peers" in text and "each of the 10 of you got this message on your own" in text
        assert {f"<@{u}>" for u in users if u != user} <= set(text.replace("\n", " ").split())
        assert f"<@{user}>" not in text  # nobody is pointed at themselves
    assert slack.runtime.outbox.pending("slack") == 0
    assert slack.loop.run(slack.adapter.deliver_outbox()) == 0  # sent once


def test_one_refused_dm_does_not_cost_the_others_theirs(slack: ServedSlack) -> None:
    """The first DM of a group of 10 is refused: the nine others still get theirs, once (no retry posts twice)."""
    slack.fake.fail("chat.postMessage", "channel_not_found")
    introduce(slack, 5)
    assert len(posted(slack.fake)) == 9
    assert slack.runtime.outbox.pending("slack") == 0
    assert slack.loop.run(slack.adapter.deliver_outbox()) == 0
    assert len(posted(slack.fake)) == 9


def test_a_group_nobody_could_be_reached_in_is_kept_for_a_retry(slack: ServedSlack) -> None:
    slack.fake.fail("chat.postMessage", "service_unavailable", times=10)
    introduce(slack, 5)
    assert not posted(slack.fake) and slack.runtime.outbox.pending("slack") == 1
    with slack.runtime.db.session() as session:  # the backoff is over
        for row in session.exec(select(OutboxMessage)):
            row.not_before = utcnow() - timedelta(minutes=1)
    assert slack.loop.run(slack.adapter.deliver_outbox()) == 1
    assert len(posted(slack.fake)) == 10


# -- insights: "no question asked yet" is not "every question found an answer" -------------------------------------

def png_title(data: bytes) -> str:
    with PILImage.open(io.BytesIO(data)) as picture:
        return picture.text.get("Title", "")


@pytest.fixture
def network(seeded_dir: Path) -> Iterator[Runtime]:
    with Runtime.open(make_settings(seeded_dir, RRR_BOT__COORDINATORS=COORDINATOR)) as rt:
        yield rt


def insights_in_chat(rt: Runtime) -> tuple[str, bytes]:
    """The coordinator's ``insights`` answer: its text and its gaps picture."""
    exchange = asyncio.run(TestAdapter(rt.bot, user="BOSS").send("insights"))
    [gaps] = [b for b in exchange.blocks(Image) if b.name == "gaps.png"]
    return exchange.text, gaps.data


def test_gaps_say_no_question_was_asked_when_none_was(network: Runtime, tmp_path: Path) -> None:
    text, picture = insights_in_chat(network)
    assert "Coverage gaps: none to show, no question asked yet." in text and "every question" not in text
    assert png_title(picture) == "Coverage gaps: no data yet (no question asked yet)"
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["insights", "report", "--out", str(out)],
                                env={"RRR_DATA_DIR": str(network.settings.data_dir),
                                     "RRR_BOT__COORDINATORS": COORDINATOR})
    assert result.exit_code == 0, result.output
    markdown = (out / "report.md").read_text("utf-8")
    assert "No gap to show: no question asked yet in these weeks." in markdown and "every question" not in markdown
    assert png_title((out / "gaps.png").read_bytes()) == "Coverage gaps: no data yet (no question asked yet)"


def test_the_report_summary_names_report_md_once(network: Runtime, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["insights", "report", "--out", str(out)],
                                env={"RRR_DATA_DIR": str(network.settings.data_dir)})
    assert result.exit_code == 0, result.output
    summary = " ".join(result.output.split())
    assert summary.count("report.md") == 1, summary
    others = sorted(p.name for p in out.iterdir() if p.name != "report.md")
    assert f"and {len(others)} other files ({', '.join(others)})" in summary


def test_gaps_say_every_question_was_answered_only_when_one_was_asked(network: Runtime) -> None:
    asyncio.run(TestAdapter(network.bot, user="U1").send(f"ask {VOUCHERS}"))
    report = Insights(network.directory, network.knowledge).report(12)
    assert report.figures.totals.questions == 1 == report.figures.totals.answered and not report.gaps.clusters
    assert png_title(charts(report)["gaps.png"]) == "Coverage gaps: no data yet (every question found an answer)"
    text, _ = insights_in_chat(network)
    assert "every question found an answer" in text and "no question asked yet" not in text



# -- role: the target is a real member, by mention --------------------------------------------------------------

def members(rt: Runtime) -> set[tuple[str, str]]:
    with rt.db.session() as session:
        return {(m.platform, m.user_id) for m in session.exec(select(Member))}


def test_the_slash_command_receives_mentions_as_ids() -> None:
    """With should_escape off, Slack sends `/rrr role @ana coordinator` as the plain text "@ana": no id at all."""
    [command] = the_manifest()["features"]["slash_commands"]
    assert command["command"] == "/rrr" and command["should_escape"] is True


def test_role_by_slack_mention_in_a_channel_a_dm_and_the_slash_command(slack: ServedSlack) -> None:
    rt = slack.runtime
    for user in ("U0ANA", "U0PIOTR", "U0LUC"):  # they wrote to the bot: it knows them
        name, _ = slack.command("whoami", user=user)
        slack.fake.wait_for_response(name)
    slack.mention("role <@U0ANA> coordinator", user="UCOORD", channel="C0GENERAL")
    assert "is now a coordinator." in slack.posts("C0GENERAL")[0].text
    slack.sender.event(event_callback(direct_message("role <@U0PIOTR> coordinator", user="UCOORD",
                                                     channel="DCOORD")))
    assert "is now a coordinator." in slack.posts("DCOORD")[0].text
    name, _ = slack.command("role <@U0LUC|luc> coordinator", user="UCOORD")  # as Slack escapes it
    assert "is now a coordinator." in slack.fake.wait_for_response(name)[0].text
    assert all(rt.directory.is_coordinator("slack", u) for u in ("U0ANA", "U0PIOTR", "U0LUC"))


@pytest.mark.parametrize("target", ["@ana", "ana", "<@U0NOBODY>", "<!subteam^S0COORD|@coordinators>", "#general"])
def test_role_for_someone_who_is_not_a_known_member_creates_nothing(slack: ServedSlack, target: str) -> None:
    """A name typed after @ that Slack did not turn into a mention, a bare word, a person who never wrote to the bot,
    a user group, a channel: one polite line, nobody is created or promoted."""
    before = members(slack.runtime)
    slack.mention(f"role {target} coordinator", user="UCOORD", channel="C0GENERAL")
    answer = str(slack.posts("C0GENERAL")[0].params["text"])
    name, _ = slack.command(f"role {target} coordinator", user="UCOORD")
    answer_slash = str(slack.fake.wait_for_response(name)[0].params["text"])
    for text in (answer, answer_slash):
        assert "is now a" not in text and "\n" not in text.strip() and "Traceback" not in text, text
        assert "mention them" in text or "write to me first" in text, text
    assert members(slack.runtime) - before <= {("slack", "UCOORD")}  # the coordinator who asked is remembered
    assert slack.runtime.directory.coordinators() == []


def test_slash_command_text_reads_people_as_typed_outside_role(slack: ServedSlack) -> None:
    """Escaping is for role: elsewhere `/rrr` text reads as typed, as before (the question keeps "@ana")."""
    name, _ = slack.command(f"ask what did <@U0ANA|ana> learn in <#C0GENERAL|general>: {VOUCHERS}", user="U0ANA")
    slack.fake.wait_for_response(name, timeout=ANSWER_WAIT)
    with slack.runtime.db.session() as session:
        [question] = session.exec(select(Question)).all()
    assert question.text.startswith("what did @ana learn in #general:"), question.text


def test_role_by_discord_mention(seeded_dir: Path, fake_discord: FakeDiscord) -> None:
    with Runtime.open(discord_settings(seeded_dir, fake_discord)) as rt, connected(rt):
        hello = fake_discord.send_message("whoami", author_id=PEER_ID, channel_id=DM_CHANNEL_ID, guild=False)
        fake_discord.wait_reply(hello, timeout=DISCORD_ANSWER)
        before = members(rt)
        refused = fake_discord.send_message(f"<@{DISCORD_BOT}> role @peer coordinator", author_id=COORDINATOR_ID,
                                            mentions=[DISCORD_BOT])
        text = fake_discord.wait_reply(refused, timeout=DISCORD_ANSWER).body.get("content", "")
        assert "is not a member" in text and members(rt) == before, text
        promoted = fake_discord.send_message(f"<@{DISCORD_BOT}> role <@{PEER_ID}> coordinator",
                                             author_id=COORDINATOR_ID, mentions=[DISCORD_BOT, PEER_ID])
        text = fake_discord.wait_reply(promoted, timeout=DISCORD_ANSWER).body.get("content", "")
        assert "is now a coordinator." in text, text
        assert rt.directory.is_coordinator("discord", str(PEER_ID)) and members(rt) == before
