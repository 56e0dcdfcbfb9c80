"""Embedded texts kept on disk (challenge statements), so a new process does not embed them again.

One ``.npz`` file: the texts, their vectors, and the embedder that made them; a file made by another embedder or
model, or a damaged one, is ignored (and rewritten on the next save). Saving is atomic (temporary file + rename).
"""

from __future__ import annotations

import json
import logging
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


class VectorCache:
    """``load()`` -> {text: vector}; ``save(mapping)`` writes them all."""

    def __init__(self, path: Path, embedder: str, model: str, dim: int) -> None:
        self.path = path
        self.dim = dim
        self.signature = {"embedder": embedder, "model": model, "dim": dim}

    def load(self) -> dict[str, np.ndarray]:
        if not self.path.exists():
            return {}
        try:
            with np.load(self.path, allow_pickle=False) as data:
                if json.loads(str(data["meta"])) != self.signature:
                    log.info("%s was made by another embedder; statements will be embedded again", self.path)
                    return {}
                texts, vectors = data["texts"].tolist(), data["vectors"]
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
            log.warning("ignoring the damaged vector cache %s: %s", self.path, exc)
            return {}
        if len(texts) != len(vectors) or (len(vectors) and vectors.shape[1] != self.dim):
            log.warning("ignoring the inconsistent vector cache %s", self.path)
            return {}
        return dict(zip(texts, vectors))

    def save(self, vectors: Mapping[str, np.ndarray]) -> None:
        texts = list(vectors)
        matrix = (np.vstack([vectors[t] for t in texts]).astype(np.float32) if texts
                  else np.zeros((0, self.dim), np.float32))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as handle:
            np.savez(handle, texts=np.array(texts, dtype=str), vectors=matrix,
                     meta=np.array(json.dumps(self.signature, sort_keys=True)))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
