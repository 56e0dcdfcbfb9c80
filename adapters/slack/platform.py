"""Slack as the core sees it: its capabilities, its ``[slack]`` settings section and its secrets.

Light on purpose (no slack-bolt): the command line reads it to load the settings of every platform it knows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import Field

from bot.config import Section, Settings
from bot.platforms import Capabilities, Platform

PLATFORM = "slack"
SECRET_ENV = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN")


class SlackSettings(Section):
    api_base_url: str = Field("https://slack.com/api/", description="Web API base (GovSlack, a proxy)")
    coordinator_groups: list[str] = Field(default_factory=list, description="user group ids of coordinators")
    host: str = "0.0.0.0"
    port: int = Field(3000, ge=1, le=65535)

    @classmethod
    def of(cls, settings: Settings) -> SlackSettings:
        """The ``[slack]`` section of ``settings`` (the defaults when Slack was not among the platforms read)."""
        return settings.section(PLATFORM, cls)


@dataclass(frozen=True)
class SlackSecrets:
    """Slack's tokens, read from the environment only; ``repr`` never shows them."""

    bot_token: str | None = None
    signing_secret: str | None = None
    app_token: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SlackSecrets:
        return cls(*(env.get(name) or None for name in SECRET_ENV))

    def __repr__(self) -> str:
        values = (self.bot_token, self.signing_secret, self.app_token)
        shown = ", ".join(f"{n.lower()}={'set' if v else 'unset'}" for n, v in zip(SECRET_ENV, values))
        return f"SlackSecrets({shown})"


SLACK = Platform(
    PLATFORM,
    # a multi-person DM holds an introduction; Block Kit replies are fitted block by block (.render), so the core
    # needs no message size; files are uploaded (.uploads)
    Capabilities(group_dms=True, scheduled_events=False, file_upload=True, max_message_chars=None),
    settings=SlackSettings,
    secrets=SECRET_ENV,
)
