"""Long lists page instead of being cut (issue 14, finding 4): 64 sessions and a city with 39 challenges, through the
real slack-bolt app against the fake Slack and the real discord.py client against the fake gateway.

Every item is reachable through the pages ("Page 1 of 7: `session list 2` for the next"), every payload is valid
(slack_sdk's Block Kit models, Discord's 2,000 characters), and the renderers' safety net for any other long reply
never cuts inside markup and says in plain words what was left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from slack_sdk.models.blocks import Block

from adapters.discord.render import CONTENT, fit_lines, render as discord_render
from adapters.slack.render import MAX_BLOCKS, fit_text, to_blocks
from bot import Runtime
from bot.messages import Actions, Button, Reply, Text, Time
from bot.sessions.draft import SessionDraft
from discord_fake import BOT_ID, FakeDiscord
from discord_harness import (Served, discord_settings, fake, fake_discord, restore_discord_endpoints,  # noqa: F401
                             served)
from knowledge.records import CityRecord
from slack_harness import (ANSWER_WAIT, ServedSlack, assert_block_kit, fake_slack, serve_slack,  # noqa: F401
                           slack_settings)

pytestmark = pytest.mark.timeout(180)

ANSWER = 20.0
SESSIONS = 64
CHALLENGES = 39
CITY = "Longford"
DAY = date.today() + timedelta(days=30)
SESSION_ID = re.compile(r"#(\d+) Peer session")
CHALLENGE = re.compile(r"Challenge number (\d+) ")


def fill(runtime: Runtime) -> None:
    """64 one-off sessions (added in reverse date order, so the nearest is the last added) and a city of 39
    challenges."""
    for i in range(SESSIONS):
        start = f"{DAY + timedelta(SESSIONS - i)}T15:00"
        runtime.sessions.add(SessionDraft(title=f"Peer session {i:02d} on shared energy", start=start,
                                          tz="Europe/Madrid", agenda="Figures of the year."))
    challenges = tuple(f"Challenge number {n} about keeping young people in the town centre" for n in
                       range(1, CHALLENGES + 1))
    runtime.directory.import_cities([CityRecord(CITY, "Ireland", "Europe/Dublin", ("en",), ("Energy",), challenges)])


def valid_slack(blocks: list[dict]) -> None:
    assert_block_kit(blocks)
    for block in blocks:
        Block.parse(block).validate_json()  # slack_sdk's own model of each block


def unbroken_discord(content: str) -> None:
    """Within Discord's limit and no markup cut open: every ``<`` closed, no half timestamp."""
    assert len(content) <= CONTENT
    assert content.count("<") == content.count(">"), content[-200:]
    assert not re.search(r"<t:\d*(:[A-Za-z]?)?$", content) and not re.search(r"<t:[^>]*\n", content)


# -- Slack -----------------------------------------------------------------------------------------------------------

@pytest.fixture
def slack(serve_slack, fake_slack, tmp_path: Path) -> ServedSlack:  # noqa: F811
    served_slack = serve_slack(slack_settings(tmp_path / "data", fake_slack))
    fill(served_slack.runtime)
    return served_slack


def slack_answer(slack: ServedSlack, text: str) -> dict:
    name, sent = slack.command(text)
    assert sent.status == 200
    call = slack.fake.wait_for_response(name, 1, ANSWER_WAIT)[0]
    valid_slack(call.blocks)
    return {"text": "\n".join(str(b) for b in call.blocks), "blocks": call.blocks}


def test_slack_session_list_pages_reach_every_session_nearest_first(slack: ServedSlack) -> None:
    first = slack_answer(slack, "session list")
    assert "Page 1 of 7: `session list 2` for the next." in first["text"]
    assert "more block" not in first["text"] and "not shown" not in first["text"]
    seen: list[int] = []
    for page in range(1, 8):
        answer = first if page == 1 else slack_answer(slack, f"session list {page}")
        ids = [int(i) for i in SESSION_ID.findall(answer["text"])]
        assert 1 <= len(ids) <= 10 and f"Page {page} of 7" in answer["text"]
        seen += ids
    assert sorted(seen) == list(range(1, SESSIONS + 1)) and len(seen) == SESSIONS
    assert seen[:3] == [64, 63, 62], "the nearest date comes first"
    past = slack_answer(slack, "session list 8")
    assert "There is no page 8: there are only 7 pages; try `session list 7`." in past["text"]


def test_slack_next_page_button_redraws_the_list_in_place(slack: ServedSlack) -> None:
    first = slack_answer(slack, "session list")
    (row,) = [b for b in first["blocks"] if b["type"] == "actions"]
    assert [(e["text"]["text"], e["action_id"], e["value"]) for e in row["elements"]] == \
        [("Next page", "list_page", "session list 2")]
    name, sent = slack.click("list_page", "session list 2", is_ephemeral=True)
    assert sent.status == 200
    redrawn = slack.fake.wait_for_response(name, 1, ANSWER_WAIT)[0]
    valid_slack(redrawn.blocks)
    assert redrawn.params.get("replace_original") in (True, "true")
    text = "\n".join(str(b) for b in redrawn.blocks)
    assert "Page 2 of 7" in text and "Previous page" in text and "Next page" in text
    slack.click("list_page", "session cancel 1", is_ephemeral=True)  # a forged value runs no other command
    refused = slack.fake.wait_for("chat.postEphemeral", 1, ANSWER_WAIT)[0]
    assert "does not show a page" in refused.text and slack.runtime.sessions.get(1).cancelled is False


def test_slack_city_challenges_page(slack: ServedSlack) -> None:
    seen: list[int] = []
    for page in (1, 2, 3):
        answer = slack_answer(slack, f"city {CITY}" + (f" {page}" if page > 1 else ""))
        assert f"Page {page} of 3" in answer["text"]
        seen += [int(n) for n in CHALLENGE.findall(answer["text"])]
    assert seen == list(range(1, CHALLENGES + 1))
    assert "`city Longford 2` for the next" in slack_answer(slack, f"city {CITY}")["text"]


def test_slack_safety_net_keeps_the_heading_and_first_items_in_plain_words() -> None:
    now = datetime(2027, 3, 16, 14, tzinfo=timezone.utc)
    reply = Reply((Text("Scheduled sessions", "heading"),
                   *(x for i in range(SESSIONS) for x in (Text(f"#{i + 1} item"), Time(now + timedelta(days=i)))),
                   Actions((Button("Helpful", "feedback_helpful", "1"),))))
    blocks = to_blocks(reply)
    valid_slack(blocks)
    assert len(blocks) == MAX_BLOCKS
    assert blocks[0]["text"]["text"] == "*Scheduled sessions*" and blocks[1]["text"]["text"] == "#1 item"
    note = blocks[-2]["elements"][0]["text"]
    dropped = 2 * SESSIONS + 1 - (MAX_BLOCKS - 2)
    assert note == f"{dropped} more lines did not fit in one Slack message and are left out."
    assert blocks[-1]["type"] == "actions", "the answer's buttons stay"
    long_text = " ".join(f"<!date^{1800000000 + i}^{{date_short_pretty}}|x>" for i in range(200))
    fitted = fit_text(long_text, 3000)
    assert len(fitted) <= 3000 and fitted.count("<") == fitted.count(">") and fitted.endswith("…")


# -- Discord ---------------------------------------------------------------------------------------------------------

@pytest.fixture
def rt(tmp_path: Path, fake: FakeDiscord) -> Iterator[Runtime]:  # noqa: F811
    with Runtime.open(discord_settings(tmp_path / "data", fake)) as runtime:
        fill(runtime)
        yield runtime


def discord_answer(fake: FakeDiscord, text: str) -> str:  # noqa: F811
    message = fake.send_message(f"<@{BOT_ID}> {text}", mentions=[BOT_ID])
    reply = fake.wait_reply(message, timeout=ANSWER)
    unbroken_discord(reply.body.get("content") or "")
    return reply.text


def test_discord_session_list_pages_reach_every_session(served: Served, fake: FakeDiscord) -> None:  # noqa: F811
    seen: list[int] = []
    for page in range(1, 8):
        text = discord_answer(fake, "session list" + (f" {page}" if page > 1 else ""))
        assert f"Page {page} of 7" in text and "`session list" in text
        seen += [int(i) for i in SESSION_ID.findall(text)]
    assert sorted(seen) == list(range(1, SESSIONS + 1))
    listing = fake.wait_followups(fake.slash("session-list"), timeout=ANSWER)[0]
    unbroken_discord(listing.body.get("content") or "")
    assert "Page 1 of 7: `session list 2` for the next." in listing.text
    third = fake.wait_followups(fake.slash("session-list", {"page": 3}), timeout=ANSWER)[0]
    assert "Page 3 of 7" in third.text and "`session list 4` for the next" in third.text


def test_discord_next_page_button_shows_the_next_page(served: Served, fake: FakeDiscord) -> None:  # noqa: F811
    message = fake.send_message(f"<@{BOT_ID}> city {CITY}", mentions=[BOT_ID])
    reply = fake.wait_reply(message, timeout=ANSWER)
    page = fake.messages[int(reply.response["id"])]
    next_id = f"rrr:list_page:city {CITY} 2"
    click = fake.click(page, next_id)
    (second,) = fake.wait_followups(click, timeout=ANSWER)
    unbroken_discord(second.body.get("content") or "")
    assert "Page 2 of 3" in second.text and "16. Challenge number 16 " not in second.text
    assert "Challenge number 16 " in second.text and f"rrr:list_page:city {CITY} 3" in str(second.components)


def test_discord_city_challenges_page(served: Served, fake: FakeDiscord) -> None:  # noqa: F811
    seen: list[int] = []
    for page in (1, 2, 3):
        text = discord_answer(fake, f"city {CITY} {page}")
        assert f"Page {page} of 3" in text
        seen += [int(n) for n in CHALLENGE.findall(text)]
    assert seen == list(range(1, CHALLENGES + 1))
    numbered = discord_answer(fake, f"profile {CITY} 3")
    assert "31. Challenge number 31 " in numbered and "`profile Longford 2` for the previous" in numbered
    (second,) = fake.wait_followups(fake.slash("city", {"name": CITY, "page": 2}), timeout=ANSWER)
    assert "Page 2 of 3" in second.text and "Challenge number 16 " in second.text


def test_discord_safety_net_cuts_at_a_line_and_says_how_many_lines_were_left_out() -> None:
    now = datetime(2027, 3, 16, 14, tzinfo=timezone.utc)
    blocks = [Text("Scheduled sessions", "heading")]
    blocks += [x for i in range(SESSIONS) for x in (Text(f"#{i + 1} item"), Time(now + timedelta(days=i), "next:"))]
    content = discord_render(Reply(tuple(blocks))).content
    unbroken_discord(content)
    kept = content.split("\n")
    assert kept[0] == "**Scheduled sessions**" and kept[1] == "#1 item"
    left = len(blocks) - (len(kept) - 1)
    assert kept[-1] == f"-# {left} more lines did not fit in one Discord message and are left out."
    one_line = " ".join(f"<t:{1800000000 + i}:F>" for i in range(200))
    cut = fit_lines(one_line, CONTENT)
    unbroken_discord(cut)
    assert cut.endswith("…") and len(cut) > CONTENT // 2
