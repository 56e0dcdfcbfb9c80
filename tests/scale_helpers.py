"""Helpers of the load and fault tests (``tests/test_scale.py``) and of ``benchmarks/bench_load.py``.

- real ``rrr-bot`` processes (``run slack --http``, ``run scheduler``) with a clean environment, their output in
  files, stopped with a bound (:class:`Processes`);
- a seeded network moved into a PostgreSQL database keeping its ids, so the seeded index directory still fits
  (:func:`seed_postgres`), and a fresh database for the benchmark (:func:`create_database`);
- the load generator: signed Events API ``app_mention`` payloads sent at a fixed concurrency to several workers in
  turn, as a load balancer does, with a share of duplicates (the same ``event_id`` delivered to the *other*
  worker, with Slack's retry headers), timing every acknowledgement (:func:`send_load`);
- the answers the fake Slack Web API recorded, counted per thread (:func:`answers_per_thread`);
- PostgreSQL control for the restart test (:func:`restart_postgres`, :func:`wait_postgres`).

Everything binds and connects to 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:  # the benchmark imports this module from outside tests/
    sys.path.insert(0, str(TESTS))

from fake_support import wait_until  # noqa: E402
from slack_fake import (  # noqa: E402
    BOT_TOKEN, BOT_USER_ID, PROXY_ENV, SIGNING_SECRET, app_mention, event_callback, sign,
)

#: Environment variables that must not leak from the caller into a bot process.
SECRET_NAMES = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "DISCORD_TOKEN")
LEADS = "this process runs the scheduler"
ACK_BUDGET = 3.0  # Slack's budget for acknowledging an event
#: Exceptions a process may log (handled) while PostgreSQL is down or restarting.
CONNECTION_ERRORS = re.compile(
    r"OperationalError|server closed the connection|connection (is )?(closed|lost|refused)|Connection refused|"
    r"terminating connection|the database system is (shutting down|starting up|in recovery mode)|"
    r"consuming input failed|could not receive data|SSL SYSCALL|DisconnectionError|InterfaceError|"
    r"PendingRollbackError|cannot reach the database|ConnectionResetError|BrokenPipeError|AdminShutdown|"
    r"StorageError|the connection is (closed|lost)", re.IGNORECASE)


# -- processes -------------------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rrr_bot() -> list[str]:
    """The ``rrr-bot`` command of this interpreter's environment."""
    found = shutil.which("rrr-bot", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-c", "from adapters.cli import main; main()"]


def bot_env(data_dir: Path, home: Path, **env: str) -> dict[str, str]:
    """This environment minus RRR_* settings, secrets and proxies, plus ``RRR_DATA_DIR`` and ``env``."""
    full = {k: v for k, v in os.environ.items()
            if not k.startswith("RRR_") and k not in SECRET_NAMES and k not in PROXY_ENV and k != "XDG_DATA_HOME"}
    full.update(RRR_DATA_DIR=str(data_dir), HOME=str(home), NO_COLOR="1", PYTHONUNBUFFERED="1", **env)
    return full


@dataclass
class Process:
    """One ``rrr-bot`` process; stdout and stderr go to one log file."""

    name: str
    popen: subprocess.Popen
    log_path: Path
    port: int | None = None

    def log(self) -> str:
        try:
            return self.log_path.read_text("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        """Send ``sig`` and wait for the exit; SIGKILL after ``timeout`` (returns None then)."""
        if self.popen.poll() is None:
            try:
                self.popen.send_signal(sig)
            except ProcessLookupError:
                pass
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout)
            return None


class Processes:
    """Starts ``rrr-bot`` processes into ``log_dir``; :meth:`stop_all` stops whatever still runs (bounded)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[Process] = []
        self._files: list[Any] = []

    def start(self, name: str, args: Sequence[str], data_dir: Path, *, port: int | None = None,
              **env: str) -> Process:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        handle = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed in stop_all
        self._files.append(handle)
        popen = subprocess.Popen([*rrr_bot(), *args], stdin=subprocess.DEVNULL, stdout=handle,
                                 stderr=subprocess.STDOUT, cwd=ROOT,
                                 env=bot_env(data_dir, self.log_dir / "home", **env))
        process = Process(name, popen, log_path, port)
        self.started.append(process)
        return process

    def slack_worker(self, name: str, data_dir: Path, port: int, api_url: str, **env: str) -> Process:
        """``rrr-bot run slack --http`` on 127.0.0.1:``port``, its Web API calls going to ``api_url``."""
        env.setdefault("RRR_BOT__PLACEHOLDER_SECONDS", "600")  # a test counting messages sees only answers
        return self.start(name, ["run", "slack", "--http", "--host", "127.0.0.1", "--port", str(port)], data_dir,
                          port=port, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET,
                          RRR_SLACK__API_BASE_URL=api_url, **env)

    def scheduler(self, name: str, data_dir: Path, **env: str) -> Process:
        """``rrr-bot run scheduler``."""
        return self.start(name, ["run", "scheduler"], data_dir, **env)

    def stop_all(self) -> None:
        for process in self.started:
            if process.alive:
                process.popen.terminate()
        for process in self.started:
            process.stop(signal.SIGTERM, 15.0)
        for handle in self._files:
            handle.close()
        self._files.clear()


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    """``(status, body)``; status 0 when nothing answered."""
    try:
        with _DIRECT.open(url, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")
    except (OSError, urllib.error.URLError) as exc:
        return 0, str(exc)


def wait_ready(process: Process, port: int, timeout: float = 90.0) -> None:
    """Wait until ``/readyz`` on ``port`` answers 200 (AssertionError with the log if the process died)."""
    def ready() -> bool:
        if not process.alive:
            raise AssertionError(f"{process.name} exited with {process.popen.returncode}:\n{process.log()[-4000:]}")
        return http_get(f"http://127.0.0.1:{port}/readyz", 2.0)[0] == 200
    wait_until(ready, timeout, f"{process.name} to be ready on port {port}", lambda: process.log()[-3000:],
               interval=0.2)


_CHAINED = ("The above exception was the direct cause", "During handling of the above exception")


def tracebacks(log: str) -> list[str]:
    """The logged tracebacks, one per logged error: from ``Traceback ...`` to the (unindented) exception line ending
    it, chained exceptions ("During handling of the above exception ...") kept together, the last one at the end."""
    blocks, lines = [], log.splitlines()
    i = 0
    while i < len(lines):
        if not lines[i].startswith("Traceback (most recent call last)"):
            i += 1
            continue
        start = i
        while True:
            j = i + 1
            while j < len(lines) and (lines[j].startswith((" ", "\t")) or not lines[j].strip()):
                j += 1
            k = j + 1  # after the exception line: a chained one follows?
            while k < len(lines) and not lines[k].strip():
                k += 1
            if k < len(lines) and lines[k].startswith(_CHAINED):
                k += 1
                while k < len(lines) and not lines[k].strip():
                    k += 1
                if k < len(lines) and lines[k].startswith("Traceback (most recent call last)"):
                    i = k
                    continue
            break
        blocks.append("\n".join(lines[start:j + 1]))
        i = j + 1
    return blocks


def unexpected_tracebacks(log: str) -> list[str]:
    """Logged tracebacks whose final exception is not a database connection error."""
    return [b for b in tracebacks(log) if not CONNECTION_ERRORS.search(b.splitlines()[-1])]


# -- PostgreSQL ------------------------------------------------------------------------------------------------------

def seed_postgres(seeded_dir: Path, url: str, work: Path) -> dict[str, int]:
    """Copy the seeded SQLite network of ``seeded_dir`` into the empty PostgreSQL database ``url``, ids kept (so the
    seeded index directory fits it); returns the rows per table."""
    from conftest import make_settings

    from bot import Runtime
    from bot.services.transfer import export_network, import_network

    work.mkdir(parents=True, exist_ok=True)
    dump = work / "network.jsonl"
    with Runtime.open(make_settings(seeded_dir)) as source:
        export_network(source.db, dump)
    with Runtime.open(make_settings(work / "importer", RRR_DATABASE__URL=url)) as target:
        return import_network(target.db, dump).tables


def worker_dir(seeded_dir: Path, target: Path) -> Path:
    """A worker's own data dir: a copy of the seeded one (its index fits the database the network was copied to)."""
    shutil.copytree(seeded_dir, target)
    return target


def admin_url() -> str:
    return os.environ.get("POSTGRES_TEST_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _params(url: str) -> dict[str, Any]:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return dict(host=parsed.host, port=parsed.port or 5432, user=parsed.username, password=parsed.password,
                dbname=parsed.database)


def create_database(prefix: str = "rrr_bench") -> tuple[str, Callable[[], None]]:
    """A fresh PostgreSQL database beside :func:`admin_url`'s; returns its URL and a function dropping it."""
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    params = _params(admin_url())
    with psycopg.connect(autocommit=True, connect_timeout=5, **params) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(autocommit=True, connect_timeout=5, **params) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return make_url(admin_url()).set(database=name).render_as_string(hide_password=False), drop


def query(url: str, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
    """Rows of one query on ``url`` (a new connection each time: it works across a server restart)."""
    import psycopg

    with psycopg.connect(connect_timeout=5, **_params(url)) as conn:
        return list(conn.execute(sql, args).fetchall())


def postgres_cluster() -> tuple[str, str] | None:
    """``(version, name)`` of the local cluster ``pg_ctlcluster`` controls, or None when there is none."""
    if not shutil.which("pg_ctlcluster") or not Path("/etc/postgresql").is_dir():
        return None
    versions = sorted(p.name for p in Path("/etc/postgresql").iterdir() if (p / "main").is_dir())
    return (versions[0], "main") if versions else None


def pg_isready(timeout: float = 2.0) -> bool:
    tool = shutil.which("pg_isready")
    if tool:
        try:
            return subprocess.run([tool, "-h", "127.0.0.1", "-q"], timeout=timeout + 3).returncode == 0
        except subprocess.TimeoutExpired:
            return False
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=timeout).close()
        return True
    except OSError:
        return False


def wait_postgres(timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pg_isready():
            return True
        time.sleep(0.2)
    return False


def pg_ctlcluster(action: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
    cluster = postgres_cluster()
    if cluster is None:
        raise RuntimeError("no PostgreSQL cluster under /etc/postgresql, or no pg_ctlcluster")
    return subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", *cluster, action],
                          capture_output=True, text=True, timeout=timeout)


def restart_postgres() -> subprocess.CompletedProcess:
    """``pg_ctlcluster --skip-systemctl-redirect VERSION main restart``, as ``.ci/run`` starts it."""
    return pg_ctlcluster("restart")


def ensure_postgres_up(timeout: float = 60.0) -> bool:
    """Wait for PostgreSQL; start the cluster if it stays down. True when it answers."""
    if wait_postgres(min(timeout, 20.0)):
        return True
    if postgres_cluster() is not None:
        pg_ctlcluster("start")
    return wait_postgres(timeout)


# -- the load ---------------------------------------------------------------------------------------------------------

def questions(path: Path = TESTS / "data" / "eval.jsonl") -> list[str]:
    """The evaluation questions (eight languages, in and out of scope): what officials ask."""
    return [json.loads(line)["q"] for line in path.read_text("utf-8").splitlines() if line.strip()]


@dataclass(frozen=True)
class Planned:
    """One delivery: the JSON body of an ``event_callback``, the worker it goes to, and whether it is a retry."""

    worker: int
    event_id: str
    thread: tuple[str, str]  # (channel, ts): where the answer goes
    body: bytes
    duplicate: bool = False


@dataclass
class Delivery:
    planned: Planned
    status: int
    seconds: float  # until the acknowledgement
    sent_at: float = 0.0  # time.monotonic() when the request was sent
    error: str = ""


@dataclass
class LoadResult:
    deliveries: list[Delivery]
    started: float  # time.monotonic() of the first send
    finished: float  # ... of the last acknowledgement
    distinct: int  # distinct events (duplicates left out)
    duplicates: int

    @property
    def wall(self) -> float:
        return self.finished - self.started

    @property
    def ack_seconds(self) -> list[float]:
        return [d.seconds for d in self.deliveries]

    def failed(self) -> list[Delivery]:
        return [d for d in self.deliveries if d.status != 200]

    def slow(self, budget: float = ACK_BUDGET) -> list[Delivery]:
        return [d for d in self.deliveries if d.seconds >= budget]


def plan_events(n: int, workers: int, *, duplicate_share: float = 0.05, texts: Sequence[str] | None = None,
                users: int = 250, channels: int = 10, prefix: str = "LOAD") -> list[Planned]:
    """``n`` distinct ``app_mention`` events, alternating between ``workers`` (round robin), plus about
    ``duplicate_share`` of them delivered again to the next worker (same ``event_id``), a few places later.

    ``users`` is many members asking a few questions each, as a busy network does: one member sending 50 questions
    in half a minute would be a flood, which the per-member rate limit answers once and then ignores."""
    texts = list(texts or questions())
    base = int(time.time())
    run = uuid.uuid4().hex[:6]
    plan: list[Planned] = []
    every = max(1, round(1 / duplicate_share)) if duplicate_share > 0 else 0
    retries: list[tuple[int, Planned]] = []
    for i in range(n):
        channel = f"C{prefix}{i % channels}"
        ts = f"{base}.{i:06d}"
        event = app_mention(f"<@{BOT_USER_ID}> {texts[i % len(texts)]}", user=f"U{prefix}{i % users}",
                            channel=channel, ts=ts)
        event_id = f"Ev{prefix}{run}{i:06d}"
        body = json.dumps(event_callback(event, event_id=event_id)).encode()
        first = Planned(i % workers, event_id, (channel, ts), body)
        plan.append(first)
        if every and i % every == every // 2:
            # a retry arrives at the other worker soon after, often while the first delivery is being answered
            retries.append((len(plan) + 3, Planned((i + 1) % workers, event_id, (channel, ts), body, True)))
    for offset, (position, retry) in enumerate(retries):
        plan.insert(min(position + offset, len(plan)), retry)
    return plan


async def _send(session, url: str, planned: Planned, timeout: float) -> Delivery:
    import aiohttp

    headers = {"Content-Type": "application/json", "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
               **sign(planned.body)}
    if planned.duplicate:
        headers.update({"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    started = time.monotonic()
    try:
        async with session.post(url, data=planned.body, headers=headers,
                                timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            await response.read()
            return Delivery(planned, response.status, time.monotonic() - started, started)
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        return Delivery(planned, 0, time.monotonic() - started, started, f"{type(exc).__name__}: {exc}")


async def send_load_async(urls: Sequence[str], plan: Sequence[Planned], *, concurrency: int = 50,
                          timeout: float = 10.0) -> LoadResult:
    """Send ``plan`` with ``concurrency`` requests in flight, in order; every acknowledgement is timed."""
    import aiohttp

    queue: asyncio.Queue[Planned] = asyncio.Queue()
    for planned in plan:
        queue.put_nowait(planned)
    deliveries: list[Delivery] = []
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=connector, trust_env=False) as session:
        async def worker() -> None:
            while True:
                try:
                    planned = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                deliveries.append(await _send(session, urls[planned.worker], planned, timeout))

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        finished = time.monotonic()
    distinct = len({p.event_id for p in plan})
    return LoadResult(deliveries, started, finished, distinct, len(plan) - distinct)


def send_load(urls: Sequence[str], plan: Sequence[Planned], *, concurrency: int = 50,
              timeout: float = 10.0) -> LoadResult:
    return asyncio.run(send_load_async(urls, plan, concurrency=concurrency, timeout=timeout))


def _thread_of(call) -> tuple[str, str]:
    return str(call.params.get("channel")), str(call.params.get("thread_ts"))


def _in_load(prefix: str):
    return lambda c: str(c.params.get("channel", "")).startswith(f"C{prefix}")


def _holding(call) -> bool:
    """A placeholder ("Looking through ...", "Many questions ..."): posted first, replaced by the answer."""
    from bot.core import BUSY_REPLY, PLACEHOLDER_REPLY

    return str(call.params.get("text") or "") in (PLACEHOLDER_REPLY, BUSY_REPLY)


def placeholders(fake, prefix: str = "LOAD") -> dict[tuple[str, str], Any]:
    """The first placeholder posted in each thread of the load's channels."""
    found: dict[tuple[str, str], Any] = {}
    for c in fake.calls_to("chat.postMessage", where=_in_load(prefix)):
        if _holding(c):
            found.setdefault(_thread_of(c), c)
    return found


def answer_calls(fake, prefix: str = "LOAD") -> list[tuple[tuple[str, str], Any]]:
    """Every answer given in the load's channels, with its thread: a message that is no placeholder, or the
    ``chat.update`` that replaced a placeholder (counted in the placeholder's thread)."""
    calls = fake.calls_to(None, where=lambda c: c.method in ("chat.postMessage", "chat.update")
                          and _in_load(prefix)(c))
    threads: dict[tuple[str, str], tuple[str, str]] = {}  # (channel, placeholder ts) -> its thread
    answers = []
    for c in calls:
        if c.method == "chat.postMessage" and _holding(c):
            threads[(str(c.params.get("channel")), str(c.response.get("ts")))] = _thread_of(c)
        elif c.method == "chat.postMessage":
            answers.append((_thread_of(c), c))
        else:
            key = threads.get((str(c.params.get("channel")), str(c.params.get("ts"))))
            if key is not None:
                answers.append((key, c))
    return answers


def answers_per_thread(fake, prefix: str = "LOAD") -> Counter:
    """How many answers the fake received per ``(channel, thread_ts)`` of the load's channels (placeholders are not
    answers; the update that replaces one is)."""
    return Counter(key for key, _ in answer_calls(fake, prefix))


def first_sent(result: LoadResult) -> dict[tuple[str, str], float]:
    sent: dict[tuple[str, str], float] = {}
    for d in result.deliveries:
        sent[d.planned.thread] = min(sent.get(d.planned.thread, d.sent_at), d.sent_at)
    return sent


def answer_seconds(result: LoadResult, fake, prefix: str = "LOAD") -> list[float]:
    """Per answered event: from its first delivery to the first answer given in its thread."""
    return list(answer_delays(result, fake, prefix).values())


def answer_delays(result: LoadResult, fake, prefix: str = "LOAD") -> dict[tuple[str, str], float]:
    sent = first_sent(result)
    answered: dict[tuple[str, str], float] = {}
    for key, c in answer_calls(fake, prefix):
        answered[key] = min(answered.get(key, c.at), c.at)
    return {key: at - sent[key] for key, at in answered.items() if key in sent}


def placeholder_delays(result: LoadResult, fake, prefix: str = "LOAD") -> dict[tuple[str, str], float]:
    """Per thread that got a placeholder: from its event's first delivery to the placeholder."""
    sent = first_sent(result)
    return {key: c.at - sent[key] for key, c in placeholders(fake, prefix).items() if key in sent}


def last_answer_at(fake, prefix: str = "LOAD") -> float:
    return max((c.at for _, c in answer_calls(fake, prefix)), default=0.0)


def percentile(values: Iterable[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), as benchmarks/_common.py."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass
class LoadReport:
    """What a load run measured."""

    events: int
    duplicates: int
    wall_send: float
    wall_answered: float
    ack_p50: float
    ack_p99: float
    ack_max: float
    answered: int
    answered_twice: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        """Distinct events answered per second, from the first send to the last answer."""
        return self.answered / self.wall_answered if self.wall_answered > 0 else float("nan")

    def line(self) -> str:
        return (f"{self.events} events (+{self.duplicates} duplicates) on 2 workers: {self.throughput:.1f} events/s "
                f"answered ({self.answered} in {self.wall_answered:.1f} s; all acked in {self.wall_send:.1f} s), "
                f"ack p50 {self.ack_p50 * 1000:.0f} ms, p99 {self.ack_p99 * 1000:.0f} ms, "
                f"max {self.ack_max * 1000:.0f} ms; answered twice: {self.answered_twice}")


def report(result: LoadResult, fake, prefix: str = "LOAD") -> LoadReport:
    counts = answers_per_thread(fake, prefix)
    acks = result.ack_seconds
    return LoadReport(events=result.distinct, duplicates=result.duplicates, wall_send=result.wall,
                      wall_answered=max(last_answer_at(fake, prefix), result.finished) - result.started,
                      ack_p50=percentile(acks, 50), ack_p99=percentile(acks, 99), ack_max=max(acks, default=0.0),
                      answered=len(counts), answered_twice=sum(1 for v in counts.values() if v > 1))
