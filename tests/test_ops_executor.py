"""/healthz, /readyz and /metrics answer while the default executor, where every question runs, is saturated.

The endpoints run their blocking work (the database ping, rendering the metrics) on an executor of their own, owned
by the ops server (or by the application they are mounted on) and shut down with it. Each test fills the event
loop's default executor with work blocked on a ``threading.Event`` and asks the endpoints over real HTTP on
loopback, with a bounded client timeout, before releasing it.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from aiohttp import web
from conftest import make_settings
from fake_support import wait_until
from test_ops import free_port

from adapters.ops import add_ops_routes, serve_ops
from bot import Runtime

T = TypeVar("T")
#: More blocked jobs than the default executor has threads (min(32, cores + 4)): the rest wait in its queue.
BLOCKED_JOBS = 40
#: The client's bound for one request; the blocked work is held far longer than that.
CLIENT_TIMEOUT = 10.0
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get(url: str) -> tuple[int, str]:
    """``(status, body)``; status 0 with the reason when nothing answered within the client timeout."""
    try:
        with _DIRECT.open(url, timeout=CLIENT_TIMEOUT) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError as exc:
        return 0, f"no answer within {CLIENT_TIMEOUT:.0f} s: {exc}"


async def while_default_executor_is_full(ask: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
    """``ask()``'s result while the default executor is filled with blocked work, and whether that work (and a
    probe queued behind it) was still waiting when ``ask()`` finished; released afterwards in every case."""
    loop = asyncio.get_running_loop()
    release = threading.Event()
    blocked = [loop.run_in_executor(None, release.wait, 120.0) for _ in range(BLOCKED_JOBS)]
    probe = loop.run_in_executor(None, lambda: "ran")
    try:
        result = await ask()
        still_full = not probe.done() and not any(job.done() for job in blocked)
    finally:
        release.set()
        await asyncio.gather(*blocked, probe)
    return result, still_full


async def fetch_all(base: str, paths: tuple[str, ...]) -> list[tuple[int, str]]:
    """GET every path at once, from threads of a client executor of its own (not the saturated default one)."""
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=len(paths), thread_name_prefix="client") as client:
        return list(await asyncio.gather(*(loop.run_in_executor(client, get, base + p) for p in paths)))


def ops_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("rrr-ops")}


def test_the_ops_port_answers_while_questions_fill_the_default_executor(seeded_dir: Path) -> None:
    port = free_port()
    before = ops_threads()
    with Runtime.open(make_settings(seeded_dir, RRR_OPS__PORT=str(port))) as rt:

        async def scenario() -> tuple[list[tuple[int, str]], bool, set[threading.Thread]]:
            server = await serve_ops(rt)
            assert server is not None
            try:
                answers, full = await while_default_executor_is_full(
                    lambda: fetch_all(f"http://127.0.0.1:{port}", ("/healthz", "/readyz", "/metrics")))
                return answers, full, ops_threads() - before
            finally:
                await server.cleanup()

        (health, ready, metrics), still_full, used = asyncio.run(scenario())
    assert still_full, "the default executor was not saturated while the endpoints were asked"
    assert health == (200, '{"status": "ok"}')
    assert ready[0] == 200 and json.loads(ready[1])["status"] == "ready", ready
    assert metrics[0] == 200 and "rrr_questions_total" in metrics[1], metrics[1][:300]
    assert used, "the ping and the rendering ran on no ops thread"
    wait_until(lambda: not any(t.is_alive() for t in used), 10.0, "the ops executor to stop with its server")


def test_endpoints_on_a_public_app_answer_while_the_default_executor_is_full(tmp_path: Path) -> None:
    """As ``run slack --http`` mounts them on the Slack port: /readyz answers, /metrics is not there, and their
    executor stops when the application is cleaned up."""
    port = free_port()
    before = ops_threads()
    with Runtime.open(make_settings(tmp_path / "data")) as rt:

        async def scenario() -> tuple[list[tuple[int, str]], bool, set[threading.Thread]]:
            app = web.Application()
            add_ops_routes(app, rt, metrics=False)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            try:
                await web.TCPSite(runner, "127.0.0.1", port).start()
                answers, full = await while_default_executor_is_full(
                    lambda: fetch_all(f"http://127.0.0.1:{port}", ("/healthz", "/readyz", "/metrics")))
                return answers, full, ops_threads() - before
            finally:
                await runner.cleanup()

        (health, ready, metrics), still_full, used = asyncio.run(scenario())
    assert still_full, "the default executor was not saturated while the endpoints were asked"
    assert health[0] == 200 and ready[0] == 200 and json.loads(ready[1])["status"] == "ready", (health, ready)
    assert metrics[0] == 404
    assert used, "the ping ran on no ops thread"
    wait_until(lambda: not any(t.is_alive() for t in used), 10.0, "the ops executor to stop with the application")


def test_readyz_on_a_saturated_worker_still_reports_a_missing_connection(tmp_path: Path) -> None:
    """The answer stays truthful under load: not connected is 503 with its reason, not a timeout."""
    port = free_port()
    with Runtime.open(make_settings(tmp_path / "data", RRR_OPS__PORT=str(port))) as rt:

        async def scenario() -> tuple[list[tuple[int, str]], bool]:
            server = await serve_ops(rt, connected=lambda: False)
            assert server is not None
            try:
                return await while_default_executor_is_full(
                    lambda: fetch_all(f"http://127.0.0.1:{port}", ("/readyz",)))
            finally:
                await server.cleanup()

        ([(status, body)], still_full) = asyncio.run(scenario())
    assert still_full
    assert status == 503 and json.loads(body)["problems"] == ["not connected to the chat platform yet"], body
