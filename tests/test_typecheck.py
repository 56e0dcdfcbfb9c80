"""The code stays mypy-clean: the settings are in pyproject.toml ([tool.mypy]: bot, adapters and knowledge, with the
pydantic plugin). `mypy` from the project directory checks the same; `dmypy run` re-checks in seconds."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# A whole check takes minutes on a busy machine: its own xdist group, so it never queues behind another module's tests
pytestmark = pytest.mark.xdist_group("mypy")


def mypy() -> list[str]:
    """The mypy of this environment (a dev dependency), as a command."""
    if importlib.util.find_spec("mypy") is None:
        pytest.fail("mypy is not installed: `pip install -e '.[dev]'` installs it")
    return [sys.executable, "-m", "mypy"]


def findings(output: str) -> list[str]:
    """The ``path:line: error: ...`` lines of mypy's output."""
    return [line for line in output.splitlines() if ": error:" in line]


def test_the_project_passes_mypy() -> None:
    result = subprocess.run([*mypy(), "--no-color-output", "--no-error-summary"], cwd=ROOT, capture_output=True,
                            text=True, timeout=560, check=False)
    found = findings(result.stdout)
    assert result.returncode == 0 and not found, (
        f"mypy reports {len(found)} finding(s):\n" + "\n".join(found or [result.stdout + result.stderr]))


def test_mypy_checks_the_three_packages_with_the_pydantic_plugin() -> None:
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert sorted(settings["tool"]["mypy"]["packages"]) == ["adapters", "bot", "knowledge"]
    assert "pydantic.mypy" in settings["tool"]["mypy"]["plugins"]
    assert any(dep.startswith("mypy") for dep in settings["project"]["optional-dependencies"]["dev"])


def test_mypy_reports_what_the_project_settings_forbid(tmp_path: Path) -> None:
    # a wrong return type (mypy's own rule) and a field without a type (the pydantic plugin's: plain mypy accepts it)
    example = tmp_path / "example.py"
    example.write_text("from pydantic import BaseModel\n\n\nclass Settings(BaseModel):\n    port = 8080\n\n\n"
                       "def port() -> int:\n    return '8080'\n", encoding="utf-8")
    result = subprocess.run([*mypy(), "--config-file", str(ROOT / "pyproject.toml"), "--cache-dir",
                             str(tmp_path / "cache"), "--no-color-output", str(example)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300, check=False)
    found = findings(result.stdout)
    assert result.returncode == 1 and len(found) == 2, result.stdout + result.stderr
    assert "[pydantic-field]" in found[0] and "[return-value]" in found[1], found
