"""Operations endpoints of a running bot: ``/healthz`` (alive), ``/readyz`` (can serve), ``/metrics`` (Prometheus).

They are served on ``[ops] host:port`` (127.0.0.1 by default). A public port (Slack's ``--http``) may carry
``/healthz`` and ``/readyz`` for its load balancer, never ``/metrics``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from bot import Runtime
from bot.errors import BotError
from bot.metrics import CONTENT_TYPE

log = logging.getLogger(__name__)


def add_ops_routes(app: web.Application, rt: Runtime, connected: Callable[[], bool] = lambda: True, *,
                   metrics: bool = True) -> None:
    """Mount the endpoints on ``app`` (``/metrics`` only when ``metrics``); ``connected`` tells whether the platform
    connection is up."""

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_request: web.Request) -> web.Response:
        problems = []
        try:
            await asyncio.to_thread(rt.db.ping)
        except BotError as exc:
            problems.append(str(exc))
        if not connected():
            problems.append("not connected to the chat platform yet")
        status = 503 if problems else 200
        return web.json_response({"status": "unavailable" if problems else "ready", "problems": problems},
                                 status=status)

    async def render_metrics(_request: web.Request) -> web.Response:
        body = await asyncio.to_thread(rt.bot.metrics.render)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    if metrics:
        app.router.add_get("/metrics", render_metrics)


async def serve_ops(rt: Runtime, connected: Callable[[], bool] = lambda: True) -> web.AppRunner | None:
    """Start the ops server on ``[ops] host:port`` (None when the port is 0, or taken: logged, never fatal)."""
    settings = rt.settings.ops
    if not settings.port:
        return None
    app = web.Application()
    add_ops_routes(app, rt, connected)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.host, settings.port).start()
    except OSError as exc:
        log.error("ops endpoints not served on %s:%s: %s", settings.host, settings.port, exc)
        await runner.cleanup()
        return None
    log.info("ops endpoints at http://%s:%s/healthz /readyz /metrics", settings.host, settings.port)
    return runner


def ops_context(rt: Runtime, connected: Callable[[], bool] = lambda: True):
    """An aiohttp cleanup context serving the ops endpoints (:func:`serve_ops`) while its application runs."""

    async def context(_app: web.Application) -> AsyncIterator[None]:
        runner = await serve_ops(rt, connected)
        try:
            yield
        finally:
            if runner is not None:
                await runner.cleanup()

    return context


__all__ = ["add_ops_routes", "ops_context", "serve_ops"]
