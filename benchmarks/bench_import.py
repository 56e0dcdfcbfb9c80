"""Import throughput of ``KnowledgeBase.import_records``: 1,000 fresh synthetic solutions into an empty data dir.

Floor = the raw batch throughput of the same embedder instance: ``embed_passages`` on the very passage texts the
import embeds (``split_passages`` of each record), in batches of ``[knowledge] batch_size``. Measured right
before AND right after the import in the same process (floor, import, floor); the import is compared with the
mean of the two, so a change of load from other processes during the run hits both sides. The embedder is
loaded and warmed before any timing. Target: import passages/s / floor passages/s >= 0.8.

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
from knowledge import split_passages

import synthetic

N = 1000
SEED = 424242  # not the seed of any cached ask KB: these solutions are new to everything
TARGET = 0.8


def floor_pass(embedder, texts: list[str], batch: int) -> tuple[float, float]:
    """(wall, cpu) seconds to embed ``texts`` in batches of ``batch`` with the raw embedder."""
    wall, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(texts), batch):
        embedder.embed_passages(texts[start:start + batch])
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str]) -> dict:
    n = int(argv[argv.index("--n") + 1]) if "--n" in argv else N
    records = synthetic.generate(n, seed=SEED)
    data_dir = Path(tempfile.mkdtemp(prefix="rrr-bench-import-")) / "data"
    settings = make_settings(data_dir)
    batch = settings.knowledge.batch_size
    texts = [p.text for r in records for p in split_passages(r, settings.knowledge.passage_words)]
    try:
        with Runtime.open(settings) as rt:
            kb = rt.knowledge
            kb.warm_up()  # load the embedder and create the empty index: not part of either measurement
            embedder = kb.embedder
            embedder.embed_passages(texts[:batch])  # warm the engine for both sides
            log(f"[import] floor 1: embedding {len(texts)} passages in batches of {batch} ...")
            floor1 = floor_pass(embedder, texts, batch)
            log(f"[import] import_records of {n} solutions ...")
            wall, cpu = time.perf_counter(), time.process_time()
            summary = kb.import_records(records)
            imp = (time.perf_counter() - wall, time.process_time() - cpu)
            log("[import] floor 2 ...")
            floor2 = floor_pass(embedder, texts, batch)
        assert summary.added == n and summary.passages == len(texts), summary
    finally:
        shutil.rmtree(data_dir.parent, ignore_errors=True)
    floor_wall = (floor1[0] + floor2[0]) / 2
    floor_cpu = (floor1[1] + floor2[1]) / 2
    p = len(texts)
    out = {
        "n": n, "passages": p, "batch_size": batch,
        "import_s": round(imp[0], 2), "import_cpu_s": round(imp[1], 2),
        "import_solutions_per_s": round(n / imp[0], 2), "import_passages_per_s": round(p / imp[0], 2),
        "floor_s": [round(floor1[0], 2), round(floor2[0], 2)], "floor_cpu_s": [round(floor1[1], 2), round(floor2[1], 2)],
        "floor_passages_per_s": round(p / floor_wall, 2),
        "ratio": round(floor_wall / imp[0], 3), "ratio_cpu": round(floor_cpu / imp[1], 3),
        "target_ratio": TARGET, "load_average": load_average(),
    }
    out["pass"] = out["ratio"] >= TARGET
    print(f"import {n} solutions ({p} passages): {out['import_s']:.1f} s = {out['import_solutions_per_s']:.1f} "
          f"solutions/s, {out['import_passages_per_s']:.1f} passages/s | floor embed_passages "
          f"{out['floor_passages_per_s']:.1f} passages/s (runs {out['floor_s'][0]:.1f} s, {out['floor_s'][1]:.1f} s) "
          f"| ratio {out['ratio']:.3f} (cpu {out['ratio_cpu']:.3f}; target >= {TARGET}) "
          f"{'PASS' if out['pass'] else 'FAIL'} | load {out['load_average']}", flush=True)
    emit(out, argv)
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
