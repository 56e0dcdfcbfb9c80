"""Export and import-all carry documents (#16): passages with their page, heading and span, a saved answer still
waiting for review, and every solution's history, through SQLite -> PostgreSQL -> SQLite with the real CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.cli import app
from bot import Runtime
from bot.store.models import Passage
from conftest import make_settings
from sqlmodel import select

DOCS = Path(__file__).resolve().parent / "data" / "docs"
GUIDE, WORD, PAGE = (DOCS / "community-energy-guide.pdf", DOCS / "lamarca-social-clauses.docx",
                     DOCS / "ostrenz-repair-cafes.html")
OPTIONS = ("--provenance", "reference", "--city", "Valmora", "--country", "Examplia",
           "--source-url", "https://example.org/community-energy-guide.pdf")
ON_PAGE_14 = "How much money did the Valmora region put into its revolving loan fund, and at what interest rate?"

pytestmark = [pytest.mark.usefixtures("restore_logging"), pytest.mark.timeout(600)]


def run(data_dir: Path, *args: object, **env: str):
    result = CliRunner().invoke(app, [str(a) for a in args], env={"RRR_DATA_DIR": str(data_dir), **env})
    assert "Traceback" not in result.output, result.output
    assert result.exit_code == 0, result.output
    return result


def passages(rt: Runtime) -> list[tuple]:
    """Every passage as (id, solution, position, heading, page, span, text)."""
    with rt.db.session() as session:
        return sorted((p.id, p.solution_id, p.position, p.heading, p.page, p.char_start, p.char_end, p.text)
                      for p in session.exec(select(Passage)).all())


def history(data_dir: Path, solution_id: str, **env: str) -> list[dict]:
    return json.loads(run(data_dir, "kb", "history", solution_id, "--json", **env).stdout)


@pytest.fixture(scope="module")
def exported(seeded_template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A network with three documents, a pending and an approved saved answer and an edited record, exported."""
    base = tmp_path_factory.mktemp("documents-export")
    data = base / "data"
    shutil.copytree(seeded_template, data)
    run(data, "kb", "import", GUIDE, WORD, PAGE, *OPTIONS)
    with Runtime.open(make_settings(data)) as rt:
        pending = rt.knowledge.save_answer(title="Tool library", city="Dublin", country="Ireland",
                                           summary="Residents borrow tools from a shared library run by volunteers.",
                                           saved_by="slack:U2")
        approved = rt.knowledge.save_answer(title="Repair cafes in libraries", city="Ljubljana", country="Slovenia",
                                            summary="Volunteers repair household items in libraries.",
                                            saved_by="slack:U3")
        rt.knowledge.approve(approved, "slack:UBOSS")
        unedited = passages(rt)
    run(data, "kb", "edit", "community-energy-guide", "--summary", "A practice guide for Valmora's councils.",
        "--by", "slack:UBOSS")
    with Runtime.open(make_settings(data)) as rt:
        before = passages(rt)
    run(data, "export", base / "network.jsonl.gz")
    ids = ("community-energy-guide", pending, approved)
    return {"data": data, "file": base / "network.jsonl.gz", "pending": pending, "approved": approved,
            "unedited": unedited, "passages": before, "history": {i: history(data, i) for i in ids}}


def imported_into(target: Path, exported: dict, **env: str) -> None:
    run(target, "import-all", exported["file"], **env)


def assert_moved(target: Path, exported: dict, **env: str) -> None:
    """Passages (ids, places, pages, headings, spans, texts), the pending answer and every history arrived, and the
    index was rebuilt from them."""
    with Runtime.open(make_settings(target, **env)) as rt:
        after = passages(rt)
        waiting = [s.id for s in rt.knowledge.pending()]
    assert after == exported["passages"]
    assert waiting == [exported["pending"]]
    pending = json.loads(run(target, "kb", "pending", "--json", **env).stdout)
    assert [(p["id"], p["saved_by"]) for p in pending] == [(exported["pending"], "slack:U2")]
    for solution_id, steps in exported["history"].items():
        assert history(target, solution_id, **env) == steps
    found = json.loads(run(target, "ask", ON_PAGE_14, "--json", **env).stdout)["results"][0]
    assert (found["id"], found["passage"]["page"]) == ("community-energy-guide", 14)


def test_documents_pending_answers_and_history_survive_export_and_import_all(exported: dict, tmp_path: Path) -> None:
    edited = [row for row in exported["passages"] if row[1] == "community-energy-guide"]
    assert any(row[4] == 14 and row[5] is not None for row in edited)  # pages and spans were there to be moved
    target = tmp_path / "moved"
    imported_into(target, exported)
    assert_moved(target, exported)
    again = json.loads(run(target, "kb", "import", GUIDE, *OPTIONS, "--json").stdout)
    assert again["passages"] == 1, again  # the file's own summary comes back; every other passage was kept
    highest = max(row[0] for row in exported["passages"])
    with Runtime.open(make_settings(target)) as rt:  # new passages get ids past the imported ones
        rt.knowledge.save_answer(title="Seed library", city="Turin", country="Italy", saved_by="slack:U4",
                                 summary="Gardeners swap seeds at the district library.")
        new_ids = [row[0] for row in passages(rt) if row[1].startswith("turin-seed-library")]
    assert new_ids and min(new_ids) > highest


def test_the_same_moves_into_postgresql(exported: dict, tmp_path: Path, postgres_url: str) -> None:
    target = tmp_path / "moved"
    imported_into(target, exported, RRR_DATABASE__URL=postgres_url)
    assert_moved(target, exported, RRR_DATABASE__URL=postgres_url)


def test_editing_a_documents_summary_keeps_its_passages_pages_and_spans(exported: dict) -> None:
    def guide(rows: list[tuple]) -> list[tuple]:
        return [row[:7] for row in rows if row[1] == "community-energy-guide" and row[2] > 0]

    assert guide(exported["passages"]) == guide(exported["unedited"])  # same ids: nothing embedded again
    assert {row[4] for row in guide(exported["passages"])} >= set(range(3, 39))
    [card] = [row for row in exported["passages"] if row[1] == "community-energy-guide" and row[2] == 0]
    assert card[7].endswith("A practice guide for Valmora's councils.")
