"""The code stays ruff-clean: the rules are in pyproject.toml ([tool.ruff]); `ruff check --fix .` fixes most."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def ruff() -> list[str]:
    """The ruff of this environment (a dev dependency), as a command."""
    found = Path(sys.executable).with_name("ruff")
    if found.exists():
        return [str(found)]
    if shutil.which("ruff"):
        return ["ruff"]
    pytest.fail("ruff is not installed: `pip install -e '.[dev]'` installs it")


def test_the_project_passes_ruff() -> None:
    result = subprocess.run([*ruff(), "check", "--no-cache", "--output-format", "concise", "."], cwd=ROOT,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_applies_the_project_rules() -> None:
    # a line of 121 characters and a loop variable left unused: both pass ruff's defaults, not the project's rules
    source = "def f(items):\n    for item in items:\n        pass\n" + "x = " + "1 + " * 29 + "1\n"
    assert max(len(line) for line in source.splitlines()) == 121
    result = subprocess.run([*ruff(), "check", "--no-cache", "--output-format", "concise", "--stdin-filename",
                             "bot/example.py", "-"], cwd=ROOT, input=source, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 1 and "E501" in result.stdout and "B007" in result.stdout, result.stdout
