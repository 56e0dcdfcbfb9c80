"""/healthz, /readyz and /metrics of a running bot, over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.error
import urllib.request
from pathlib import Path

from conftest import make_settings

from adapters.ops import serve_ops
from bot import Runtime
from bot.services import Outgoing
from bot.messages import Reply
from bot.testing import TestAdapter


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def metric(text: str, name: str) -> float:
    """The value of one sample line ``name value`` (labels included in ``name``)."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in the metrics:\n{text}")


def test_metrics_count_questions_errors_and_the_outbox(seeded_dir: Path) -> None:
    port = free_port()
    with Runtime.open(make_settings(seeded_dir, RRR_OPS__PORT=str(port))) as rt:
        rt.outbox.enqueue([Outgoing("k1", "slack", Reply.text("hello"), channel="C1")])
        rt.outbox.enqueue([Outgoing("k2", "discord", Reply.text("hello"), users=("42",))])

        async def scenario() -> tuple[tuple[int, str], ...]:
            runner = await serve_ops(rt)
            assert runner is not None
            try:
                member = TestAdapter(rt.bot, platform="slack", user="U1")
                await member.send("ask How did cities fund local shop vouchers?")
                await member.send("ask zebra crossings for penguins on the moon")
                await member.send("city Atlantis")  # a user error: NotFound
                base = f"http://127.0.0.1:{port}"
                return tuple(await asyncio.gather(*(asyncio.to_thread(get, base + p)
                                                    for p in ("/healthz", "/readyz", "/metrics"))))
            finally:
                await runner.cleanup()

        health, ready, metrics = asyncio.run(scenario())
    assert health == (200, '{"status": "ok"}')
    assert ready[0] == 200 and json.loads(ready[1])["status"] == "ready"
    status, text = metrics
    assert status == 200
    assert metric(text, 'rrr_questions_total{answered="true"}') == 1
    assert metric(text, 'rrr_questions_total{answered="false"}') == 1
    assert metric(text, "rrr_answer_seconds_count") == 2 and metric(text, "rrr_answer_seconds_sum") > 0
    assert metric(text, 'rrr_messages_total{kind="message",platform="slack"}') == 3
    assert metric(text, 'rrr_errors_total{kind="NotFound"}') == 1
    assert metric(text, 'rrr_outbox_backlog{platform="slack"}') == 1
    assert metric(text, 'rrr_outbox_backlog{platform="discord"}') == 1


def test_readyz_reports_an_unreachable_database_and_a_missing_connection(tmp_path: Path) -> None:
    port = free_port()
    dead = free_port()  # nothing listens there
    settings = make_settings(tmp_path / "data", RRR_OPS__PORT=str(port),
                             RRR_DATABASE__URL=f"postgresql+psycopg://nobody@127.0.0.1:{dead}/rrr")
    rt = Runtime.open(settings, migrate=False)
    try:
        async def scenario() -> tuple[int, str]:
            runner = await serve_ops(rt, connected=lambda: False)
            assert runner is not None
            try:
                return await asyncio.to_thread(get, f"http://127.0.0.1:{port}/readyz")
            finally:
                await runner.cleanup()

        status, body = asyncio.run(scenario())
    finally:
        rt.close()
    assert status == 503
    problems = json.loads(body)["problems"]
    assert any("database does not answer" in p for p in problems) and "not connected" in problems[-1]


def test_a_taken_port_is_logged_not_fatal(tmp_path: Path, caplog) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with Runtime.open(make_settings(tmp_path / "data", RRR_OPS__PORT=str(port))) as rt:
            assert asyncio.run(serve_ops(rt)) is None
    assert "ops endpoints not served" in caplog.text
