"""Command tokenizer and registry. The tokenizer is separate from the commands, as in discord.py's ``ext.commands``."""

from __future__ import annotations

import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .errors import InvalidInput
from .messages import Incoming, Reply

Handler = Callable[["Context"], Awaitable[list[Reply]]]
Notice = Callable[[Reply], Awaitable[None]]
"""How the core tells an adapter, before the answer, that the answer will take a while (shown, then replaced)."""


@dataclass(frozen=True)
class Context:
    """A command invocation: the message, the command name and its argument text."""

    message: Incoming
    name: str
    rest: str
    notice: Notice | None = None

    def args(self) -> list[str]:
        """The argument text split like a shell line (quotes group words)."""
        try:
            return shlex.split(self.rest)
        except ValueError:
            raise InvalidInput(f"Unbalanced quotes in: {self.rest}") from None


@dataclass(frozen=True)
class Command:
    name: str
    summary: str
    usage: str
    handler: Handler
    coordinator_only: bool = False
    aliases: tuple[str, ...] = ()
    takes_text: bool = True
    """False for commands without arguments: ``help with funding?`` is then a question, not ``help``."""
    takes_page: bool = False
    """A command without arguments may still take a page number: ``cities 2`` is the command, ``cities in Spain
    that fund cooperatives?`` a question."""

    def refuses(self, rest: str) -> bool:
        """Whether ``rest`` is not an argument of this command (so the message is a question)."""
        return bool(rest) and not self.takes_text and not (self.takes_page and rest.strip().isdecimal())


def split_command(text: str) -> tuple[str, str]:
    """``"city  Bilbao "`` -> ``("city", "Bilbao")``; a leading ``/`` or ``!`` is dropped."""
    text = text.strip()
    if text[:1] in "/!":
        text = text[1:]
    name, _, rest = text.partition(" ")
    return name.lower(), rest.strip()


class Registry:
    """Commands by name and alias, in the order they were added (the order ``help`` lists them)."""

    def __init__(self) -> None:
        self._commands: dict[str, Command] = {}
        self._names: dict[str, Command] = {}

    def add(self, command: Command) -> None:
        self._commands[command.name] = command
        for name in (command.name, *command.aliases):
            self._names[name] = command

    def find(self, name: str) -> Command | None:
        return self._names.get(name.lower())

    def __getitem__(self, name: str) -> Command:
        """The command called ``name`` (KeyError when there is none)."""
        return self._names[name.lower()]

    def __iter__(self):
        return iter(self._commands.values())
