"""Use cases of the bot, free of platform types: the directory of cities and members, and the knowledge base.

The public names below are loaded on first use (PEP 562), so importing one service does not import the others.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .directory import CityProfile, Directory
    from .intros import Introductions, Match, SharedChallenge
    from .knowledge_base import Answer, AskResult, ImportSummary, KnowledgeBase
    from .outbox import Outgoing, Pending, StoredOutbox
    from .receipts import ReceiptBook
    from .sessions import SessionInfo, Sessions

_EXPORTS = {
    "directory": ("CityProfile", "Directory"),
    "knowledge_base": ("Answer", "AskResult", "ImportSummary", "KnowledgeBase"),
    "intros": ("Introductions", "Match", "SharedChallenge"),
    "outbox": ("Outgoing", "Pending", "StoredOutbox"),
    "receipts": ("ReceiptBook",),
    "sessions": ("SessionInfo", "Sessions"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "Answer", "AskResult", "CityProfile", "Directory", "ImportSummary", "Introductions", "KnowledgeBase", "Match",
    "Outgoing", "Pending", "ReceiptBook", "SessionInfo", "Sessions", "SharedChallenge", "StoredOutbox",
]


def __getattr__(name: str) -> Any:
    """Import the service module that defines ``name`` on first use."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
