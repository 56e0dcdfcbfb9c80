"""Operations endpoints of a running bot: ``/healthz`` (alive), ``/readyz`` (can serve), ``/metrics`` (Prometheus).

They are served on ``[ops] host:port`` (127.0.0.1 by default). A public port (Slack's ``--http``) may carry
``/healthz`` and ``/readyz`` for its load balancer, never ``/metrics``.

Their blocking work (the database ping, rendering the metrics) runs on a small executor of their own, never in the
event loop's default one, where every queued question runs: a health check answers promptly however long the
backlog of questions is.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from aiohttp import web

from bot import Runtime
from bot.errors import BotError
from bot.metrics import CONTENT_TYPE

log = logging.getLogger(__name__)

T = TypeVar("T")
#: Threads of the ops executor: a ping and a metrics rendering at once.
OPS_THREADS = 2


class OpsEndpoints:
    """The handlers of ``/healthz``, ``/readyz`` and ``/metrics``, with their own executor (:meth:`close` it)."""

    def __init__(self, rt: Runtime, connected: Callable[[], bool] = lambda: True) -> None:
        self.rt = rt
        self.connected = connected
        self._executor = ThreadPoolExecutor(max_workers=OPS_THREADS, thread_name_prefix="rrr-ops")

    async def _run(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    async def healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, _request: web.Request) -> web.Response:
        problems = []
        try:
            await self._run(self.rt.db.ping)
        except BotError as exc:
            problems.append(str(exc))
        if not self.connected():
            problems.append("not connected to the chat platform yet")
        status = 503 if problems else 200
        return web.json_response({"status": "unavailable" if problems else "ready", "problems": problems},
                                 status=status)

    async def metrics(self, _request: web.Request) -> web.Response:
        body = await self._run(self.rt.bot.metrics.render)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    def mount(self, app: web.Application, *, metrics: bool = True) -> None:
        """Add the routes to ``app`` (``/metrics`` only when ``metrics``)."""
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        if metrics:
            app.router.add_get("/metrics", self.metrics)

    def close(self) -> None:
        """Stop the executor (work already running finishes in its thread; nothing waits for it)."""
        self._executor.shutdown(wait=False, cancel_futures=True)


def add_ops_routes(app: web.Application, rt: Runtime, connected: Callable[[], bool] = lambda: True, *,
                   metrics: bool = True) -> OpsEndpoints:
    """Mount the endpoints on ``app`` (``/metrics`` only when ``metrics``); ``connected`` tells whether the platform
    connection is up. Their executor is shut down when ``app`` is cleaned up."""
    endpoints = OpsEndpoints(rt, connected)
    endpoints.mount(app, metrics=metrics)

    async def close(_app: web.Application) -> None:
        endpoints.close()

    app.on_cleanup.append(close)
    return endpoints


class OpsServer:
    """The endpoints served on their own port: an aiohttp runner and the endpoints' executor, stopped together."""

    def __init__(self, rt: Runtime, connected: Callable[[], bool] = lambda: True) -> None:
        self.endpoints = OpsEndpoints(rt, connected)
        app = web.Application()
        self.endpoints.mount(app)
        self.runner = web.AppRunner(app, access_log=None)

    async def start(self, host: str, port: int) -> None:
        """Bind ``host:port`` and serve (OSError when the port is taken; everything is cleaned up then)."""
        await self.runner.setup()
        try:
            await web.TCPSite(self.runner, host, port).start()
        except OSError:
            await self.cleanup()
            raise

    async def cleanup(self) -> None:
        """Stop serving and shut the executor down."""
        try:
            await self.runner.cleanup()
        finally:
            self.endpoints.close()


async def serve_ops(rt: Runtime, connected: Callable[[], bool] = lambda: True) -> OpsServer | None:
    """Start the ops server on ``[ops] host:port`` (None when the port is 0, or taken: logged, never fatal)."""
    settings = rt.settings.ops
    if not settings.port:
        return None
    server = OpsServer(rt, connected)
    try:
        await server.start(settings.host, settings.port)
    except OSError as exc:
        log.error("ops endpoints not served on %s:%s: %s", settings.host, settings.port, exc)
        return None
    log.info("ops endpoints at http://%s:%s/healthz /readyz /metrics", settings.host, settings.port)
    return server


def ops_context(rt: Runtime, connected: Callable[[], bool] = lambda: True):
    """An aiohttp cleanup context serving the ops endpoints (:func:`serve_ops`) while its application runs."""

    async def context(_app: web.Application) -> AsyncIterator[None]:
        server = await serve_ops(rt, connected)
        try:
            yield
        finally:
            if server is not None:
                await server.cleanup()

    return context


__all__ = ["OpsEndpoints", "OpsServer", "add_ops_routes", "ops_context", "serve_ops"]
