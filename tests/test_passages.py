"""Splitting solutions into passages: one card for a short record, titled section chunks for a long document."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from knowledge import SolutionRecord, read_solutions, split_passages
from knowledge.passages import UNSEARCHED_SECTIONS
from knowledge.corpus import CORPUS_DIR

SHORT = SolutionRecord(id="bilbao-bono", city="Bilbao", country="Spain", title="Bono Bilbao co-funded vouchers",
                       challenge="Spending in neighbourhood shops had collapsed.",
                       summary="The city paid half of each voucher; 63,603 vouchers of €30 sold out within a day.")
HEADING = re.compile(r"^#{1,6}\s+(.*)$")


def _paragraph(rng: random.Random, prefix: str, n: int) -> str:
    return " ".join(f"{prefix}{i}{rng.choice('abc')}" for i in range(n))


def long_markdown(rng: random.Random) -> str:
    """A document with an h1, several '## ' sections, short and very long paragraphs, lists and a sub-heading."""
    return "\n\n".join([
        "# Youth social enterprise incubator",
        "## In short",
        _paragraph(rng, "short", 35),
        "## Funding",
        _paragraph(rng, "fund", 120),
        _paragraph(rng, "more", 90),
        "- a list item\n- another item with 12,5% figure",
        "## Results",
        _paragraph(rng, "res", rng.randint(300, 500)),  # longer than any max_words: split by words
        "### Lessons",
        _paragraph(rng, "lesson", 60),
    ])


def body_words(body: str) -> list[str]:
    """The words of a body in order, without the heading lines and the unsearched (link list) sections."""
    out: list[str] = []
    searched = True
    for line in body.splitlines():
        heading = HEADING.match(line.strip())
        if heading:
            searched = heading.group(1).strip().casefold() not in UNSEARCHED_SECTIONS
        elif searched:
            out += line.split()
    return out


def chunk_lines(text: str) -> tuple[str, str]:
    first, _, rest = text.partition("\n")
    return first, rest


def test_short_record_gives_one_card_with_title_city_and_summary() -> None:
    passages = split_passages(SHORT)
    assert len(passages) == 1
    (card,) = passages
    assert (card.position, card.heading) == (0, "")
    assert card.text.startswith("Bono Bilbao co-funded vouchers (Bilbao, Spain)")
    assert SHORT.summary in card.text
    assert SHORT.challenge in card.text


@pytest.fixture
def markdown_record(tmp_path: Path) -> SolutionRecord:
    path = tmp_path / "doc.md"
    path.write_text("---\nid: turin-doc\ncity: Turin\ncountry: Italy\ntitle: Facilito Giovani\n"
                    "challenge: Young people could not start social enterprises.\n"
                    "summary: Grants and mentoring for under-35 founders.\n---\n\n"
                    + long_markdown(random.Random(7)), "utf-8")
    loaded = read_solutions([path])
    assert loaded.problems == []
    return loaded.records[0]


def test_long_markdown_gives_titled_section_passages(markdown_record: SolutionRecord) -> None:
    passages = split_passages(markdown_record, max_words=100)
    assert len(passages) >= 6
    assert [p.position for p in passages] == list(range(len(passages)))
    card, *chunks = passages
    assert "Grants and mentoring for under-35 founders." in card.text
    for p in chunks:
        first, rest = chunk_lines(p.text)
        assert p.text.startswith("Facilito Giovani")
        assert first == f"Facilito Giovani - {p.heading}"
        assert rest.strip()
    headings = [p.heading for p in chunks]
    # every section that has text keeps its heading, in document order
    assert list(dict.fromkeys(headings)) == ["In short", "Funding", "Results", "Lessons"]
    assert headings.count("Results") >= 3  # 300+ words at 100 a passage


@pytest.mark.parametrize("max_words", [40, 73, 180])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_passage_too_long_and_nothing_lost(max_words: int, seed: int) -> None:
    body = long_markdown(random.Random(seed))
    record = SolutionRecord(id="doc", city="Turin", country="Italy", title="Doc title", challenge="c",
                            summary="A short summary.", body=body)
    passages = split_passages(record, max_words=max_words)
    chunks = passages[1:]
    for p in chunks:
        _, rest = chunk_lines(p.text)
        assert 0 < len(rest.split()) <= max_words, (p.heading, len(rest.split()))
    card_first, card_rest = chunk_lines(passages[0].text)
    assert len(card_rest.split()) <= max_words
    # the body's words, in order, are exactly the words of the chunks (nothing lost, nothing repeated)
    assert [w for p in chunks for w in chunk_lines(p.text)[1].split()] == body_words(body)


def test_body_without_headings_is_chunked_under_the_title() -> None:
    record = SolutionRecord(id="plain", city="Warsaw", country="Poland", title="Warszawa wspiera", challenge="c",
                            summary="s", body="one two three\n\nfour five six seven")
    passages = split_passages(record, max_words=4)
    assert [p.text for p in passages[1:]] == ["Warszawa wspiera\none two three",
                                              "Warszawa wspiera\nfour five six seven"]
    assert all(p.heading == "" for p in passages)


def test_reference_documents_of_the_corpus_split_within_bounds() -> None:
    documents = read_solutions([CORPUS_DIR / "reference"]).records
    assert len(documents) == 4
    for doc in documents:
        passages = split_passages(doc)
        assert len(passages) >= 3, doc.id
        chunks = passages[1:]
        assert all(len(chunk_lines(p.text)[1].split()) <= 180 for p in chunks)
        assert [w for p in chunks for w in chunk_lines(p.text)[1].split()] == body_words(doc.body)
        assert any(p.heading for p in chunks)
        assert not any(p.heading.casefold() in UNSEARCHED_SECTIONS for p in chunks)


def test_sources_section_is_kept_out_of_the_passages() -> None:
    body = "## Funding\n\nA fund of 2 million euros.\n\n## Sources\n\nhttps://example.org/a ; https://example.org/b"
    record = SolutionRecord(id="s", city="Turin", country="Italy", title="T", challenge="c", summary="s", body=body)
    passages = split_passages(record)
    assert [p.heading for p in passages] == ["", "Funding"]
    assert not any("example.org" in p.text for p in passages)


def test_markdown_default_summary_card_stays_within_max_words(tmp_path: Path) -> None:
    path = tmp_path / "long-first.md"
    path.write_text("---\nid: d\ncity: Turin\ncountry: Italy\ntitle: T\nchallenge: c\n---\n\n"
                    + " ".join(f"w{i}" for i in range(400)) + "\n\n## Next\n\nmore text\n", "utf-8")
    (record,) = read_solutions([path]).records
    card = split_passages(record, max_words=180)[0]
    _, rest = chunk_lines(card.text)
    summary_words = len(rest.split()) - len(f"Challenge: {record.challenge}".split())
    assert summary_words <= 180
