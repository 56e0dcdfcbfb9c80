"""Honest cards on Discord (#12) and text that never becomes a masked link (#17, 9): the real discord.py client
against the fake Discord (gateway and REST on 127.0.0.1).

A card is an embed: the title first (linked only to a well-formed source URL), the matched passage quoted and the
summary as its description, place, match and provenance (with its note) as fields, its group as the footer; its
"More" button carries the card's title.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from bot import Runtime
from cards_support import (
    ANSWER_ALL, AWARDS, AWARDS_ID, AWARDS_NOTE, BEES, BONO, BONO_NOTE, GUIDE_HEADING, GUIDE_PAGE, GUIDE_QUESTION,
    GUIDE_TITLE, GUIDE_URL, MASKED, MIXED, NOT_CONFIRMED, NOTHING, REPAIR, REPAIR_FIRST, REPAIR_SUMMARY, VOUCHERS,
    guide_document, masked_record, not_sure_threshold, poison_url, repair_record, save_bees, saved_on, score_texts,
)
from discord_fake import (BOT_ID, COORDINATOR_ID, DEFERRED_CHANNEL_MESSAGE, FakeDiscord, Request, custom_ids,
                          walk_components)
from discord_harness import (Served, connected, discord_settings, fake, fake_discord,  # noqa: F401
                             restore_discord_endpoints)

ANSWER = 30.0
INERT = MASKED.replace("[", "\\[").replace("]", "\\]")
#: A masked link Discord would render: "[text](url)" whose opening bracket is not escaped.
LIVE_MASKED_LINK = re.compile(r"(?<!\\)\[[^\]]*(?<!\\)\]\(")


@pytest.fixture
def start(seeded_dir: Path, fake: FakeDiscord) -> Iterator[Callable[..., Served]]:
    """``start(threshold)``: the client, connected, on a copy of the seeded network; by default every record is a
    close match."""
    with ExitStack() as stack:
        def start_(threshold: str = ANSWER_ALL) -> Served:
            settings = discord_settings(seeded_dir, fake, RRR_KNOWLEDGE__THRESHOLD=threshold)
            return stack.enter_context(connected(stack.enter_context(Runtime.open(settings))))

        yield start_


def ask(fake: FakeDiscord, question: str) -> Request:
    """Mention the bot with ``question``; its reply."""
    message = fake.send_message(f"<@{BOT_ID}> {question}", mentions=[BOT_ID])
    return fake.wait_reply(message, timeout=ANSWER)


def embed(reply: Request, title: str) -> dict[str, Any]:
    found = [e for e in reply.embeds if e.get("title") == title]
    assert found, f"no embed titled {title!r} in {[e.get('title') for e in reply.embeds]}"
    return found[0]


def fields(card: dict[str, Any]) -> dict[str, str]:
    return {f["name"]: f["value"] for f in card.get("fields", ())}


def labels(reply: Request) -> dict[str, str]:
    """The buttons' labels by custom id."""
    return {c["custom_id"]: c.get("label", "") for c in walk_components(reply.components) if "custom_id" in c}


def test_card_shows_the_passage_that_matched_under_its_heading(start, fake: FakeDiscord) -> None:
    served = start()
    headed = [a for a in served.runtime.knowledge.ask(MIXED).results if a.heading]
    assert headed, "the question should match a section of a reference document"
    reply = ask(fake, MIXED)
    for found in headed:
        description = embed(reply, found.title)["description"]
        assert description.startswith(f"**Matched passage ({found.heading})**\n> {' '.join(found.passage.split())}")


def test_a_document_card_cites_the_page_and_links_to_it(start, fake: FakeDiscord) -> None:
    served = start()
    served.runtime.knowledge.import_records([guide_document()])
    card = embed(ask(fake, GUIDE_QUESTION), GUIDE_TITLE)
    assert card["description"].startswith(f"**Matched passage (p. {GUIDE_PAGE}, {GUIDE_HEADING})**\n> ")
    assert "1.2 million euros" in card["description"]
    assert card["url"] == f"{GUIDE_URL}#page={GUIDE_PAGE}"
    assert fields(card)["Provenance"] == "background reading" and card["footer"]["text"] == "Background reading"


def test_summary_is_cut_at_a_sentence_never_inside_a_figure(start, fake: FakeDiscord) -> None:
    served = start()
    served.runtime.knowledge.import_records([repair_record()])
    reply = ask(fake, REPAIR)
    assert embed(reply, "Repair cafés in every district")["description"].endswith(REPAIR_FIRST + " …")
    assert "228 in…" not in reply.text and "228 in …" not in reply.text


@pytest.mark.parametrize("threshold", [ANSWER_ALL, NOTHING], ids=["answered", "no-match"])
def test_no_raw_score_anywhere_in_the_message(start, fake: FakeDiscord, threshold: str) -> None:
    served = start(threshold)
    results = served.runtime.knowledge.ask(VOUCHERS).results
    reply = ask(fake, VOUCHERS)
    body = json.dumps(reply.body, ensure_ascii=False)
    assert fields(embed(reply, results[0].title))["Match"] == ("close match" if threshold == ANSWER_ALL
                                                               else "not sure")
    assert "score" not in body.lower() and not [s for s in score_texts(results) if s in body]


def test_rrr_city_and_context_practice_say_not_confirmed_and_show_the_note(start, fake: FakeDiscord) -> None:
    served = start()
    titles = {a.id: a.title for a in served.runtime.knowledge.ask(VOUCHERS).results}
    awards = served.runtime.knowledge.get(AWARDS_ID).title
    provenance = fields(embed(ask(fake, f"{AWARDS} city:Dublin"), awards))["Provenance"]
    assert provenance.startswith("practice of an RRR city, not confirmed as an RRR case\nNote: ")
    assert AWARDS_NOTE in provenance
    bono = fields(embed(ask(fake, VOUCHERS), titles[BONO]))["Provenance"]
    assert bono == f"city practice, {NOT_CONFIRMED}\nNote: {BONO_NOTE}"


def test_reference_records_are_headed_as_background_reading(start, fake: FakeDiscord) -> None:
    served = start()
    results = served.runtime.knowledge.ask(MIXED).results
    assert {a.kind for a in results} == {"practice", "reference"}
    reply = ask(fake, MIXED)
    assert "**What peer cities did:**" in reply.body["content"] and "**Background reading:**" in reply.body["content"]
    for found in results:
        footer = embed(reply, found.title)["footer"]["text"]
        assert footer == ("Background reading" if found.kind == "reference" else "Peer practice")


def test_a_saved_answer_shows_who_saved_it_and_when(start, fake: FakeDiscord) -> None:
    served = start()
    saved = save_bees(served.runtime)
    provenance = fields(embed(ask(fake, BEES), "Rooftop beehives on council buildings"))["Provenance"]
    assert provenance == f"shared by Ana on {saved_on(served.runtime, saved)}"


def test_a_saved_answer_waiting_for_review_says_unreviewed_and_is_never_a_close_match(start, fake: FakeDiscord) -> None:
    served = start()  # every record is a close match at this threshold, except an unreviewed one
    saved = save_bees(served.runtime, reviewed=False)
    found = embed(ask(fake, BEES), "Rooftop beehives on council buildings")
    assert fields(found)["Provenance"] == f"unreviewed, shared by Ana on {saved_on(served.runtime, saved)}"
    assert "related" in json.dumps(found) and "close match" not in json.dumps(found)


def test_not_sure_says_why_and_offers_to_ask_the_network(start, fake: FakeDiscord, seeded_dir: Path) -> None:
    served = start(not_sure_threshold(seeded_dir, VOUCHERS))
    result = served.runtime.knowledge.ask(VOUCHERS)
    assert result.verdict == "not_sure"
    related = [a for a in result.results if a.match == "related"]
    reply = ask(fake, VOUCHERS)
    content = reply.body["content"]
    assert "**Not sure: no record is about this exactly.**" in content
    assert f"The closest records are about “{related[0].title}”" in content
    assert "Cities working on the closest challenges:" in content and "What peer cities did" not in content
    assert fields(embed(reply, related[0].title))["Match"] == "related"
    actions = {cid.split(":")[1] for cid in custom_ids(reply.components)}
    assert actions == {"ask_network", "show_solution"}, actions
    [ask_network] = [label for cid, label in labels(reply).items() if cid.startswith("rrr:ask_network:")]
    assert ask_network == "Ask the network"


def test_more_shows_the_whole_record(start, fake: FakeDiscord) -> None:
    served = start()
    served.runtime.knowledge.import_records([repair_record()])
    reply = ask(fake, REPAIR)
    more = "rrr:show_solution:turin-repair-cafes"
    assert labels(reply)[more] == "More: Repair cafés in every district"
    click = fake.click(fake.response_message(reply), more)
    assert fake.wait_callback(click, timeout=ANSWER).body["type"] == DEFERRED_CHANNEL_MESSAGE
    whole = fake.wait_followups(click, timeout=ANSWER)[0]
    assert REPAIR_SUMMARY in whole.text and "Challenge: Help residents and keep goods in use" in whole.text
    assert "Provenance: city practice, not confirmed as an RRR case" in whole.text


def test_a_masked_link_stays_inert(start, fake: FakeDiscord) -> None:
    """#17 item 9: ``[click here](https://evil.example)`` in a title, a summary or a question is shown as written."""
    served = start(NOTHING)
    served.runtime.knowledge.import_records([masked_record()])
    question = f"{MASKED} how did volunteers repair bicycles of residents?"
    assert served.runtime.knowledge.ask(question).results[0].id == "turin-masked"
    reply = ask(fake, question)
    card = embed(reply, f"{INERT} Repair cafés for bicycles")
    assert INERT in card["description"]
    assert not LIVE_MASKED_LINK.search(reply.text), reply.text  # content, embeds (button labels are plain text)
    listing = fake.slash("unanswered", user_id=COORDINATOR_ID)
    echoed = fake.wait_followups(listing, timeout=ANSWER)[0]
    assert INERT in echoed.text and not LIVE_MASKED_LINK.search(echoed.text), echoed.text


def test_embeds_link_only_well_formed_source_urls(start, fake: FakeDiscord) -> None:
    served = start()
    poison_url(served.runtime, BONO)
    results = served.runtime.knowledge.ask(VOUCHERS).results
    reply = ask(fake, VOUCHERS)
    assert "url" not in embed(reply, results[0].title if results[0].id == BONO else
                              next(a.title for a in results if a.id == BONO))
    others = [embed(reply, a.title) for a in results if a.id != BONO and a.source_url]
    assert others and all(e["url"].startswith("https://") for e in others)
    assert "a.example" not in json.dumps(reply.body)
