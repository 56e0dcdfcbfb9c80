"""The neutral core, driven through ``bot.testing.TestAdapter`` on a copy of the seeded RRR network.

pytest-asyncio is not installed: every test is sync and runs its conversation with ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from bot import Actions, Incoming, Runtime, SolutionCard
from bot.core import ERROR_REPLY
from bot.messages import Facts, Text
from bot.platforms import Capabilities
from bot.store import Questions
from bot.testing import Exchange, TestAdapter
from conftest import make_settings

MEMBER_COMMANDS = ("help", "ask QUESTION", "cities", "city NAME", "iam CITY", "whoami", "helpful QUESTION_ID",
                   "nothelpful QUESTION_ID")
COORDINATOR_COMMANDS = ("unanswered", "role @MEMBER coordinator|member")
CITIES = ("Bilbao", "Dublin", "Rotterdam", "San Francisco", "Turin", "Warsaw", "Montréal", "Guadalajara",
          "Belo Horizonte")
VOUCHERS = "ask how did cities support local shops with vouchers?"
#: A question about something no RRR city did, carrying every broadcast form Slack and Discord know.
PINGING_QUESTION = "@everyone @here what is the best recipe for chocolate cake <!channel> <!here> <!everyone>?"
PINGING_FORMS = ("@everyone", "@here", "<!channel>", "<!here>", "<!everyone>")


def run(coro):
    return asyncio.run(coro)


def say(adapter: TestAdapter, text: str, **kw) -> Exchange:
    return run(adapter.send(text, **kw))


#: A platform unlike Slack and Discord: no group DMs, no files, 400 characters a message. The core must pass the
#: same tests on it (the ``member`` tests run on both).
TINY = Capabilities(group_dms=False, file_upload=False, max_message_chars=400)


@pytest.fixture(params=["test", "tiny"])
def member(seeded: Runtime, request: pytest.FixtureRequest) -> TestAdapter:
    """A plain member on the ``test`` platform, then on ``tiny`` (:data:`TINY`), where no reply may be longer than
    400 characters."""
    if request.param == "tiny":
        adapter = TestAdapter(seeded.bot, platform="tiny", user="U1", user_name="Tester", capabilities=TINY)
        adapter.history = WithinLimit(400)
        return adapter
    return TestAdapter(seeded.bot, user="U1", user_name="Tester")


class WithinLimit(list):
    """The exchanges of a member on a platform with a message size: each is checked as it is kept."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def append(self, exchange: Exchange) -> None:
        for reply in exchange.replies:  # a longer text is cut; a longer card stays whole, alone in its message
            assert len(reply.as_text()) <= self.limit or (
                len(reply.blocks) == 1 and not isinstance(reply.blocks[0], Text)), reply.as_text()
        super().append(exchange)


@pytest.fixture
def network(seeded_dir: Path) -> Iterator[Runtime]:
    """The seeded network with ``test:BOSS`` configured as coordinator and a threshold nothing can reach
    (so every question stays unanswered, whatever the corpus)."""
    settings = make_settings(seeded_dir, RRR_BOT__COORDINATORS='["test:BOSS"]', RRR_KNOWLEDGE__THRESHOLD="1.01")
    with Runtime.open(settings) as rt:
        yield rt


# -- help and the directory -------------------------------------------------------------------------------------


def test_help_for_a_member_hides_coordinator_commands(member: TestAdapter) -> None:
    exchange = say(member, "help")
    exchange.assert_reply(*(f"`{usage}" for usage in MEMBER_COMMANDS))
    exchange.assert_no_reply("unanswered", "role @MEMBER", "(coordinators)")
    assert not any(r.is_error for r in exchange.replies)


def test_help_for_a_coordinator_lists_every_command(network: Runtime) -> None:
    boss = TestAdapter(network.bot, user="BOSS")
    exchange = say(boss, "help")
    exchange.assert_reply(*(f"`{usage}" for usage in MEMBER_COMMANDS + COORDINATOR_COMMANDS))
    for command in network.bot.commands:  # nothing registered is missing from help
        exchange.assert_reply(f"`{command.usage}` - {command.summary}")
    assert "`unanswered [PAGE]` - questions the knowledge base could not answer, the newest first (coordinators)" \
        in exchange.text


def test_help_alias_and_slash_prefix(member: TestAdapter) -> None:
    plain = say(member, "help").text
    assert say(member, "?").text == plain
    assert say(member, "/help").text == plain
    assert say(member, "!HELP").text == plain


def test_cities_lists_the_network(member: TestAdapter) -> None:
    exchange = say(member, "cities")
    exchange.assert_reply("9 cities in the network", *CITIES)
    exchange.assert_reply("Bilbao (Spain) - peer group: local-economy")


@pytest.mark.parametrize("query, name", [("city MONTREAL", "Montréal"), ("city montréal", "Montréal"),
                                         ("city   belo HORIZONTE  ", "Belo Horizonte"),
                                         ("/city san francisco", "San Francisco")])
def test_city_ignores_case_and_accents(member: TestAdapter, query: str, name: str) -> None:
    exchange = say(member, query)
    facts = exchange.blocks(Facts)
    assert [f.title for f in facts] == [name]
    assert not any(r.is_error for r in exchange.replies)


def test_city_profile_shows_timezone_and_challenges(member: TestAdapter) -> None:
    exchange = say(member, "city bilbao")
    exchange.assert_reply("Time zone: Europe/Madrid", "Peer group: local-economy", "Challenges:",
                          "neighbourhood shops")


def test_unknown_city_suggests_a_close_name(member: TestAdapter) -> None:
    exchange = say(member, "city Bilbau").assert_error()
    exchange.assert_reply("No city called 'Bilbau'", "Did you mean Bilbao?")
    say(member, "city Montral").assert_error().assert_reply("Did you mean Montréal?")


def test_unknown_city_without_close_name_lists_the_cities(member: TestAdapter) -> None:
    exchange = say(member, "city Xyzzyville").assert_error()
    exchange.assert_reply("Known cities:", *CITIES)


def test_city_without_name_shows_usage(member: TestAdapter) -> None:
    say(member, "city").assert_error().assert_reply("Usage: `city NAME`")


def test_iam_then_whoami(network: Runtime) -> None:
    member, boss = TestAdapter(network.bot, user="U1", user_name="Tester"), TestAdapter(network.bot, user="BOSS")
    say(member, "whoami").assert_reply("You are a member, not linked to a city yet")
    say(member, "iam montreal").assert_reply("request #1")  # a request until someone approves it (test_consent)
    say(boss, "approve 1").assert_reply("Request #1 approved")
    say(member, "whoami").assert_reply("You are a member, linked to Montréal.")
    say(member, "city Montréal").assert_reply("Contacts: Tester")
    say(member, "iam Turin")  # moving to another city replaces the link, once approved
    say(boss, "approve 2")
    say(member, "whoami").assert_reply("linked to Turin")
    say(member, "city montreal").assert_reply("Contacts: none linked yet")


def test_iam_unknown_city_links_nothing(member: TestAdapter) -> None:
    say(member, "iam Atlantis").assert_error().assert_reply("No city called 'Atlantis'")
    say(member, "whoami").assert_reply("not linked to a city yet")


def test_whoami_is_per_user(member: TestAdapter) -> None:
    say(member, "iam Dublin")
    say(member, "whoami", user="U2").assert_reply("not linked to a city yet")


# -- routing ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("message", ["/frobnicate", "!frobnicate now"])
def test_unknown_slash_command_is_an_error(member: TestAdapter, message: str) -> None:
    exchange = say(member, message).assert_error()
    exchange.assert_reply("Unknown command `frobnicate`", "help")


def test_unknown_command_name_is_not_echoed_as_a_ping(member: TestAdapter) -> None:
    exchange = say(member, "/@everyone").assert_error()
    exchange.assert_no_reply("@everyone")


@pytest.mark.parametrize("message", ["", "   ", "\n\t"])
def test_empty_message_gets_a_hint(member: TestAdapter, message: str) -> None:
    exchange = say(member, message)
    exchange.assert_reply("type `help`")
    assert not any(r.is_error for r in exchange.replies)


def test_free_text_is_a_question(member: TestAdapter) -> None:
    exchange = say(member, "how did cities support local shops with vouchers?")
    ids = [card.solution_id for card in exchange.blocks(SolutionCard)]
    assert "bilbao-bono-bilbao-vouchers" in ids


def test_ask_finds_the_bilbao_vouchers(member: TestAdapter) -> None:
    exchange = say(member, VOUCHERS)
    cards = exchange.blocks(SolutionCard)
    assert cards and cards[0].solution_id == "bilbao-bono-bilbao-vouchers"
    assert cards[0].city == "Bilbao" and cards[0].country == "Spain"
    exchange.assert_reply("Bono Bilbao co-funded vouchers")


def test_ask_without_question_shows_usage(member: TestAdapter) -> None:
    say(member, "ask").assert_error().assert_reply("Usage: `ask QUESTION`")


def test_feedback_buttons_and_commands(member: TestAdapter, seeded: Runtime) -> None:
    exchange = say(member, VOUCHERS)
    [actions] = exchange.blocks(Actions)
    question_id = actions.buttons[0].value
    assert {b.action_id for b in actions.buttons} == {"feedback_helpful", "feedback_not_helpful"}
    assert all(b.value == question_id for b in actions.buttons)

    run(member.click("feedback_not_helpful", question_id, reason="no figures for 2023")).assert_reply("noted")
    say(member, f"helpful #{question_id}").assert_reply("glad it helped")
    with seeded.db.session() as session:
        feedback = Questions(session).feedback_for(int(question_id))
    assert sorted((f.helpful, f.reason) for f in feedback) == [(False, "no figures for 2023"), (True, "")]


def test_feedback_on_unknown_question_or_bad_id(member: TestAdapter) -> None:
    say(member, "helpful 999999").assert_error().assert_reply("No question with id 999999")
    say(member, "nothelpful abc too vague").assert_error().assert_reply("Expected a question id")
    run(member.click("launch_rockets", "1")).assert_error().assert_reply("Unknown action")


# -- permissions ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("message", ["unanswered", "role U2 coordinator", "/unanswered"])
def test_coordinator_commands_are_refused_politely_to_members(member: TestAdapter, seeded: Runtime,
                                                               message: str) -> None:
    exchange = say(member, message).assert_error()
    command = message.lstrip("/").split()[0]
    assert exchange.text == f"Only coordinators can use `{command}`."
    assert not seeded.directory.is_coordinator("test", "U2")


def test_coordinator_from_settings_is_allowed(network: Runtime) -> None:
    boss = TestAdapter(network.bot, user="BOSS")
    exchange = say(boss, "unanswered")
    assert not any(r.is_error for r in exchange.replies)
    exchange.assert_reply("Every question asked so far found a close match.")
    say(boss, "whoami").assert_reply("You are a coordinator")


def test_configured_coordinator_is_per_platform(network: Runtime) -> None:
    elsewhere = TestAdapter(network.bot, platform="slack", user="BOSS")
    say(elsewhere, "unanswered").assert_error().assert_reply("Only coordinators")


def test_coordinator_vouched_for_by_the_adapter(seeded: Runtime) -> None:
    """An adapter may pass platform roles (a Discord role, a Slack user group) that make someone a coordinator."""
    vouched = Incoming(platform="test", user="U9", text="unanswered", roles=("coordinator",))
    replies = run(seeded.bot.handle(vouched))
    assert not any(r.is_error for r in replies)
    other = run(seeded.bot.handle(Incoming(platform="test", user="U9", text="unanswered", roles=("member",))))
    assert Exchange(other).assert_error().text == "Only coordinators can use `unanswered`."


def test_role_promotes_and_demotes(network: Runtime) -> None:
    boss = TestAdapter(network.bot, user="BOSS")
    helper = TestAdapter(network.bot, user="U2", user_name="Ana")
    say(helper, "unanswered").assert_error()

    say(boss, "role U2 coordinator").assert_reply("I don't know test:U2 yet")  # they never wrote to the bot
    say(helper, "whoami")
    say(boss, "role U2 coordinator").assert_reply("Ana is now a coordinator.")
    exchange = say(helper, "unanswered")
    assert not any(r.is_error for r in exchange.replies)
    say(helper, "help").assert_reply("`unanswered [PAGE]`")
    say(TestAdapter(network.bot, user="U3", user_name="Piotr"), "whoami")
    say(helper, "role <@U3> coordinator").assert_reply("Piotr is now a coordinator.")  # a promoted one can promote

    say(boss, "role U2 member").assert_reply("Ana is now a member.")
    say(helper, "unanswered").assert_error()
    assert network.directory.is_coordinator("test", "U3")


def test_role_arguments_are_checked(network: Runtime) -> None:
    boss = TestAdapter(network.bot, user="BOSS")
    say(TestAdapter(network.bot, user="U2"), "whoami")
    say(boss, "role U2").assert_error().assert_reply("Usage: `role @MEMBER coordinator|member`")
    say(boss, "role U2 admin").assert_error().assert_reply("Usage: `role @MEMBER coordinator|member`")
    say(boss, 'role "U2 coordinator').assert_error().assert_reply("Unbalanced quotes")
    assert not network.directory.is_coordinator("test", "U2")


# -- echoing user text ------------------------------------------------------------------------------------------


def test_unanswered_does_not_echo_pings(network: Runtime) -> None:
    asker = TestAdapter(network.bot, user="U7")
    answer = say(asker, PINGING_QUESTION)
    answer.assert_reply("The network has no record about this.")
    answer.assert_no_reply(*PINGING_FORMS)

    listing = say(TestAdapter(network.bot, user="BOSS"), "unanswered")
    listing.assert_reply("1 recent unanswered question(s)", "chocolate cake")
    listing.assert_no_reply(*PINGING_FORMS)
    assert "@\u200beveryone" in listing.text and "@\u200bchannel" in listing.text  # still readable


def test_unanswered_does_not_echo_user_group_pings(network: Runtime) -> None:
    say(TestAdapter(network.bot, user="U7"), "who bakes cakes <!subteam^S0614TZR7|@bakers>?")
    say(TestAdapter(network.bot, user="BOSS"), "unanswered").assert_reply("bakes cakes").assert_no_reply("<!subteam")


@pytest.mark.parametrize("message", ["city @everyone", "iam <!channel>"])
def test_user_errors_do_not_echo_pings(member: TestAdapter, message: str) -> None:
    say(member, message).assert_error().assert_no_reply("@everyone", "<!channel>")


# -- failures ---------------------------------------------------------------------------------------------------


def test_a_broken_database_becomes_the_polite_error_reply(member: TestAdapter, seeded: Runtime,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    with seeded.db.engine.begin() as connection:
        connection.execute(text("DROP TABLE challenge"))
    with caplog.at_level(logging.ERROR, logger="bot.core"):
        exchange = say(member, "cities")
    assert exchange.text == ERROR_REPLY
    assert exchange.replies[0].is_error
    assert "challenge" not in exchange.text  # no internals shown to the user
    [record] = [r for r in caplog.records if r.name == "bot.core"]
    assert record.exc_info is not None and "challenge" in str(record.exc_info[1])  # the details are logged
    say(member, "help").assert_reply("`cities [PAGE]`")  # the bot keeps answering


def test_a_broken_database_during_an_action_becomes_the_polite_error_reply(member: TestAdapter,
                                                                          seeded: Runtime) -> None:
    exchange = say(member, VOUCHERS)
    question_id = exchange.blocks(Actions)[0].buttons[0].value
    with seeded.db.engine.begin() as connection:
        connection.execute(text("DROP TABLE feedback"))
    clicked = run(member.click("feedback_helpful", question_id))
    assert clicked.text == ERROR_REPLY
    assert clicked.replies[0].is_error and clicked.replies[0].ephemeral


def test_a_closed_database_file_becomes_the_polite_error_reply(member: TestAdapter, seeded: Runtime) -> None:
    seeded.db.close()
    database = Path(seeded.db.engine.url.database)
    for path in (database, database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm")):
        path.unlink(missing_ok=True)  # the file is gone: the next connection opens an empty one
    exchange = say(member, "whoami")
    assert exchange.text == ERROR_REPLY


def test_a_question_starting_with_a_command_word_is_asked(seeded) -> None:
    """'help with ...' and 'cities that ...' are questions, not the argument-less commands help and cities."""
    import asyncio

    from bot.messages import SolutionCard
    from bot.testing import TestAdapter

    adapter = TestAdapter(seeded.bot)
    exchange = asyncio.run(adapter.send("cities that funded social enterprise incubators?"))
    assert exchange.blocks(SolutionCard), exchange.text
    assert "cities in the network" not in exchange.text
    assert "in the network:" in asyncio.run(adapter.send("cities")).text
    assert "in the network:" in asyncio.run(adapter.send("/cities")).text


def test_no_match_shows_the_nearest_solution_marked_not_sure(network: Runtime) -> None:
    """When no record is even related, the reply says so, names whom to ask, and still shows the single nearest
    card, marked "not sure" (never with its score)."""
    question = "what is the best recipe for chocolate cake?"
    result = network.knowledge.ask(question)
    assert result.verdict == "no_match"
    exchange = say(TestAdapter(network.bot, user="U7"), question)
    exchange.assert_reply("The network has no record about this.", "Cities working on the closest challenges",
                          "shown in case it helps")
    exchange.assert_no_reply("score", f"{result.results[0].score:.3f}", "What peer cities did")
    cards = exchange.blocks(SolutionCard)
    assert [(c.solution_id, c.match) for c in cards] == [(result.results[0].id, "not sure")]
    assert [b.action_id for a in exchange.blocks(Actions) for b in a.buttons] == ["ask_network"]
