"""The knowledge engine: importers, embedders, the faiss index, ranking and evaluation.

It knows nothing about chat platforms or the bot's database; ``bot`` stores what it reads and asks it to rank.
"""

from .embedders import DEFAULT_THRESHOLDS, Embedder, create_embedder, fit_to_tokens
from .errors import EmbedderError, IndexError_, InvalidRecords, KnowledgeError, Problem
from .importers import Loaded, read_cities, read_solutions
from .index import Manifest, VectorIndex, fingerprint
from .passages import PassageText, relabelled, split_passages
from .records import PROVENANCES, CityRecord, SolutionRecord
from .search import Hit, Searcher

__all__ = [
    "DEFAULT_THRESHOLDS", "PROVENANCES", "CityRecord", "Embedder", "EmbedderError", "Hit", "IndexError_",
    "InvalidRecords", "KnowledgeError", "Loaded", "Manifest", "PassageText", "Problem", "Searcher", "SolutionRecord",
    "VectorIndex", "create_embedder", "fingerprint", "fit_to_tokens", "read_cities", "read_solutions",
    "relabelled", "split_passages",
]
