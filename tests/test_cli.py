"""The ``rrr-bot`` command line: typer's CliRunner in-process for most, a real process for the bad configurations."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from adapters.cli import app
from bot import Runtime
from adapters.platforms import SECRET_ENV
from conftest import make_settings

CITIES = {"Bilbao", "Dublin", "Rotterdam", "San Francisco", "Turin", "Warsaw", "Montréal", "Guadalajara",
          "Belo Horizonte"}
#: The keys of ``cities list --json`` / ``cities show --json`` (``CityProfile.as_dict``).
CITY_KEYS = {"name", "country", "timezone", "languages", "peer_group", "challenges", "members", "provenance"}

LYON = {"name": "Lyon", "country": "France", "timezone": "Europe/Paris", "languages": ["fr"],
        "peer_group": "local-economy", "challenges": ["Keep neighbourhood shops open.", "Fund social enterprises."],
        "provenance": "network",
        "contacts": [{"platform": "slack", "user_id": "U0LYON", "name": "Camille"},
                     {"platform": "discord", "user_id": "4242", "name": "Hugo"}]}
GDANSK = {"name": "Gdańsk", "country": "Poland", "timezone": "Europe/Warsaw", "challenges": ["Housing."]}


@pytest.fixture(autouse=True)
def no_rrr_env(cli_env: None) -> None:
    """Every test here runs the CLI: keep the developer's RRR_* variables out (conftest's ``cli_env``)."""


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def commands_listed(help_text: str) -> set[str]:
    """The command names of a click help page's ``Commands:`` section."""
    assert "Commands:" in help_text, help_text
    section = help_text.split("Commands:", 1)[1]
    return set(re.findall(r"^ {2}(\w[\w-]*)(?:\s|$)", section, re.MULTILINE))


def cli(data_dir: Path, *args: str, **env: str):
    result = CliRunner().invoke(app, list(args), env={"RRR_DATA_DIR": str(data_dir), **env})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a crash, not a handled error: show its traceback
    return result


def rrr_bot(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("rrr-bot") or shutil.which("rrr-bot", path=str(Path(sys.executable).parent))
    command = [exe] if exe else [sys.executable, "-c", "from adapters.cli import main; main()"]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("RRR_") and k not in SECRET_ENV}
    full_env.update(RRR_DATA_DIR=str(data_dir), **env)
    return subprocess.run([*command, *args], capture_output=True, text=True, env=full_env, timeout=120,
                          cwd=data_dir.parent, stdin=subprocess.DEVNULL)


def write_jsonl(path: Path, *rows: dict | str) -> Path:
    lines = [row if isinstance(row, str) else json.dumps(row, ensure_ascii=False) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def city_names(data_dir: Path) -> set[str]:
    result = cli(data_dir, "cities", "list", "--json")
    assert result.exit_code == 0, result.output
    return {c["name"] for c in json.loads(result.stdout)}


def assert_one_line_error(proc: subprocess.CompletedProcess[str], code: int, *fragments: str) -> None:
    assert proc.returncode == code, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for fragment in fragments:
        assert fragment in lines[0]


# -- help -------------------------------------------------------------------------------------------------------


def test_help_lists_every_command(data_dir: Path) -> None:
    root = typer.main.get_command(app)
    result = cli(data_dir, "--help")
    assert result.exit_code == 0
    listed = commands_listed(result.stdout)
    assert {"chat", "ask", "kb", "cities", "db"} <= listed
    assert listed == set(root.commands)
    for group in ("kb", "cities", "db"):
        sub = cli(data_dir, group, "--help")
        assert sub.exit_code == 0
        names = commands_listed(sub.stdout)
        assert names == set(root.commands[group].commands), group
    kb_commands = {"import", "seed", "list", "show", "remove", "stats", "eval", "calibrate"}
    assert kb_commands <= set(root.commands["kb"].commands)
    assert {"list", "show", "import"} <= set(root.commands["cities"].commands)
    assert {"status", "upgrade"} <= set(root.commands["db"].commands)


def test_help_from_the_installed_script(tmp_path: Path) -> None:
    proc = rrr_bot(tmp_path / "data", "--help")
    assert proc.returncode == 0
    for name in ("chat", "ask", "kb", "cities", "db", "--config"):
        assert name in proc.stdout


def test_no_arguments_shows_help(data_dir: Path) -> None:
    result = cli(data_dir)
    assert "Usage:" in result.output
    assert "cities" in result.output


def test_unknown_command_fails(data_dir: Path) -> None:
    result = cli(data_dir, "frobnicate")
    assert result.exit_code != 0
    assert "No such command" in result.output
    assert not data_dir.exists()  # nothing was opened or created


# -- cities -----------------------------------------------------------------------------------------------------


def test_cities_list_json(seeded_dir: Path) -> None:
    result = cli(seeded_dir, "cities", "list", "--json")
    assert result.exit_code == 0, result.output
    cities = json.loads(result.stdout)
    assert len(cities) == 9
    assert {c["name"] for c in cities} == CITIES
    for entry in cities:
        assert set(entry) == CITY_KEYS
        assert entry["challenges"] and all(isinstance(c, str) for c in entry["challenges"])
        assert isinstance(entry["languages"], list) and isinstance(entry["peer_group"], list)
    bilbao = next(c for c in cities if c["name"] == "Bilbao")
    assert (bilbao["country"], bilbao["timezone"]) == ("Spain", "Europe/Madrid")


def test_cities_list_table(seeded_dir: Path) -> None:
    result = cli(seeded_dir, "cities", "list")
    assert result.exit_code == 0
    for name in ("Bilbao", "Warsaw", "Guadalajara"):
        assert name in result.stdout


def test_cities_show(seeded_dir: Path) -> None:
    result = cli(seeded_dir, "cities", "show", "montreal", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["name"] == "Montréal"
    missing = cli(seeded_dir, "cities", "show", "Atlantis")
    assert missing.exit_code == 1
    assert "No city called 'Atlantis'" in missing.stderr


def test_cities_import_with_contacts(data_dir: Path, tmp_path: Path) -> None:
    file = write_jsonl(tmp_path / "cities.jsonl", LYON, GDANSK)
    result = cli(data_dir, "cities", "import", str(file))
    assert result.exit_code == 0, result.output
    assert "Imported 2 new and 0 updated cities." in result.stdout

    shown = json.loads(cli(data_dir, "cities", "show", "lyon", "--json").stdout)
    assert shown["members"] == ["Camille", "Hugo"]
    assert shown["challenges"] == LYON["challenges"]
    assert shown["peer_group"] == ["local-economy"]
    with Runtime.open(make_settings(data_dir)) as rt:
        assert rt.directory.member_city("slack", "U0LYON") == "Lyon"
        assert rt.directory.member_city("discord", "4242") == "Lyon"

    again = cli(data_dir, "cities", "import", str(file))
    assert again.exit_code == 0
    assert "Imported 0 new and 2 updated cities." in again.stdout
    assert city_names(data_dir) == {"Lyon", "Gdańsk"}


def test_cities_import_malformed_line_imports_nothing(data_dir: Path, tmp_path: Path) -> None:
    assert cli(data_dir, "cities", "import", str(write_jsonl(tmp_path / "first.jsonl", GDANSK))).exit_code == 0
    file = write_jsonl(tmp_path / "cities.jsonl", LYON, '{"name": "Oops", "country": ')
    result = cli(data_dir, "cities", "import", str(file))
    assert result.exit_code != 0
    assert f"{file}:2" in result.stderr
    assert "not valid JSON" in result.stderr
    assert "--skip-invalid" in result.stderr
    assert "Traceback" not in result.output
    assert city_names(data_dir) == {"Gdańsk"}  # Lyon, although valid, was not imported


def test_cities_import_skip_invalid(data_dir: Path, tmp_path: Path) -> None:
    file = write_jsonl(tmp_path / "cities.jsonl", LYON, "not json at all", GDANSK,
                       {"name": "Nowhere", "timezone": "Europe/Paris"})
    result = cli(data_dir, "cities", "import", str(file), "--skip-invalid")
    assert result.exit_code == 0, result.output
    assert "Imported 2 new and 0 updated cities." in result.stdout
    assert f"skipped {file}:2" in result.stderr
    assert f"skipped {file}:4" in result.stderr and "country" in result.stderr
    assert city_names(data_dir) == {"Lyon", "Gdańsk"}


def test_cities_import_unknown_timezone(data_dir: Path, tmp_path: Path) -> None:
    file = write_jsonl(tmp_path / "cities.jsonl", {**LYON, "timezone": "Mars/Olympus_Mons"})
    result = cli(data_dir, "cities", "import", str(file))
    assert result.exit_code != 0
    assert f"{file}:1" in result.stderr
    assert "unknown time zone 'Mars/Olympus_Mons'" in result.stderr
    assert city_names(data_dir) == set()


def test_cities_import_bad_contact(data_dir: Path, tmp_path: Path) -> None:
    file = write_jsonl(tmp_path / "cities.jsonl", {**LYON, "contacts": [{"platform": "irc", "user_id": "x"}]})
    result = cli(data_dir, "cities", "import", str(file))
    assert result.exit_code != 0
    assert "contacts" in result.stderr
    assert city_names(data_dir) == set()


def test_cities_import_missing_file(data_dir: Path, tmp_path: Path) -> None:
    result = cli(data_dir, "cities", "import", str(tmp_path / "nope.jsonl"))
    assert result.exit_code != 0
    assert "file not found" in result.stderr


def test_cities_import_non_utf8_file(data_dir: Path, tmp_path: Path) -> None:
    file = tmp_path / "latin1.jsonl"
    file.write_bytes(b'{"name": "Gda\xf1sk", "country": "Poland", "timezone": "Europe/Warsaw"}\n')  # Latin-1
    result = cli(data_dir, "cities", "import", str(file))
    assert result.exit_code != 0
    assert "not UTF-8" in result.stderr


# -- database ---------------------------------------------------------------------------------------------------


def test_db_status_and_upgrade(data_dir: Path) -> None:
    status = cli(data_dir, "db", "status")
    assert status.exit_code == 0, status.output
    assert "revision none" in status.stdout
    assert "needs `rrr-bot db upgrade`" in status.stdout
    assert cli(data_dir, "db", "status").stdout == status.stdout  # status changes nothing

    upgrade = cli(data_dir, "db", "upgrade")
    assert upgrade.exit_code == 0, upgrade.output
    match = re.search(r"is at revision (\S+) \(newest (\S+)\)", upgrade.stdout)
    assert match and match.group(1) == match.group(2)

    status = cli(data_dir, "db", "status")
    assert status.exit_code == 0
    assert f"revision {match.group(1)}, newest {match.group(2)} (up to date)" in status.stdout
    assert str(data_dir / "rrr.db") in status.stdout


def test_db_status_hides_the_password(data_dir: Path) -> None:
    result = cli(data_dir, "db", "status", RRR_DATABASE__URL="postgresql://rrr:hunter2@127.0.0.1:1/rrr")
    assert result.exit_code == 1
    assert "hunter2" not in result.output
    assert "cannot open the database" in result.stderr


def test_unreachable_postgresql(data_dir: Path) -> None:
    result = cli(data_dir, "db", "upgrade", RRR_DATABASE__URL="postgresql+psycopg://rrr@127.0.0.1:1/rrr")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot open the database at postgresql+psycopg://rrr@127.0.0.1:1")
    assert "Traceback" not in result.output


def test_db_upgrade_on_postgresql(data_dir: Path, postgres_url: str) -> None:
    result = cli(data_dir, "db", "upgrade", RRR_DATABASE__URL=postgres_url)
    assert result.exit_code == 0, result.output
    assert "postgresql" in result.stdout
    status = cli(data_dir, "db", "status", RRR_DATABASE__URL=postgres_url)
    assert "(up to date)" in status.stdout
    assert not (data_dir / "rrr.db").exists()  # the SQLite default was not used


# -- bad configuration, in a real process ---------------------------------------------------------------------


def test_missing_config_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    proc = rrr_bot(tmp_path / "data", "--config", str(missing), "cities", "list")
    assert_one_line_error(proc, 2, str(missing), "does not exist")


def test_missing_config_file_from_rrr_config(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    proc = rrr_bot(tmp_path / "data", "db", "status", RRR_CONFIG=str(missing))
    assert_one_line_error(proc, 2, "does not exist")


def test_malformed_config(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[knowledge\ntop_k = 3\n", encoding="utf-8")
    proc = rrr_bot(tmp_path / "data", "-c", str(config), "db", "status")
    assert_one_line_error(proc, 2, str(config), "not valid TOML")


def test_unknown_config_key(tmp_path: Path) -> None:
    config = tmp_path / "rrr.toml"
    config.write_text("[bot]\nnmae = \"typo\"\n", encoding="utf-8")
    proc = rrr_bot(tmp_path / "data", "--config", str(config), "cities", "list")
    assert_one_line_error(proc, 2, "unknown key 'bot.nmae'")
    assert not (tmp_path / "data").exists()


def test_unknown_env_key(tmp_path: Path) -> None:
    proc = rrr_bot(tmp_path / "data", "cities", "list", RRR_KNOWLEDGE__TOPK="5")
    assert_one_line_error(proc, 2, "knowledge.topk")


def test_secret_in_config_file(tmp_path: Path) -> None:
    config = tmp_path / "rrr.toml"
    config.write_text('[slack]\nbot_token = "xoxb-9999-LEAKME"\n', encoding="utf-8")
    proc = rrr_bot(tmp_path / "data", "--config", str(config), "db", "status")
    assert_one_line_error(proc, 2, "bot_token", "SLACK_BOT_TOKEN")
    assert "LEAKME" not in proc.stderr + proc.stdout


@pytest.mark.parametrize("url, fragment", [("nonsense://x", "unsupported database URL"),
                                           ("not a url", "bad database URL")])
def test_bad_database_url(tmp_path: Path, url: str, fragment: str) -> None:
    proc = rrr_bot(tmp_path / "data", "cities", "list", RRR_DATABASE__URL=url)
    assert_one_line_error(proc, 1, fragment)


def test_valid_config_file_is_used(tmp_path: Path) -> None:
    data_dir = tmp_path / "elsewhere"
    config = tmp_path / "rrr.toml"
    config.write_text(f'data_dir = "{data_dir}"\n[logging]\nlevel = "WARNING"\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["--config", str(config), "db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert str(data_dir / "rrr.db") in result.stdout
    assert (data_dir / "rrr.db").is_file()


def test_sigterm_stops_a_server_that_swallows_the_first_cancellation() -> None:
    """A serving task that eats one CancelledError (as 3.11's ``wait_for`` can) still stops, after the clean stop."""
    import asyncio
    import signal

    from adapters.cli import serve_until_stopped

    events: list[str] = []

    async def stubborn_server() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            events.append("swallowed")
        await asyncio.sleep(60)

    async def stop() -> None:
        events.append("stop")

    async def main() -> float:
        loop = asyncio.get_running_loop()
        loop.call_later(0.1, os.kill, os.getpid(), signal.SIGTERM)
        started = loop.time()
        await serve_until_stopped(stubborn_server, stop, grace=5.0)
        return loop.time() - started

    elapsed = asyncio.run(main())
    assert events == ["stop", "swallowed"]
    assert elapsed < 5.0
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # the handler is gone after the stop


def test_serve_until_stopped_reports_an_error_that_ends_the_server() -> None:
    import asyncio

    from adapters.cli import serve_until_stopped

    stopped: list[bool] = []

    async def failing() -> None:
        raise RuntimeError("login refused")

    async def stop() -> None:
        stopped.append(True)

    with pytest.raises(RuntimeError, match="login refused"):
        asyncio.run(serve_until_stopped(failing, stop))
    assert stopped == [True]


@pytest.mark.parametrize("question, hint", [("hola", "Hello!"), ("👋", "in words"),
                                            ("https://example.org/x", "not by link"),
                                            ("Belo Horizonte", "city Belo Horizonte")])
def test_ask_a_greeting_emoji_link_or_city_name_gets_the_usage_hint_not_a_search(
        seeded_dir: Path, question: str, hint: str) -> None:
    result = CliRunner().invoke(app, ["ask", question, "--json"], env={"RRR_DATA_DIR": str(seeded_dir)})
    assert result.exit_code == 2 and hint in result.stderr and not result.stdout, (result.stdout, result.stderr)


def test_ask_lines_answer_each_question_and_hint_the_rest_in_order(seeded_dir: Path) -> None:
    lines = "hola\nhow did cities fund social enterprise incubators?\n🙂\n"
    result = CliRunner().invoke(app, ["ask", "-"], input=lines, env={"RRR_DATA_DIR": str(seeded_dir)})
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.exit_code == 0 and [r["question"] for r in rows] == [
        "hola", "how did cities fund social enterprise incubators?", "🙂"]
    assert "Hello!" in rows[0]["error"] and rows[1]["results"] and "in words" in rows[2]["error"]
