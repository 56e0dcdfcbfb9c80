"""What the fake platform servers and the tests share: bounded polling, and an event loop in a daemon thread."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

DEFAULT_TIMEOUT = 5.0
POLL = 0.02


# -- waiting ---------------------------------------------------------------------------------------------------------

def wait_until(predicate: Callable[[], T], timeout: float = DEFAULT_TIMEOUT, what: str = "condition",
               describe: Callable[[], str] | None = None, interval: float = POLL) -> T:
    """Poll ``predicate`` until it returns a truthy value (returned) or ``timeout`` seconds pass (AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            detail = f"\n{describe()}" if describe else ""
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}{detail}")
        time.sleep(interval)


class LoopThread:
    """An asyncio event loop running in a daemon thread; ``run(coro)`` executes a coroutine there and waits."""

    def __init__(self, name: str = "loop") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = DEFAULT_TIMEOUT) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise AssertionError(f"coroutine {coro!r} did not finish within {timeout:.1f}s") from None

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Future:
        """Start ``coro`` on the loop without waiting for it (a concurrent.futures.Future is returned)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def close(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Cancel what still runs on the loop, stop it and join the thread (bounded)."""
        if not self.loop.is_running():
            return

        async def cancel_rest() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=timeout / 2)
            await _close_client_sessions(self.loop)

        try:
            self.run(cancel_rest(), timeout)
        except AssertionError:
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self.loop.close()
        # Finalise what the code under test dropped now, in this thread: a finaliser that runs later in another
        # thread while pytest formats a traceback can crash CPython 3.11 < 3.11.8 (ast.parse is not thread-safe).
        gc.collect()


async def _close_client_sessions(loop: asyncio.AbstractEventLoop) -> None:
    """Close the aiohttp client sessions still open on ``loop`` (e.g. a Socket Mode client nobody closed), so they
    neither leak sockets into later tests nor complain from a finaliser after the loop is gone."""
    import aiohttp

    for obj in gc.get_objects():
        if isinstance(obj, aiohttp.ClientSession) and not obj.closed and getattr(obj, "_loop", None) is loop:
            try:
                await asyncio.wait_for(obj.close(), 2)
            except Exception:  # closing is best effort
                pass
