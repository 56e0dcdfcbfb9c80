"""`rrr-bot member forget PLATFORM:USER_ID` (#17, 10): a member's data deleted in one transaction, on SQLite and
PostgreSQL; their questions stay, anonymised."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import make_settings
from sqlmodel import select
from typer.testing import CliRunner

from adapters.cli import app
from bot import Runtime
from bot.services import Outgoing
from bot.messages import Reply, Text
from bot.services.privacy import ANONYMOUS
from bot.services.transfer import export_network
from bot.store.models import (Feedback, IntroductionMember, Member, OutboxMessage, PeerSession, Question, Rsvp,
                              Solution)
from bot.sessions.draft import SessionDraft

NAME = "Ana Privatename"


@pytest.fixture(autouse=True)
def no_rrr_env(cli_env: None) -> None:
    """Keep the developer's RRR_* variables out (conftest's ``cli_env``)."""


def busy(rt: Runtime) -> dict[str, int]:
    """Ana (slack:U1, Bilbao) and Bo (slack:U2, Dublin): questions, feedback, an introduction, a session with RSVPs,
    messages to each and to both, a saved answer; returns the ids the checks need."""
    rt.directory.link("slack", "U1", "Bilbao", name=NAME)
    rt.directory.link("slack", "U2", "Dublin", name="Bo")
    mine = rt.knowledge.ask("How did cities fund local shop vouchers?", asker=("slack", "U1")).question_id
    theirs = rt.knowledge.ask("Repair cafes in libraries?", asker=("slack", "U2")).question_id
    assert mine is not None and theirs is not None
    rt.knowledge.feedback(mine, platform="slack", user_id="U1", helpful=False, reason="no figures")
    rt.knowledge.feedback(theirs, platform="slack", user_id="U1", helpful=True)
    rt.knowledge.feedback(mine, platform="slack", user_id="U2", helpful=True)
    rt.intros.run()
    info = rt.sessions.add(SessionDraft(title="Working group", start="2031-03-18T15:00", tz="Europe/Madrid"),
                                        created_by="slack:U1")
    rt.sessions.rsvp(info.id, None, "slack", "U1", "going")
    rt.sessions.rsvp(info.id, None, "slack", "U2", "maybe")
    hello = Reply((Text("hello"),))
    rt.outbox.enqueue([Outgoing("test:ana", "slack", hello, users=("U1",))])
    rt.outbox.enqueue([Outgoing("test:both", "slack", hello, users=("U2", "U1"))])
    rt.outbox.enqueue([Outgoing("test:bo", "slack", hello, users=("U2",))])
    rt.outbox.enqueue([Outgoing("test:channel", "slack", hello, channel="C1")])
    rt.outbox.enqueue([Outgoing("test:discord-u1", "discord", hello, users=("U1",))])  # another platform's U1: not Ana
    rt.knowledge.save_answer(title="Repair cafes", city="Ljubljana", country="Slovenia", summary="Volunteers.",
                             challenge="Waste.", saved_by="slack:U1")
    return {"mine": mine, "theirs": theirs, "session": info.id}


def forget(data_dir: Path, *args: str):
    result = CliRunner().invoke(app, ["member", "forget", *args], env={"RRR_DATA_DIR": str(data_dir)})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def check_forgotten(rt: Runtime, ids: dict[str, int]) -> None:
    with rt.db.session() as s:
        assert [m.user_id for m in s.exec(select(Member))] == ["U2"]
        mine = s.get(Question, ids["mine"])
        assert mine is not None and mine.user_id == ANONYMOUS and "shop vouchers" in mine.text
        assert s.get(Question, ids["theirs"]).user_id == "U2"
        assert [(f.user_id, f.question_id) for f in s.exec(select(Feedback))] == [("U2", ids["mine"])]
        assert [r.user_id for r in s.exec(select(Rsvp))] == ["U2"]
        assert sorted(m.key for m in s.exec(select(OutboxMessage)) if m.key.startswith("test:")) == [
            "test:bo", "test:channel", "test:discord-u1"]
        assert not [m for m in s.exec(select(OutboxMessage)) if m.platform == "slack" and "U1" in m.users]
        members = {m.member_id for m in s.exec(select(IntroductionMember))}
        assert members and all(s.get(Member, member_id) is not None for member_id in members)
        assert s.get(PeerSession, ids["session"]).created_by == ""
        assert [x.saved_by for x in s.exec(select(Solution).where(Solution.city == "Ljubljana"))] == [None]


def test_member_forget_removes_their_data_and_anonymises_their_questions(seeded_dir: Path, tmp_path: Path) -> None:
    with Runtime.open(make_settings(seeded_dir)) as rt:
        ids = busy(rt)
        with rt.db.session() as s:
            introduced = len(s.exec(select(IntroductionMember).join(Member).where(Member.user_id == "U1")).all())
        assert introduced == 1, "Ana was introduced"
    result = forget(seeded_dir, "slack:U1", "--json")
    assert result.exit_code == 0, result.output
    done = json.loads(result.stdout)
    assert done | {"other_rows": {}} == {
        "platform": "slack", "user_id": "U1", "member_removed": True, "questions_anonymised": 1,
        "feedback_removed": 2, "rsvps_removed": 1, "introductions_left": 1, "outbox_removed": done["outbox_removed"],
        "other_rows": {}}
    assert done["outbox_removed"] >= 2  # ours, and the introduction's messages to Ana
    with Runtime.open(make_settings(seeded_dir)) as rt:
        check_forgotten(rt, ids)
        export_network(rt.db, tmp_path / "after.jsonl")
    exported = (tmp_path / "after.jsonl").read_text("utf-8")
    assert NAME not in exported and "slack:U1" not in exported
    assert not [line for line in exported.splitlines()[1:]
                if json.loads(line)["row"].get("user_id") == "U1" and json.loads(line)["row"]["platform"] == "slack"]

    again = forget(seeded_dir, "slack:U1")
    assert again.exit_code == 1 and again.stderr.strip() == "error: No member slack:U1: nothing is stored about them."


def test_member_forget_explains_bad_input(tmp_path: Path) -> None:
    unknown = forget(tmp_path / "data", "slack:U404")
    assert unknown.exit_code == 1 and unknown.stderr.startswith("error: No member slack:U404")
    for bad in ("U404", "slack:", "slack:U 1", "Slack Team:U1"):
        result = forget(tmp_path / "data", bad)
        assert result.exit_code == 2, (bad, result.output)
        assert result.stderr.startswith("error: ") and "PLATFORM:USER_ID" in result.stderr
        assert "Traceback" not in result.output
    assert "anonymised" in CliRunner().invoke(app, ["member", "forget", "--help"]).stdout


def test_member_forget_prints_what_it_did(seeded_dir: Path) -> None:
    with Runtime.open(make_settings(seeded_dir)) as rt:
        busy(rt)
    result = forget(seeded_dir, "slack:U2")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Forgot slack:U2: member row removed; 1 question(s) anonymised (text kept); "
                                    "1 feedback, 1 RSVP(s), 1 introduction place(s), ")


@pytest.mark.postgres
def test_member_forget_on_postgresql(seeded_dir: Path, tmp_path: Path, postgres_url: str) -> None:
    """The network moved to PostgreSQL (JSON columns, row counts) forgets the same way."""
    from bot.services.transfer import import_network

    with Runtime.open(make_settings(seeded_dir)) as rt:
        ids = busy(rt)
        export_network(rt.db, tmp_path / "net.jsonl")
    pg_dir = tmp_path / "pg"
    with Runtime.open(make_settings(pg_dir, RRR_DATABASE__URL=postgres_url)) as pg:
        import_network(pg.db, tmp_path / "net.jsonl")
    result = CliRunner().invoke(app, ["member", "forget", "slack:U1", "--json"],
                                env={"RRR_DATA_DIR": str(pg_dir), "RRR_DATABASE__URL": postgres_url})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["feedback_removed"] == 2
    with Runtime.open(make_settings(pg_dir, RRR_DATABASE__URL=postgres_url)) as pg:
        check_forgotten(pg, ids)
