"""Bounded work per message: a per-member rate limit, a cap on input length, and what is not a question."""

from __future__ import annotations

import re
import time
from types import MappingProxyType
import unicodedata
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from knowledge.text import fold

if TYPE_CHECKING:
    import asyncio

#: Characters of one message that the bot reads; the rest is dropped with a note (Slack allows 40,000).
MAX_INPUT_CHARS = 4000
#: Members whose recent messages are remembered; the least recently seen are forgotten first.
MAX_TRACKED = 10_000
#: Questions a member (not a coordinator) may post to the network channel per hour: each post pings the contacts of
#: the closest cities, so the general rate limit (20 a minute) would let one member ping them hundreds of times.
NETWORK_POSTS, NETWORK_WINDOW = 3, 3600.0

_URL_ONLY = re.compile(r"^<?(https?://|www\.)\S+>?$", re.IGNORECASE)
_GREETINGS = frozenset({
    fold(g) for g in (
        "hi", "hello", "hey", "hiya", "good morning", "good afternoon", "good evening", "thanks", "thank you",
        "ok", "okay", "yes", "no", "test", "ping", "hola", "buenos dias", "buenas tardes", "buenas", "gracias",
        "ola", "oi", "bom dia", "boa tarde", "boa noite", "obrigado", "obrigada", "bonjour", "bonsoir", "salut",
        "merci", "coucou", "ciao", "buongiorno", "buonasera", "salve", "grazie", "czesc", "dzien dobry",
        "dziekuje", "witam", "hej", "hallo", "hoi", "goedemorgen", "goedemiddag", "dank je", "dank u", "bedankt",
    )
})


class RateLimiter:
    """At most ``limit`` messages per member in any ``window`` seconds (``limit`` 0 turns it off).

    :meth:`check` returns None when a message may go on, else the seconds until it could; ``first_refusal`` tells
    whether this is the first refused message of the current window (the one that gets a polite reply: answering
    every message of a flood would itself be a flood).
    """

    def __init__(self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()
        self._told: dict[str, float] = {}

    def check(self, member: str) -> tuple[float | None, bool]:
        """``(None, False)`` when ``member`` may send now (and count it), else ``(wait seconds, first_refusal)``."""
        if self.limit <= 0:
            return None, False
        now = self._clock()
        times = self._seen.pop(member, None) or deque()
        while times and now - times[0] >= self.window:
            times.popleft()
        self._seen[member] = times
        if len(self._seen) > MAX_TRACKED:
            forgotten, _ = self._seen.popitem(last=False)
            self._told.pop(forgotten, None)
        if len(times) < self.limit:
            times.append(now)
            return None, False
        wait = self.window - (now - times[0])
        told = self._told.get(member)
        first = told is None or now - told >= self.window
        if first:
            self._told[member] = now
        return max(wait, 0.0), first


class MemberTurns:
    """One question at a time per member: a member's next question waits for their previous answer, so a flood
    from one member takes one place in the queue of the embedder, and everyone else's questions go in between."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._waiting: dict[str, int] = {}

    @asynccontextmanager
    async def turn(self, member: str) -> AsyncIterator[None]:
        """Hold ``member``'s turn for the duration of the block."""
        import asyncio  # here: `rrr-bot ask` reads the usage hints of this module, not the chat's turns

        lock = self._locks.setdefault(member, asyncio.Lock())
        self._waiting[member] = self._waiting.get(member, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._waiting[member] -= 1
            if not self._waiting[member]:  # nobody else queued: forget the member (bounded memory)
                del self._waiting[member]
                self._locks.pop(member, None)


def cap_input(text: str, limit: int = MAX_INPUT_CHARS) -> tuple[str, bool]:
    """``text`` cut to ``limit`` characters (at a word boundary when there is one), and whether it was cut."""
    if len(text) <= limit:
        return text, False
    cut = text[:limit]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut), True


#: What a member is told instead of a search, by what :func:`not_a_question` found.
USAGE_HINTS = MappingProxyType({
    "greeting": "Hello! Ask me how peer cities handled a challenge, e.g. `how did other cities fund social "
                "enterprise incubators?`, or type `help`.",
    "emoji": "Ask me a question in words, e.g. `how did cities keep local shops alive during lockdown?`, or type "
             "`help`.",
    "link": "I search the network's past solutions by question, not by link: ask in words, e.g. `how did cities "
            "close the digital divide?` (coordinators import documents with `rrr-bot kb import`).",
    "city": "To see a city's profile, challenges and contacts use `city {text}`; to search its solutions, ask a "
            "question with `city:{text}`, e.g. `how did they support cooperatives? city:{text}`.",
})


#: The longest city name, in words, the guard looks up ("Belo Horizonte" is two).
CITY_WORDS = 4


def not_a_question(text: str, is_city: Callable[[str], bool]) -> str | None:
    """Why ``text`` is no question worth a search (a greeting, emoji, a link, a city's name), or None.

    ``is_city`` is asked about the folded text only when nothing else settled it."""
    stripped = text.strip()
    if not any(unicodedata.category(c)[0] in "LN" for c in stripped):
        return "emoji"
    if _URL_ONLY.match(stripped):
        return "link"
    folded = " ".join(re.sub(r"[^\w\s]", " ", fold(stripped)).split())
    if folded in _GREETINGS:
        return "greeting"
    if folded and len(folded.split()) <= CITY_WORDS and is_city(folded):  # a question is longer than a name
        return "city"
    return None
