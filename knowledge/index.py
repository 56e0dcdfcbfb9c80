"""A faiss vector index over passage ids, persisted atomically with a manifest.

Vectors are L2-normalised and compared by inner product (cosine). ``index_type`` is a faiss factory string:
``Flat`` (exact, the default) or an approximate one such as ``HNSW32`` or ``IVF256,Flat`` for large networks.
The manifest names the embedder, model, dimension, count, a fingerprint of the passages it covers and a checksum
of the index file; :meth:`VectorIndex.load` refuses a file whose manifest or checksum does not match, and the
caller rebuilds.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import faiss
import numpy as np

from .errors import IndexError_, KnowledgeError

INDEX_FILE = "passages.faiss"
MANIFEST_FILE = "manifest.json"
FORMAT = 1


@dataclass(frozen=True)
class Manifest:
    """What an index file holds; compared with the database and the settings on load."""

    embedder: str
    model: str
    dim: int
    index_type: str
    count: int
    fingerprint: str
    checksum: str = ""
    format: int = FORMAT


class VectorIndex:
    """Passage vectors by passage id, searchable by inner product."""

    def __init__(self, dim: int, index_type: str = "Flat", *, _index: faiss.Index | None = None) -> None:
        self.dim = dim
        self.index_type = index_type
        if _index is not None:
            self._index = _index
            return
        try:
            base = faiss.index_factory(dim, index_type, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError:
            raise KnowledgeError(f"unknown faiss index type {index_type!r}; use Flat, HNSW32 or IVF256,Flat") from None
        self._index = faiss.IndexIDMap2(base)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    @property
    def supports_removal(self) -> bool:
        return self.index_type.strip().lower() == "flat" or self.index_type.upper().startswith("IVF")

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add ``vectors`` (n x dim, normalised) under int64 ``ids``."""
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if not self._index.is_trained:
            try:
                self._index.train(vectors)
            except RuntimeError as exc:
                raise KnowledgeError(f"index type {self.index_type!r} cannot be trained on {len(vectors)} "
                                     f"passages ({str(exc).splitlines()[-1]}); use Flat for a network this size"
                                     ) from None
        self._index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))

    def remove(self, ids: np.ndarray) -> None:
        """Remove ``ids``; raises :class:`IndexError_` when this index type cannot remove (rebuild instead)."""
        if len(ids) == 0:
            return
        if not self.supports_removal:
            raise IndexError_(f"index type {self.index_type} cannot remove vectors")
        # faiss's Python wrapper takes an id array here; its stubs only know the C++ IDSelector argument
        self._index.remove_ids(np.asarray(ids, dtype=np.int64))  # type: ignore[arg-type]

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest passage ids and their scores, best first (fewer when the index is smaller)."""
        k = min(k, len(self))
        if k <= 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        scores, ids = self._index.search(np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1), k)
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]

    def vectors(self, ids: np.ndarray) -> np.ndarray | None:
        """The stored vectors of ``ids`` (n x dim), or None when this index type cannot give them back."""
        try:
            if self.index_type.upper().startswith("IVF"):
                # the IndexIDMap2 of __init__, typed as the base Index by faiss: .index is the IVF index it wraps
                faiss.extract_index_ivf(self._index.index).make_direct_map()  # type: ignore[attr-defined]
            return np.vstack([self._index.reconstruct(int(i)) for i in ids]) if len(ids) else \
                np.empty((0, self.dim), dtype=np.float32)
        except (RuntimeError, AttributeError):
            return None

    def save(self, directory: Path, manifest: Manifest) -> Manifest:
        """Write the index, then its manifest, each atomically; return the manifest with the checksum."""
        directory.mkdir(parents=True, exist_ok=True)
        data = faiss.serialize_index(self._index).tobytes()
        manifest = Manifest(**{**asdict(manifest), "checksum": hashlib.sha256(data).hexdigest(), "count": len(self)})
        _atomic_write(directory / INDEX_FILE, data)
        _atomic_write(directory / MANIFEST_FILE, json.dumps(asdict(manifest), indent=2).encode())
        return manifest

    @classmethod
    def load(cls, directory: Path) -> tuple[VectorIndex, Manifest]:
        """Read an index and its manifest; raise :class:`IndexError_` if either is missing or damaged."""
        try:
            raw = json.loads((directory / MANIFEST_FILE).read_text("utf-8"))
            manifest = Manifest(**raw)
            data = (directory / INDEX_FILE).read_bytes()
        except FileNotFoundError:
            raise IndexError_(f"no index in {directory}") from None
        except (OSError, ValueError, TypeError) as exc:
            raise IndexError_(f"unreadable index manifest in {directory}: {exc}") from None
        if manifest.format != FORMAT:
            raise IndexError_(f"index format {manifest.format} is not {FORMAT}")
        if hashlib.sha256(data).hexdigest() != manifest.checksum:
            raise IndexError_("index file does not match its manifest checksum")
        try:
            index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        except RuntimeError:
            raise IndexError_("index file is corrupt") from None
        if index.d != manifest.dim or index.ntotal != manifest.count:
            raise IndexError_("index file does not match its manifest")
        return cls(manifest.dim, manifest.index_type, _index=index), manifest


def fingerprint(entries: list[tuple[int, str]]) -> str:
    """A checksum of ``(passage id, content hash)`` pairs: what the index must cover."""
    digest = hashlib.sha256()
    for passage_id, content in sorted(entries):
        digest.update(f"{passage_id}:{content}\n".encode())
    return digest.hexdigest()


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
