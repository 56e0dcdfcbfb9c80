"""Use cases of the bot, free of platform types: the directory of cities and members, and the knowledge base."""

from .directory import CityProfile, Directory
from .knowledge_base import Answer, AskResult, ImportSummary, KnowledgeBase
from .intros import Introductions, Match, SharedChallenge
from .outbox import Outgoing, Pending, StoredOutbox
from .receipts import ReceiptBook
from .sessions import SessionInfo, Sessions

__all__ = ["Answer", "AskResult", "CityProfile", "Directory", "ImportSummary", "Introductions", "KnowledgeBase",
           "Match", "Outgoing", "Pending", "ReceiptBook", "SessionInfo", "Sessions", "SharedChallenge",
           "StoredOutbox"]
