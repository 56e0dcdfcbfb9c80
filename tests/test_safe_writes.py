"""`export`, `sessions ics -o` and `insights report` replace only regular files; the export is private (#17, 4, 10)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.cli import app


@pytest.fixture(autouse=True)
def no_rrr_env(cli_env: None) -> None:
    """Keep the developer's RRR_* variables out (conftest's ``cli_env``)."""


def cli(data_dir: Path, *args: str):
    result = CliRunner().invoke(app, list(args), env={"RRR_DATA_DIR": str(data_dir)})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def refused(result, path: Path, kind: str) -> None:
    """Exit 1 with one line of error (log lines such as matplotlib's first-run notice aside), no traceback."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if not line.startswith(("INFO ", "DEBUG "))]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith(f"error: {path} is {kind}, not a regular file: refusing to replace it")


@pytest.fixture
def targets(tmp_path: Path) -> dict[str, Path]:
    """A symlink to a file that must stay as it is, and a named pipe (a reader would block on it)."""
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me", "utf-8")
    link = tmp_path / "link.out"
    link.symlink_to(victim)
    fifo = tmp_path / "pipe.out"
    os.mkfifo(fifo)
    return {"victim": victim, "link": link, "fifo": fifo}


def test_export_refuses_a_symlink_a_pipe_and_a_device(seeded_dir: Path, targets: dict[str, Path]) -> None:
    refused(cli(seeded_dir, "export", str(targets["link"])), targets["link"], "a symbolic link")
    assert targets["link"].is_symlink() and targets["victim"].read_text("utf-8") == "keep me"
    refused(cli(seeded_dir, "export", str(targets["fifo"])), targets["fifo"], "a named pipe")
    assert stat.S_ISFIFO(os.lstat(targets["fifo"]).st_mode)
    refused(cli(seeded_dir, "export", "/dev/null"), Path("/dev/null"), "a device")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert not list(targets["link"].parent.glob("*.tmp")), "no temporary file left behind"


def test_export_is_private_and_says_so(seeded_dir: Path, tmp_path: Path) -> None:
    old = tmp_path / "net.jsonl"
    old.write_text("old", "utf-8")
    old.chmod(0o644)
    result = cli(seeded_dir, "export", str(old))
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(os.stat(old).st_mode) == 0o600
    assert "mode 0600" in result.stdout and "personal data" in result.stdout
    compressed = cli(seeded_dir, "export", str(tmp_path / "net.jsonl.gz"), "--json")
    assert json.loads(compressed.stdout)["mode"] == "0600"
    assert stat.S_IMODE(os.stat(tmp_path / "net.jsonl.gz").st_mode) == 0o600
    assert "0600" in cli(seeded_dir, "export", "--help").stdout


def test_export_does_not_follow_a_planted_tmp_link(seeded_dir: Path, tmp_path: Path) -> None:
    """The old export wrote FILE.tmp first: a symlink planted there made it overwrite the file it points to."""
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me", "utf-8")
    (tmp_path / "net.jsonl.tmp").symlink_to(victim)
    assert cli(seeded_dir, "export", str(tmp_path / "net.jsonl")).exit_code == 0
    assert victim.read_text("utf-8") == "keep me"
    assert (tmp_path / "net.jsonl").read_text("utf-8").startswith('{"format": "rrr-bot-export"')


def test_sessions_ics_refuses_a_symlink_and_a_pipe(tmp_path: Path, targets: dict[str, Path]) -> None:
    data = tmp_path / "data"
    added = cli(data, "sessions", "add", "--title", "Working group", "--start", "2031-03-18T15:00",
                "--tz", "Europe/Madrid")
    assert added.exit_code == 0, added.output
    refused(cli(data, "sessions", "ics", "1", "-o", str(targets["link"])), targets["link"], "a symbolic link")
    assert targets["victim"].read_text("utf-8") == "keep me"
    refused(cli(data, "sessions", "ics", "1", "-o", str(targets["fifo"])), targets["fifo"], "a named pipe")
    refused(cli(data, "sessions", "ics", "1", "-o", "/dev/null"), Path("/dev/null"), "a device")
    ics = tmp_path / "s.ics"
    assert cli(data, "sessions", "ics", "1", "-o", str(ics)).exit_code == 0
    assert ics.read_bytes().startswith(b"BEGIN:VCALENDAR") and stat.S_ISREG(os.lstat(ics).st_mode)


def test_insights_report_refuses_a_symlink_among_its_files(tmp_path: Path, targets: dict[str, Path]) -> None:
    data, out = tmp_path / "data", tmp_path / "report"
    out.mkdir()
    (out / "weekly.csv").write_text("old", "utf-8")
    (out / "report.md").symlink_to(targets["victim"])
    result = cli(data, "insights", "report", "--out", str(out), "--weeks", "2")
    refused(result, out / "report.md", "a symbolic link")
    assert targets["victim"].read_text("utf-8") == "keep me"
    assert (out / "weekly.csv").read_text("utf-8") == "old", "nothing replaced: no half-written report"
    assert sorted(p.name for p in out.iterdir()) == ["report.md", "weekly.csv"]
    assert "not a regular file" in cli(data, "insights", "report", "--help").stdout
