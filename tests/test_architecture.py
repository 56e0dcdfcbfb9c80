"""The dependency rule of DESIGN.md: imports flow adapters -> bot -> knowledge, never back."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "bot": {"adapters", "slack_bolt", "slack_sdk", "discord", "typer", "rich"},
    "knowledge": {"adapters", "bot", "slack_bolt", "slack_sdk", "discord", "typer", "rich", "sqlmodel", "sqlalchemy"},
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_never_imports_outer_rings(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no Python files under {package}/"
    offenders = {str(f.relative_to(ROOT)): sorted(imported_modules(f) & FORBIDDEN[package]) for f in files}
    assert not {f: m for f, m in offenders.items() if m}, offenders


def test_the_rule_catches_a_violation(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import discord\nfrom adapters.cli import app\nfrom . import local\n", "utf-8")
    assert imported_modules(sample) == {"discord", "adapters"}
