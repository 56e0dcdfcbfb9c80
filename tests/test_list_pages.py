"""The cities, the unanswered questions and the knowledge base's solutions page (issue 14, "Lists that page"): in chat
through the real slack-bolt app over HTTP against the fake Slack and the real discord.py client against the fake
gateway, with working "Previous page" / "Next page" buttons; on the console (`cities 2`) and the CLI (``--page N``,
the same pages). A page past the end is one line saying what to type instead; no page is cut inside markup.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from rich.console import Console
from slack_sdk.models.blocks import Block
from typer.testing import CliRunner

from adapters.cli import app
from adapters.console import ConsoleAdapter
from adapters.discord.render import CONTENT, render as discord_render
from adapters.slack.render import to_blocks
from bot import Runtime
from bot.paging import QUESTIONS_PAGE
from bot.messages import Text
from bot.replies import unanswered_reply
from bot.store.models import Question
from bot.store.repos import Questions
from bot.sessions.draft import SessionDraft
from conftest import make_settings
from discord_fake import BOT_ID, COORDINATOR_ID, MEMBER_ID, FakeDiscord
from discord_harness import (Served, discord_settings, fake, fake_discord, restore_discord_endpoints,  # noqa: F401
                             served)
from knowledge.records import CityRecord
from slack_harness import (ANSWER_WAIT, ServedSlack, assert_block_kit, fake_slack, serve_slack,  # noqa: F401
                           slack_settings)

pytestmark = pytest.mark.timeout(180)

ANSWER = 20.0
CITIES = 40  # 15 a page: 3 pages
QUESTIONS = 25  # 10 a page: 3 pages, the newest first
TOWN = re.compile(r"Town (\d\d) \(Ireland\)")
QUESTION = re.compile(r"#(\d+) \(2027-")
PAST_CITIES = "There is no page 4: there are only 3 pages; try `cities 3`."
SLACK_COORDINATOR = "UCOORD"


def fill(runtime: Runtime) -> None:
    """40 cities (Town 01 to Town 40) and 25 unanswered questions, one an hour (#25 the newest), each with an
    ampersand, a Discord timestamp and a mention in it."""
    runtime.directory.import_cities([
        CityRecord(f"Town {n:02d}", "Ireland", "Europe/Dublin", ("en",), ("Energy & jobs",), ("Keep shops open.",))
        for n in range(1, CITIES + 1)])
    start = datetime(2027, 1, 4, 9, tzinfo=timezone.utc)
    with runtime.knowledge.db.session() as session:
        repo = Questions(session)
        for n in range(1, QUESTIONS + 1):
            repo.add(Question(platform="slack", user_id="U0ASKER", answered=False, asked_at=start + timedelta(hours=n),
                              text=f"Q{n:02d}: shops & bars <t:1800000000:F> <@U0PEER>?"))


def ask_to_join(runtime: Runtime, platform: str, count: int = 12) -> None:
    """``count`` people of ``platform`` asking to speak for Town 01 (open requests a coordinator reviews)."""
    for n in range(1, count + 1):
        runtime.bot.review.memberships.join(platform, f"U{n:03d}" if platform == "slack" else str(4200 + n),
                                            "Town 01", f"Joiner {n:02d}")


def joiners(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"Joiner (\d\d) asks to speak for Town 01", text)]


def towns(text: str) -> list[int]:
    return [int(n) for n in TOWN.findall(text)]


def question_ids(text: str) -> list[int]:
    return [int(n) for n in QUESTION.findall(text)]


# -- Slack -----------------------------------------------------------------------------------------------------------

@pytest.fixture
def slack(serve_slack, fake_slack, tmp_path: Path) -> ServedSlack:  # noqa: F811
    served_slack = serve_slack(slack_settings(tmp_path / "data", fake_slack))
    fill(served_slack.runtime)
    return served_slack


def valid_slack(blocks: list[dict]) -> str:
    """The blocks' text, once checked against Block Kit's limits and slack_sdk's models; no safety-net note."""
    assert_block_kit(blocks)
    for block in blocks:
        Block.parse(block).validate_json()
    text = json.dumps(blocks, ensure_ascii=False)
    assert "did not fit" not in text and "…" not in text, "a page fits whole: nothing is cut"
    return text


def slack_command(slack: ServedSlack, text: str, user: str = "U0ASKER") -> tuple[str, list[dict]]:
    name, sent = slack.command(text, user=user)
    assert sent.status == 200
    call = slack.fake.wait_for_response(name, 1, ANSWER_WAIT)[0]
    return valid_slack(call.blocks), call.blocks


def page_buttons(blocks: list[dict]) -> list[tuple[str, str, str]]:
    rows = [b for b in blocks if b["type"] == "actions"]
    return [(e["text"]["text"], e["action_id"], e["value"]) for row in rows for e in row["elements"]]


def slack_click(slack: ServedSlack, action: str, value: str, user: str = "U0ASKER", **kw) -> str:
    name, sent = slack.click(action, value, user=user, **kw)
    assert sent.status == 200
    redrawn = slack.fake.wait_for_response(name, 1, ANSWER_WAIT)[0]
    assert redrawn.params.get("replace_original") in (True, "true"), "the page replaces the one clicked"
    return valid_slack(redrawn.blocks)


def test_slack_cities_page_by_name_with_working_buttons(slack: ServedSlack) -> None:
    first, blocks = slack_command(slack, "cities")
    assert towns(first) == list(range(1, 16)) and "Cities 1-15 of the network's 40" in first
    assert "Page 1 of 3: `cities 2` for the next." in first
    assert page_buttons(blocks) == [("Next page", "list_page", "cities 2")]
    second = slack_click(slack, "list_page", "cities 2")
    assert towns(second) == list(range(16, 31)) and "Page 2 of 3" in second
    third = slack_click(slack, "list_page", "cities 3")
    assert towns(third) == list(range(31, CITIES + 1))
    assert "Page 3 of 3, the last: `cities 2` for the previous." in third
    back = slack_click(slack, "list_page_previous", "cities 2")
    assert towns(back) == list(range(16, 31))
    _, blocks = slack_command(slack, "cities 2")
    assert page_buttons(blocks) == [("Previous page", "list_page_previous", "cities 1"),
                                    ("Next page", "list_page", "cities 3")]


def test_slack_a_page_past_the_end_is_one_line_saying_what_to_type(slack: ServedSlack) -> None:
    text, blocks = slack_command(slack, "cities 4")
    assert len(blocks) == 1 and blocks[0]["text"]["text"] == PAST_CITIES
    text, _ = slack_command(slack, "unanswered 9", user=SLACK_COORDINATOR)
    assert "There is no page 9: there are only 3 pages; try `unanswered 3`." in text
    text, _ = slack_command(slack, "cities 0")
    assert "There is no page 0: pages start at 1; try `cities 1`." in text


def test_slack_unanswered_pages_newest_first_for_coordinators_only(slack: ServedSlack) -> None:
    first, blocks = slack_command(slack, "unanswered", user=SLACK_COORDINATOR)
    assert question_ids(first) == list(range(25, 15, -1)), "the newest question first"
    assert "Unanswered questions 1-10 of 25, the newest first" in first and "Page 1 of 3" in first
    assert "shops &amp; bars &lt;t:1800000000:F&gt;" in first, "what members typed is shown, escaped"
    assert "<@U0PEER>" not in first and "@\u200bU0PEER" in first, "and pings nobody"
    assert page_buttons(blocks) == [("Next page", "list_page", "unanswered 2")]
    second = slack_click(slack, "list_page", "unanswered 2", user=SLACK_COORDINATOR, is_ephemeral=True)
    assert question_ids(second) == list(range(15, 5, -1))
    last = slack_click(slack, "list_page", "unanswered 3", user=SLACK_COORDINATOR, is_ephemeral=True)
    assert question_ids(last) == list(range(5, 0, -1))
    slack.click("list_page", "unanswered 2", user="U0ASKER", is_ephemeral=True)  # a member's click runs nothing
    refused = slack.fake.wait_for("chat.postEphemeral", 1, ANSWER_WAIT)[0]
    assert "Only coordinators can use `unanswered`." in refused.text and not question_ids(refused.text)


def test_slack_pending_reviews_page(slack: ServedSlack) -> None:
    ask_to_join(slack.runtime, "slack")
    first, blocks = slack_command(slack, "pending", user=SLACK_COORDINATOR)
    assert joiners(first) == list(range(1, 11)) and "Page 1 of 2: `pending 2` for the next." in first
    assert page_buttons(blocks) == [("Next page", "list_page", "pending 2")]
    second = slack_click(slack, "list_page", "pending 2", user=SLACK_COORDINATOR)
    assert joiners(second) == [11, 12] and "`approve N` / `reject N`" in second
    text, _ = slack_command(slack, "pending 3", user=SLACK_COORDINATOR)
    assert "There is no page 3: there are only 2 pages; try `pending 2`." in text


# -- Discord ---------------------------------------------------------------------------------------------------------

@pytest.fixture
def rt(tmp_path: Path, fake: FakeDiscord) -> Iterator[Runtime]:  # noqa: F811
    with Runtime.open(discord_settings(tmp_path / "data", fake)) as runtime:
        fill(runtime)
        yield runtime


def unbroken(content: str) -> None:
    """Within Discord's 2,000 characters, nothing left out, and no markup cut open."""
    assert len(content) <= CONTENT and "left out" not in content
    assert content.count("<") == content.count(">"), content[-200:]
    assert not re.search(r"<t:\d*(:[A-Za-z]?)?$", content)


def test_discord_cities_page_and_next_button(served: Served, fake: FakeDiscord) -> None:  # noqa: F811
    message = fake.send_message(f"<@{BOT_ID}> cities", mentions=[BOT_ID])
    reply = fake.wait_reply(message, timeout=ANSWER)
    unbroken(reply.body.get("content") or "")
    assert towns(reply.text) == list(range(1, 16)) and "Page 1 of 3: `cities 2` for the next." in reply.text
    click = fake.click(fake.response_message(reply), "rrr:list_page:cities 2")
    (second,) = fake.wait_followups(click, timeout=ANSWER)
    unbroken(second.body.get("content") or "")
    assert towns(second.text) == list(range(16, 31))
    assert "rrr:list_page_previous:cities 1" in str(second.components)
    assert "rrr:list_page:cities 3" in str(second.components)
    (third,) = fake.wait_followups(fake.slash("cities", {"page": 3}), timeout=ANSWER)
    assert towns(third.text) == list(range(31, CITIES + 1)) and "Page 3 of 3" in third.text
    (past,) = fake.wait_followups(fake.slash("cities", {"page": 4}), timeout=ANSWER)
    assert past.text.strip() == PAST_CITIES


def test_discord_unanswered_pages_privately_for_coordinators(served: Served, fake: FakeDiscord) -> None:  # noqa: F811
    listing = fake.slash("unanswered", user_id=COORDINATOR_ID)
    (first,) = fake.wait_followups(listing, timeout=ANSWER)
    unbroken(first.body.get("content") or "")
    assert first.body.get("flags", 0) & 64, "only the coordinator sees the questions"
    assert question_ids(first.text) == list(range(25, 15, -1))
    assert "@\u200bU0PEER" in first.text and "<@U0PEER>" not in first.text
    click = fake.click(fake.response_message(first), "rrr:list_page:unanswered 2", user_id=COORDINATOR_ID)
    (second,) = fake.wait_followups(click, timeout=ANSWER)
    unbroken(second.body.get("content") or "")
    assert question_ids(second.text) == list(range(15, 5, -1)) and "Page 2 of 3" in second.text
    (third,) = fake.wait_followups(fake.slash("unanswered", {"page": 3}, user_id=COORDINATOR_ID), timeout=ANSWER)
    assert question_ids(third.text) == list(range(5, 0, -1))
    member = fake.click(fake.response_message(first), "rrr:list_page:unanswered 2", user_id=MEMBER_ID)
    (refused,) = fake.wait_followups(member, timeout=ANSWER)
    assert "Only coordinators can use `unanswered`" in refused.text and not question_ids(refused.text)


def test_discord_pending_reviews_page_by_mention_and_button(served: Served, fake: FakeDiscord,  # noqa: F811
                                                             rt: Runtime) -> None:
    ask_to_join(rt, "discord")
    message = fake.send_message(f"<@{BOT_ID}> pending", mentions=[BOT_ID], author_id=COORDINATOR_ID)
    reply = fake.wait_reply(message, timeout=ANSWER)
    unbroken(reply.body.get("content") or "")
    assert joiners(reply.text) == list(range(1, 11)) and "Page 1 of 2" in reply.text
    click = fake.click(fake.response_message(reply), "rrr:list_page:pending 2", user_id=COORDINATOR_ID)
    (second,) = fake.wait_followups(click, timeout=ANSWER)
    assert joiners(second.text) == [11, 12] and "rrr:list_page_previous:pending 1" in str(second.components)


# -- any platform: a page of long, markup-heavy items ---------------------------------------------------------------

MARKUP_HEAVY = (" ".join(f"R&D <&> [fund](https://e.example/{i}) <t:{1800000000 + i}:F>" for i in range(80)),
                "&" * 900, "[" * 900)


@pytest.mark.parametrize("body", MARKUP_HEAVY, ids=["links-and-times", "ampersands", "brackets"])
def test_a_page_of_long_markup_heavy_questions_fits_every_platform_whole(body: str) -> None:
    """Questions of 900 characters and more, full of ``&``, ``<``, brackets, masked links and timestamps: each is cut
    at a word to one line, never inside ``<...>``; every page fits Slack (3,000 characters a text once escaped, 50
    blocks) and Discord (2,000 once escaped) whole, without the renderers' safety net; together the pages hold every
    question once, the newest first."""
    start = datetime(2027, 1, 4, 9, tzinfo=timezone.utc)
    questions = [Question(id=n, platform="discord", user_id="1", answered=False, text=f"Q{n} {body}",
                          asked_at=start - timedelta(hours=n)) for n in range(1, 31)]
    seen: list[int] = []
    page = 1
    while True:
        reply = unanswered_reply(questions, page)
        lines = [line for b in reply.blocks if isinstance(b, Text) for line in b.text.splitlines()
                 if line.startswith("- #")]
        assert all(len(line) <= 330 and line.endswith("…") for line in lines)
        ids = question_ids("\n".join(lines))
        assert 1 <= len(ids) <= QUESTIONS_PAGE
        blocks = to_blocks(reply)
        assert_block_kit(blocks)
        text = json.dumps(blocks, ensure_ascii=False)
        assert "did not fit" not in text and question_ids(text) == ids, "Slack shows the whole page"
        content = discord_render(reply).content
        unbroken(content)
        assert question_ids(content) == ids, "Discord shows the whole page"
        seen += ids
        if f"Page {page} of" not in content or "the last" in content:
            break
        page += 1
    assert seen == list(range(1, 31)) and page > 3, "long items make more, shorter pages"


# -- console and CLI -------------------------------------------------------------------------------------------------

@pytest.fixture
def data_dir(tmp_path: Path, cli_env: None) -> Path:
    data = tmp_path / "data"
    with Runtime.open(make_settings(data)) as runtime:
        fill(runtime)
        day = date.today() + timedelta(days=30)
        for i in range(12):  # the nearest is the last added
            runtime.sessions.add(SessionDraft(title=f"Session {i:02d}", start=f"{day + timedelta(days=12 - i)}T15:00",
                                              tz="Europe/Madrid"))
    return data


def cli(data_dir: Path, *args: str):
    result = CliRunner().invoke(app, list(args), env={"RRR_DATA_DIR": str(data_dir)})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def test_console_pages_like_the_chat_commands(data_dir: Path) -> None:
    out = io.StringIO()
    with Runtime.open(make_settings(data_dir)) as runtime:
        adapter = ConsoleAdapter(runtime.bot, io.StringIO("cities 2\ncities 4\ncities in Ireland that fund shops?\n"),
                                 Console(file=out, width=200), user="local")
        assert asyncio.run(adapter.run()) == 3
    second, past, question = out.getvalue().split("\n\n")[:3]
    assert towns(second) == list(range(16, 31))
    assert "Page 2 of 3: `cities 3` for the next, `cities 1` for the previous." in second
    assert past.strip() == PAST_CITIES
    assert not towns(question), "a question that starts with 'cities' is still a question"


def test_cli_cities_list_page(data_dir: Path) -> None:
    text = cli(data_dir, "cities", "list", "--page", "2")
    assert text.exit_code == 0, text.output
    assert [int(n) for n in re.findall(r"Town (\d\d)", text.stdout)] == list(range(16, 31))
    assert "Page 2 of 3: `rrr-bot cities list --page 3` for the next, `rrr-bot cities list --page 1` for the " \
           "previous." in text.stdout
    page = json.loads(cli(data_dir, "cities", "list", "--page", "3", "--json").stdout)
    assert (page["page"], page["pages"], page["total"], page["first"]) == (3, 3, CITIES, 31)
    assert [c["name"] for c in page["items"]] == [f"Town {n}" for n in range(31, CITIES + 1)]
    whole = json.loads(cli(data_dir, "cities", "list", "--json").stdout)
    assert isinstance(whole, list) and len(whole) == CITIES, "without --page, the JSON is the whole list as before"
    past = cli(data_dir, "cities", "list", "--page", "4")
    assert past.exit_code == 2 and past.stdout == ""
    assert past.stderr.strip() == "error: There is no page 4: there are only 3 pages; try `rrr-bot cities list " \
                                  "--page 3`."


def test_cli_unanswered_and_sessions_pages(data_dir: Path) -> None:
    page = json.loads(cli(data_dir, "kb", "unanswered", "--page", "1", "--json").stdout)
    assert [q["id"] for q in page["items"]] == list(range(25, 15, -1)) and page["pages"] == 3
    text = cli(data_dir, "kb", "unanswered", "--page", "3")
    assert [int(n) for n in re.findall(r"^#(\d+) ", text.stdout, re.M)] == list(range(5, 0, -1))
    assert "Page 3 of 3, the last: `rrr-bot kb unanswered --page 2` for the previous." in text.stdout
    assert len(json.loads(cli(data_dir, "kb", "unanswered", "--json").stdout)) == QUESTIONS
    sessions = json.loads(cli(data_dir, "sessions", "list", "--page", "1", "--json").stdout)
    assert [s["title"] for s in sessions["items"]] == [f"Session {i:02d}" for i in range(11, 1, -1)], \
        "the nearest date first, as `session list` in chat"
    second = cli(data_dir, "sessions", "list", "--page", "2")
    assert "Session 01" in second.stdout and "Session 00" in second.stdout and "Session 02" not in second.stdout
    assert "`rrr-bot sessions list --page 1` for the previous" in second.stdout
    past = cli(data_dir, "sessions", "list", "--page", "3")
    assert past.exit_code == 2 and "try `rrr-bot sessions list --page 2`." in past.stderr


def test_cli_city_challenges_page(data_dir: Path) -> None:
    with Runtime.open(make_settings(data_dir)) as runtime:
        runtime.directory.import_cities([CityRecord("Long Town", "Ireland", "Europe/Dublin", ("en",), (),
                                                    tuple(f"Challenge {n} of the town" for n in range(1, 21)))])
    second = cli(data_dir, "cities", "show", "long town", "--page", "2")
    assert "16. Challenge 16 of the town" in second.stdout and "15. Challenge 15 " not in second.stdout
    assert "`rrr-bot cities show 'Long Town' --page 1` for the previous" in second.stdout
    page = json.loads(cli(data_dir, "cities", "show", "Long Town", "--page", "2", "--json").stdout)
    assert page["challenges"] == [f"Challenge {n} of the town" for n in range(16, 21)] and page["pages"] == 2
    past = cli(data_dir, "cities", "show", "Long Town", "--page", "3")
    assert past.exit_code == 2 and "try `rrr-bot cities show 'Long Town' --page 2`." in past.stderr


def test_cli_kb_list_page(seeded_dir: Path, cli_env: None) -> None:
    whole = json.loads(cli(seeded_dir, "kb", "list", "--json").stdout)
    first = json.loads(cli(seeded_dir, "kb", "list", "--page", "1", "--json").stdout)
    second = json.loads(cli(seeded_dir, "kb", "list", "--page", "2", "--json").stdout)
    assert first["items"] + second["items"] == whole and len(first["items"]) == 20
    assert first["pages"] == second["pages"] == (len(whole) + 19) // 20
    turin = cli(seeded_dir, "kb", "list", "--city", "turin", "--page", "2")
    assert turin.exit_code == 2 and "try `rrr-bot kb list --city turin --page 1`." in turin.stderr


def test_cli_ask_pages_the_results_nearest_first(seeded_dir: Path, cli_env: None) -> None:
    question = "how did cities keep neighbourhood shops open?"
    pages = [json.loads(cli(seeded_dir, "ask", question, "--k", "3", "--page", str(n), "--json").stdout)
             for n in (1, 2)]
    six = json.loads(cli(seeded_dir, "ask", question, "--k", "6", "--page", "1", "--json").stdout)
    ids = [r["id"] for page in pages for r in page["results"]]
    assert ids == [r["id"] for r in six["results"]] and len(set(ids)) == 6, "page 2 goes on where page 1 ends"
    assert (pages[1]["page"], pages[1]["first"], pages[1]["pages"]) == (2, 4, (pages[1]["total"] + 2) // 3)
    text = cli(seeded_dir, "ask", question, "--page", "2")
    assert f"`rrr-bot ask '{question}' --k 3 --page 3` for the next" in text.stdout
    past = cli(seeded_dir, "ask", question, "--k", "3", "--page", "40")
    last = pages[0]["pages"]
    assert past.exit_code == 2 and past.stderr.strip() == f"error: There is no page 40: there are only {last} " \
                                                          f"pages; try `rrr-bot ask '{question}' --k 3 --page {last}`."
    piped = cli(seeded_dir, "ask", "-", "--page", "2")
    assert piped.exit_code == 2 and "does not go with" in piped.stderr


def test_cli_kb_pending_page(data_dir: Path) -> None:
    with Runtime.open(make_settings(data_dir)) as runtime:
        saved = [runtime.knowledge.save_answer(title=f"Saved answer {n:02d}", city="Town 01", country="Ireland",
                                               summary="Shops open late.", saved_by="slack:U0ANA")
                 for n in range(1, 13)]
    second = json.loads(cli(data_dir, "kb", "pending", "--page", "2", "--json").stdout)
    assert [s["id"] for s in second["items"]] == saved[10:] and (second["pages"], second["total"]) == (2, 12)
    text = cli(data_dir, "kb", "pending", "--page", "1")
    assert "Saved answer 10" in text.stdout and "Saved answer 11" not in text.stdout
    assert "Page 1 of 2: `rrr-bot kb pending --page 2` for the next." in text.stdout
    assert cli(data_dir, "kb", "pending", "--page", "3").exit_code == 2
