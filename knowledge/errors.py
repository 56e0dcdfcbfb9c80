"""Errors of the knowledge engine.

::

    KnowledgeError
    +-- InvalidRecords   an import file has bad lines (each a :class:`Problem` with file and line)
    +-- EmbedderError    an embedding model cannot be loaded
    +-- IndexError_      a vector index file is unreadable (callers rebuild it)
"""

from __future__ import annotations

from dataclasses import dataclass


class KnowledgeError(Exception):
    """Root of every error raised on purpose by the knowledge engine; ``str()`` is safe to show."""


@dataclass(frozen=True)
class Problem:
    """One bad line (or file) of an import."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


class InvalidRecords(KnowledgeError):
    """Some records of an import are invalid; nothing was imported."""

    def __init__(self, problems: list[Problem], what: str = "invalid record(s), nothing imported") -> None:
        self.problems = problems
        shown = "\n".join(f"  {p}" for p in problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(f"{len(problems)} {what}:\n{shown}{more}")


class EmbedderError(KnowledgeError):
    """An embedding model cannot be loaded or used."""


class IndexError_(KnowledgeError):
    """A persisted vector index cannot be read; it should be rebuilt."""
