"""Honest cards on Slack (#12) and links that never trust a stored string (#17, 1): the real slack-bolt app served
over HTTP, signed requests, the fake Slack recording what the adapter posts (Block Kit limits checked on each post).

A card is a section (title, place and match, the matched passage quoted, the summary) with its "More" button as the
accessory, and a context line with the provenance and its note.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.slack.render import escape, to_blocks
from bot import Actions, Button, Reply
from cards_support import (
    ANSWER_ALL, AWARDS, AWARDS_ID, AWARDS_NOTE, BAD_URL, BEES, BONO, BONO_NOTE, GUIDE_HEADING, GUIDE_PAGE,
    GUIDE_QUESTION, GUIDE_URL, MIXED, NOT_CONFIRMED, NOTHING, REPAIR, REPAIR_FIRST, VOUCHERS, guide_document,
    not_sure_threshold, poison_url, repair_record, save_bees, saved_on, score_texts,
)
from slack_fake import Call, FakeSlack, buttons
from slack_harness import (  # noqa: F401  (fixtures)
    ANSWER_WAIT, ServedSlack, assert_block_kit, fake, fake_slack, serve_slack, slack_settings,
)

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def start(serve_slack, fake: FakeSlack, seeded_dir: Path) -> Callable[..., ServedSlack]:
    """``start(threshold)``: the adapter on a copy of the seeded network; by default every record is a close match."""
    def start_(threshold: str = ANSWER_ALL) -> ServedSlack:
        return serve_slack(slack_settings(seeded_dir, fake, RRR_KNOWLEDGE__THRESHOLD=threshold), warm_up=True)

    return start_


def answer(slack: ServedSlack, question: str, channel: str = "C0CARDS") -> Call:
    """Mention the bot with ``question`` in ``channel`` (one question a channel); its answer."""
    slack.mention(question, channel=channel)
    return slack.posts(channel)[0]


def card(post: Call, solution_id: str) -> tuple[str, str]:
    """The text of a card's section (found by its "More" button) and of the context line under it."""
    for i, block in enumerate(post.blocks):
        if (block.get("accessory") or {}).get("value") == solution_id:
            after = post.blocks[i + 1] if i + 1 < len(post.blocks) else {}
            context = after["elements"][0]["text"] if after.get("type") == "context" else ""
            assert block["accessory"]["action_id"] == "show_solution" and block["accessory"]["text"]["text"] == "More"
            return block["text"]["text"], context
    raise AssertionError(f"no card of {solution_id} in {post.blocks}")


def raw(post: Call) -> str:
    return json.dumps(post.params, ensure_ascii=False)


def test_card_shows_the_passage_that_matched_under_its_heading(start) -> None:
    slack = start()
    headed = [a for a in slack.runtime.knowledge.ask(MIXED).results if a.heading]
    assert headed, "the question should match a section of a reference document"
    post = answer(slack, MIXED)
    for found in headed:
        section, _ = card(post, found.id)
        assert f"_Matched passage ({escape(found.heading)}):_\n>{escape(' '.join(found.passage.split()))}" in section


def test_a_document_card_cites_the_page_and_links_to_it(start) -> None:
    slack = start()
    slack.runtime.knowledge.import_records([guide_document()])
    post = answer(slack, GUIDE_QUESTION)
    section, context = card(post, "community-energy-guide")
    assert f"_Matched passage (p. {GUIDE_PAGE}, {escape(GUIDE_HEADING)}):_\n>" in section
    assert "1.2 million euros" in section
    assert section.startswith(f"*<{GUIDE_URL}#page={GUIDE_PAGE}|")
    assert context.startswith("background reading")


def test_summary_is_cut_at_a_sentence_never_inside_a_figure(start) -> None:
    slack = start()
    slack.runtime.knowledge.import_records([repair_record()])
    post = answer(slack, REPAIR)
    section, _ = card(post, "turin-repair-cafes")
    assert section.endswith(escape(REPAIR_FIRST) + " …")
    assert "228 in…" not in raw(post) and "228 in …" not in raw(post)


@pytest.mark.parametrize("threshold", [ANSWER_ALL, NOTHING], ids=["answered", "no-match"])
def test_no_raw_score_anywhere_in_the_payload(start, threshold: str) -> None:
    slack = start(threshold)
    results = slack.runtime.knowledge.ask(VOUCHERS).results
    post = answer(slack, VOUCHERS)
    section, _ = card(post, results[0].id)
    assert ("*close match*" if threshold == ANSWER_ALL else "*not sure*") in section
    assert "score" not in raw(post).lower() and not [s for s in score_texts(results) if s in raw(post)]


def test_rrr_city_and_context_practice_say_not_confirmed_and_show_the_note(start) -> None:
    slack = start()
    _, awards = card(answer(slack, f"{AWARDS} city:Dublin", "C0AWARDS"), AWARDS_ID)
    assert awards.startswith("practice of an RRR city, not confirmed as an RRR case · note: ")
    assert AWARDS_NOTE in awards
    _, bono = card(answer(slack, VOUCHERS, "C0BONO"), BONO)
    assert bono == f"city practice, {NOT_CONFIRMED} · note: {BONO_NOTE}"


def test_reference_records_are_headed_as_background_reading(start) -> None:
    slack = start()
    kinds = {a.id: a.kind for a in slack.runtime.knowledge.ask(MIXED).results}
    assert set(kinds.values()) == {"practice", "reference"}
    post = answer(slack, MIXED)
    heading, seen = None, set()
    for block in post.blocks:
        solution_id = (block.get("accessory") or {}).get("value")
        if solution_id:
            expected = "*Background reading:*" if kinds[solution_id] == "reference" else "*What peer cities did:*"
            assert heading == expected, (solution_id, heading)
            seen.add(solution_id)
        elif block.get("type") == "section":
            heading = block["text"]["text"]
    assert seen == set(kinds)


def test_a_saved_answer_shows_who_saved_it_and_when(start) -> None:
    slack = start()
    saved = save_bees(slack.runtime)
    _, context = card(answer(slack, BEES), saved)
    assert context == f"shared by Ana on {saved_on(slack.runtime, saved)}"


def test_a_saved_answer_waiting_for_review_says_unreviewed_and_is_never_a_close_match(start) -> None:
    slack = start()  # every record is a close match at this threshold, except an unreviewed one
    saved = save_bees(slack.runtime, reviewed=False)
    section, context = card(answer(slack, BEES), saved)
    assert context == f"unreviewed, shared by Ana on {saved_on(slack.runtime, saved)}"
    assert "related" in section and "close match" not in section


def test_not_sure_says_why_and_offers_to_ask_the_network(start, seeded_dir: Path) -> None:
    slack = start(not_sure_threshold(seeded_dir, VOUCHERS))
    result = slack.runtime.knowledge.ask(VOUCHERS)
    assert result.verdict == "not_sure"
    post = answer(slack, VOUCHERS)
    related = [a for a in result.results if a.match == "related"]
    assert "*Not sure: no record is about this exactly.*" in post.text
    assert f"The closest records are about “{escape(related[0].title)}”" in post.text
    assert "Cities working on the closest challenges:" in post.text and "What peer cities did" not in post.text
    assert "*related*" in card(post, related[0].id)[0]
    found = buttons(post.blocks)
    assert set(found) == {"ask_network", "show_solution"}, found
    assert found["ask_network"]["value"].isdigit() and found["ask_network"]["text"]["text"] == "Ask the network"


def test_a_stored_url_never_pings_the_channel_or_becomes_a_link(start) -> None:
    """#17 item 1: the source_url ``https://a.example/x><!channel><https://b.example/y`` once posted a live
    @channel through ``<{url}|{title}>``."""
    slack = start()
    poison_url(slack.runtime, BONO)
    post = answer(slack, VOUCHERS)
    section, _ = card(post, BONO)
    assert section.startswith("*Bono Bilbao co-funded vouchers*\n")  # the title, not linked
    assert "<!channel>" not in raw(post) and "<https://a.example" not in raw(post)
    assert escape(BAD_URL) in post.params["text"]  # the notification text names it, escaped
    others = [card(post, a.id)[0] for a in slack.runtime.knowledge.ask(VOUCHERS).results if a.id != BONO]
    assert any(text.startswith("*<https://") for text in others)  # well-formed sources are still links
    # the whole record (`show ID`) shows the stored string as escaped text, never as markup
    name, _ = slack.command(f"show {BONO}")
    [shown] = slack.fake.wait_for_response(name, 1, ANSWER_WAIT)
    assert_block_kit(shown.blocks, "show")
    assert "<!channel>" not in raw(shown) and "<https://a.example" not in raw(shown)
    assert "*Source*\nhttps://a.example/x&gt;" in shown.text


def test_link_buttons_only_with_a_well_formed_url() -> None:
    reply = Reply((Actions((Button("Source", "open", url=BAD_URL), Button("Guide", "open", url="https://oecd.org/x"),
                            Button("More", "show_solution", "x"))),))
    elements: list[dict[str, Any]] = to_blocks(reply)[0]["elements"]
    assert [(e["text"]["text"], e.get("url")) for e in elements] == [("Guide", "https://oecd.org/x"), ("More", None)]
