"""The read-only ask path (issue #15, cold start): ``rrr-bot ask`` on the default SQLite file reads it with sqlite3
(bot.services.readonly) instead of SQLAlchemy. It must answer exactly as the full path does, and never from data
older than the database's: after an import, an edit, an approval or a rejection it answers with the change, and when
the saved index does not match the database it hands over to the full path, which rebuilds the index."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.cli import app
from bot.runtime import Runtime
from bot.services.readonly import Unavailable, open_read_only
from bot.store import Members
from knowledge import SolutionRecord

from conftest import make_settings

QUESTIONS = [
    "How did other cities fund social enterprise incubators?",
    "¿Cómo financiaron las ciudades las incubadoras de empresas sociales?",
    "Como as cidades apoiaram as cooperativas durante a pandemia?",
    "Comment les villes ont-elles soutenu l'économie sociale pendant le COVID ?",
    "Jak miasta wspierały spółdzielnie socjalne?",
    "Hoe hebben steden buurtinitiatieven gefinancierd?",
    "What is the best recipe for chocolate cake?",  # nothing matches: the closest cities are named
]


def full_and_read_only(data_dir: Path, question: str, **options) -> tuple[dict, dict]:
    """The same question asked through the runtime (SQLAlchemy) and through the read-only path."""
    settings = make_settings(data_dir)
    with Runtime.open(settings) as rt:
        full = rt.knowledge.ask(question, **options).as_dict()
    with open_read_only(settings) as search:
        fast = search.ask(question, **options).as_dict()
    return full, fast


def cli_ask(data_dir: Path, *args: str, full: bool = False) -> dict:
    """``rrr-bot ask ... --json``; with ``full``, the same database named by URL, which takes the full path."""
    env = {"RRR_DATA_DIR": str(data_dir)}
    if full:
        env["RRR_DATABASE__URL"] = f"sqlite:///{data_dir / 'rrr.db'}"
    result = CliRunner().invoke(app, ["ask", *args, "--json"], env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.usefixtures("restore_logging")
def test_the_cli_answers_the_same_on_both_paths_in_every_language_and_when_nothing_matches(seeded_dir: Path) -> None:
    verdicts = set()
    for question in QUESTIONS:
        fast = cli_ask(seeded_dir, question)
        assert fast == cli_ask(seeded_dir, question, full=True), question
        assert fast["results"], question
        verdicts.add(fast["verdict"])
    assert "answered" in verdicts and "no_match" in verdicts
    abstained = cli_ask(seeded_dir, QUESTIONS[-1])
    assert abstained["verdict"] == "no_match" and len(abstained["closest_cities"]) == 3
    for options in (["--city", "Bilbao"], ["--tag", "housing"], ["--k", "5", "--page", "2"]):
        fast = cli_ask(seeded_dir, QUESTIONS[0], *options)
        assert fast == cli_ask(seeded_dir, QUESTIONS[0], *options, full=True), options
    assert {r["city"] for r in cli_ask(seeded_dir, QUESTIONS[0], "--city", "Bilbao")["results"]} == {"Bilbao"}


def test_a_saved_answer_shows_its_saver_time_and_review_state_the_same(seeded: Runtime, seeded_dir: Path) -> None:
    with seeded.db.session() as session:  # a member with a name saves the answer
        Members(session).ensure("slack", "U42", "Ana Ruiz")
    seeded.knowledge.save_answer(title="Repair cafés in every district", city="Bilbao", country="Spain",
                                 summary="Bilbao opened 12 repair cafés run by social cooperatives in 2023.",
                                 saved_by="slack:U42")
    full, fast = full_and_read_only(seeded_dir, "Did any city open repair cafés run by cooperatives?")
    assert fast == full
    saved = [r for r in fast["results"] if r["id"] == "bilbao-repair-cafes-in-every-district"]
    assert saved and saved[0]["status"] == "pending" and saved[0]["saved_by"] == "Ana Ruiz"
    assert saved[0]["saved_at"] and saved[0]["saved_at"].endswith("+00:00")


def test_the_read_only_path_answers_with_every_change_made_since(seeded: Runtime, seeded_dir: Path) -> None:
    question = "Did any city lend money to repair cafés?"
    kb = seeded.knowledge

    def asked() -> dict:
        full, fast = full_and_read_only(seeded_dir, question, k=5)
        assert fast == full
        return fast

    assert "dublin-repair-loans" not in [r["id"] for r in asked()["results"]]
    kb.import_records([SolutionRecord(
        id="dublin-repair-loans", city="Dublin", country="Ireland", title="Repair café loans",
        challenge="Repair cafés could not buy tools", summary="Dublin lent 40 repair cafés EUR 2,000 each in 2024.")])
    found = {r["id"]: r for r in asked()["results"]}
    assert found["dublin-repair-loans"]["title"] == "Repair café loans"  # kb import

    kb.edit("dublin-repair-loans", "cli", title="Tool loans for repair cafés")
    assert {r["id"]: r for r in asked()["results"]}["dublin-repair-loans"]["title"] == "Tool loans for repair cafés"

    saved = kb.save_answer(title="Repair café grants", city="Turin", country="Italy", saved_by="slack:U7",
                           summary="Turin gave 25 repair cafés a grant of EUR 3,000 for tools in 2024.")
    assert {r["id"]: r for r in asked()["results"]}[saved]["status"] == "pending"
    kb.approve(saved, "slack:C1")  # approve
    assert {r["id"]: r for r in asked()["results"]}[saved]["status"] == "approved"

    other = kb.save_answer(title="Repair café vouchers", city="Warsaw", country="Poland", saved_by="slack:U8",
                           summary="Warsaw gave repair cafés vouchers for tools worth PLN 500 each in 2024.")
    assert other in [r["id"] for r in asked()["results"]]
    kb.reject(other, "slack:C1")  # reject
    assert other not in [r["id"] for r in asked()["results"]]


@pytest.mark.usefixtures("restore_logging")
def test_an_index_behind_the_database_hands_over_to_the_full_path(seeded_dir: Path, tmp_path: Path) -> None:
    """Another process committed an import but has not saved its index yet (or crashed before): the read-only path
    refuses the stale index, and the CLI answers through the runtime, which rebuilds it."""
    settings = make_settings(seeded_dir)
    before = tmp_path / "index-before"
    shutil.copytree(settings.index_dir, before)
    with Runtime.open(settings) as rt:
        rt.knowledge.import_records([SolutionRecord(
            id="bilbao-bike-kitchens", city="Bilbao", country="Spain", title="Bike kitchens",
            challenge="Cycling was too expensive", summary="Bilbao funded 9 community bike kitchens in 2024.")])
    shutil.rmtree(settings.index_dir)
    shutil.copytree(before, settings.index_dir)  # the index as it was before the import
    question = "Did a city fund community bike kitchens?"
    with pytest.raises(Unavailable, match="stale"), open_read_only(settings) as search:
        search.ask(question)
    answer = cli_ask(seeded_dir, question)
    assert answer["results"][0]["id"] == "bilbao-bike-kitchens"
    with open_read_only(settings) as search:  # the full path saved the rebuilt index: read-only again
        assert search.ask(question).as_dict() == answer


def test_the_read_only_path_is_not_used_on_another_database_or_schema(seeded_dir: Path, tmp_path: Path) -> None:
    import sqlite3

    with pytest.raises(Unavailable, match="default SQLite"), \
            open_read_only(make_settings(seeded_dir, RRR_DATABASE__URL=f"sqlite:///{seeded_dir / 'rrr.db'}")):
        pass
    with pytest.raises(Unavailable, match="no database"), open_read_only(make_settings(tmp_path / "empty")):
        pass
    with sqlite3.connect(seeded_dir / "rrr.db") as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0007'")
    connection.close()
    with pytest.raises(Unavailable, match="schema revision 0007"), open_read_only(make_settings(seeded_dir)):
        pass
