"""``rrr-bot ask -``: the questions of a pipe that are already there are asked together.

:func:`line_batches` reads a stream in a thread and yields its non-blank lines in batches: the first line that
comes, plus those that arrive within ``max_wait`` seconds after it, up to ``max_batch`` (the ``[bot]
question_batch`` and ``question_wait_ms`` the chat adapters use). A person typing gets each answer at once; with
``question_batch`` above 1 a file piped in is embedded that many questions at a time (see ``bot/batching.py``). With
the default of 1 the lines are read in the calling thread, one at a time: no reader thread to hand each line over.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable, Iterator

_END = None


def line_batches(stream: Iterable[str], max_batch: int, max_wait: float) -> Iterator[list[str]]:
    """The non-blank lines of ``stream`` (newline removed), in order, in batches of at most ``max_batch``."""
    if max_batch <= 1:  # no batches: each line as it comes, read in this thread
        yield from ([line.rstrip("\r\n")] for line in stream if line.strip())
        return
    lines: queue.Queue[str | None] = queue.Queue(maxsize=max(4 * max_batch, 1))  # reads ahead a little, no more

    def read() -> None:
        try:
            for line in stream:
                if line.strip():
                    lines.put(line.rstrip("\r\n"))
        finally:
            lines.put(_END)

    threading.Thread(target=read, name="stdin-lines", daemon=True).start()
    while True:
        first = lines.get()
        if first is _END:
            return
        batch = [first]
        deadline = time.monotonic() + max_wait
        ended = False
        while len(batch) < max_batch:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is _END:
                ended = True
                break
            batch.append(line)
        yield batch
        if ended:
            return
