"""Use cases of the bot, free of platform types: the directory of cities and members, and the knowledge base (the
sessions are a package of their own, :mod:`bot.sessions`).

The public names below are loaded on first use (PEP 562), so importing one service does not import the others.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING

from knowledge.lazy import lazy_exports

if TYPE_CHECKING:
    from .directory import CityProfile, Directory
    from .intros import Introductions, Match, SharedChallenge
    from .knowledge_base import Answer, AskResult, ImportSummary, KnowledgeBase
    from .outbox import Outgoing, Pending, StoredOutbox
    from .receipts import ReceiptBook

_EXPORTS = MappingProxyType({
    "directory": ("CityProfile", "Directory"),
    "knowledge_base": ("Answer", "AskResult", "ImportSummary", "KnowledgeBase"),
    "intros": ("Introductions", "Match", "SharedChallenge"),
    "outbox": ("Outgoing", "Pending", "StoredOutbox"),
    "receipts": ("ReceiptBook",),
})

__all__ = [
    "Answer", "AskResult", "CityProfile", "Directory", "ImportSummary", "Introductions", "KnowledgeBase", "Match",
    "Outgoing", "Pending", "ReceiptBook", "SharedChallenge", "StoredOutbox",
]

_MODULE_OF, __getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
