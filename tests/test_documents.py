"""Documents (#16): PDF, Word and HTML files imported with passages that know their page, heading path and span.

The documents are in tests/data/docs (written by make_docs.py there; committed, so no generator is needed): a
38-page PDF guide, a Word case study and a saved web page with menus, cookie banner and footer around the article.
Bad files (encrypted, scanned, truncated, empty, a ZIP posing as Word, a page of menus only, an unknown format) are
in tests/data/docs/bad.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.cli import app
from bot import Runtime
from bot.store import Solutions
from conftest import make_settings
from knowledge import read_solutions
from knowledge.documents import PATH_SEPARATOR, DocumentMeta, read_document

DOCS = Path(__file__).resolve().parent / "data" / "docs"
GUIDE = DOCS / "community-energy-guide.pdf"
WORD = DOCS / "lamarca-social-clauses.docx"
PAGE = DOCS / "ostrenz-repair-cafes.html"
BAD = DOCS / "bad"
META = DocumentMeta(city="Valmora", country="Examplia", provenance="reference")
OPTIONS = ("--provenance", "reference", "--city", "Valmora", "--country", "Examplia",
           "--source-url", "https://example.org/community-energy-guide.pdf")
LOAN_FUND = f"4 Financing{PATH_SEPARATOR}The revolving loan fund"
#: Questions whose answer is on one page of the guide: (question, page, heading path).
ON_PAGE = [
    ("How much money did the Valmora region put into its revolving loan fund, and at what interest rate did it lend?",
     14, LOAN_FUND),
    ("What fee did the ethical bank charge for managing the revolving loan fund?", 15, LOAN_FUND),
    ("After the one-stop shop opened, how long did a permit for a rooftop solar installation take?", 20,
     f"5 Sites and Permits{PATH_SEPARATOR}Permits and one-stop shops"),
    ("How many low-income households became members of the energy cooperative through donated shares?", 25,
     f"7 Energy Poverty{PATH_SEPARATOR}Solidarity tariffs and donated shares"),
]


pytestmark = pytest.mark.usefixtures("restore_logging")  # the CLI reconfigures the root logger


def run(data_dir: Path, *args: str, **env: str):
    result = CliRunner().invoke(app, [str(a) for a in args], env={"RRR_DATA_DIR": str(data_dir), **env})
    assert "Traceback" not in result.output
    if result.exception and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"unexpected crash: {result.exception!r}\n{result.output}")
    return result


def body_text(passage_text: str) -> str:
    """A passage's own words, without the title line the embedder sees."""
    return " ".join(passage_text.partition("\n")[2].split())


# -- reading -------------------------------------------------------------------------------------------------------


def test_the_guide_is_a_real_pdf_of_more_than_thirty_pages() -> None:
    from pypdf import PdfReader

    reader = PdfReader(GUIDE)
    assert len(reader.pages) >= 30
    assert "1.2 million euros" in reader.pages[13].extract_text()  # page 14, as the tests below expect


def test_pdf_passages_cite_their_page_and_heading_path() -> None:
    document = read_document(GUIDE, GUIDE.read_bytes(), META)
    record = document.record
    assert record.title == "Municipal Support for Community Energy Cooperatives: A Practice Guide"  # PDF metadata
    assert record.id == "community-energy-guide" and record.kind == "reference" and record.language == "en"
    by_words = {body_text(p.text): p for p in document.passages[1:]}
    fund = next(p for text, p in by_words.items() if "1.2 million euros" in text)
    assert (fund.page, fund.heading) == (14, LOAN_FUND)
    # the section goes on over the page: the next page's passage keeps the heading and has its own page
    bank = next(p for text, p in by_words.items() if "ethical bank for a fee of 0.5 percent" in text)
    assert (bank.page, bank.heading) == (15, LOAN_FUND)
    permits = next(p for text, p in by_words.items() if "seven months to ten weeks" in text)
    assert permits.page == 20 and permits.heading.endswith("Permits and one-stop shops")
    pages = [p.page for p in document.passages[1:]]
    assert pages == sorted(pages) and set(pages) >= set(range(3, 39))  # every page of text, in order


def test_a_pdf_without_bookmarks_takes_its_headings_from_font_sizes(tmp_path: Path) -> None:
    import io

    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(GUIDE).pages:  # the pages alone: no outline, no title in the metadata
        writer.add_page(page)
    buffer = io.BytesIO()
    writer.write(buffer)
    assert not PdfReader(io.BytesIO(buffer.getvalue())).outline
    document = read_document(tmp_path / "guide.pdf", buffer.getvalue(), META)
    assert document.record.title == "Municipal Support for Community Energy Cooperatives: A Practice Guide"  # cover
    fund = next(p for p in document.passages if "1.2 million euros" in p.text)
    assert (fund.page, fund.heading) == (14, LOAN_FUND)


def test_each_passage_span_points_at_its_text_in_the_body() -> None:
    for path in (GUIDE, WORD, PAGE):
        document = read_document(path, path.read_bytes(), META)
        body = document.record.body
        for passage in document.passages[1:]:
            assert passage.start is not None and passage.end is not None
            assert " ".join(body[passage.start:passage.end].split()) == body_text(passage.text), passage


def test_running_headers_and_footers_of_the_pdf_are_dropped() -> None:
    body = read_document(GUIDE, GUIDE.read_bytes(), META).record.body
    assert "Valmora Working Group - Community Energy Practice Guide" not in body
    assert "Page 15" not in body


def test_word_headings_by_style_and_title_from_the_document() -> None:
    document = read_document(WORD, WORD.read_bytes(), META)
    assert document.record.title == "Social Clauses in Public Procurement: The Lamarca Experience"
    park = next(p for p in document.passages if "180,000 euros" in p.text)
    assert park.heading == f"The reserved contracts{PATH_SEPARATOR}Park maintenance" and park.page is None


def test_web_page_keeps_the_article_and_drops_menus_banner_and_footer() -> None:
    document = read_document(PAGE, PAGE.read_bytes(), META)
    body = document.record.body
    assert document.record.title == "Repair cafes in Ostrenz"
    assert "volunteers with skills in electronics" in body and "eleven tonnes of waste" in body
    for boilerplate in ("We use cookies", "Jobs at the town hall", "All rights reserved", "Opening hours"):
        assert boilerplate not in body
    tools = next(p for p in document.passages if "8,000 euros" in p.text)
    assert tools.heading == f"How the town supports them{PATH_SEPARATOR}Tools and spare parts"


def test_language_is_detected_and_options_win_over_the_document(tmp_path: Path) -> None:
    page = tmp_path / "cafes.html"
    page.write_text(
        "<html><body><nav>Inicio Noticias</nav><main><h1>Cafés de reparación</h1><p>Desde 2019 la ciudad apoya "
        "una red de cafés de reparación que gestiona una asociación del barrio. Una vez al mes, los voluntarios "
        "ayudan a los vecinos a reparar sus objetos en lugar de tirarlos, y el ayuntamiento presta las salas "
        "sin coste para la asociación.</p></main></body></html>", "utf-8")
    detected = read_document(page, page.read_bytes(), META)
    assert detected.record.language == "es" and detected.record.title == "Cafés de reparación"
    chosen = read_document(page, page.read_bytes(), DocumentMeta(
        city="Valmora", country="Examplia", provenance="rrr-city", language="pt", title="Another title"))
    assert chosen.record.language == "pt" and chosen.record.title == "Another title"
    assert chosen.record.kind == "practice"  # only reference provenance makes background reading


# -- bad input -----------------------------------------------------------------------------------------------------


BAD_FILES = {
    "encrypted.pdf": "encrypted with a password; save a copy without the password",
    "scanned.pdf": "no text layer (a scan?); run it through OCR first",
    "truncated.pdf": "not a readable PDF (damaged or cut short",
    "empty.pdf": "the file is empty (0 bytes)",
    "not-word.docx": "not a Word document (a ZIP archive without word/document.xml)",
    "navigation-only.html": "no main text found on the page",
    "slides.pptx": "unknown file type '.pptx'; use .pdf, .docx, .html, .md, .jsonl or .csv",
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_each_bad_file_is_one_problem_naming_the_file_and_what_to_do(name: str) -> None:
    loaded = read_solutions([BAD / name], documents=META)
    assert loaded.records == []
    (problem,) = loaded.problems
    assert problem.path == str(BAD / name) and BAD_FILES[name] in problem.message
    assert "\n" not in str(problem)


def test_a_word_file_with_broken_xml_inside_is_one_line_too(tmp_path: Path) -> None:
    import zipfile

    broken = tmp_path / "broken.docx"
    with zipfile.ZipFile(WORD) as source, zipfile.ZipFile(broken, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            target.writestr(name, data[: len(data) // 2] if name == "word/document.xml" else data)
    (problem,) = read_solutions([broken], documents=META).problems
    assert problem.message.startswith("could not be read (XMLSyntaxError") and "save it again" in problem.message
    assert "\n" not in str(problem)


def test_documents_need_provenance_city_and_country() -> None:
    (problem,) = read_solutions([PAGE]).problems
    assert "documents need --provenance, --city, --country" in problem.message


def test_a_sidecar_file_says_what_the_document_cannot(tmp_path: Path) -> None:
    page = tmp_path / "cafes.html"
    shutil.copy(PAGE, page)
    (tmp_path / "cafes.html.yaml").write_text(
        "city: Ostrenz\ncountry: Examplia\nprovenance: rrr-city\ntitle: Ostrenz repair cafes\ntags: [circular]\n",
        "utf-8")
    (record,) = [d.record for d in read_solutions([tmp_path], documents=DocumentMeta(city="Valmora")).records]
    assert (record.city, record.country, record.provenance, record.title, record.tags) == (
        "Ostrenz", "Examplia", "rrr-city", "Ostrenz repair cafes", ("circular",))
    (tmp_path / "cafes.html.yaml").write_text("city: Ostrenz\npages: 3\n", "utf-8")
    (problem,) = read_solutions([page], documents=META).problems
    assert problem.path == str(page) and "cafes.html.yaml has unknown key(s) pages" in problem.message


def test_a_file_over_the_size_cap_is_refused_unread() -> None:
    (problem,) = read_solutions([GUIDE], documents=META, max_bytes=10_000).problems
    assert "larger than" in problem.message and "[knowledge] max_file_mb" in problem.message


def test_bad_files_import_nothing_and_skip_invalid_imports_the_rest(tmp_path: Path) -> None:
    data = tmp_path / "data"
    folder = tmp_path / "docs"
    shutil.copytree(BAD, folder)
    shutil.copy(PAGE, folder)
    shutil.copy(WORD, folder)
    # a folder's files of unknown types are passed over; one named on the command line is refused
    refused = run(data, "kb", "import", folder, folder / "slides.pptx", *OPTIONS)
    assert refused.exit_code == 1
    for name in BAD_FILES:
        line = next(line for line in refused.output.splitlines() if f"{name}:" in line)
        assert BAD_FILES[name] in line
    assert "nothing imported" in refused.output and "--skip-invalid" in refused.output
    assert json.loads(run(data, "kb", "list", "--json").stdout) == []
    skipped = run(data, "kb", "import", folder, folder / "slides.pptx", *OPTIONS, "--skip-invalid", "--json")
    assert skipped.exit_code == 0, skipped.output
    report = json.loads(skipped.stdout)
    assert sorted(report["ids"]) == ["lamarca-social-clauses", "ostrenz-repair-cafes"]
    assert len(report["skipped"]) == len(BAD_FILES)
    listed = json.loads(run(data, "kb", "list", "--json").stdout)
    assert sorted(item["id"] for item in listed) == ["lamarca-social-clauses", "ostrenz-repair-cafes"]


def test_the_size_cap_comes_from_the_settings(tmp_path: Path) -> None:
    result = run(tmp_path / "data", "kb", "import", GUIDE, *OPTIONS, RRR_KNOWLEDGE__MAX_FILE_MB="0.01")
    assert result.exit_code == 1
    assert f"{GUIDE}: larger than 0.01 MB (the import limit, [knowledge] max_file_mb)" in result.output


# -- importing and asking ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def documents_dir(seeded_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seeded network with the three documents imported through ``rrr-bot kb import`` (read only)."""
    data = tmp_path_factory.mktemp("documents") / "data"
    shutil.copytree(seeded_template, data)
    result = run(data, "kb", "import", GUIDE, WORD, PAGE, *OPTIONS, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["added"] == 3
    return data


@pytest.mark.parametrize(("question", "page", "heading"), ON_PAGE, ids=[str(p) for _, p, _ in ON_PAGE])
def test_a_question_answered_on_page_n_gets_a_result_citing_page_n(documents_dir: Path, question: str, page: int,
                                                                   heading: str) -> None:
    data = json.loads(run(documents_dir, "ask", question, "--json").stdout)
    (guide,) = [r for r in data["results"] if r["id"] == "community-energy-guide"]
    assert guide["passage"]["page"] == page and guide["passage"]["heading"] == heading
    assert guide["link"] == f"https://example.org/community-energy-guide.pdf#page={page}"
    assert guide["source_url"] == "https://example.org/community-energy-guide.pdf"


def test_the_console_card_cites_the_page_heading_and_provenance(documents_dir: Path) -> None:
    question, page, heading = ON_PAGE[0]
    text = run(documents_dir, "ask", question).stdout
    assert f"Matched passage (p. {page}, {heading}): “" in text
    assert "1.2 million euros" in text and "background reading" in text
    assert f"source: https://example.org/community-energy-guide.pdf#page={page}" in text


def test_word_and_web_results_have_no_page(documents_dir: Path) -> None:
    data = json.loads(run(documents_dir, "ask", "How much was the park maintenance contract reserved for work "
                                               "integration enterprises worth?", "--json").stdout)
    (word,) = [r for r in data["results"] if r["id"] == "lamarca-social-clauses"]
    assert word["passage"] == {"heading": f"The reserved contracts{PATH_SEPARATOR}Park maintenance", "page": None,
                               "text": word["passage"]["text"]}
    assert "180,000 euros" in word["passage"]["text"] and word["link"] == word["source_url"]


def test_reimporting_a_changed_document_embeds_only_its_changed_passages(tmp_path: Path) -> None:
    page = tmp_path / "ostrenz-repair-cafes.html"
    shutil.copy(PAGE, page)
    with Runtime.open(make_settings(tmp_path / "data")) as rt:
        kb = rt.knowledge
        first = kb.import_records([read_document(page, page.read_bytes(), META)])
        assert (first.added, first.passages, first.kept) == (1, 6, 0)
        with rt.db.session() as session:
            before = {p.text: p.id for p in session.exec(_passages("ostrenz-repair-cafes"))}
        again = kb.import_records([read_document(page, page.read_bytes(), META)])
        assert (again.unchanged, again.passages) == (1, 0)
        page.write_text(PAGE.read_text("utf-8").replace("repaired 1,650 objects", "repaired 1,720 objects"), "utf-8")
        changed = kb.import_records([read_document(page, page.read_bytes(), META)])
        assert (changed.updated, changed.passages, changed.kept) == (1, 1, 5)
        with rt.db.session() as session:
            after = {p.text: p.id for p in session.exec(_passages("ostrenz-repair-cafes"))}
        kept = set(before) & set(after)
        assert len(kept) == 5 and all(before[t] == after[t] for t in kept)  # same rows, so the same vectors
        (new_id,) = set(after.values()) - set(before.values())
        assert new_id > max(before.values())  # a new id: never one a removed passage had
        answer = kb.ask("How many objects did the repair cafes repair in 2023?").results[0]
        assert answer.id == "ostrenz-repair-cafes" and "1,720 objects" in answer.passage


def _passages(solution_id: str):
    from sqlmodel import select

    from bot.store.models import Passage

    return select(Passage).where(Passage.solution_id == solution_id)


# -- a killed import -----------------------------------------------------------------------------------------------


ROOT = Path(__file__).resolve().parent.parent


def _import_killed_at(data: Path, marker: str) -> None:
    """Start ``rrr-bot -v kb import GUIDE`` in a real process and SIGKILL it when its log says ``marker``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RRR_")}
    env.update(RRR_DATA_DIR=str(data), PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")  # this checkout's code
    proc = subprocess.Popen([sys.executable, "-c", "from adapters.cli import main; main()", "-v", "kb", "import",
                             str(GUIDE), *OPTIONS], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if marker in line:
                proc.send_signal(signal.SIGKILL)
                break
        else:
            raise AssertionError(f"the import never logged {marker!r}")
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _consistent(data: Path) -> int:
    """Check the database and the saved index agree after a question (which rebuilds a stale index); return how
    many passages the guide has (0 or all of them: never part)."""
    from knowledge import VectorIndex, fingerprint

    with Runtime.open(make_settings(data)) as rt:
        rt.knowledge.ask(ON_PAGE[0][0])
        with rt.db.session() as session:
            rows = Solutions(session).passages()
            guide = len(list(session.exec(_passages("community-energy-guide"))))
        _, manifest = VectorIndex.load(rt.knowledge.index_dir)
    assert manifest.count == len(rows)
    assert manifest.fingerprint == fingerprint([(pid, digest) for pid, _, _, digest in rows])
    whole = len(read_document(GUIDE, GUIDE.read_bytes(), META).passages)
    assert guide in (0, whole), f"{guide} of {whole} passages: half imported"
    return guide


def test_a_sigkill_midway_leaves_database_and_index_consistent(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert run(data, "kb", "import", PAGE, *OPTIONS).exit_code == 0  # an index on disk before the kills
    _import_killed_at(data, "embedding")  # while embedding: before the transaction
    assert _consistent(data) == 0
    stale = tmp_path / "index-before"
    shutil.copytree(make_settings(data).index_dir, stale)
    _import_killed_at(data, "stored")  # just after the commit, before the index is saved (or just after)
    _consistent(data)
    assert run(data, "kb", "import", GUIDE, *OPTIONS).exit_code == 0  # finishes the job, or finds nothing to do
    # the exact moment between the commit and the index save: the database ahead of the index on disk
    index_dir = make_settings(data).index_dir
    shutil.rmtree(index_dir)
    shutil.copytree(stale, index_dir)
    assert _consistent(data) == len(read_document(GUIDE, GUIDE.read_bytes(), META).passages)
    question, page, _ = ON_PAGE[0]
    answer = json.loads(run(data, "ask", question, "--json").stdout)["results"]
    assert [r["passage"]["page"] for r in answer if r["id"] == "community-energy-guide"] == [page]
