"""Questions that arrive together are embedded together: one worker thread owns the question embeddings.

:class:`Batcher` takes items from any number of asyncio tasks (of any event loop), and one worker thread hands them
to ``work`` in batches: it waits for the first item, then at most ``max_wait`` seconds more for others, up to
``max_batch`` items. The embedder's batch call packs the questions into one forward pass, which costs less per
question than one call each (measured in ``benchmarks/bench_load.py``), and none of the waiting askers occupies a
thread while its turn comes.

The number of items queued or being worked on is bounded (``capacity``). When it is full, :meth:`Batcher.submit`
calls ``on_wait`` once (the bot tells the asker that their answer is coming) and waits for room, in order of
arrival: a question is never dropped. A failing batch is retried one item at a time, so one bad item fails alone.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
Item = TypeVar("Item")
Result = TypeVar("Result")

#: Defaults: a burst fills batches of 16; a lone question waits at most 4 ms for company.
MAX_BATCH = 16
MAX_WAIT = 0.004
CAPACITY = 64


class Batcher(Generic[Item, Result]):
    """``await submit(item)`` -> ``work([... item ...])``'s result for that item, computed in the worker thread."""

    def __init__(self, work: Callable[[list[Item]], Sequence[Result]], *, max_batch: int = MAX_BATCH,
                 max_wait: float = MAX_WAIT, capacity: int = CAPACITY, name: str = "batcher") -> None:
        if max_batch < 1 or capacity < 1 or max_wait < 0:
            raise ValueError("max_batch and capacity must be at least 1, max_wait at least 0")
        self.work = work
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.capacity = capacity
        self.name = name
        self.batches: deque[int] = deque(maxlen=1000)
        """Sizes of the latest batches (for tests and figures)."""
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._taken = 0  # items queued or being worked on
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future]] = deque()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._per_item = 0.0  # seconds of work per item, a moving average of the latest batches

    @property
    def pending(self) -> int:
        """Items queued, being worked on, or waiting for room."""
        with self._lock:
            return self._taken + len(self._waiters)

    def expected_wait(self) -> float:
        """Seconds a new item would wait for its result, from the backlog and the recent cost of an item."""
        return (self.pending + 1) * self._per_item

    @property
    def full(self) -> bool:
        """True when a new item would have to wait for room."""
        with self._lock:
            return self._taken >= self.capacity or bool(self._waiters)

    async def submit(self, item: Item, on_wait: Callable[[], Awaitable[None]] | None = None) -> Result:
        """The result for ``item``; when the queue is full, ``on_wait()`` is awaited first, then room."""
        loop = asyncio.get_running_loop()
        ticket: asyncio.Future | None = None
        with self._lock:
            if self._closed:
                raise RuntimeError(f"the {self.name} is closed")
            if self._taken < self.capacity and not self._waiters:
                self._taken += 1
            else:
                ticket = loop.create_future()
                self._waiters.append((loop, ticket))
            self._start()
        if ticket is not None:
            try:
                if on_wait is not None:
                    try:
                        await on_wait()
                    except Exception:  # telling the asker failed: the question still waits its turn
                        log.exception("%s: on_wait failed", self.name)
                await ticket  # the place of a finished item is handed over to this one
            except BaseException:
                self._forget(loop, ticket)
                raise
        done = loop.create_future()
        self._queue.put((item, loop, done))
        return await done

    def close(self) -> None:
        """Stop the worker after the items already queued (new submissions are refused)."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=30)

    # -- the worker ------------------------------------------------------------------------------------------

    def _start(self) -> None:
        """Start the worker on first use (under the lock)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            deadline = time.monotonic() + self.max_wait
            stop = False
            while len(batch) < self.max_batch:
                try:
                    entry = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if entry is None:
                    stop = True
                    break
                batch.append(entry)
            self.batches.append(len(batch))
            self._work(batch)
            if stop:
                return

    def _work(self, batch: list[tuple]) -> None:
        items = [item for item, _, _ in batch]
        started = time.monotonic()
        try:
            results = list(self.work(items))
            cost = (time.monotonic() - started) / len(items)  # timed before anyone hears of the results
            self._per_item = cost if not self._per_item else 0.8 * self._per_item + 0.2 * cost
            if len(results) != len(items):
                raise RuntimeError(f"{self.name}: {len(results)} results for {len(items)} items")
            outcomes: list[tuple[bool, object]] = [(True, r) for r in results]
        except Exception as exc:
            if len(items) == 1:
                outcomes = [(False, exc)]
            else:  # one bad item must not fail the others: each alone
                log.warning("%s: a batch of %d failed (%s); retrying one at a time", self.name, len(items), exc)
                outcomes = [self._alone(item) for item in items]
        for (_, loop, done), (ok, value) in zip(batch, outcomes):
            self._release()
            try:
                loop.call_soon_threadsafe(_settle, done, ok, value)
            except RuntimeError:  # the asker's event loop is closed: nobody is waiting any more
                log.debug("%s: a result for a closed event loop was dropped", self.name)

    def _alone(self, item: Item) -> tuple[bool, object]:
        try:
            return True, self.work([item])[0]
        except Exception as exc:
            return False, exc

    def _release(self) -> None:
        """One item is done: its place goes to the first waiter, or back to the pool."""
        with self._lock:
            while self._waiters:
                loop, ticket = self._waiters.popleft()
                try:
                    loop.call_soon_threadsafe(_grant, ticket, self)
                    return
                except RuntimeError:  # that waiter's loop is gone
                    continue
            self._taken -= 1

    def _forget(self, loop: asyncio.AbstractEventLoop, ticket: asyncio.Future) -> None:
        """A waiter gave up (cancelled): drop it, or give back the place it was already handed."""
        with self._lock:
            try:
                self._waiters.remove((loop, ticket))
                return
            except ValueError:
                pass
        if ticket.done() and not ticket.cancelled():
            self._release()


def _settle(done: asyncio.Future, ok: bool, value: object) -> None:
    if done.done():  # the asker gave up
        return
    if ok:
        done.set_result(value)
    else:
        done.set_exception(value)  # type: ignore[arg-type]


def _grant(ticket: asyncio.Future, batcher: Batcher) -> None:
    if ticket.done():  # cancelled meanwhile: pass the place on
        batcher._release()
    else:
        ticket.set_result(None)
