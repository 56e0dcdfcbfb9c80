"""Bad input gives one line of error and a non-zero exit, never a traceback (#17, finding 8).

Huge numbers and far dates for sessions, broken or wrongly typed rows in `import-all` (named by file, line and table,
never with their data), NUL characters and over-long values that PostgreSQL refuses, endless files, a busy port, and
malformed database URLs (whose password is never printed). Most run the real ``rrr-bot`` in a process.
"""

from __future__ import annotations

import gzip
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from conftest import make_settings

from bot import Runtime
from adapters.platforms import SECRET_ENV
from bot.store.models import PeerSession, Solution
from bot.sessions.draft import SessionDraft
from knowledge import CityRecord
from knowledge.records import CITY_LENGTHS, CONTACT_LENGTHS, SOLUTION_LENGTHS

#: A member's name and an RSVP's user id that must never appear in an error message.
PRIVATE_NAME = "Camille Privatename"
GOOD = {"id": "lyon-repair", "city": "Lyon", "country": "France", "title": "Repair cafes", "challenge": "Waste.",
        "summary": "Volunteers repair household items; 40 events a year."}


def rrr_bot(data_dir: Path, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    """The installed ``rrr-bot`` in a process with only ``RRR_DATA_DIR`` and ``env`` (memory capped at 3 GB, so a
    regression reading an endless file fails instead of exhausting the machine)."""
    exe = shutil.which("rrr-bot", path=str(Path(sys.executable).parent)) or shutil.which("rrr-bot")
    assert exe, "rrr-bot is not installed in this environment"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("RRR_") and k not in SECRET_ENV}
    full_env.update(RRR_DATA_DIR=str(data_dir), HOME=str(data_dir.parent), **env)

    def cap_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))

    return subprocess.run([exe, *args], capture_output=True, text=True, env=full_env, timeout=timeout,
                          cwd=data_dir.parent, stdin=subprocess.DEVNULL, preexec_fn=cap_memory)


def one_line_error(proc: subprocess.CompletedProcess[str], *fragments: str, code: int = 1) -> str:
    """The single ``error:`` line of a failed run (log lines aside), after checking there is no traceback."""
    assert proc.returncode == code, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    lines = [line for line in proc.stderr.strip().splitlines() if not line.startswith(("INFO ", "DEBUG "))]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


# -- sessions: huge numbers and far dates ------------------------------------------------------------------------


def test_a_huge_duration_is_one_line(tmp_path: Path) -> None:
    proc = rrr_bot(tmp_path / "data", "sessions", "add", "--title", "Working group", "--start", "2031-03-18T15:00",
                   "--tz", "Europe/Madrid", "--duration", "99999999999999999999")
    one_line_error(proc, "duration", "24 hours")


@pytest.mark.parametrize("args, fragment", [
    (("--start", "9999-12-30T15:00"), "2199"),
    (("--start", "0001-01-01T00:30"), "2199"),
    (("--start", "2031-03-18T15:00", "--repeat", "weekly", "--until", "9999-12-31"), "until"),
    (("--start", "2031-03-18T15:00", "--video", "https://a.example/" + "v" * 500), "500 characters at most"),
    (("--start", "2031-01-01T15:00", "--repeat", "FREQ=YEARLY;BYYEARDAY=" + ",".join(map(str, range(1, 367)))),
     "repeat rule is too long"),
])
def test_far_dates_and_long_links_are_refused_in_one_line(tmp_path: Path, args: tuple[str, ...], fragment: str) -> None:
    proc = rrr_bot(tmp_path / "data", "sessions", "add", "--title", "Far", "--tz", "Europe/Madrid", *args)
    one_line_error(proc, fragment)


def test_calendar_of_a_session_stored_in_year_9999_and_a_huge_session_id(tmp_path: Path) -> None:
    """A row stored before the dates were bounded: its .ics overflowed datetime; a huge id overflowed SQLite."""
    data = tmp_path / "data"
    with Runtime.open(make_settings(data)) as rt, rt.db.session() as session:
        session.add(PeerSession(title="Far away", start_local=datetime(9999, 12, 30, 15, 0), timezone="Europe/Madrid"))
    one_line_error(rrr_bot(data, "sessions", "ics", "1"), "too far in the future")
    one_line_error(rrr_bot(data, "sessions", "show", "99999999999999999999"), "No session")


# -- import-all: a bad row is named by file, line and table, without its data ------------------------------------


@pytest.fixture(scope="module")
def export_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small network (two cities, a member, a session with an RSVP) exported from SQLite."""
    base = tmp_path_factory.mktemp("export")
    with Runtime.open(make_settings(base / "data")) as rt:
        rt.directory.import_cities([CityRecord("Lyon", "France", "Europe/Paris", challenges=("Waste.",)),
                                    CityRecord("Turin", "Italy", "Europe/Rome")])
        rt.directory.link("slack", "U0PRIVATE", "Lyon", name=PRIVATE_NAME)
        info = rt.sessions.add(SessionDraft(title="Working group", start="2031-03-18T15:00", tz="Europe/Madrid"))
        rt.sessions.rsvp(info.id, None, "slack", "U0PRIVATE", "going")
        from bot.services.transfer import export_network

        export_network(rt.db, base / "net.jsonl")
    return base / "net.jsonl"


def tampered(source: Path, target: Path, table: str, **changes: object) -> int:
    """Copy ``source`` to ``target`` with ``changes`` applied to the first row of ``table``; its line number."""
    lines = source.read_text("utf-8").splitlines()
    for index, line in enumerate(lines[1:], start=1):
        item = json.loads(line)
        if item["table"] == table:
            item["row"].update(changes)
            lines[index] = json.dumps(item)
            target.write_text("\n".join(lines) + "\n", "utf-8")
            return index + 1
    raise AssertionError(f"no {table} row")


@pytest.mark.parametrize("table, changes, fragment", [
    ("member", {"city_id": 999}, "member.city_id refers to a city row that is not in the file"),
    ("member", {"id": "abc"}, "member.id must be a whole number"),
    ("member", {"id": 2**40}, "member.id is out of range"),
    ("member", {"opted_out": "yes"}, "member.opted_out must be true or false"),
    ("member", {"name": "x" * 201}, "member.name is longer than its column (201 characters, at most 200)"),
    ("member", {"name": PRIVATE_NAME + "\u0000"}, "member.name contains a NUL character"),
    ("member", {"created_at": "yesterday"}, "member.created_at is not a valid date or time"),
    ("member", {"platform": None}, "member.platform must have a value"),
    ("rsvp", {"status": 7}, "rsvp.status must be text"),
    ("rsvp", {"session_id": 5}, "rsvp.session_id refers to a peer_session row"),
    ("city", {"name": "Turin"}, "city repeats the name of an earlier city row"),
    ("peer_session", {"title": "t" * 201}, "peer_session.title is longer than its column"),
])
def test_a_bad_row_is_one_line_naming_file_line_and_table(export_file: Path, tmp_path: Path, table: str,
                                                            changes: dict, fragment: str) -> None:
    bad = tmp_path / "bad.jsonl"
    line = tampered(export_file, bad, table, **changes)
    if table == "city":  # the first city was renamed Turin: the second one, Turin, repeats its name
        line += 1
    proc = rrr_bot(tmp_path / "data", "import-all", str(bad))
    error = one_line_error(proc, f"{bad}, line {line}: ", fragment)
    shown = [PRIVATE_NAME, "U0PRIVATE", *(v for v in changes.values() if isinstance(v, str) and len(v) > 2)]
    assert not [value for value in shown if value in error], "no row data in the message"
    assert len(proc.stderr) < 600


def test_import_all_refuses_devices_pipes_and_endless_lines(export_file: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    one_line_error(rrr_bot(data, "import-all", "/dev/zero", timeout=60), "/dev/zero is not a regular file")
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    one_line_error(rrr_bot(data, "import-all", str(fifo), timeout=60), "not a regular file")
    header = export_file.read_text("utf-8").splitlines()[0]
    bomb = tmp_path / "bomb.jsonl.gz"
    with gzip.open(bomb, "wb", compresslevel=1) as out:
        out.write(header.encode() + b"\n")
        chunk = b"0" * (1 << 20)
        for _ in range(65):
            out.write(chunk)
    started = time.monotonic()
    one_line_error(rrr_bot(data, "import-all", str(bomb), timeout=60), "line 2: longer than 64 MB")
    assert time.monotonic() - started < 60


# -- knowledge and city imports: NUL characters, column lengths, endless files ---------------------------------


def write_jsonl(path: Path, *rows: dict) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), "utf-8")
    return path


@pytest.mark.parametrize("field, length", sorted((k, v) for k, v in SOLUTION_LENGTHS.items() if k not in
                                                 ("id", "source_url")))
def test_solution_fields_longer_than_their_column_are_refused(tmp_path: Path, field: str, length: int) -> None:
    path = write_jsonl(tmp_path / "s.jsonl", {**GOOD, field: "x" * (length + 1)})
    proc = rrr_bot(tmp_path / "data", "kb", "import", str(path))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"{path}:1: field '{field}' is longer than {length} characters" in proc.stderr


def test_city_and_contact_fields_longer_than_their_column_are_refused(tmp_path: Path) -> None:
    city = {"name": "Lyon", "country": "France", "timezone": "Europe/Paris"}
    path = write_jsonl(tmp_path / "c.jsonl", {**city, "name": "L" * 121}, {**city, "country": "F" * 121},
                       {**city, "contacts": [{"platform": "slack", "user_id": "U1", "name": "n" * 201}]})
    proc = rrr_bot(tmp_path / "data", "cities", "import", str(path))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    for line, message in ((1, "field 'name' is longer than 120"), (2, "field 'country' is longer than 120"),
                          (3, "contact field 'name' is longer than 200")):
        assert f"{path}:{line}: {message}" in proc.stderr


def test_record_lengths_match_the_columns() -> None:
    """records.py cannot import the models (knowledge never imports bot): its copy of the lengths must agree."""
    from bot.store.models import City, Member

    for model, lengths in ((Solution, SOLUTION_LENGTHS), (City, CITY_LENGTHS), (Member, CONTACT_LENGTHS)):
        for name, length in lengths.items():
            assert model.__table__.columns[name].type.length == length, (model.__name__, name)


def test_endless_and_oversized_files_are_refused_quickly(tmp_path: Path) -> None:
    data = tmp_path / "data"
    zero = tmp_path / "zero.jsonl"
    zero.symlink_to("/dev/zero")
    started = time.monotonic()
    proc = rrr_bot(data, "kb", "import", str(zero), timeout=60)
    assert proc.returncode == 1 and "not a regular file" in proc.stderr, proc.stderr
    proc = rrr_bot(data, "cities", "import", "/dev/zero", timeout=60)
    assert proc.returncode == 1 and "/dev/zero: not a regular file" in proc.stderr, proc.stderr
    big = tmp_path / "big.jsonl"
    with big.open("wb") as handle:
        handle.truncate(65 << 20)  # sparse: 65 MB of zeros on no disk
    proc = rrr_bot(data, "kb", "import", str(big), timeout=60)
    assert proc.returncode == 1 and "larger than 64 MB" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and time.monotonic() - started < 60


@pytest.mark.postgres
def test_nul_characters_are_refused_before_postgresql(tmp_path: Path, postgres_url: str) -> None:
    data = tmp_path / "data"
    solutions = write_jsonl(tmp_path / "s.jsonl", {**GOOD, "summary": "Volunteers\u0000 repair."})
    proc = rrr_bot(data, "kb", "import", str(solutions), RRR_DATABASE__URL=postgres_url)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"{solutions}:1: field 'summary' contains a NUL character" in proc.stderr
    cities = write_jsonl(tmp_path / "c.jsonl", {"name": "Lyon", "country": "France", "timezone": "Europe/Paris",
                                                "challenges": ["Waste\u0000."]})
    proc = rrr_bot(data, "cities", "import", str(cities), RRR_DATABASE__URL=postgres_url)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"{cities}:1: field 'challenges' contains a NUL character" in proc.stderr


@pytest.mark.postgres
def test_a_sqlite_export_with_an_over_long_title_fails_on_postgresql_in_one_line(tmp_path: Path,
                                                                                 postgres_url: str) -> None:
    """SQLite stores a title of any length (stored before lengths were checked); PostgreSQL's column refuses it."""
    from bot.services.transfer import export_network

    with Runtime.open(make_settings(tmp_path / "lite")) as rt:
        with rt.db.session() as session:
            session.add(Solution(id="long", city="Lyon", country="France", title="T" * 400, challenge="c",
                                 summary="s"))
        export_network(rt.db, tmp_path / "net.jsonl")
    line = next(n for n, text in enumerate((tmp_path / "net.jsonl").read_text("utf-8").splitlines(), start=1)
                if '"table": "solution"' in text)
    proc = rrr_bot(tmp_path / "pg", "import-all", str(tmp_path / "net.jsonl"), RRR_DATABASE__URL=postgres_url)
    one_line_error(proc, f"line {line}: solution.title is longer than its column (400 characters, at most 300)")


# -- a busy port, a malformed database URL ------------------------------------------------------------------------


def test_a_busy_slack_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = rrr_bot(tmp_path / "data", "run", "slack", "--http", "--host", "127.0.0.1", "--port", str(port),
                       SLACK_BOT_TOKEN="xoxb-0-test", SLACK_SIGNING_SECRET="test-secret",
                       RRR_BOT__SEED_ON_FIRST_START="false", RRR_SESSIONS__SCHEDULER="false")
    one_line_error(proc, f"cannot serve Slack events on 127.0.0.1:{port}", "address already in use")
    assert "Serving Slack events" not in proc.stderr


@pytest.mark.parametrize("url, fragment", [
    ("postgresql+psycopg://rrr:hunter2secret@db.example:notaport/rrr", "bad database URL"),
    ("postgresql+psycopg://rrr:hunter2@secret@127.0.0.1:1/rrr", "unescaped '@'"),
    ("postgresql+psycopg://rrr:hunter2secret@127.0.0.1:5432/rrr?bogus=1", "invalid connection option"),
])
def test_a_malformed_database_url_never_prints_its_password(tmp_path: Path, url: str, fragment: str) -> None:
    proc = rrr_bot(tmp_path / "data", "cities", "list", RRR_DATABASE__URL=url)
    error = one_line_error(proc, fragment)
    assert "hunter2" not in proc.stderr + proc.stdout and "secret" not in proc.stderr + proc.stdout
    assert "rrr:***@" in error
