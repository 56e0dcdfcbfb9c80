"""Import throughput of ``KnowledgeBase.import_records``: 1,000 fresh synthetic solutions into an empty data dir.

Floor = the raw batch throughput of the embedder: ``embed_passages`` on the very passage texts the import embeds,
in batches of ``[knowledge] batch_size``, with the same embedder instance, measured in the same run.

Other work may share the machine, so the floor is interleaved with the import at batch granularity: the knowledge
base gets a real embedder wrapped by its ``embedder_factory``; each time ``import_records`` calls
``embed_passages(batch)`` the wrapper also runs the raw embedder on the same texts (before the real call on even
batches, after it on odd ones) and times that floor call separately. The import's time is the wall time of
``import_records`` minus the time spent in those floor calls, so import and floor see the same load, batch by
batch. Besides the ratio, the wrapper attributes the import's time: inside ``embed_passages``, inside
``token_count`` (``fit_to_tokens``) and everything else (database, hashing, index save).

Target: import passages/s / floor passages/s >= 0.8.

    python benchmarks/bench_import.py [--n 1000] [--json-out results.json]
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

from _common import emit, load_average, log, make_settings

from bot import Runtime
from bot.services.knowledge_base import default_embedder_factory
from knowledge import split_passages

import synthetic

N = 1000
SEED = 424242  # not the seed of any cached ask KB: these solutions are new to everything
TARGET = 0.8


class FloorInterleavingEmbedder:
    """The real embedder; while ``measuring``, each ``embed_passages`` call is paired with a timed raw floor call."""

    def __init__(self, inner, batch_size: int) -> None:
        self._inner = inner
        self._batch = batch_size
        self.measuring = False
        self.calls = self.texts = 0
        self.floor_wall = self.floor_cpu = 0.0  # the raw floor calls (excluded from the import's time)
        self.embed_wall = 0.0  # the import's own embed_passages calls
        self.token_wall = 0.0  # the import's token_count calls (fit_to_tokens)

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    def _floor(self, texts: list[str]) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        for start in range(0, len(texts), self._batch):
            self._inner.embed_passages(texts[start:start + self._batch])
        self.floor_wall += time.perf_counter() - wall
        self.floor_cpu += time.process_time() - cpu

    def embed_passages(self, texts):
        if not self.measuring:
            return self._inner.embed_passages(texts)
        texts = list(texts)
        floor_first = self.calls % 2 == 0
        self.calls += 1
        self.texts += len(texts)
        if floor_first:
            self._floor(texts)
        start = time.perf_counter()
        vectors = self._inner.embed_passages(texts)
        self.embed_wall += time.perf_counter() - start
        if not floor_first:
            self._floor(texts)
        return vectors

    def token_count(self, text: str) -> int:
        if not self.measuring:
            return self._inner.token_count(text)
        start = time.perf_counter()
        count = self._inner.token_count(text)
        self.token_wall += time.perf_counter() - start
        return count


def main(argv: list[str]) -> dict:
    n = int(argv[argv.index("--n") + 1]) if "--n" in argv else N
    records = synthetic.generate(n, seed=SEED)
    data_dir = Path(tempfile.mkdtemp(prefix="rrr-bench-import-")) / "data"
    settings = make_settings(data_dir)
    batch = settings.knowledge.batch_size
    texts = [p.text for r in records for p in split_passages(r, settings.knowledge.passage_words)]
    made: list[FloorInterleavingEmbedder] = []

    def factory(knowledge_settings):
        made.append(FloorInterleavingEmbedder(default_embedder_factory(knowledge_settings), batch))
        return made[-1]

    try:
        with Runtime.open(settings, embedder_factory=factory) as rt:
            kb = rt.knowledge
            kb.warm_up()  # load the embedder and create the empty index: not part of either measurement
            embedder = made[0]
            embedder.embed_passages(texts[:batch])  # warm the engine
            log(f"[import] import_records of {n} solutions ({len(texts)} passages), floor interleaved per batch ...")
            embedder.measuring = True
            wall, cpu = time.perf_counter(), time.process_time()
            summary = kb.import_records(records)
            total_wall, total_cpu = time.perf_counter() - wall, time.process_time() - cpu
            embedder.measuring = False
        assert summary.added == n and summary.passages == len(texts), summary
        assert embedder.texts == len(texts), (embedder.texts, len(texts))
    finally:
        shutil.rmtree(data_dir.parent, ignore_errors=True)
    imp_wall = total_wall - embedder.floor_wall
    imp_cpu = total_cpu - embedder.floor_cpu
    p = len(texts)
    other = imp_wall - embedder.embed_wall - embedder.token_wall
    out = {
        "n": n, "passages": p, "batch_size": batch, "embed_calls": embedder.calls,
        "import_s": round(imp_wall, 2), "import_cpu_s": round(imp_cpu, 2),
        "import_solutions_per_s": round(n / imp_wall, 2), "import_passages_per_s": round(p / imp_wall, 2),
        "floor_s": round(embedder.floor_wall, 2), "floor_cpu_s": round(embedder.floor_cpu, 2),
        "floor_passages_per_s": round(p / embedder.floor_wall, 2),
        "ratio": round(embedder.floor_wall / imp_wall, 3), "ratio_cpu": round(embedder.floor_cpu / imp_cpu, 3),
        "import_embed_s": round(embedder.embed_wall, 2), "import_token_count_s": round(embedder.token_wall, 2),
        "import_other_s": round(other, 2),
        "target_ratio": TARGET, "load_average": load_average(),
    }
    out["pass"] = out["ratio"] >= TARGET
    print(f"import {n} solutions ({p} passages): {imp_wall:.1f} s = {out['import_solutions_per_s']:.1f} "
          f"solutions/s, {out['import_passages_per_s']:.1f} passages/s | floor embed_passages "
          f"{out['floor_passages_per_s']:.1f} passages/s ({embedder.floor_wall:.1f} s, interleaved) "
          f"| ratio {out['ratio']:.3f} (cpu {out['ratio_cpu']:.3f}; target >= {TARGET}) "
          f"{'PASS' if out['pass'] else 'FAIL'} | import time: embed_passages {embedder.embed_wall:.1f} s, "
          f"token_count {embedder.token_wall:.1f} s, other {other:.1f} s | load {out['load_average']}", flush=True)
    emit(out, argv)
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
