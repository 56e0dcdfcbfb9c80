"""Hostile input costs no more than a normal question (#17, item 3), through the core (``Bot.handle``).

Measured on the seeded RRR network (a copy in a temporary directory), one process, the embedder warmed first:

1. a 40,000-character single-word question (Slack's largest message) against a normal question, alternating, the
   median of 15 each; target: <= 2x the normal question;
2. a calm member's question answered while one member floods 500 questions at once (all sent concurrently to the
   core, as a platform would deliver them), against the same question with no flood; target: the flood delays the
   calm member's answer by <= 2 s.

    python benchmarks/bench_abuse.py [--json]
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import make_settings  # noqa: E402
from bot import Incoming, Runtime  # noqa: E402

NORMAL = "How did other cities fund social enterprise incubators for young people?"
HUGE = "a" * 40_000
CALM = "Which cities helped neighbourhood shops with co-funded vouchers?"


async def timed(rt: Runtime, user: str, text: str) -> float:
    start = time.perf_counter()
    await rt.bot.handle(Incoming("bench", user, text))
    return time.perf_counter() - start


async def flood_then_calm(rt: Runtime, flood: int) -> float:
    """The calm member's answer time while ``flood`` questions of one member arrive at the same moment."""
    tasks = [asyncio.create_task(rt.bot.handle(Incoming("bench", "FLOOD", f"{NORMAL} #{i}"))) for i in range(flood)]
    await asyncio.sleep(0)  # the flood is in first
    calm = await timed(rt, "CALM", CALM)
    await asyncio.gather(*tasks)
    return calm


def main() -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        with Runtime.open(make_settings(data)) as rt:
            rt.seed()
        shutil.rmtree(data / "index", ignore_errors=True)  # rebuilt once, outside the timings
        with Runtime.open(make_settings(data)) as rt:
            rt.knowledge.warm_up(challenges=True)
            asyncio.run(timed(rt, "WARM", NORMAL))
            normal, huge = [], []
            for i in range(15):  # alternate, order flipped every round
                pair = [("n", NORMAL), ("h", HUGE)] if i % 2 == 0 else [("h", HUGE), ("n", NORMAL)]
                for kind, text in pair:
                    (normal if kind == "n" else huge).append(asyncio.run(timed(rt, f"U{i}{kind}", text)))
            quiet = [asyncio.run(timed(rt, f"Q{i}", CALM)) for i in range(5)]
            flooded = [asyncio.run(flood_then_calm(rt, 500)) for _ in range(3)]
    result = {
        "normal_p50_ms": round(statistics.median(normal) * 1000, 1),
        "huge_word_p50_ms": round(statistics.median(huge) * 1000, 1),
        "huge_ratio": round(statistics.median(huge) / statistics.median(normal), 2),
        "calm_quiet_p50_ms": round(statistics.median(quiet) * 1000, 1),
        "calm_during_flood_max_ms": round(max(flooded) * 1000, 1),
        "flood_delay_ms": round((max(flooded) - statistics.median(quiet)) * 1000, 1),
    }
    result["pass"] = result["huge_ratio"] <= 2 and result["flood_delay_ms"] <= 2000
    return result


if __name__ == "__main__":
    figures = main()
    if "--json" in sys.argv:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key}: {value}")
