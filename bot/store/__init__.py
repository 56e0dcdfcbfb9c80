"""Storage: SQLModel tables, repositories and the database with its migrations."""

from .db import Database
from .models import Challenge, City, Feedback, LinkRequest, Member, Passage, Question, Receipt, Solution
from .repos import Cities, Members, Questions, Receipts, SolutionMeta, Solutions

__all__ = ["Challenge", "Cities", "City", "Database", "Feedback", "LinkRequest", "Member", "Members", "Passage",
           "Question", "Questions", "Receipt", "Receipts", "Solution", "SolutionMeta", "Solutions"]
