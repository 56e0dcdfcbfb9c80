"""Honest cards (#12), from the core and on the console: the passage that matched, summaries cut at a sentence, no
score, provenance that says what the facts support, background reading apart from peer practice, who shared a saved
answer and when, "not sure" with its reason and "Ask the network"; nothing reaches a terminal raw (#17, 9).

The core runs on a copy of the seeded network (``bot.testing.TestAdapter``); the console renders its replies into a
real rich ``Console``, plain (piped) and styled (a terminal); the last tests run the ``rrr-bot`` process itself.
"""

from __future__ import annotations

import asyncio
import io
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import fields
from pathlib import Path

import pytest
from rich.console import Console

from adapters.console import render_reply
from bot import Actions, Reply, Runtime, SolutionCard, Text
from bot.messages import Button, reply_from_dict, reply_to_dict
from bot.testing import Exchange, TestAdapter
from cards_support import (
    ANSI, ANSWER_ALL, AWARDS, AWARDS_ID, AWARDS_NOTE, BAD_URL, BEES, BONO, BONO_NOTE, MIXED, NOT_CONFIRMED, NOTHING,
    REPAIR, REPAIR_FIRST, REPAIR_SUMMARY, RLO, VOUCHERS, ansi_record, not_sure_threshold, poison_url, repair_record,
    save_bees, saved_on, score_texts,
)
from conftest import make_settings
from knowledge.text import shorten
from test_console import assert_clean, clean_env, rrr_bot

_RICH_CODES = re.compile(r"\x1b\[[0-9;]*m|\x1b\]8;[^\x1b]*\x1b\\")


@pytest.fixture
def network(seeded_dir: Path) -> Iterator[Callable[..., Runtime]]:
    """``network(threshold)``: a runtime on the seeded copy; by default every record is a close match."""
    opened: list[Runtime] = []

    def open_(threshold: str | None = ANSWER_ALL) -> Runtime:
        env = {"RRR_KNOWLEDGE__THRESHOLD": threshold} if threshold is not None else {}
        opened.append(Runtime.open(make_settings(seeded_dir, **env)))
        return opened[-1]

    yield open_
    for rt in opened:
        rt.close()


def ask(rt: Runtime, question: str) -> Exchange:
    return asyncio.run(TestAdapter(rt.bot).send(question))


def printed(replies: list[Reply], *, styled: bool) -> str:
    """What the console prints for ``replies``: raw, with the terminal codes rich adds when ``styled``."""
    buffer = io.StringIO()
    out = Console(file=buffer, force_terminal=styled, color_system="standard" if styled else None, width=500)
    for reply in replies:
        render_reply(out, reply, styled=styled)
    return buffer.getvalue()


def both(replies: list[Reply]) -> tuple[str, str]:
    """The console's plain text, and its styled text with rich's own codes taken out."""
    return printed(replies, styled=False), _RICH_CODES.sub("", printed(replies, styled=True))


def cards(exchange: Exchange) -> list[SolutionCard]:
    return exchange.blocks(SolutionCard)


# -- the rules, one test each --------------------------------------------------------------------------------------


def test_card_shows_the_passage_that_matched_under_its_heading(network) -> None:
    rt = network()
    result = rt.knowledge.ask(MIXED)
    headed = [a for a in result.results if a.heading]
    assert headed, "the question should match a section of a reference document"
    exchange = ask(rt, MIXED)
    by_id = {c.solution_id: c for c in cards(exchange)}
    for answer in headed:
        card = by_id[answer.id]
        assert card.heading == answer.heading and card.passage == " ".join(answer.passage.split())
        assert card.passage not in card.summary  # the section that matched, not the document's first paragraph
        for text in both(exchange.replies):
            assert f"Matched passage ({answer.heading}): “{card.passage}”" in text


def test_summary_is_cut_at_a_sentence_never_inside_a_figure(network) -> None:
    rt = network()
    rt.knowledge.import_records([repair_record()])
    assert shorten(REPAIR_SUMMARY, 320).endswith("228 in…")  # what a cut by characters showed
    exchange = ask(rt, REPAIR)
    card = next(c for c in cards(exchange) if c.solution_id == "turin-repair-cafes")
    assert card.summary == REPAIR_FIRST + " …"
    for text in (exchange.text, *both(exchange.replies)):
        assert REPAIR_FIRST + " …" in text
        assert "228 in…" not in text and "228 in …" not in text


@pytest.mark.parametrize("threshold", [ANSWER_ALL, NOTHING], ids=["answered", "no-match"])
def test_no_raw_score_anywhere_in_chat(network, threshold: str) -> None:
    rt = network(threshold)
    result = rt.knowledge.ask(VOUCHERS)
    exchange = ask(rt, VOUCHERS)
    assert cards(exchange) and not any(f.name == "score" for f in fields(SolutionCard))
    for text in (exchange.text, *both(exchange.replies)):
        assert "score" not in text.lower() and "threshold" not in text.lower()
        assert not [s for s in score_texts(result.results) if s in text], text
    assert {c.match for c in cards(exchange)} == ({"close match"} if threshold == ANSWER_ALL else {"not sure"})


def test_rrr_city_and_context_practice_say_not_confirmed_and_show_the_note(network) -> None:
    rt = network()
    awards = next(c for c in cards(ask(rt, f"{AWARDS} city:Dublin")) if c.solution_id == AWARDS_ID)
    assert awards.provenance == "practice of an RRR city, not confirmed as an RRR case"
    assert AWARDS_NOTE in awards.provenance_note
    exchange = ask(rt, VOUCHERS)
    bono = next(c for c in cards(exchange) if c.solution_id == BONO)
    assert bono.provenance == "city practice, not confirmed as an RRR case"
    assert bono.provenance_note == BONO_NOTE  # without the "[CONTEXT]" tag that only repeats the provenance
    for text in both(exchange.replies):
        assert f"{NOT_CONFIRMED}\n  note: {BONO_NOTE}" in text
        assert "[CONTEXT]" not in text and "featured in RRR" not in text.split(BONO_NOTE)[0].splitlines()[-2]


def test_reference_records_are_headed_as_background_reading(network) -> None:
    rt = network()
    exchange = ask(rt, MIXED)
    kinds = {c.kind for c in cards(exchange)}
    assert kinds == {"practice", "reference"}, "the question should find peer practice and reference reading"
    heading = None
    for block in exchange.replies[0].blocks:
        if isinstance(block, Text) and block.style == "heading":
            heading = block.text
        elif isinstance(block, SolutionCard):
            assert heading == ("Background reading:" if block.kind == "reference" else "What peer cities did:")
    for text in both(exchange.replies):
        peers, _, reading = text.partition("Background reading:")
        assert "What peer cities did:" in peers and "What peer cities did:" not in reading
        assert all(c.title in reading and c.title not in peers for c in cards(exchange) if c.kind == "reference")
        assert all(c.title in peers for c in cards(exchange) if c.kind == "practice")


def test_a_saved_answer_shows_who_saved_it_and_when(network) -> None:
    rt = network()
    saved = save_bees(rt)
    exchange = ask(rt, BEES)
    card = next(c for c in cards(exchange) if c.solution_id == saved)
    expected = f"shared by Ana on {saved_on(rt, saved)}"
    assert card.provenance == expected and (card.saved_by, card.saved_at) == ("Ana", saved_on(rt, saved))
    for text in both(exchange.replies):
        assert expected in text


def test_not_sure_says_why_and_offers_to_ask_the_network(network, seeded_dir: Path) -> None:
    rt = network(not_sure_threshold(seeded_dir, VOUCHERS))
    result = rt.knowledge.ask(VOUCHERS)
    assert result.verdict == "not_sure", [(a.id, a.match) for a in result.results]
    exchange = ask(rt, VOUCHERS)
    related = [a for a in result.results if a.match == "related"]
    exchange.assert_reply("Not sure: no record is about this exactly.",
                          f"The closest records are about “{related[0].title}”", "Cities working on the closest "
                          "challenges:")
    exchange.assert_no_reply("What peer cities did")
    assert {c.match for c in cards(exchange)} == {"related"}
    buttons = [b for a in exchange.blocks(Actions) for b in a.buttons]
    assert [(b.action_id, b.label) for b in buttons] == [("ask_network", "Ask the network")]
    assert buttons[0].value.isdigit()
    for text in both(exchange.replies):
        assert "no record is about this exactly" in text and "Ask the network" in text


def test_no_match_says_so_names_the_closest_cities_and_offers_to_ask_the_network(network) -> None:
    rt = network(NOTHING)
    assert "Bilbao" in rt.knowledge.ask(VOUCHERS).closest_cities  # named to someone of another city
    rt.directory.link("test", "U1", "Bilbao")
    exchange = ask(rt, VOUCHERS)
    exchange.assert_reply("The network has no record about this.", "Cities working on the closest challenges:")
    closest = re.search(r"closest challenges: ([^.]+)\.", exchange.text).group(1).split(", ")
    assert closest and "Bilbao" not in closest  # never the asker's own city
    assert [b.action_id for a in exchange.blocks(Actions) for b in a.buttons] == ["ask_network"]
    assert [c.match for c in cards(exchange)] == ["not sure"]


def test_more_shows_the_whole_record(network) -> None:
    rt = network()
    rt.knowledge.import_records([repair_record()])
    exchange = ask(rt, REPAIR)
    [more] = [b for c in cards(exchange) if c.solution_id == "turin-repair-cafes" for b in c.buttons]
    assert (more.label, more.action_id, more.value) == ("More", "show_solution", "turin-repair-cafes")
    whole = asyncio.run(TestAdapter(rt.bot).click(more.action_id, more.value))
    whole.assert_reply(REPAIR_SUMMARY, "Challenge: Help residents and keep goods in use",
                       "Provenance: city practice, not confirmed as an RRR case", "Kind: peer practice")
    assert whole.replies[0].ephemeral
    assert ask(rt, "show turin-repair-cafes").text == whole.text
    document = ask(rt, "show rrr-project-overview")
    document.assert_reply("Kind: background reading", "`rrr-bot kb show rrr-project-overview` prints it")
    plain, styled = both(exchange.replies)
    assert "more: `show turin-repair-cafes` shows the whole record" in plain
    assert "more: `show turin-repair-cafes` shows the whole record" in styled


# -- the console: links and terminal hygiene ------------------------------------------------------------------------


def test_console_links_only_well_formed_urls(network) -> None:
    rt = network()
    poison_url(rt, BONO)
    exchange = ask(rt, VOUCHERS)
    raw = printed(exchange.replies, styled=True)
    links = [url for url in re.findall(r"\x1b\]8;[^;]*;([^\x1b]*)\x1b\\", raw) if url]  # "" ends a link
    assert links and all(url.startswith("https://") and "<" not in url for url in links), links
    assert f"source: {BAD_URL}" in _RICH_CODES.sub("", raw)  # shown as text, never as a link


def test_control_and_bidi_characters_never_reach_the_console_raw(network) -> None:
    rt = network()
    rt.knowledge.import_records([ansi_record()])
    exchange = ask(rt, "how did volunteers repair bicycles of residents?")
    assert any(ANSI in c.title for c in cards(exchange))
    shown = ask(rt, "show turin-ansi")
    for styled in (False, True):
        raw = printed(exchange.replies + shown.replies, styled=styled)
        assert ANSI not in raw and RLO not in raw
        assert "Repair \\x1b[31mcafés\\u202e for bicycles" in raw


def test_rrr_bot_chat_ask_and_kb_show_print_no_terminal_escapes(network, seeded_dir: Path) -> None:
    network().knowledge.import_records([ansi_record()])
    env = clean_env(seeded_dir)

    def run(*args: str, stdin: str = "") -> str:
        proc = subprocess.run([*rrr_bot(), *args], input=stdin, capture_output=True, text=True, env=env, check=False,
                              timeout=300, cwd=seeded_dir.parent)
        assert_clean(proc)
        return proc.stdout

    chat = run("chat", stdin="how did volunteers repair bicycles of residents?\nshow turin-ansi\n")
    asked = run("ask", "how did volunteers repair bicycles of residents?")
    shown = run("kb", "show", "turin-ansi")
    for out in (chat, asked, shown):
        assert "\x1b" not in out and RLO not in out, out
        assert "Repair \\x1b[31mcafés\\u202e for bicycles" in out
    assert "more: `rrr-bot kb show turin-ansi` shows the whole record" in asked
    assert "more: `show turin-ansi` shows the whole record" in chat


# -- the stored form ------------------------------------------------------------------------------------------------


def test_cards_survive_the_stored_outbox_form_and_old_cards_still_load() -> None:
    card = SolutionCard("x", "Title", "Turin", "Italy", "Summary.", "shared by Ana on 2026-12-04",
                        "https://example.org/x", "Results", "482 trained.", "close match", "a note", "Ana",
                        "2026-12-04", "practice", (Button("More", "show_solution", "x"),))
    reply = Reply((card, Actions((Button("Helpful", "feedback_helpful", "7"),))))
    assert reply_from_dict(reply_to_dict(reply)) == reply
    old = {"blocks": [{"kind": "SolutionCard", "solution_id": "x", "title": "T", "city": "Turin", "country": "Italy",
                       "summary": "S.", "score": 0.86, "provenance": "cited in RRR sources",
                       "source_url": None, "heading": None}]}
    [loaded] = reply_from_dict(old).blocks
    assert (loaded.title, loaded.passage, loaded.match, loaded.buttons) == ("T", "", "", ())
    assert "0.86" not in reply_from_dict(old).as_text()
