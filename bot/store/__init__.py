"""Storage: SQLModel tables, repositories and the database with its migrations."""

from .db import Database
from .models import (
    Challenge, City, Feedback, LinkRequest, Member, Passage, Question, Receipt, Solution, SolutionChange,
)
from .repos import Cities, History, Members, Questions, Receipts, SolutionMeta, Solutions

__all__ = ["Challenge", "Cities", "City", "Database", "Feedback", "History", "LinkRequest", "Member", "Members",
           "Passage", "Question", "Questions", "Receipt", "Receipts", "Solution", "SolutionChange", "SolutionMeta",
           "Solutions"]
