"""The knowledge importers: JSON Lines, CSV and Markdown in, records or problems (with file and line) out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot import SolutionCard
from bot.replies import PROVENANCE_LABELS
from knowledge import PROVENANCES, Problem, SolutionRecord, read_cities, read_solutions
from knowledge.corpus import CITIES_FILE, CORPUS_DIR, SOLUTION_PATHS
from knowledge.text import fold

GOOD = {"id": "bilbao-test-vouchers", "city": "Bilbao", "country": "Spain", "title": "Test vouchers",
        "challenge": "Shops were empty.", "summary": "The city paid half of each voucher; 800 shops took part.",
        "tags": ["local-commerce", "vouchers"], "source_url": "https://example.org/vouchers", "language": "es",
        "provenance": "context"}


def record(**changes) -> dict:
    """A valid raw record with ``changes`` applied (a value of ``...`` removes the field)."""
    data = {**GOOD, **changes}
    return {k: v for k, v in data.items() if v is not ...}


def write_jsonl(path: Path, *rows: dict | str) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows) + "\n",
                    "utf-8")
    return path


def only_problem(loaded, path: Path) -> Problem:
    assert len(loaded.problems) == 1, loaded.problems
    problem = loaded.problems[0]
    assert problem.path == str(path)
    return problem


LONG_BODY = "\n\n".join([
    "# Youth incubator",
    "The city ran a social enterprise incubator for people under 35, with grants and mentoring for each team.",
    "## Funding",
    " ".join(f"funding{i}" for i in range(150)),
    "A second paragraph about money: the fund held 1.2 million euros over three years.",
    "## Results",
    " ".join(f"result{i}" for i in range(220)),
    "- 40 teams mentored\n- 12 companies founded",
])

MARKDOWN = f"""---
id: turin-test-incubator
city: Turin
country: Italy
title: "Youth incubator: a test"
challenge: Young people could not start social enterprises.
tags: [incubation, youth]
source_url: https://example.org/turin
language: it
provenance: rrr
---

{LONG_BODY}
"""


# -- the three formats -------------------------------------------------------------------------------------------


def test_jsonl_reads_every_field(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s.jsonl", record(), "", record(id="dublin-two", city="Dublin", country="Ireland",
                                                                  tags=["A", "a", " b "], language="EN",
                                                                  provenance="RRR", source_url=...))
    loaded = read_solutions([path])
    assert loaded.problems == []
    first, second = loaded.records
    assert first == SolutionRecord(id="bilbao-test-vouchers", city="Bilbao", country="Spain", title="Test vouchers",
                                   challenge="Shops were empty.", summary=GOOD["summary"],
                                   tags=("local-commerce", "vouchers"), source_url="https://example.org/vouchers",
                                   language="es", provenance="context")
    assert second.tags == ("a", "b")  # folded, stripped and deduplicated, in order
    assert (second.language, second.provenance, second.source_url) == ("en", "rrr", None)


def test_csv_has_the_same_columns_and_tags_split_on_semicolons(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text(
        "id,city,country,title,challenge,summary,tags,source_url,language,provenance\n"
        'bilbao-csv,Bilbao,Spain,CSV vouchers,"Shops, bars and cafés were empty.",'
        '"Half of each voucher paid; 63,603 sold.",local-commerce;vouchers,https://example.org/b,es,context\n'
        "dublin-csv,Dublin,Ireland,Awards,No visibility.,Grants for 30 social enterprises.,,,,\n",
        "utf-8",
    )
    loaded = read_solutions([path])
    assert loaded.problems == []
    assert [r.id for r in loaded.records] == ["bilbao-csv", "dublin-csv"]
    bilbao, dublin = loaded.records
    assert bilbao.tags == ("local-commerce", "vouchers")
    assert bilbao.challenge == "Shops, bars and cafés were empty."
    assert bilbao.summary == "Half of each voucher paid; 63,603 sold."
    # empty cells mean "not given": the defaults apply
    assert (dublin.tags, dublin.source_url, dublin.language, dublin.provenance) == ((), None, "en", "network")


def test_markdown_front_matter_and_long_body(tmp_path: Path) -> None:
    path = tmp_path / "turin.md"
    path.write_text(MARKDOWN, "utf-8")
    loaded = read_solutions([path])
    assert loaded.problems == []
    (rec,) = loaded.records
    assert rec.id == "turin-test-incubator"
    assert rec.title == "Youth incubator: a test"
    assert rec.tags == ("incubation", "youth")
    assert (rec.language, rec.provenance) == ("it", "rrr")
    assert rec.body == LONG_BODY.strip()
    assert "## Results" in rec.body and "result219" in rec.body
    # without a summary field, the first paragraph that is not a heading becomes the summary
    assert rec.summary.startswith("The city ran a social enterprise incubator")


def test_markdown_numbers_in_front_matter_become_text(tmp_path: Path) -> None:
    path = tmp_path / "n.md"
    path.write_text("---\nid: n1\ncity: Warsaw\ncountry: Poland\ntitle: 2020\nchallenge: c\nsummary: 15\n---\nBody.\n",
                    "utf-8")
    loaded = read_solutions([path])
    assert loaded.problems == []
    assert (loaded.records[0].title, loaded.records[0].summary) == ("2020", "15")


# -- bad input: each gives a Problem with the file and the line ---------------------------------------------------


@pytest.mark.parametrize("bad, words", [
    (record(id=...), "missing required field(s): id"),
    (record(summary="   "), "missing required field(s): summary"),
    (record(city=..., country=...), "city, country"),
    (record(tags=5), "'tags' must be a list of strings"),
    (record(tags=["ok", 3]), "'tags' must be a list of strings"),
    (record(source_url=7), "'source_url' must be a string"),
    (record(author="Ana"), "unknown field(s): author"),
    (record(id="Bilbao Vouchers!"), "lowercase slug"),
    (record(id="x" * 121), "lowercase slug"),
    (record(language="english"), "ISO 639-1"),
    (record(provenance="official"), "provenance 'official' must be one of"),
    (record(source_url="ftp://example.org/file"), "must be an http(s) URL"),
    (record(source_url="javascript:alert(1)"), "must be an http(s) URL"),
    ("[1, 2, 3]", "expected an object"),
    ('{"id": "broken", "city": ', "not valid JSON"),
])
def test_jsonl_bad_line_names_file_and_line(tmp_path: Path, bad, words: str) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", record(id="good-one"), "", bad, record(id="good-two"))
    loaded = read_solutions([path])
    problem = only_problem(loaded, path)
    assert problem.line == 3
    assert words in problem.message
    assert str(problem).startswith(f"{path}:3: ")
    # the valid lines around the bad one are still returned (the caller decides to refuse or skip)
    assert [r.id for r in loaded.records] == ["good-one", "good-two"]


def test_title_as_list_is_a_problem_at_its_line(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", record(title=["a", "b"]))
    problem = only_problem(read_solutions([path]), path)
    assert problem.line == 1
    assert "title" in problem.message


def test_title_as_list_says_it_must_be_a_string(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", record(title=["a", "b"]))
    problem = only_problem(read_solutions([path]), path)
    assert "must be a string" in problem.message


def test_duplicate_id_inside_one_file(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", record(), record(id="other"), record(summary="A second version."))
    loaded = read_solutions([path])
    problem = only_problem(loaded, path)
    assert problem.line == 3
    assert "duplicate id 'bilbao-test-vouchers'" in problem.message
    assert f"{path}:1" in problem.message  # where the first one is
    assert [r.id for r in loaded.records] == ["bilbao-test-vouchers", "other"]
    assert loaded.records[0].summary == GOOD["summary"]  # the first one wins


def test_duplicate_id_across_files(tmp_path: Path) -> None:
    first = write_jsonl(tmp_path / "a.jsonl", record(id="other"), record())
    second = tmp_path / "b.csv"
    second.write_text("id,city,country,title,challenge,summary\n"
                      "fresh,Turin,Italy,T,C,S\n"
                      "bilbao-test-vouchers,Bilbao,Spain,Again,C,S\n", "utf-8")
    loaded = read_solutions([first, second])
    problem = only_problem(loaded, second)
    assert problem.line == 3
    assert "duplicate id" in problem.message and f"{first}:2" in problem.message
    assert [r.id for r in loaded.records] == ["other", "bilbao-test-vouchers", "fresh"]


def test_csv_bad_row_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("id,city,country,title,challenge,summary,tags\n"
                    "ok-1,Turin,Italy,T,C,S,a;b\n"
                    "Bad Id,Turin,Italy,T,C,S,\n"
                    "ok-2,Turin,Italy,T,C,S,,extra-cell\n"
                    "ok-3,Turin,Italy,T,C,S,\n", "utf-8")
    loaded = read_solutions([path])
    assert [(p.line, p.path) for p in loaded.problems] == [(3, str(path)), (4, str(path))]
    assert "lowercase slug" in loaded.problems[0].message
    assert "more cells than header columns" in loaded.problems[1].message
    assert [r.id for r in loaded.records] == ["ok-1", "ok-3"]


def test_csv_unknown_column(tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_text("id,city,country,title,challenge,summary,author\nx,Turin,Italy,T,C,S,Ana\n", "utf-8")
    problem = only_problem(read_solutions([path]), path)
    assert problem.line == 2 and "unknown field(s): author" in problem.message


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin.jsonl"
    path.write_bytes(b"\xff\xfe{\x00\"\x00i\x00d\x00\"\x00")
    loaded = read_solutions([path])
    problem = only_problem(loaded, path)
    assert "not UTF-8" in problem.message
    assert loaded.records == []


def test_utf8_with_bom_is_read(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(record(city="Montréal")).encode("utf-8") + b"\n")
    loaded = read_solutions([path])
    assert loaded.problems == [] and loaded.records[0].city == "Montréal"


@pytest.mark.parametrize("text, line, words", [
    ("id: x\ncity: Turin\n---\nbody\n", 1, "missing front-matter header"),
    ("", 1, "missing front-matter header"),
    ("---\nid: x\ncity: Turin\n\nBody without a closing line.\n", 1, "not closed"),
    ("---\nid: x\ncity: [Turin\n---\nBody.\n", None, "not valid YAML"),
    ("---\n- a\n- b\n---\nBody.\n", 2, "must be a mapping"),
])
def test_markdown_front_matter_problems(tmp_path: Path, text: str, line: int | None, words: str) -> None:
    path = tmp_path / "doc.md"
    path.write_text(text, "utf-8")
    problem = only_problem(read_solutions([path]), path)
    assert words in problem.message
    if line is not None:
        assert problem.line == line
    else:
        assert isinstance(problem.line, int) and problem.line >= 2  # a line inside the front matter


def test_markdown_invalid_record_names_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad-lang.md"
    path.write_text(MARKDOWN.replace("language: it", "language: italian"), "utf-8")
    problem = only_problem(read_solutions([path]), path)
    assert "language 'italian'" in problem.message
    assert str(problem).startswith(str(path))


def test_unsupported_extension_and_missing_file(tmp_path: Path) -> None:
    text_file = tmp_path / "notes.txt"
    text_file.write_text(json.dumps(record()), "utf-8")
    missing = tmp_path / "nowhere.jsonl"
    loaded = read_solutions([text_file, missing])
    assert loaded.records == []
    assert [p.path for p in loaded.problems] == [str(text_file), str(missing)]
    assert "unknown file type '.txt'; use .pdf, .docx, .html, .md" in loaded.problems[0].message
    assert "file not found" in loaded.problems[1].message


def test_folders_are_expanded_and_readme_skipped(tmp_path: Path) -> None:
    folder = tmp_path / "kb"
    (folder / "sub").mkdir(parents=True)
    write_jsonl(folder / "a.jsonl", record(id="from-jsonl"))
    (folder / "sub" / "b.csv").write_text("id,city,country,title,challenge,summary\nfrom-csv,Turin,Italy,T,C,S\n",
                                          "utf-8")
    (folder / "c.md").write_text(MARKDOWN, "utf-8")
    (folder / "README.md").write_text("# Not a record\n\nNo front matter here.\n", "utf-8")
    (folder / "sub" / "readme.MD").write_text("no front matter either\n", "utf-8")
    (folder / "notes.txt").write_text("ignored inside a folder\n", "utf-8")
    loaded = read_solutions([folder])
    assert loaded.problems == []
    assert sorted(r.id for r in loaded.records) == ["from-csv", "from-jsonl", "turin-test-incubator"]


# -- the bundled corpus ------------------------------------------------------------------------------------------


def test_bundled_corpus_loads_without_problems() -> None:
    solutions = read_solutions(SOLUTION_PATHS)
    cities = read_cities(CITIES_FILE)
    assert solutions.problems == [] and cities.problems == []
    assert len(cities.records) == 9
    assert len(solutions.records) >= 39
    assert all(r.source_url for r in solutions.records), "every seed record gives its source"


def test_every_corpus_solution_city_is_a_network_city() -> None:
    cities = {fold(c.name) for c in read_cities(CITIES_FILE).records}
    practices = read_solutions([CORPUS_DIR / "solutions.jsonl"]).records
    assert len(practices) == 35
    assert [r.id for r in practices if fold(r.city) not in cities] == []
    # the long reference documents are about the project or the OECD, not a city
    documents = read_solutions([CORPUS_DIR / "reference"]).records
    assert {r.city for r in documents} == {"International"}


def test_context_records_are_never_labelled_as_rrr_practice() -> None:
    records = read_solutions(SOLUTION_PATHS).records
    context = [r for r in records if r.provenance == "context"]
    assert context, "the corpus has context records"
    for r in records:
        assert r.provenance in PROVENANCES and r.provenance in PROVENANCE_LABELS
    for r in context:
        label = PROVENANCE_LABELS[r.provenance]
        assert label != PROVENANCE_LABELS["rrr"]
        assert "not confirmed" in label, (r.id, label)
        assert "RRR city practice" not in label


def test_project_overview_is_not_labelled_as_a_city_practice() -> None:
    from bot.replies import answer_reply
    from bot.services import Answer, AskResult

    (overview,) = [r for r in read_solutions(SOLUTION_PATHS).records if r.id == "rrr-project-overview"]
    answer = Answer(id=overview.id, title=overview.title, city=overview.city, country=overview.country, score=0.9,
                    source_url=overview.source_url, summary=overview.summary, provenance=overview.provenance,
                    kind=overview.kind)
    reply = answer_reply(AskResult("what was RRR?", "answered", (answer,), 0.5))
    (card,) = [b for b in reply.blocks if isinstance(b, SolutionCard)]
    assert "city practice" not in card.provenance
    assert overview.kind == "reference" and "Background reading:" in reply.as_text()
    assert "What peer cities did" not in reply.as_text()


@pytest.mark.parametrize(("text", "folded"), [
    ("Montréal", "montreal"), ("  São Paulo ", "sao paulo"), ("ŁÓDŹ", "łodz"), ("Straße", "strasse"),
    ("Bilbao", "bilbao"), ("ﬁnance", "finance"), ("Ｔｕｒｉｎ", "turin"), ("", ""),
])
def test_fold_lowercases_and_drops_accents_whatever_the_script(text: str, folded: str) -> None:
    assert fold(text) == folded
