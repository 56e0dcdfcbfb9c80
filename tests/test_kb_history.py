"""A solution's history (#16 review queue): saved, edited, approved, rejected, imported, removed, each with who and
when and, for changes, each field's old and new value; ``rrr-bot kb edit`` and ``rrr-bot kb history``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.cli import app
from bot import Runtime
from bot.errors import InvalidInput, NotFound
from conftest import make_settings


pytestmark = pytest.mark.usefixtures("restore_logging")  # the CLI reconfigures the root logger


def run(data: Path, *args: str):
    result = CliRunner().invoke(app, [str(a) for a in args], env={"RRR_DATA_DIR": str(data)})
    assert "Traceback" not in result.output
    if result.exception and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"unexpected crash: {result.exception!r}\n{result.output}")
    return result


def save(rt: Runtime, title: str = "Tool library in the old market") -> str:
    return rt.knowledge.save_answer(title=title, city="Turin", country="Italy", saved_by="slack:U1",
                                    summary="Residents borrow tools for free from a library run by volunteers.")


def test_a_saved_answer_edited_then_approved_keeps_its_history(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Runtime.open(make_settings(data)) as rt:
        solution_id = save(rt)
        rt.knowledge.edit(solution_id, "slack:UCOORD", summary="Residents borrow tools for free; 300 members.")
        assert rt.knowledge.get(solution_id).status == "pending"  # an edit is not an approval
        rt.knowledge.approve(solution_id, "slack:UCOORD")
    steps = json.loads(run(data, "kb", "history", solution_id, "--json").stdout)
    assert [(s["action"], s["by"]) for s in steps] == [("saved", "slack:U1"), ("edited", "slack:UCOORD"),
                                                       ("approved", "slack:UCOORD")]
    assert steps[0]["changes"]["title"] == [None, "Tool library in the old market"]
    assert steps[1]["changes"] == {"summary": ["Residents borrow tools for free from a library run by volunteers.",
                                               "Residents borrow tools for free; 300 members."]}
    assert steps[2]["changes"] == {}
    assert steps[0]["at"] <= steps[1]["at"] <= steps[2]["at"]
    text = run(data, "kb", "history", solution_id).stdout
    assert "edited by slack:UCOORD" in text
    assert "summary: Residents borrow tools for free from a library run by volunteers. -> Residents borrow" in text


def test_an_approved_solution_edited_from_the_cli_is_searchable_with_its_new_text(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Runtime.open(make_settings(data)) as rt:
        solution_id = save(rt)
        rt.knowledge.approve(solution_id, "slack:UCOORD")
    result = run(data, "kb", "edit", solution_id, "--title", "Tool library of Porta Palazzo", "--tag", "sharing",
                 "--by", "console:ana")
    assert result.exit_code == 0, result.output
    with Runtime.open(make_settings(data)) as rt:
        found = rt.knowledge.ask("where can residents borrow tools for free?").results[0]
        assert (found.id, found.title) == (solution_id, "Tool library of Porta Palazzo")
        last = rt.knowledge.history(solution_id)[-1]
        assert (last.action, last.changed_by) == ("edited", "console:ana")
        assert last.changes == {"title": ["Tool library in the old market", "Tool library of Porta Palazzo"],
                                "tags": [[], ["sharing"]]}


def test_rejected_and_removed_solutions_keep_their_history(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Runtime.open(make_settings(data)) as rt:
        rejected = save(rt)
        rt.knowledge.reject(rejected, "discord:42")
        kept = save(rt, "Repair cafe in the library")
        rt.knowledge.approve(kept, "discord:42")
    assert run(data, "kb", "remove", kept).exit_code == 0
    with Runtime.open(make_settings(data)) as rt:
        assert [(s.action, s.changed_by) for s in rt.knowledge.history(rejected)] == [("saved", "slack:U1"),
                                                                              ("rejected", "discord:42")]
        assert [s.action for s in rt.knowledge.history(kept)] == ["saved", "approved", "removed"]


def test_history_and_edit_refuse_bad_input_in_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Runtime.open(make_settings(data)) as rt:
        solution_id = save(rt)
        with pytest.raises(NotFound):
            rt.knowledge.history("no-such-record")
        with pytest.raises(InvalidInput, match="Cannot edit city"):
            rt.knowledge.edit(solution_id, "x", city="Bilbao")
    missing = run(data, "kb", "history", "no-such-record")
    assert missing.exit_code == 1 and missing.output.strip().startswith("error: No solution with id 'no-such-record'")
    assert len(missing.output.strip().splitlines()) == 1
    empty = run(data, "kb", "edit", solution_id)
    assert empty.exit_code == 2 and "Nothing to change" in empty.output
    bad_url = run(data, "kb", "edit", solution_id, "--source-url", "not a url")
    assert bad_url.exit_code == 1 and f"Cannot edit `{solution_id}`" in bad_url.output


def test_forgetting_a_member_clears_their_name_from_histories(tmp_path: Path) -> None:
    from bot.services.privacy import Privacy
    from bot.store import Members

    with Runtime.open(make_settings(tmp_path / "data")) as rt:
        with rt.db.session() as session:
            Members(session).ensure("slack", "U1", "Ana")
        solution_id = save(rt)
        rt.knowledge.approve(solution_id, "slack:UCOORD")
        Privacy(rt.db).forget("slack", "U1")
        assert [(s.action, s.changed_by) for s in rt.knowledge.history(solution_id)] == [
            ("saved", ""), ("approved", "slack:UCOORD")]
