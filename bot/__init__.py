"""The neutral core of the RRR peer-network bot: message model, routing, use cases and storage.

``bot`` never imports an adapter or a platform SDK; adapters import ``bot``. The public names below are loaded on
first use (PEP 562), so importing one submodule (``bot.config``, ``bot.store``) does not pull in the rest.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING

from knowledge.lazy import lazy_exports

if TYPE_CHECKING:
    from .config import Settings, load_settings
    from .core import Bot
    from .errors import BotError, ConfigError, InvalidInput, NotFound, PermissionDenied, StorageError, UserError
    from .messages import (Action, Actions, Button, Facts, Field, Incoming, Reply, SolutionCard, Text, Time)
    from .runtime import Runtime

_EXPORTS = MappingProxyType({
    "config": ("Settings", "load_settings"),
    "core": ("Bot",),
    "errors": ("BotError", "ConfigError", "InvalidInput", "NotFound", "PermissionDenied", "StorageError", "UserError"),
    "messages": ("Action", "Actions", "Button", "Facts", "Field", "Incoming", "Reply", "SolutionCard", "Text",
                 "Time"),
    "runtime": ("Runtime",),
})

__all__ = [
    "Action", "Actions", "Bot", "BotError", "Button", "ConfigError", "Facts", "Field", "Incoming", "InvalidInput",
    "NotFound", "PermissionDenied", "Reply", "Runtime", "Settings", "SolutionCard",
    "StorageError", "Text", "Time", "UserError", "load_settings",
]

_MODULE_OF, __getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
