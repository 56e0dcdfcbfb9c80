"""Introductions by challenge, not by language: measured on tests/data/intro_pairs.jsonl with the real embedder.

The set: 20 cities in 7 languages (3 cities in most languages), 3 statements each in the city's own language, and
10 intended pairs, every one across two languages; the other cities of a language work on unrelated problems
(same-language decoys). Raw multilingual-e5-small similarity pairs cities by language (1 intended pair of 10 in a
greedy round, 1 of 10 beating its decoys); the language-neutral similarity must not.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import DATA, make_settings

from bot import Runtime
from bot.replies import PROVENANCE_LABELS, intro_reply, preview_lines
from bot.testing import TestAdapter
from knowledge.languages import detect_language
from knowledge.records import city_from_mapping
from knowledge.similarity import city_similarity

ROWS = [json.loads(line) for line in (DATA / "intro_pairs.jsonl").read_text(encoding="utf-8").splitlines()]
PARTNER = {row["name"]: row["partner"] for row in ROWS}
LANGUAGE = {row["name"]: row["languages"][0] for row in ROWS}
INTENDED = {frozenset(pair) for pair in PARTNER.items()}
#: A topic in a third language for each intended pair.
TOPICS = [
    ("soledad de las personas mayores que viven solas", {"Bologna", "Gdańsk"}),
    ("bâtiments publics vacants confiés aux habitants", {"Napoli", "Hamilton"}),
    ("sklepy socjalne z tanią żywnością dla ubogich rodzin", {"Valencia", "Lyon"}),
    ("informal waste pickers and recycling cooperatives", {"Curitiba", "Medellín"}),
    ("comunità energetiche e povertà energetica", {"Utrecht", "Porto"}),
    ("sociale clausules in overheidsopdrachten", {"Nantes", "Łódź"}),
    ("exclusão digital de famílias de baixa renda", {"Leeds", "Eindhoven"}),
    ("jeunes ni en emploi ni en formation", {"Zaragoza", "Milano"}),
    ("alquiler turístico que expulsa a los vecinos", {"Kraków", "Lisboa"}),
    ("inserimento lavorativo dei rifugiati", {"Gent", "Strasbourg"}),
]


@pytest.fixture(scope="module")
def pairs_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir holding the 20 cities of the set, their statements embedded once."""
    data_dir = tmp_path_factory.mktemp("intro-pairs") / "data"
    with Runtime.open(make_settings(data_dir)) as rt:
        rt.directory.import_cities([city_from_mapping({k: v for k, v in row.items() if k != "partner"})
                                    for row in ROWS])
        rt.intros.suggest(ROWS[0]["name"])  # embeds the statements into the index dir's cache
    return data_dir


@pytest.fixture(scope="module")
def network(pairs_template: Path) -> Iterator[Runtime]:
    """One runtime on the set, for the tests that only read."""
    with Runtime.open(make_settings(pairs_template)) as rt:
        yield rt


@pytest.fixture
def own_network(pairs_template: Path, tmp_path: Path) -> Iterator[Runtime]:
    """A private copy, for the tests that run rounds."""
    shutil.copytree(pairs_template, tmp_path / "data")
    with Runtime.open(make_settings(tmp_path / "data")) as rt:
        yield rt


def found(groups) -> set[frozenset[str]]:
    return {frozenset(g.cities) for g in groups} & INTENDED


def beats_decoys(scores: np.ndarray, names: list[str]) -> dict[frozenset[str], float]:
    """For each intended pair: its score less the best score of either city with a same-language city."""
    index = {name: i for i, name in enumerate(names)}
    margins = {}
    for pair in INTENDED:
        a, b = (index[c] for c in sorted(pair))
        decoys = [scores[x, index[c]] for x in (a, b) for c in names
                  if c != names[x] and c not in pair and LANGUAGE[c] == LANGUAGE[names[x]]]
        margins[pair] = float(scores[a, b] - max(decoys))
    return margins


def test_the_set_is_what_it_claims() -> None:
    assert len(ROWS) >= 12 and len(set(LANGUAGE.values())) >= 6
    assert len(INTENDED) >= 8 and len({LANGUAGE[c] for pair in INTENDED for c in pair}) >= 5
    assert all(PARTNER[PARTNER[c]] == c for c in PARTNER)
    assert all(len({LANGUAGE[c] for c in pair}) == 2 for pair in INTENDED)  # every intended pair crosses languages
    for row in ROWS:
        assert 2 <= len(row["challenges"]) <= 4
        assert {detect_language(text) for text in row["challenges"]} == {row["languages"][0]}
    decoys = [lang for lang in set(LANGUAGE.values()) if sum(v == lang for v in LANGUAGE.values()) >= 2]
    assert len(decoys) >= 6  # most languages have cities with unrelated challenges


def test_a_first_round_makes_the_intended_cross_language_pairs(own_network: Runtime) -> None:
    groups, left_out = own_network.intros.preview()
    assert not left_out and sorted(c for g in groups for c in g.cities) == sorted(PARTNER)
    assert len(found(groups)) >= 0.9 * len(INTENDED), [g.cities for g in groups]


def test_language_bias_is_measured_gone(network: Runtime) -> None:
    """Raw similarity lets same-language decoys win; the language-neutral one puts every intended pair first."""
    net = network.intros._network()
    index = {name: i for i, name in enumerate(net.names)}
    owners = [index[city] for city, _ in net.pairs]
    raw = city_similarity(net.vectors, owners, len(net.names)).scores
    before, after = beats_decoys(raw, net.names), beats_decoys(net.sim.scores, net.names)
    print(f"intended pairs beating every same-language decoy: raw {sum(m > 0 for m in before.values())}/"
          f"{len(INTENDED)} (worst margin {min(before.values()):+.3f}), neutral {sum(m > 0 for m in after.values())}"
          f"/{len(INTENDED)} (worst margin {min(after.values()):+.3f})")
    assert sum(m > 0 for m in before.values()) <= len(INTENDED) // 2  # the bias the correction has to remove
    assert all(m > 0 for m in after.values()), after
    # same-language pairs of unrelated cities no longer score above cross-language unrelated pairs on average
    same, cross = [], []
    for a in net.names:
        for b in net.names:
            if a < b and frozenset((a, b)) not in INTENDED:
                (same if LANGUAGE[a] == LANGUAGE[b] else cross).append(net.sim.scores[index[a], index[b]])
    assert np.mean(same) <= np.mean(cross) + 0.02


def test_each_city_is_first_pointed_to_a_peer_in_another_language(network: Runtime) -> None:
    firsts = {city: network.intros.suggest(city, n=1)[0] for city in PARTNER}
    assert all(m.subject == city and city not in m.cities[1:] for city, m in firsts.items())
    right = [city for city, m in firsts.items() if m.cities[1] == PARTNER[city]]
    assert len(right) >= 0.8 * len(PARTNER), {c: m.cities for c, m in firsts.items()}
    assert sum(LANGUAGE[m.cities[1]] != LANGUAGE[city] for city, m in firsts.items()) >= 0.8 * len(PARTNER)


def test_a_topic_in_a_third_language_finds_the_cities_that_work_on_it(network: Runtime) -> None:
    """The two cities of the pair come before any unrelated city writing in the topic's own language."""
    clean = 0
    for topic, wanted in TOPICS:
        ranked = [m.cities[0] for m in network.intros.suggest(topic=topic, n=len(PARTNER))]
        last = max(ranked.index(c) for c in wanted)
        language = detect_language(topic)
        clean += not any(LANGUAGE[c] == language for c in ranked[:last] if c not in wanted)
    assert clean >= 0.9 * len(TOPICS)


def test_a_second_round_never_repeats_a_pair_and_still_places_everyone(network: Runtime) -> None:
    first, _ = network.intros.preview()
    made = {frozenset(g.cities) for g in first}
    second, left_out = network.intros.preview(forbidden=made)
    assert not left_out and sorted(c for g in second for c in g.cities) == sorted(PARTNER)
    assert not {frozenset(g.cities) for g in second} & made


def test_intro_for_a_city_name_never_suggests_that_city_to_itself(seeded: Runtime) -> None:
    matches = seeded.intros.suggest(city=None, topic="Guadalajara")
    assert matches and all(m.subject == "Guadalajara" and "Guadalajara" not in m.cities[1:] for m in matches)
    text = "\n".join(b.text for b in intro_reply(matches, city=None, topic="Guadalajara").blocks)
    assert "Guadalajara, on" not in text and "Guadalajara, " not in text
    adapter = TestAdapter(seeded.bot)  # an unlinked user, through the real command
    exchange = asyncio.run(adapter.send("intro guadalajara"))
    peers = [line.split(", on the closest")[0] for line in exchange.text.splitlines()
             if ", on the closest challenges:" in line]
    assert len(peers) == 3 and all("Guadalajara" not in p for p in peers), exchange.text
    seeded.directory.link("test", "U1", "Guadalajara")
    mine = asyncio.run(adapter.send("intro Guadalajara"))
    assert "Guadalajara, on" not in mine.text and mine.text.count(", on the closest challenges:") == 3


def _expected_label(rt: Runtime, teacher: str, title: str) -> str:
    (solution,) = [s for s in rt.knowledge.list(city=teacher) if s.title == title]
    label = PROVENANCE_LABELS.get(solution.provenance, solution.provenance)
    return "(" + label.replace(" (", ", ").replace(")", "") + ")"


def test_you_could_learn_from_lines_carry_the_solution_provenance(seeded: Runtime) -> None:
    groups, _ = seeded.intros.preview()  # the CLI preview (before anyone is linked: every city takes part)
    lesson = next(lesson for g in groups for lesson in g.learn)
    preview = "\n".join(line for g in groups for line in preview_lines(g))
    assert f"{lesson.title} {_expected_label(seeded, lesson.teacher, lesson.title)}" in preview
    seeded.directory.link("test", "U1", "Bilbao")
    text = asyncio.run(TestAdapter(seeded.bot).send("intro")).text
    lines = [line for line in text.splitlines() if "could learn from" in line]
    assert lines
    for match in seeded.intros.suggest("Bilbao"):
        for lesson in match.learn:
            label = _expected_label(seeded, lesson.teacher, lesson.title)
            assert f"could learn from {lesson.teacher}: {lesson.title} {label}" in text
    assert "practice (not confirmed" not in text  # the label's own parenthesis is folded into one


def test_round_messages_carry_the_provenance_too(seeded: Runtime) -> None:
    from test_intro_rounds import CONTACTS, NOW, link, outbox

    link(seeded)
    groups, _ = seeded.intros.run(now=NOW)
    lessons = [(g, lesson) for g in groups for lesson in g.learn]
    assert lessons
    payloads = " ".join(str(m.payload) for m in outbox(seeded))
    for _group, lesson in lessons:
        assert f"{lesson.title} {_expected_label(seeded, lesson.teacher, lesson.title)}" in payloads
    assert set(CONTACTS) == {c for g in groups for c in g.cities}
