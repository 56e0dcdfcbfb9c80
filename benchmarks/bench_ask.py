"""Ask latency of ``KnowledgeBase.ask`` on 1k and 10k synthetic solutions, beside its floor.

Floor = what any ask must do: the embedder's own ``embed_queries([q])`` plus one ``VectorIndex.search`` on the
same index (loaded from the same files) for the same question. Floor and ask alternate per question (the order
flips every question), so load from other processes hits both alike. 5 warm-up asks first, then 200 questions
in eight languages. Target: ask p50 / floor p50 <= 1.25.

    python benchmarks/bench_ask.py [--sizes 1000,10000] [--json-out results.json]
"""

from __future__ import annotations

import sys
import time

from _common import emit, ensure_kb, load_average, log, make_settings, percentile

from bot import Runtime
from bot.services.knowledge_base import default_embedder_factory
from knowledge import VectorIndex, fit_to_tokens

import synthetic

WARMUP = 5
QUESTIONS = 200
TARGET = 1.25


class TimingEmbedder:
    """The real embedder, adding up the wall time spent in each of its methods (to attribute ask's time)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.spent = {"embed_queries": 0.0, "embed_passages": 0.0, "token_count": 0.0}
        self.passage_calls = 0

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def _timed(self, name: str, *args):
        start = time.perf_counter()
        try:
            return getattr(self.inner, name)(*args)
        finally:
            self.spent[name] += time.perf_counter() - start

    def embed_queries(self, texts):
        return self._timed("embed_queries", texts)

    def embed_passages(self, texts):
        self.passage_calls += 1
        return self._timed("embed_passages", texts)

    def token_count(self, text):
        return self._timed("token_count", text)


def bench_size(n: int) -> dict:
    data_dir, reused, build_s = ensure_kb(n)
    settings = make_settings(data_dir)
    questions = synthetic.questions(QUESTIONS + WARMUP, seed=7)
    warmup, measured = questions[:WARMUP], questions[WARMUP:]
    made: list[TimingEmbedder] = []
    factory = lambda ks: made.append(TimingEmbedder(default_embedder_factory(ks))) or made[-1]  # noqa: E731
    with Runtime.open(settings, embedder_factory=factory) as rt:
        kb = rt.knowledge
        kb.warm_up()
        timing = made[0]
        embedder = timing.inner  # the floor calls the very same embedder instance, unwrapped
        index, _ = VectorIndex.load(settings.index_dir)  # the same index file the knowledge base opened
        k = settings.knowledge.top_k

        def floor(q: str) -> float:
            start, cpu = time.perf_counter(), time.process_time()
            vector = embedder.embed_queries([q])[0]
            index.search(vector, k)
            floor_cpu.append(time.process_time() - cpu)
            return time.perf_counter() - start

        def ask(q: str):
            before = dict(timing.spent)
            start, cpu = time.perf_counter(), time.process_time()
            result = kb.ask(q)
            elapsed = time.perf_counter() - start
            ask_cpu.append(time.process_time() - cpu)
            spent = {key: timing.spent[key] - before[key] for key in before}
            ask_parts.append((spent["embed_queries"], spent["token_count"], spent["embed_passages"],
                              elapsed - sum(spent.values())))
            return elapsed, result

        ask_cpu: list[float] = []
        floor_cpu: list[float] = []
        ask_parts: list[tuple[float, float, float, float]] = []

        for q in warmup:
            kb.ask(q)
            floor(q)
        del ask_cpu[:], floor_cpu[:], ask_parts[:]
        passage_calls = timing.passage_calls
        ask_t: list[float] = []
        floor_t: list[float] = []
        answered = truncated = 0
        for i, q in enumerate(measured):
            if i % 2:
                floor_t.append(floor(q))
                elapsed, result = ask(q)
            else:
                elapsed, result = ask(q)
                floor_t.append(floor(q))
            ask_t.append(elapsed)
            answered += result.answered
            truncated += fit_to_tokens(embedder, q)[1]
        passages = len(index)
        passage_calls = timing.passage_calls - passage_calls
    slowest = max(range(len(ask_t)), key=lambda i: ask_t[i] - floor_t[i])
    ms = lambda s: round(s * 1000, 2)  # noqa: E731
    out = {
        "n": n, "passages": passages, "kb_reused": reused, "kb_build_s": round(build_s, 1),
        "questions": len(measured), "answered": answered, "truncated": truncated,
        "ask_p50_ms": ms(percentile(ask_t, 50)), "ask_p99_ms": ms(percentile(ask_t, 99)),
        "floor_p50_ms": ms(percentile(floor_t, 50)), "floor_p99_ms": ms(percentile(floor_t, 99)),
        "ask_mean_ms": ms(sum(ask_t) / len(ask_t)), "floor_mean_ms": ms(sum(floor_t) / len(floor_t)),
        "overhead_p50_ms": ms(percentile([a - f for a, f in zip(ask_t, floor_t)], 50)),
        "ask_embed_queries_p50_ms": ms(percentile([p[0] for p in ask_parts], 50)),
        "ask_token_count_p50_ms": ms(percentile([p[1] for p in ask_parts], 50)),
        "ask_outside_embedder_p50_ms": ms(percentile([p[3] for p in ask_parts], 50)),
        "ask_outside_embedder_p99_ms": ms(percentile([p[3] for p in ask_parts], 99)),
        "ask_embed_passages_calls": passage_calls, "ask_embed_passages_ms": ms(sum(p[2] for p in ask_parts)),
        "worst_excess_ms": ms(ask_t[slowest] - floor_t[slowest]), "worst_excess_question": measured[slowest],
        "worst_excess_parts_ms": [ms(x) for x in ask_parts[slowest]],
        "ask_cpu_p50_ms": ms(percentile(ask_cpu, 50)), "floor_cpu_p50_ms": ms(percentile(floor_cpu, 50)),
        "load_average": load_average(),
    }
    out["ratio_cpu_p50"] = round(percentile(ask_cpu, 50) / percentile(floor_cpu, 50), 3)
    out["ratio_p50"] = round(percentile(ask_t, 50) / percentile(floor_t, 50), 3)
    out["ratio_p99"] = round(percentile(ask_t, 99) / percentile(floor_t, 99), 3)
    out["pass"] = out["ratio_p50"] <= TARGET
    return out


def main(argv: list[str]) -> dict:
    sizes = [1000, 10000]
    if "--sizes" in argv:
        sizes = [int(s) for s in argv[argv.index("--sizes") + 1].split(",")]
    results = {"target_ratio_p50": TARGET, "sizes": []}
    for n in sizes:
        log(f"[ask] {n} solutions ...")
        r = bench_size(n)
        results["sizes"].append(r)
        print(f"ask {n:>6} solutions ({r['passages']} passages, {r['answered']}/{r['questions']} answered): "
              f"p50 {r['ask_p50_ms']:.1f} ms, p99 {r['ask_p99_ms']:.1f} ms | floor p50 {r['floor_p50_ms']:.1f} ms, "
              f"p99 {r['floor_p99_ms']:.1f} ms | ratio p50 {r['ratio_p50']:.3f} (target <= {TARGET}) "
              f"{'PASS' if r['pass'] else 'FAIL'} | median overhead {r['overhead_p50_ms']:.1f} ms "
              f"| cpu p50 {r['ask_cpu_p50_ms']:.1f} vs {r['floor_cpu_p50_ms']:.1f} ms (ratio {r['ratio_cpu_p50']:.3f}) "
              f"| inside ask p50: embed_queries {r['ask_embed_queries_p50_ms']:.1f} ms, token_count "
              f"{r['ask_token_count_p50_ms']:.1f} ms, outside the embedder {r['ask_outside_embedder_p50_ms']:.1f} ms "
              f"(p99 {r['ask_outside_embedder_p99_ms']:.1f}) | embed_passages during asks: "
              f"{r['ask_embed_passages_calls']} call(s), {r['ask_embed_passages_ms']:.0f} ms "
              f"| worst ask-floor excess {r['worst_excess_ms']:.0f} ms "
              f"| load {r['load_average']}", flush=True)
    emit(results, argv)
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
