"""Slack adapter on the real slack-bolt framework: Socket Mode or the Events API over HTTP.

Its names are loaded on first use (PEP 562), so reading :mod:`.platform` (the settings and capabilities) does not
import slack-bolt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from knowledge.lazy import lazy_exports

if TYPE_CHECKING:
    from .app import EVENTS_PATH, SlackAdapter
    from .platform import SLACK, SlackSecrets, SlackSettings

__all__ = ["EVENTS_PATH", "SLACK", "SlackAdapter", "SlackSecrets", "SlackSettings"]

_MODULE_OF, __getattr__, __dir__ = lazy_exports(__name__, globals(), {
    "app": ("EVENTS_PATH", "SlackAdapter"), "platform": ("SLACK", "SlackSecrets", "SlackSettings")})
