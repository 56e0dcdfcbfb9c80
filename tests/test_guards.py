"""Bounded work per message (#17 item 3) and the usage hint for what is no question (#12 "Bad input")."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import Runtime
from bot.guards import MemberTurns, RateLimiter, cap_input, not_a_question
from bot.store import Questions
from bot.testing import Exchange, TestAdapter
from conftest import make_settings
from knowledge import fit_to_tokens
from knowledge.embedders import MAX_WORD_CHARS
from knowledge.text import fold

CITIES = ["Bilbao", "Montréal", "Belo Horizonte"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_counts_a_sliding_window_and_tells_once_per_window() -> None:
    clock = Clock()
    limiter = RateLimiter(3, 60, clock=clock)
    assert [limiter.check("a") for _ in range(3)] == [(None, False)] * 3
    wait, first = limiter.check("a")
    assert first and wait == pytest.approx(60)
    clock.now += 10
    wait, first = limiter.check("a")
    assert not first and wait == pytest.approx(50)
    assert limiter.check("b") == (None, False)  # another member is not affected
    clock.now += 51
    assert limiter.check("a") == (None, False)  # the window moved on


def test_rate_limit_zero_is_off() -> None:
    limiter = RateLimiter(0)
    assert all(limiter.check("a") == (None, False) for _ in range(1000))


def test_rate_limiter_forgets_the_oldest_members_beyond_its_bound() -> None:
    limiter = RateLimiter(1, 60)
    for i in range(10_050):
        limiter.check(f"m{i}")
    assert len(limiter._seen) == 10_000


@pytest.fixture
def limited(seeded_dir: Path) -> Iterator[Runtime]:
    with Runtime.open(make_settings(seeded_dir, RRR_BOT__RATE_LIMIT="5")) as rt:
        yield rt


def test_a_flood_from_one_member_gets_one_polite_reply_and_does_not_touch_others(limited: Runtime) -> None:
    flooder = TestAdapter(limited.bot, user="FLOOD")

    async def flood() -> list[Exchange]:
        return [await flooder.send("whoami") for _ in range(30)]

    exchanges = asyncio.run(flood())
    answered = [e for e in exchanges if "You are a member" in e.text]
    polite = [e for e in exchanges if "faster than I can answer" in e.text]
    silent = [e for e in exchanges if not e.replies]
    assert (len(answered), len(polite), len(silent)) == (5, 1, 24)
    other = asyncio.run(TestAdapter(limited.bot, user="CALM").send("whoami"))
    assert "You are a member" in other.text
    clicked = asyncio.run(flooder.click("feedback_helpful", "1"))
    assert clicked.replies == []  # clicks count too, and the member was already told


def test_an_over_long_message_is_cut_with_a_note_and_still_answered(seeded: Runtime) -> None:
    exchange = asyncio.run(TestAdapter(seeded.bot).send("ask " + "x" * 40_000))
    exchange.assert_reply("Your message was long", "first 4,000 characters")
    assert not any(r.is_error for r in exchange.replies)


def test_cap_input_cuts_at_a_word_boundary() -> None:
    text = "word " * 1000
    cut, was_cut = cap_input(text, 100)
    assert was_cut and len(cut) <= 100 and cut.endswith("word")
    assert cap_input("short", 100) == ("short", False)


def test_a_single_huge_word_is_cut_before_the_model_counts_its_tokens(seeded: Runtime) -> None:
    embedder = seeded.knowledge.embedder
    fitted, cut = fit_to_tokens(embedder, "a" * 900_000)
    assert cut and len(fitted) == MAX_WORD_CHARS
    fitted, cut = fit_to_tokens(embedder, "cooperative " * 100_000)
    assert cut and embedder.token_count(fitted) <= embedder.max_tokens
    assert fit_to_tokens(embedder, "How did Turin fund start-ups?") == ("How did Turin fund start-ups?", False)


def test_a_text_counted_as_surely_fitting_fits_by_the_models_own_count(seeded: Runtime) -> None:
    """The shortcut that skips the tokenizer for short questions never lets an over-long text through: texts just
    under the bound, in scripts whose characters the tokenizer splits most (CJK, emoji, combining marks, ligatures
    that decompose into several letters), are counted by the model and fit."""
    import random

    from knowledge.embedders import TOKEN_OVERHEAD, surely_fits

    embedder = seeded.knowledge.embedder
    pools = [range(0x21, 0x7f), range(0x4e00, 0x4f00), range(0x1f300, 0x1f5ff), range(0x300, 0x36f),
             range(0xfb00, 0xfb07), range(0x3300, 0x33ff), range(0xc0, 0x250), range(0x400, 0x4ff)]
    rng = random.Random(12)
    checked = 0
    for _ in range(60):
        pool = rng.choice(pools)
        text = "".join(chr(rng.choice(pool)) if rng.random() < 0.85 else " "
                       for _ in range(embedder.max_tokens - TOKEN_OVERHEAD))
        while text and not surely_fits(text, embedder.max_tokens):
            text = text[:-8]
        checked += len(text) > 100
        assert embedder.token_count(text) <= embedder.max_tokens, text[:40]
    assert checked > 40  # most texts were long enough to test the bound, not trivially short
    assert not surely_fits("x" * embedder.max_tokens, embedder.max_tokens)
    assert not surely_fits("\ufdfa" * 200, embedder.max_tokens)  # one character that decomposes into 18


@pytest.mark.parametrize(("text", "reason"), [
    ("hola", "greeting"), ("Dzień dobry!", "greeting"), ("  Good morning  ", "greeting"), ("👋🙂", "emoji"),
    ("???", "emoji"), ("https://example.org/report.pdf", "link"), ("<https://example.org>", "link"),
    ("montreal", "city"), ("Belo Horizonte?", "city"),
    ("how did Bilbao help shops?", None), ("cooperatives", None), ("hola, ¿cómo financiar cooperativas?", None),
])
def test_not_a_question(text: str, reason: str | None) -> None:
    assert not_a_question(text, lambda name: name in {fold(city) for city in CITIES}) == reason


@pytest.mark.parametrize(("message", "hint"), [
    ("hello", "Ask me how peer cities"), ("🙂", "in words"), ("https://example.org", "not by link"),
    ("Bilbao", "`city Bilbao`"),
])
def test_non_questions_get_a_usage_hint_and_no_search(seeded: Runtime, message: str, hint: str) -> None:
    exchange = asyncio.run(TestAdapter(seeded.bot).send(message))
    exchange.assert_reply(hint)
    with seeded.db.session() as session:
        assert Questions(session).unanswered(10) == []
        assert session.exec(__import__("sqlmodel").select(__import__("bot.store", fromlist=["Question"]).Question)
                            ).first() is None


def test_member_turns_serialise_one_member_and_let_others_through() -> None:
    turns = MemberTurns()
    order: list[str] = []

    async def question(member: str, name: str, release: asyncio.Event | None = None) -> None:
        async with turns.turn(member):
            order.append(f"start {name}")
            if release is not None:
                await release.wait()
            order.append(f"end {name}")

    async def scenario() -> None:
        release = asyncio.Event()
        flood = [asyncio.create_task(question("flood", f"f{i}", release)) for i in range(3)]
        await asyncio.sleep(0)
        await question("calm", "c")  # not queued behind the flood's first, still running, question
        assert order == ["start f0", "start c", "end c"]
        release.set()
        await asyncio.gather(*flood)

    asyncio.run(scenario())
    assert order[3:] == ["end f0", "start f1", "end f1", "start f2", "end f2"]
    assert not turns._locks and not turns._waiting  # nothing kept once everyone is answered
