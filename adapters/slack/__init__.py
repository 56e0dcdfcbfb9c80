"""Slack adapter on the real slack-bolt framework: Socket Mode or the Events API over HTTP."""

from .app import EVENTS_PATH, SlackAdapter

__all__ = ["EVENTS_PATH", "SlackAdapter"]
