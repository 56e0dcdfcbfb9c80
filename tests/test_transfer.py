"""`rrr-bot export` / `import-all`: a whole network moves SQLite -> PostgreSQL -> SQLite without losing a row."""

from __future__ import annotations

import asyncio
import gzip
import json
from pathlib import Path

import pytest
from conftest import make_settings
from typer.testing import CliRunner

from adapters.cli import app
from bot import Runtime
from bot.errors import InvalidInput
from bot.services.transfer import export_network, import_network
from bot.testing import TestAdapter
from bot.sessions.draft import SessionDraft


def busy_network(rt: Runtime) -> None:
    """Some of everything: members, a request to join a city, questions, feedback, a saved answer waiting for
    review, introductions, a session, RSVPs."""
    for user, city in (("U1", "Bilbao"), ("U2", "Dublin"), ("U3", "Turin"), ("U4", "Warsaw")):
        rt.directory.link("slack", user, city)
    asyncio.run(TestAdapter(rt.bot, platform="slack", user="U5").send("iam Turin"))  # a request, still open
    result = rt.knowledge.ask("How did cities fund local shop vouchers?", asker=("slack", "U1"))
    rt.knowledge.feedback(result.question_id, platform="slack", user_id="U1", helpful=False, reason="no figures")
    rt.knowledge.ask("zebra crossings for penguins on the moon", asker=("slack", "U2"))
    rt.knowledge.save_answer(title="Ljubljana repair cafes", city="Ljubljana", country="Slovenia",
                             summary="Volunteers repair household items in libraries, 40 events a year.",
                             challenge="Waste and the cost of living", saved_by="slack:U2", reviewed=True)
    rt.knowledge.save_answer(title="Tool library", city="Dublin", country="Ireland", saved_by="slack:U2",
                             summary="Residents borrow tools from a shared library run by volunteers.")  # pending
    rt.intros.run()
    info = rt.sessions.add(SessionDraft(title="Working group", start="2031-03-18T15:00", tz="Europe/Madrid",
                                        repeat="weekly", count=5, channels=("slack:C1",)))
    rt.sessions.skip_next(info.id)
    rt.sessions.rsvp(info.id, None, "slack", "U1", "going")
    rt.bot.external_refs.set("discord", "session-event", str(info.id), "1301234567890123456")  # its Discord event


def rows_of(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open(encoding="utf-8") as f:
        return sorted(f.read().splitlines()[1:])


def test_round_trip_through_postgresql_keeps_every_row(seeded_dir: Path, tmp_path: Path, postgres_url: str) -> None:
    with Runtime.open(make_settings(seeded_dir)) as rt:
        busy_network(rt)
        first = export_network(rt.db, tmp_path / "one.jsonl.gz")
    for table in ("member", "question", "feedback", "introduction", "introduction_member", "outbox",
                  "peer_session", "rsvp", "solution", "passage", "external_ref"):
        assert first.tables[table] > 0, table

    with Runtime.open(make_settings(tmp_path / "pg", RRR_DATABASE__URL=postgres_url)) as pg:
        assert import_network(pg.db, tmp_path / "one.jsonl.gz").tables == first.tables
        export_network(pg.db, tmp_path / "two.jsonl")
        # ids continue after the imported ones (PostgreSQL sequences were moved)
        again = pg.sessions.add(SessionDraft(title="Next", start="2031-04-01T10:00", tz="Europe/Dublin"))
        assert again.id == first.tables["peer_session"] + 1
        answer = pg.knowledge.ask("repair cafes in libraries")
        assert answer.results and answer.results[0].id.startswith("ljubljana")  # the index was rebuilt from rows
    assert rows_of(tmp_path / "one.jsonl.gz") == rows_of(tmp_path / "two.jsonl")

    with Runtime.open(make_settings(tmp_path / "back")) as back:
        import_network(back.db, tmp_path / "two.jsonl")
        export_network(back.db, tmp_path / "three.jsonl")
        [session] = back.sessions.list()
        assert session.schedule.skipped and back.sessions.counts(session.id, back.sessions.occurrences(
            session.id, 1, after=None)[0].key())["going"] == 1
    assert rows_of(tmp_path / "three.jsonl") == rows_of(tmp_path / "one.jsonl.gz")


def test_import_refuses_a_busy_database_a_newer_file_and_a_truncated_one(seeded: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "net.jsonl"
    export_network(seeded.db, path)
    with pytest.raises(InvalidInput, match="not empty"):
        import_network(seeded.db, path)

    lines = path.read_text("utf-8").splitlines()
    header = json.loads(lines[0])
    newer = tmp_path / "newer.jsonl"
    newer.write_text("\n".join([json.dumps({**header, "schema": "9999"}), *lines[1:]]), "utf-8")
    truncated = tmp_path / "truncated.jsonl"
    truncated.write_text("\n".join(lines[:-5]), "utf-8")
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text("\n".join([lines[0], lines[1], "{not json"]), "utf-8")
    for bad, message in ((newer, "newer rrr-bot"), (truncated, "incomplete"), (garbage, "line 3")):
        with Runtime.open(make_settings(tmp_path / bad.stem)) as empty:
            with pytest.raises(InvalidInput, match=message):
                import_network(empty.db, bad)
            assert empty.directory.city_names() == [] and empty.knowledge.is_empty()  # all or nothing


def test_cli_export_and_import_all(seeded_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    exported = runner.invoke(app, ["export", str(tmp_path / "net.jsonl"), "--json"],
                             env={"RRR_DATA_DIR": str(seeded_dir)})
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.stdout)["tables"]["city"] == 9
    imported = runner.invoke(app, ["import-all", str(tmp_path / "net.jsonl")],
                             env={"RRR_DATA_DIR": str(tmp_path / "new")})
    assert imported.exit_code == 0 and "Imported" in imported.stdout, imported.output
    unwritable = runner.invoke(app, ["export", str(tmp_path / "missing" / "dir" / "net.jsonl")],
                               env={"RRR_DATA_DIR": str(seeded_dir)})
    assert unwritable.exit_code == 1 and "error: cannot write" in unwritable.output
    assert "Traceback" not in unwritable.output and not (tmp_path / "missing").exists()
    missing = runner.invoke(app, ["import-all", str(tmp_path / "nope.jsonl")],
                            env={"RRR_DATA_DIR": str(tmp_path / "x")})
    assert missing.exit_code == 1 and "no such file" in missing.output


def test_an_export_from_before_external_refs_keeps_the_sessions_discord_events(seeded_dir: Path,
                                                                               tmp_path: Path) -> None:
    """Exports of schema 0008 carry a session's Discord event in ``peer_session.discord_event_id``; restored into
    this version it becomes the session's external reference, as migration 0009 moves it."""
    with Runtime.open(make_settings(seeded_dir)) as rt:
        busy_network(rt)
        export_network(rt.db, tmp_path / "new.jsonl")
    lines = (tmp_path / "new.jsonl").read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])
    header["schema"] = "0008"
    header["tables"].pop("external_ref")
    old = [json.dumps(header)]
    for line in lines[1:]:
        item = json.loads(line)
        if item["table"] == "external_ref":
            continue
        if item["table"] == "peer_session":
            item["row"]["discord_event_id"] = "1301234567890123456"
        old.append(json.dumps(item))
    (tmp_path / "old.jsonl").write_text("\n".join(old) + "\n", encoding="utf-8")
    with Runtime.open(make_settings(tmp_path / "restored")) as restored:
        import_network(restored.db, tmp_path / "old.jsonl")
        session_id = str(restored.sessions.list()[0].id)
        assert restored.bot.external_refs.all("discord", "session-event") == {session_id: "1301234567890123456"}


def test_migration_0009_moves_a_sessions_discord_event_to_an_external_reference(tmp_path: Path) -> None:
    from alembic import command
    from sqlalchemy import text

    from bot.store import Database
    from bot.store.db import _alembic_config

    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    with db.engine.begin() as connection:
        config = _alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "0008")
        connection.execute(text(
            "INSERT INTO peer_session (title, agenda, start_local, timezone, duration_minutes, skipped, channels, "
            "reminders, created_by, created_at, updated_at, discord_event_id) VALUES ('Working group', '', "
            "'2031-03-18 15:00:00', 'Europe/Madrid', 60, '[]', '[]', '[15]', 'cli', '2026-12-01 10:00:00', "
            "'2026-12-01 10:00:00', '1301234567890123456')"))
    db.upgrade()
    with db.engine.connect() as connection:
        columns = [row[1] for row in connection.execute(text("PRAGMA table_info(peer_session)"))]
        refs = connection.execute(text("SELECT platform, kind, local_id, external_id FROM external_ref")).all()
    db.close()
    assert "discord_event_id" not in columns and "title" in columns
    assert refs == [("discord", "session-event", "1", "1301234567890123456")]
