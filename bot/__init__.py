"""The neutral core of the RRR peer-network bot: message model, routing, use cases and storage.

``bot`` never imports an adapter or a platform SDK; adapters import ``bot``.
"""

from .config import Secrets, Settings, load_settings
from .core import Bot
from .errors import BotError, ConfigError, InvalidInput, NotFound, PermissionDenied, StorageError, UserError
from .messages import Action, Actions, Button, Facts, Field, Incoming, Outbox, Outgoing, Reply, SolutionCard, Text, Time
from .runtime import Runtime

__all__ = [
    "Action", "Actions", "Bot", "BotError", "Button", "ConfigError", "Facts", "Field", "Incoming", "InvalidInput",
    "NotFound", "Outbox", "Outgoing", "PermissionDenied", "Reply", "Runtime", "Secrets", "Settings", "SolutionCard",
    "StorageError", "Text", "Time", "UserError", "load_settings",
]
