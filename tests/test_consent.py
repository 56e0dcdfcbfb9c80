"""Consent and ownership in the core (#17 items 1, 2, 5 and the role target of item 9): driven through TestAdapter.

Each test reproduces a hole found by a hostile member and checks it is closed, on the seeded network.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from bot import Runtime
from bot.messages import Actions, SolutionCard, reply_from_dict
from bot.store import Cities, LinkRequest, Members, Solutions
from bot.store.models import OutboxMessage
from bot.testing import Exchange, TestAdapter
from conftest import make_settings


def say(adapter: TestAdapter, text: str, **kw) -> Exchange:
    return asyncio.run(adapter.send(text, **kw))


def click(adapter: TestAdapter, action_id: str, value: str = "", **kw) -> Exchange:
    return asyncio.run(adapter.click(action_id, value, **kw))


@pytest.fixture
def network(seeded_dir: Path) -> Iterator[Runtime]:
    """The seeded network with ``test:BOSS`` as the configured coordinator."""
    with Runtime.open(make_settings(seeded_dir, RRR_BOT__COORDINATORS='["test:BOSS"]',
                                    RRR_BOT__NETWORK_CHANNELS='{"test": "CNET"}')) as rt:
        yield rt


def outbox_to(rt: Runtime, user: str) -> list[OutboxMessage]:
    with rt.db.session() as session:
        return [m for m in session.exec(select(OutboxMessage)) if m.users == [user]]


def challenges(rt: Runtime, city: str) -> list[str]:
    with rt.db.session() as session:
        cities = Cities(session)
        found = cities.by_key(city)
        assert found is not None
        return cities.challenges(found.id)


# -- item 2: nobody claims a city on their word alone --------------------------------------------------------------


def test_iam_by_a_member_is_a_request_and_grants_nothing_yet(network: Runtime) -> None:
    before = challenges(network, "Bilbao")
    intruder = TestAdapter(network.bot, user="EVE", user_name="Eve")
    say(intruder, "iam Bilbao").assert_reply("asked the coordinators", "request #")
    say(intruder, "whoami").assert_reply("not linked to a city")
    say(intruder, "challenge remove 1").assert_error().assert_reply("iam CITY")
    assert challenges(network, "Bilbao") == before
    assert network.directory.contacts(["Bilbao"], "test") == []


def test_a_request_reaches_the_coordinators_and_the_city_members_with_buttons(network: Runtime) -> None:
    network.directory.link("test", "ANA", "Bilbao", "Ana")
    say(TestAdapter(network.bot, user="EVE", user_name="Eve"), "iam bilbao")
    for reviewer in ("BOSS", "ANA"):
        [message] = outbox_to(network, reviewer)
        reply = reply_from_dict(message.payload)
        buttons = [b for block in reply.blocks if isinstance(block, Actions) for b in block.buttons]
        assert [(b.action_id, b.value) for b in buttons][:2] == [("review_approve", "join:1"),
                                                                 ("review_reject", "join:1")]
        assert "Eve asks to speak for Bilbao" in reply.as_text()
    say(TestAdapter(network.bot, user="EVE"), "iam Bilbao").assert_reply("request #1")  # asked again: same request
    assert len(outbox_to(network, "BOSS")) == 1


def test_a_city_member_approves_and_the_requester_is_linked_and_told(network: Runtime) -> None:
    network.directory.link("test", "ANA", "Bilbao", "Ana")
    eve = TestAdapter(network.bot, user="EVE", user_name="Eve")
    say(eve, "iam Bilbao")
    click(eve, "review_approve", "join:1").assert_error().assert_reply("cannot approve your own")
    click(TestAdapter(network.bot, user="PIOTR"), "review_approve", "join:1").assert_error().assert_reply(
        "Only a coordinator or a member of Bilbao")
    say(eve, "whoami").assert_reply("not linked")
    ana = TestAdapter(network.bot, user="ANA")
    say(ana, "pending").assert_reply("#1 Eve asks to speak for Bilbao")
    click(ana, "review_approve", "join:1").assert_reply("Request #1 approved")
    say(eve, "whoami").assert_reply("linked to Bilbao")
    [told] = outbox_to(network, "EVE")
    assert "You are now linked to Bilbao" in reply_from_dict(told.payload).as_text()
    say(ana, "approve 1").assert_error().assert_reply("already approved")


def test_a_coordinator_rejects_with_a_command_and_nothing_is_linked(network: Runtime) -> None:
    say(TestAdapter(network.bot, user="EVE"), "iam Turin")
    say(TestAdapter(network.bot, user="BOSS"), "reject #1").assert_reply("Request #1 rejected")
    with network.db.session() as session:
        assert session.get(LinkRequest, 1).outcome == "rejected"
        assert Members(session).get("test", "EVE") is None


def test_a_coordinators_own_iam_links_at_once(network: Runtime) -> None:
    say(TestAdapter(network.bot, user="BOSS"), "iam Warsaw").assert_reply("You are now linked to Warsaw")


# -- item 1 (core part): a member's saved answer waits for review --------------------------------------------------


SAVED = dict(title="Rooftop beekeeping cooperative", city="Bilbao",
             summary="Unemployed residents run hives on public roofs and sell the honey as a cooperative.")


def test_a_members_saved_answer_is_searchable_only_as_unreviewed_until_approved(network: Runtime) -> None:
    member = TestAdapter(network.bot, user="ANA", user_name="Ana")
    click(member, "save_solution", **SAVED).assert_reply("for review", "unreviewed")
    solution_id = "bilbao-rooftop-beekeeping-cooperative"
    saved_on = f"{network.knowledge.get(solution_id).created_at:%Y-%m-%d}"
    assert network.knowledge.get(solution_id).status == "pending"
    waiting = network.knowledge.ask("rooftop beekeeping cooperative honey")
    [first] = [a for a in waiting.results if a.id == solution_id]
    assert first.status == "pending" and first.match != "close"  # shown, but it cannot make the bot sure
    answer = say(TestAdapter(network.bot, user="EVE"), "rooftop beekeeping cooperative selling honey")
    [card] = [c for c in answer.blocks(SolutionCard) if c.solution_id == solution_id]
    assert (card.provenance, card.match) == (f"unreviewed, shared by Ana on {saved_on}", "related")
    say(TestAdapter(network.bot, user="EVE"), f"show {solution_id}").assert_reply(
        "Rooftop beekeeping", "unreviewed, shared by Ana", "waiting for a coordinator's review")
    [dm] = outbox_to(network, "BOSS")
    assert ("review_approve", f"solution:{solution_id}") in [
        (b.action_id, b.value) for block in reply_from_dict(dm.payload).blocks if isinstance(block, Actions)
        for b in block.buttons]
    say(member, f"approve {solution_id}").assert_error().assert_reply("Only coordinators")
    click(TestAdapter(network.bot, user="BOSS"), "review_approve", f"solution:{solution_id}").assert_reply(
        "network knowledge now")
    result = network.knowledge.ask("rooftop beekeeping cooperative honey")
    assert result.results[0].id == solution_id and result.results[0].saved_by == "Ana"
    assert result.results[0].status == "approved" and result.results[0].match == "close" and result.answered
    say(TestAdapter(network.bot, user="EVE"), f"show {solution_id}").assert_no_reply("unreviewed")
    with network.db.session() as session:
        row = Solutions(session).get(solution_id)
        assert (row.status, row.reviewed_by, row.provenance) == ("approved", "test:BOSS", "network")


def test_a_coordinators_home_lists_saved_answers_with_their_buttons_and_history(network: Runtime) -> None:
    from bot.messages import Text

    click(TestAdapter(network.bot, user="ANA", user_name="Ana"), "save_solution", **SAVED).assert_reply("for review")
    solution_id = "bilbao-rooftop-beekeeping-cooperative"
    home = asyncio.run(network.bot.home("test", "BOSS"))
    saved_on = f"{network.knowledge.get(solution_id).created_at:%Y-%m-%d}"
    assert (f"Rooftop beekeeping cooperative (Bilbao): unreviewed, shared by Ana on {saved_on}"
            in [b.text for b in home.blocks if isinstance(b, Text)])
    buttons = [(b.action_id, b.value) for block in home.blocks if isinstance(block, Actions) for b in block.buttons]
    assert ("review_approve", f"solution:{solution_id}") in buttons
    assert ("review_reject", f"solution:{solution_id}") in buttons
    member_home = asyncio.run(network.bot.home("test", "ANA"))
    member_buttons = {b.action_id for block in member_home.blocks if isinstance(block, Actions) for b in block.buttons}
    assert member_buttons and not member_buttons & {"review_approve", "review_reject"}  # members see no review queue
    click(TestAdapter(network.bot, user="BOSS"), "review_approve", f"solution:{solution_id}").assert_reply(
        "network knowledge now")
    assert [(s.action, s.changed_by) for s in network.knowledge.history(solution_id)] == [
        ("saved", "test:ANA"), ("approved", "test:BOSS")]
    home = asyncio.run(network.bot.home("test", "BOSS"))
    assert "No saved answer is waiting for your review." in [b.text for b in home.blocks if isinstance(b, Text)]


def test_a_rejected_saved_answer_is_gone(network: Runtime) -> None:
    click(TestAdapter(network.bot, user="ANA"), "save_solution", **SAVED)
    assert "bilbao-rooftop-beekeeping-cooperative" in [
        a.id for a in network.knowledge.ask("rooftop beekeeping cooperative honey").results]
    say(TestAdapter(network.bot, user="BOSS"), "reject bilbao-rooftop-beekeeping-cooperative").assert_reply(
        "Rejected")
    assert not network.knowledge.pending()
    assert "bilbao-rooftop-beekeeping-cooperative" not in [
        a.id for a in network.knowledge.ask("rooftop beekeeping cooperative honey").results]
    assert [s.action for s in network.knowledge.history("bilbao-rooftop-beekeeping-cooperative")] == [
        "saved", "rejected"]


def test_a_coordinators_saved_answer_is_searchable_at_once(network: Runtime) -> None:
    click(TestAdapter(network.bot, user="BOSS"), "save_solution", **SAVED).assert_reply("searchable now")
    assert network.knowledge.ask("rooftop beekeeping honey cooperative").results[0].id == \
        "bilbao-rooftop-beekeeping-cooperative"


# -- item 5: a question's buttons belong to whoever asked it -------------------------------------------------------


@pytest.mark.parametrize("action_id", ["ask_network", "share_answer", "feedback_helpful", "feedback_not_helpful"])
def test_another_member_cannot_act_on_someone_elses_question(network: Runtime, action_id: str) -> None:
    asker = TestAdapter(network.bot, user="ANA")
    say(asker, "how did cities keep elderly people supplied during lockdown?")
    question_id = "1"  # the first question of this network
    click(TestAdapter(network.bot, user="EVE"), action_id, question_id).assert_error().assert_reply(
        "Only the person who asked")
    with network.db.session() as session:
        from bot.store import Questions

        assert Questions(session).feedback_for(int(question_id)) == []


def test_the_asker_and_a_coordinator_may_act_on_the_question(network: Runtime) -> None:
    asker = TestAdapter(network.bot, user="ANA")
    say(asker, "how did cities keep elderly people supplied during lockdown?")
    click(asker, "feedback_helpful", "1").assert_reply("glad it helped")
    click(TestAdapter(network.bot, user="BOSS"), "feedback_not_helpful", "1").assert_reply("noted")


# -- role targets are real members (item 9) ------------------------------------------------------------------------


def test_role_refuses_someone_the_bot_never_met_and_saves_nothing(network: Runtime) -> None:
    boss = TestAdapter(network.bot, user="BOSS")
    say(boss, "role @ana coordinator").assert_error().assert_reply("is not a member")
    say(boss, "role U0NOBODY coordinator").assert_error().assert_reply("don't know test:U0NOBODY")
    with network.db.session() as session:
        assert Members(session).get("test", "U0NOBODY") is None


def test_role_takes_a_mention_of_someone_who_wrote_to_the_bot(network: Runtime) -> None:
    say(TestAdapter(network.bot, user="U0ANA", user_name="Ana"), "whoami")
    say(TestAdapter(network.bot, user="BOSS"), "role <@U0ANA> coordinator").assert_reply("Ana is now a coordinator")
    assert network.directory.is_coordinator("test", "U0ANA")


def test_ask_the_network_never_names_the_askers_own_city(network: Runtime) -> None:
    question = "what is the best recipe for paella?"
    nearest = network.knowledge.ask(question).closest_cities[0]  # asked by nobody: the closest city of all
    network.directory.link("test", "ANA", nearest, "Ana")
    asker = TestAdapter(network.bot, user="ANA")
    asked = say(asker, question)
    assert nearest not in asked.text.split("Cities working on the closest challenges:")[-1]
    posted = click(asker, "ask_network", "1")
    [to_network] = [r for r in posted.replies if r.channel == "CNET"]
    assert "closest challenges" in to_network.as_text() and nearest not in to_network.as_text()


def test_an_introduction_never_names_a_saved_answer_still_waiting_for_review(network: Runtime) -> None:
    click(TestAdapter(network.bot, user="ANA", user_name="Ana"), "save_solution", **SAVED).assert_reply("for review")
    knowledge = network.knowledge
    need = knowledge.embedder.embed_queries(["rooftop beekeeping cooperative selling honey"])[0]
    waiting = knowledge.get("bilbao-rooftop-beekeeping-cooperative")
    title = knowledge.closest_solution(need, "Bilbao")
    assert title is not None and title != waiting.title
    click(TestAdapter(network.bot, user="BOSS"), "review_approve", f"solution:{waiting.id}")
    assert knowledge.closest_solution(need, "Bilbao") == waiting.title  # the same lookup, once it is reviewed
