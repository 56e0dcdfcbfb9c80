"""Discord as the core sees it: its capabilities, its ``[discord]`` settings section and its secret.

Light on purpose (no discord.py): the command line reads it to load the settings of every platform it knows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import Field, field_validator, model_validator

from bot.config import Section, Settings
from bot.platforms import Capabilities, Platform

PLATFORM = "discord"
SECRET_ENV = ("DISCORD_TOKEN",)


class DiscordSettings(Section):
    api_base_url: str = Field("https://discord.com/api/v10", description="REST base (a proxy)")
    gateway_url: str = Field("wss://gateway.discord.gg/", description="gateway (a proxy)")
    guild_id: str = Field("", description="sync commands to this guild only (fast, for development)")
    coordinator_role: str = Field("", description="members holding this role (its id, never a name) in "
                                                  "coordinator_guild are coordinators")
    coordinator_guild: str = Field("", description="the server (its id) where coordinator_role counts; "
                                                   "empty = guild_id")
    sharded: bool = Field(False, description="AutoShardedClient for large deployments")
    shard_count: int | None = Field(None, ge=1)

    @classmethod
    def of(cls, settings: Settings) -> DiscordSettings:
        """The ``[discord]`` section of ``settings`` (the defaults when Discord was not among the platforms read)."""
        return settings.section(PLATFORM, cls)

    @field_validator("guild_id", "coordinator_guild")
    @classmethod
    def _server_id(cls, value: str) -> str:
        if value and not _is_snowflake(value):
            raise ValueError(f"must be the server's id (digits, e.g. \"112233445566778899\"), not {value!r}")
        return value

    @field_validator("coordinator_role")
    @classmethod
    def _role_id(cls, value: str) -> str:
        if value and not _is_snowflake(value):
            raise ValueError(f"must be the role's id (digits: Server Settings > Roles > the role's menu > Copy Role "
                             f"ID), not {value!r}: a name proves nothing, anyone can create a role of that name")
        return value

    @model_validator(mode="after")
    def _role_in_its_server(self) -> DiscordSettings:
        server = self.coordinator_server
        if self.coordinator_role and not server:
            raise ValueError("coordinator_role needs coordinator_guild (or guild_id): the id of the server where "
                             "the role counts")
        if self.coordinator_role and self.coordinator_role == server:
            raise ValueError("coordinator_role is the server's own id, the role of @everyone: give the "
                             "coordinators' role id")
        return self

    @property
    def coordinator_server(self) -> str:
        """The id of the server where :attr:`coordinator_role` counts ("" when none)."""
        return self.coordinator_guild or self.guild_id


def _is_snowflake(value: str) -> bool:
    return value.isascii() and value.isdigit() and len(value) <= 20


@dataclass(frozen=True)
class DiscordSecrets:
    """Discord's bot token, read from the environment only; ``repr`` never shows it."""

    token: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DiscordSecrets:
        return cls(env.get("DISCORD_TOKEN") or None)

    def __repr__(self) -> str:
        return f"DiscordSecrets(discord_token={'set' if self.token else 'unset'})"


DISCORD = Platform(
    PLATFORM,
    # a bot cannot open a group DM: an introduction goes to each member; sessions get a scheduled event (.sessions);
    # content and embeds are fitted by .render, so the core needs no message size; files are attached (.files)
    Capabilities(group_dms=False, scheduled_events=True, file_upload=True, max_message_chars=None),
    settings=DiscordSettings,
    secrets=SECRET_ENV,
)
