"""Calendars in chat (issue #14, 3 and 5): the session card's "Add to Google Calendar" button is always there, within
each platform's limit for a link button's URL (Slack Block Kit 3,000 characters, Discord 512), with the link's
agenda shortened when it must be and its dates exact; ``session ics ID`` and the card's "Calendar file (.ics)" button
deliver the real .ics: uploaded with ``files_upload_v2`` on Slack, attached on Discord, written to the data directory
on the console.

The links and files are checked against the sessions' own ``occurrences`` (the .ics expanded by
recurring-ical-events, the link by dateutil, as in ``test_sessions_calendars_agree.py``); the Slack blocks against
slack_sdk's Block Kit models, the Discord buttons through discord.py's view. The end-to-end tests run the real
slack-bolt app and the real discord.py client against the local fakes.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import discord
import pytest
from slack_sdk.models.blocks import Block, BlockElement

from adapters.discord.render import BUTTON_URL as DISCORD_BUTTON_URL
from adapters.discord.render import render as discord_render
from adapters.discord.views import make_view
from adapters.slack.render import BUTTON_URL as SLACK_BUTTON_URL
from adapters.slack.render import to_blocks
from bot import Runtime
from bot.messages import Actions, Image
from bot.sessions.service import SessionInfo
from bot.sessions.calendars import CUT_NOTE, fit_google_link
from bot.testing import TestAdapter
from bot.sessions import views as session_views
from bot.sessions.draft import SessionDraft
from conftest import make_settings
from discord_fake import EPHEMERAL, MEMBER_ID, FakeDiscord
from discord_harness import (Served, discord_settings, fake_discord, restore_discord_endpoints,  # noqa: F401
                             served)
from slack_fake import FakeSlack, buttons
from slack_harness import (ACK_BUDGET, ANSWER_WAIT, assert_block_kit, fake_slack, serve_slack,  # noqa: F401
                           slack_settings)
from test_console import chat
from test_sessions_calendars_agree import ics_starts, link_starts

pytestmark = pytest.mark.timeout(120)

DAY = date.today() + timedelta(days=40)
TITLE = "Energy communities working group"
#: An agenda with accents, which a link percent-encodes into several characters each.
PHRASE = "Tejados solares, participación ciudadana y cifras de Bilbao y Turín. "
ANSWER = 20.0


def agenda(length: int) -> str:
    return (PHRASE * (length // len(PHRASE) + 1))[:length].strip()


def add(rt: Runtime, text: str, *, title: str = TITLE, channel: str = "slack:C0GENERAL") -> SessionInfo:
    """A weekly session of 40 dates with two dates skipped inside the series (EXDATEs in the link)."""
    info = rt.sessions.add(SessionDraft(title=title, start=f"{DAY}T15:00", tz="Europe/Madrid", repeat="weekly",
                                        count=40, agenda=text, channels=(channel,)))
    start = datetime.combine(DAY, datetime.min.time(), tzinfo=timezone.utc)
    for weeks in (2, 5):  # the dates after these weeks' starts
        rt.sessions.skip_next(info.id, now=start + timedelta(weeks=weeks, days=1))
    return rt.sessions.get(info.id)


def all_dates(rt: Runtime, info: SessionInfo) -> list[datetime]:
    return [o.start_utc for o in rt.sessions.occurrences(info.id, 100)]


def without_details(url: str) -> dict[str, list[str]]:
    query = parse_qs(urlsplit(url).query)
    query.pop("details", None)
    return query


def check_link(rt: Runtime, info: SessionInfo, url: str, limit: int) -> None:
    """``url`` fits ``limit``, gives the session's dates (38 of 40) and carries the agenda, whole or cut."""
    full = rt.sessions.calendar_link(info)
    assert len(url) <= limit
    assert link_starts(url) == all_dates(rt, info) and len(all_dates(rt, info)) == 38
    assert without_details(url) == without_details(full), "title, dates, zone and recurrence are exact"
    details = parse_qs(urlsplit(url).query).get("details", [""])[0]
    if url == full:
        assert details == info.agenda
    else:
        assert details.endswith(CUT_NOTE) and info.agenda.startswith(details.removesuffix(CUT_NOTE))


# -- the Google link on the card's button --------------------------------------------------------------------------

@pytest.mark.parametrize("length", [0, 1000, 1790, 2200, 3000])
def test_the_slack_card_always_has_a_calendar_button_within_block_kit(runtime: Runtime, length: int) -> None:
    info = add(runtime, agenda(length))
    blocks = to_blocks(session_views.card(runtime.sessions.card(info)))
    assert_block_kit(blocks, "session card")
    for block in blocks:  # slack_sdk's own Block Kit models: a url over 3,000 characters does not validate
        Block.parse(block).validate_json()
        for element in block.get("elements") or ():
            BlockElement.parse(element).validate_json()
    found = buttons(blocks)
    assert found["open_url"]["text"]["text"] == "Add to Google Calendar", "never dropped"
    check_link(runtime, info, found["open_url"]["url"], SLACK_BUTTON_URL)
    assert found["session_ics"]["value"] == str(info.id)
    if length >= 2200:
        assert found["open_url"]["url"] != runtime.sessions.calendar_link(info), "a long agenda is shortened"


@pytest.mark.parametrize("length", [0, 100, 224, 400, 3000])
def test_the_discord_card_always_has_a_calendar_button_within_512(runtime: Runtime, length: int) -> None:
    info = add(runtime, agenda(length))
    rendered = discord_render(session_views.card(runtime.sessions.card(info)))
    view = make_view(rendered.buttons)
    assert view is not None
    links = [item for item in view.children if isinstance(item, discord.ui.Button) and item.url]
    assert [item.label for item in links] == ["Add to Google Calendar"], "a link button, not a link in the text"
    assert links[0].style is discord.ButtonStyle.link
    check_link(runtime, info, links[0].url, DISCORD_BUTTON_URL)
    assert "calendar.google.com" not in rendered.content
    components = [c for row in view.to_components() for c in row["components"]]
    assert {c.get("custom_id") for c in components} >= {f"rrr:session_ics:{info.id}"}


def test_a_link_that_cannot_fit_a_discord_button_is_written_out_and_the_file_stays(runtime: Runtime) -> None:
    # 200 accented characters of title alone take more than 512 once percent-encoded
    info = add(runtime, agenda(600), title="Participación ciudadana en energía " * 5 + "é" * 25)
    assert fit_google_link(runtime.sessions.calendar_link(info), DISCORD_BUTTON_URL) is None
    rendered = discord_render(session_views.card(runtime.sessions.card(info)))
    (line,) = [w for w in rendered.content.splitlines() if w.startswith("[Add to Google Calendar](<")]
    url = line.removeprefix("[Add to Google Calendar](<").removesuffix(">)")
    check_link(runtime, info, url, 2000)
    assert any(b.action_id == "session_ics" for b in rendered.buttons)


def test_fit_google_link_leaves_other_links_alone() -> None:
    assert fit_google_link("https://example.org/?details=" + "x" * 600, 512) is None
    assert fit_google_link("https://example.org/", 512) == "https://example.org/"


# -- the .ics in chat -----------------------------------------------------------------------------------------------

def test_session_ics_answers_with_the_file_not_a_command(runtime: Runtime) -> None:
    info = add(runtime, agenda(300))
    member = TestAdapter(runtime.bot, platform="slack", user="U0MEMBER")
    exchange = asyncio.run(member.send("session ics 1"))
    (reply,) = exchange.replies
    assert reply.ephemeral and not reply.is_error
    (file,) = exchange.blocks(Image)
    assert file.name == "session-1.ics"
    assert ics_starts(file.data) == all_dates(runtime, info)
    assert "rrr-bot" not in exchange.text and "rrr-bot" not in session_views.card(runtime.sessions.card(info)).as_text()
    (link,) = [b for a in exchange.blocks(Actions) for b in a.buttons]
    assert link.url == runtime.sessions.calendar_link(info)
    clicked = asyncio.run(member.click("session_ics", "1"))
    assert [b.name for b in clicked.blocks(Image)] == ["session-1.ics"]
    missing = asyncio.run(member.send("session ics 99"))
    assert missing.replies[0].is_error and "No session 99" in missing.text


# -- Slack: files_upload_v2 into the member's DM --------------------------------------------------------------------

@pytest.fixture
def slack(serve_slack, fake_slack: FakeSlack, tmp_path: Path):
    return serve_slack(slack_settings(tmp_path / "data", fake_slack))


def test_slack_uploads_the_ics_for_the_command_and_the_card_button(slack) -> None:
    info = add(slack.runtime, agenda(2500))
    name, sent = slack.command("session ics 1", user="U0MEMBER")
    assert sent.status == 200 and sent.seconds < ACK_BUDGET
    answer = slack.fake.wait_for_response(name, 1, ANSWER_WAIT)[0]
    assert answer.params.get("response_type") == "ephemeral"
    assert "The file is in your direct messages with the bot" in answer.text, answer.text
    assert "rrr-bot" not in answer.text
    (uploaded,) = slack.fake.wait_for_files(1, "D0MEMBER", timeout=ANSWER_WAIT)
    assert uploaded.filename == "session-1.ics" and uploaded.alt_txt in ("", None)
    assert ics_starts(uploaded.data) == all_dates(slack.runtime, info)
    assert "Tejados solares" in uploaded.data.decode(), "the whole agenda is in the file"

    _, sent = slack.click("session_ics", str(info.id), user="U0MEMBER")
    assert sent.status == 200 and sent.seconds < ACK_BUDGET
    files = slack.fake.wait_for_files(2, "D0MEMBER", timeout=ANSWER_WAIT)
    assert files[1].filename == "session-1.ics" and ics_starts(files[1].data) == all_dates(slack.runtime, info)
    note = slack.fake.wait_for("chat.postEphemeral", 1, ANSWER_WAIT)[0]
    assert note.params["user"] == "U0MEMBER" and "The file is in your direct messages" in note.text


# -- Discord: an attachment of the private answer ---------------------------------------------------------------------

@pytest.fixture
def rt(tmp_path: Path, fake_discord: FakeDiscord) -> Iterator[Runtime]:
    settings = discord_settings(tmp_path / "data", fake_discord, RRR_SESSIONS__SYNC_SECONDS="300")
    with Runtime.open(settings) as runtime:
        yield runtime


def test_discord_attaches_the_ics_when_the_card_button_is_clicked(served: Served, fake_discord: FakeDiscord,
                                                                   rt: Runtime) -> None:
    fake = fake_discord
    info = add(rt, agenda(800), channel="discord:1200000000000000002")
    shown = fake.wait_followups(fake.slash("session-show", {"id": info.id}), timeout=ANSWER)[0]
    card = fake.response_message(shown)
    custom_id = f"rrr:session_ics:{info.id}"
    click = fake.click(card, custom_id, user_id=MEMBER_ID)
    (answer,) = fake.wait_followups(click, 1, timeout=ANSWER)
    assert int(answer.body.get("flags") or 0) & EPHEMERAL, "a private answer"
    (file,) = answer.files
    assert file.filename == "session-1.ics"
    assert ics_starts(file.data) == all_dates(rt, info)
    assert re.search(r"calendar file of the session #1", answer.text), answer.text


# -- the console: the file is written to the data directory -----------------------------------------------------------

def test_the_console_writes_the_ics_to_the_data_dir_and_says_where(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with Runtime.open(make_settings(data_dir)) as rt:
        info = add(rt, agenda(300))
        dates = all_dates(rt, info)
    proc = chat(data_dir, "session ics 1\n", "--no-seed")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    saved = data_dir / "files" / "session-1.ics"
    assert f"Saved session-1.ics to {saved}" in proc.stdout, proc.stdout
    assert "rrr-bot" not in proc.stdout
    assert ics_starts(saved.read_bytes()) == dates


def test_a_failed_calendar_file_upload_is_not_called_a_picture() -> None:
    from adapters.slack.uploads import upload_failed

    ics = upload_failed("ratelimited", [Image("session-1.ics", b"BEGIN:VCALENDAR", "")])
    assert "session-1.ics" in ics and "(ratelimited)" in ics and "pictures" not in ics and "figures" not in ics
    chart = upload_failed("ratelimited", [Image("questions.png", b"\x89PNG", "Questions per week")])
    assert "pictures" in chart and "figures above are complete" in chart
