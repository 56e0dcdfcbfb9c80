"""The console adapter through a real ``rrr-bot chat`` process with piped stdin (one message a line)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path


from adapters.platforms import SECRET_ENV

SCRIPT = "help\ncities\ncity bilbao\nask how did cities support local shops with vouchers?\n"


def rrr_bot() -> list[str]:
    """The installed ``rrr-bot`` script (the venv's, next to this interpreter, when it is not on PATH)."""
    found = shutil.which("rrr-bot") or shutil.which("rrr-bot", path=str(Path(sys.executable).parent))
    if found:
        return [found]
    return [sys.executable, "-c", "from adapters.cli import main; main()"]


def clean_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The current environment without any RRR_* setting or secret, pointed at ``data_dir``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RRR_") and k not in SECRET_ENV}
    env.update(RRR_DATA_DIR=str(data_dir), HOME=str(data_dir.parent), NO_COLOR="1", **extra)
    env.pop("XDG_DATA_HOME", None)
    return env


def chat(data_dir: Path, stdin: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*rrr_bot(), "chat", *args], input=stdin, capture_output=True, text=True,
                          env=clean_env(data_dir, **env), timeout=300, cwd=data_dir.parent)


def assert_clean(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr


def test_piped_conversation(seeded_dir: Path) -> None:
    proc = chat(seeded_dir, SCRIPT)
    assert_clean(proc)
    out = proc.stdout
    # help
    assert "`ask QUESTION` - find past solutions of peer cities" in out
    assert "`unanswered" not in out  # the local user is no coordinator
    # cities
    assert "9 cities in the network" in out
    assert "Montréal (Canada)" in out
    # city bilbao
    assert "Time zone: Europe/Madrid" in out
    # ask: the Bilbao vouchers come first
    answers = out[out.index("What peer cities did:"):]
    assert answers.lstrip().splitlines()[1].startswith("- Bono Bilbao co-funded vouchers (Bilbao, Spain)")
    # piped output is plain text: no prompt, no colours, no first-start seeding
    assert "you>" not in out
    assert "\x1b[" not in out
    assert "First start" not in proc.stderr


def test_replies_come_in_message_order(seeded_dir: Path) -> None:
    proc = chat(seeded_dir, "city turin\n\n   \ncity dublin\n")
    assert_clean(proc)
    assert 0 <= proc.stdout.index("Europe/Rome") < proc.stdout.index("Europe/Dublin")
    assert "type `help`" not in proc.stdout  # blank lines are skipped, not answered


def test_quit_ends_the_conversation(seeded_dir: Path) -> None:
    proc = chat(seeded_dir, "city turin\nquit\ncity dublin\n")
    assert_clean(proc)
    assert "Europe/Rome" in proc.stdout
    assert "Europe/Dublin" not in proc.stdout


def test_user_errors_are_replies_not_crashes(seeded_dir: Path) -> None:
    proc = chat(seeded_dir, "city Bilbau\n/frobnicate\nunanswered\ncity dublin\n")
    assert_clean(proc)
    assert "Did you mean Bilbao?" in proc.stdout
    assert "Unknown command `frobnicate`" in proc.stdout
    assert "Only coordinators can use `unanswered`." in proc.stdout
    assert "Europe/Dublin" in proc.stdout  # still answering after the errors


def test_iam_is_a_request_and_claims_nothing(seeded_dir: Path) -> None:
    """#17 item 2: `printf 'iam Bilbao\\nchallenge remove 1\\n' | rrr-bot chat` removed Bilbao's first challenge."""
    before = chat(seeded_dir, "city Bilbao\n", LOGNAME="tester", USER="tester").stdout
    proc = chat(seeded_dir, "iam Bilbao\nchallenge remove 1\nwhoami\n", LOGNAME="tester", USER="tester")
    assert_clean(proc)
    assert "asked the coordinators and the members of Bilbao" in proc.stdout
    assert "not linked to a city yet" in proc.stdout and "Removed" not in proc.stdout
    assert chat(seeded_dir, "city Bilbao\n", LOGNAME="tester", USER="tester").stdout == before


def test_a_coordinators_iam_persists_across_runs(seeded_dir: Path) -> None:
    assert_clean(chat(seeded_dir, "iam bilbao\n", LOGNAME="tester", USER="tester",
                      RRR_BOT__COORDINATORS='["console:tester"]'))
    proc = chat(seeded_dir, "whoami\n", LOGNAME="tester", USER="tester")
    assert_clean(proc)
    assert "linked to Bilbao" in proc.stdout


def test_piped_answer_says_how_to_give_feedback(seeded_dir: Path) -> None:
    proc = chat(seeded_dir, "ask how did cities support local shops with vouchers?\n")
    assert_clean(proc)
    assert re.search(r"helpful #?\d+", proc.stdout), proc.stdout


# -- first start --------------------------------------------------------------------------------------------------


def test_first_start_on_an_empty_data_dir_seeds(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh"
    proc = chat(data_dir, "cities\n")
    assert_clean(proc)
    assert "First start" in proc.stderr
    assert "9 cities in the network" in proc.stdout
    assert (data_dir / "rrr.db").is_file()
    assert (data_dir / "index").is_dir()

    again = chat(data_dir, "ask how did cities support local shops with vouchers?\n")
    assert_clean(again)
    assert "First start" not in again.stderr  # seeded once
    assert "Bono Bilbao co-funded vouchers" in again.stdout


def test_no_seed_leaves_an_empty_data_dir_empty(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh"
    proc = chat(data_dir, "cities\nask how did cities support local shops with vouchers?\n", "--no-seed")
    assert_clean(proc)
    assert "First start" not in proc.stderr
    assert "No cities yet" in proc.stdout
    assert "The knowledge base is empty" in proc.stdout
    assert "Bono Bilbao" not in proc.stdout


def test_seed_on_first_start_can_be_switched_off_in_settings(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh"
    proc = chat(data_dir, "cities\n", RRR_BOT__SEED_ON_FIRST_START="false")
    assert_clean(proc)
    assert "First start" not in proc.stderr
    assert "No cities yet" in proc.stdout
