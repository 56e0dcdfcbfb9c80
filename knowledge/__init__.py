"""The knowledge engine: importers, embedders, the faiss index, ranking and evaluation.

It knows nothing about chat platforms or the bot's database; ``bot`` stores what it reads and asks it to rank.
"""

from typing import TYPE_CHECKING

from .errors import EmbedderError, IndexError_, InvalidRecords, KnowledgeError, Problem
from .lazy import lazy_exports

if TYPE_CHECKING:
    from .embedders import DEFAULT_THRESHOLDS, Embedder, create_embedder, fit_to_tokens
    from .importers import Loaded, read_cities, read_solutions
    from .index import Manifest, VectorIndex, fingerprint
    from .passages import PassageText, relabelled, split_passages
    from .records import PROVENANCES, CityRecord, SolutionRecord
    from .search import Hit, Searcher

# The names below are imported from their module on first use (PEP 562): asking (`rrr-bot ask`) needs neither the
# importers nor the document readers (tests/test_cold_start.py).
_MODULE_OF, __getattr__, __dir__ = lazy_exports(__name__, globals(), {
    "embedders": ("DEFAULT_THRESHOLDS", "Embedder", "create_embedder", "fit_to_tokens"),
    "importers": ("Loaded", "read_cities", "read_solutions"),
    "index": ("Manifest", "VectorIndex", "fingerprint"),
    "passages": ("PassageText", "relabelled", "split_passages"),
    "records": ("PROVENANCES", "CityRecord", "SolutionRecord"),
    "search": ("Hit", "Searcher"),
})

__all__ = [
    "DEFAULT_THRESHOLDS", "PROVENANCES", "CityRecord", "Embedder", "EmbedderError", "Hit", "IndexError_",
    "InvalidRecords", "KnowledgeError", "Loaded", "Manifest", "PassageText", "Problem", "Searcher", "SolutionRecord",
    "VectorIndex", "create_embedder", "fingerprint", "fit_to_tokens", "read_cities", "read_solutions",
    "relabelled", "split_passages",
]
