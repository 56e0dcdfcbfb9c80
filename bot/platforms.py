"""What each chat platform can do, declared by its adapter: the core asks these, never a platform's name.

An adapter describes its platform once, as a :class:`Platform`: the name its messages carry (``Incoming.platform``),
its :class:`Capabilities`, its settings section (a pydantic model, read from ``[name]`` in the TOML file and from
``RRR_<NAME>__<KEY>``) and the environment variables that hold its secrets. The outer ring (the command line) hands
the platforms it knows to :func:`bot.config.load_settings`; the runtime keeps them in a :class:`Platforms`, which
the use cases ask (:meth:`Platforms.capabilities`), and where a running adapter adds its live hooks
(:meth:`bot.core.Bot.register_platform`). A platform nobody declared gets :data:`UNKNOWN`: the assumptions that work
everywhere (one DM each, no size limit the core must enforce).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from pydantic import BaseModel

if TYPE_CHECKING:  # the settings read this module: the message model is loaded when a reply is fitted
    from .messages import Block, Reply


@dataclass(frozen=True)
class Capabilities:
    """What a platform can do, as far as the core needs to know."""

    group_dms: bool = False
    """One private conversation with several members (Slack's multi-person DM). Without it an introduction goes to
    each member as a DM of their own (a Discord bot cannot open a group DM)."""
    scheduled_events: bool = False
    """Sessions get a copy on the platform's own calendar (Discord's scheduled events)."""
    file_upload: bool = False
    """Pictures and files (charts, calendar files) are attached as files."""
    max_message_chars: int | None = None
    """The most characters of text one message may carry: the core splits a longer reply into several messages
    (:func:`fit_reply`). None: the adapter fits each reply itself (Slack's blocks and Discord's embeds trim each
    part to its own limit)."""

    def __post_init__(self) -> None:
        if self.max_message_chars is not None and self.max_message_chars < 100:
            raise ValueError("max_message_chars must be at least 100 (or None)")


#: The capabilities of a platform no adapter declared: what works everywhere.
UNKNOWN = Capabilities()


@dataclass(frozen=True)
class Platform:
    """A chat platform as its adapter declares it."""

    name: str
    capabilities: Capabilities = UNKNOWN
    settings: type[BaseModel] | None = None
    """Its settings section, ``[name]`` (every field with a default); None when it has no settings."""
    secrets: tuple[str, ...] = ()
    """The environment variables of its secrets (tokens never go in the TOML file: ``[name]`` refuses them)."""

    def __post_init__(self) -> None:
        if not self.name.isidentifier() or self.name != self.name.lower():
            raise ValueError(f"a platform's name is a lowercase identifier, not {self.name!r}")


class Platforms(Mapping[str, Platform]):
    """The platforms one runtime knows, by name. Built from the settings; a running adapter may add its own
    (:meth:`add`), never replace another's declaration."""

    def __init__(self, platforms: Iterable[Platform] = ()) -> None:
        self._by_name: dict[str, Platform] = {}
        for platform in platforms:
            self.add(platform)

    def add(self, platform: Platform) -> None:
        """Know ``platform``; adding the same declaration again is a no-op, a different one under its name an
        error."""
        known = self._by_name.get(platform.name)
        if known is not None and known != platform:
            raise ValueError(f"platform {platform.name!r} is already declared differently")
        self._by_name[platform.name] = platform

    def capabilities(self, name: str) -> Capabilities:
        """What platform ``name`` can do (:data:`UNKNOWN` for a platform nobody declared)."""
        platform = self._by_name.get(name)
        return platform.capabilities if platform is not None else UNKNOWN

    def __getitem__(self, name: str) -> Platform:
        return self._by_name[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def __repr__(self) -> str:
        return f"Platforms({', '.join(self._by_name)})"


def fit_reply(reply: Reply, max_chars: int | None) -> list[Reply]:
    """``reply`` as several messages of at most ``max_chars`` characters of text each, in order (``[reply]`` when
    it fits, or when there is no limit). Messages are cut between blocks; a text longer than a message is cut at
    line boundaries (at a space, or anywhere, in a line longer than a message). Any other block (a solution card, a
    list of facts) stays whole, in a message of its own when it is long: the adapter renders it and trims it to
    its own limits. Every part keeps the reply's delivery hints, but only the first replaces the message that held
    a button (:attr:`Reply.replace`)."""
    if max_chars is None or len(reply.as_text()) <= max_chars:
        return [reply]
    from .messages import Text

    parts: list[list[Block]] = [[]]
    used = 0
    for block in reply.blocks:
        text = _text(block)
        pieces: list[Block] = [Text(piece, block.style) for piece in _cut(text, max_chars)] \
            if isinstance(block, Text) and len(text) > max_chars else [block]
        for piece in pieces:
            size = len(_text(piece))
            if parts[-1] and used + 1 + size > max_chars:
                parts.append([])
                used = 0
            used += size + (1 if parts[-1] else 0)
            parts[-1].append(piece)
    return [replace(reply, blocks=tuple(blocks), replace=reply.replace and i == 0) for i, blocks in enumerate(parts)]


def _text(block: Block) -> str:
    from .messages import Reply

    return Reply((block,)).as_text()


def _cut(text: str, limit: int) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters, cut after a line when it can be, else after a space."""
    pieces: list[str] = []
    while len(text) > limit:
        head = text[:limit]
        at = head.rfind("\n")
        if at <= 0:
            at = head.rfind(" ")
        if at <= 0:
            at = limit
        pieces.append(text[:at].rstrip())
        text = text[at:].lstrip("\n ")
    if text:
        pieces.append(text)
    return pieces
