"""Errors raised by the bot core.

Every error the core raises on purpose derives from :class:`BotError`; its ``str()`` is a message that is safe
to show to a user or print on a terminal (no traceback, no secrets)::

    BotError
    +-- ConfigError        configuration file, key or value is wrong
    +-- StorageError       the database cannot be reached or migrated
    +-- UserError          a request from a person that cannot be carried out
        +-- NotFound       an unknown city, solution, member ...
        +-- PermissionDenied  a coordinator-only command from a member
        +-- InvalidInput   a malformed command argument or import file
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class BotError(Exception):
    """Root of every error raised on purpose by the bot core."""


class ConfigError(BotError):
    """The configuration file, a key or a value is wrong."""


class StorageError(BotError):
    """The database cannot be reached, created or migrated."""


class UserError(BotError):
    """A request that cannot be carried out; the message is meant for the person who asked."""


class NotFound(UserError):
    """Something named by the user does not exist."""


class PermissionDenied(UserError):
    """The user lacks the role the command needs."""


class InvalidInput(UserError):
    """A malformed argument or input file; ``field`` names the input it is about, when it is about one (a form
    marks that input)."""

    def __init__(self, message: str = "", *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@contextmanager
def about(field: str) -> Iterator[None]:
    """Name ``field`` on the :class:`InvalidInput` raised inside (unless it names one already)."""
    try:
        yield
    except InvalidInput as exc:
        if exc.field is None:
            exc.field = field
        raise
