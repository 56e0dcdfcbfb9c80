"""Who is a coordinator on Discord: the configured role, by its id, in the configured server only. A role's name
proves nothing (anyone can create a role called anything in a server of their own), nor does a server the bot was
merely added to. Run on the real discord.py client against the fake gateway.
"""

from __future__ import annotations

from pathlib import Path

import discord_harness
import pytest
from conftest import make_settings
from discord_fake import (
    BOT_ID,
    COORDINATOR_ID,
    COORDINATOR_ROLE_ID,
    GUILD_ID,
    MEMBER_ID,
    FakeDiscord,
    other_guild_create,
    role,
    snowflake,
    wait_until,
)
from discord_harness import Served, no_traceback

from adapters.discord import DiscordSettings
from bot import ConfigError

#: The harness's fixtures, used by name.
restore_discord_endpoints, fake_discord, fake, served, settings, rt = (
    discord_harness.restore_discord_endpoints, discord_harness.fake_discord, discord_harness.fake,
    discord_harness.served, discord_harness.settings, discord_harness.rt)

ANSWER = 30.0
REFUSED = "Only coordinators can use `unanswered`"
#: A server of someone who added the bot: its own channel, and roles named to pass for the coordinators' one.
OTHER_GUILD_ID = 1400000000000000001
OTHER_CHANNEL_ID = 1400000000000000002
NAMED_COORDINATOR = 1400000000000000003  # called "coordinator", like the role of the network's server
NAMED_AS_THE_ID = 1400000000000000004  # called "1200000000000000004", the configured role id




def unanswered(fake: FakeDiscord, **kw) -> str:
    """``/unanswered`` (coordinators only): the text of its answer."""
    interaction = fake.slash("unanswered", **kw)
    return fake.wait_followups(interaction, timeout=ANSWER)[0].text


def add_other_guild(served: Served, fake: FakeDiscord) -> None:
    """The bot joins a server whose owner gave themselves a role with the coordinator role's name, one named as
    its id, and (as only a fake gateway can) one with its very id."""
    roles = [role(NAMED_COORDINATOR, "coordinator", 1, 0), role(NAMED_AS_THE_ID, str(COORDINATOR_ROLE_ID), 2, 0),
             role(COORDINATOR_ROLE_ID, "coordinator", 3, 0)]
    people = {MEMBER_ID: ("member", (NAMED_COORDINATOR, NAMED_AS_THE_ID, COORDINATOR_ROLE_ID))}
    fake.dispatch("GUILD_CREATE", other_guild_create(OTHER_GUILD_ID, "Someone's server", OTHER_CHANNEL_ID, roles,
                                                     people))
    wait_until(lambda: served.adapter.client.get_guild(OTHER_GUILD_ID), ANSWER, "the other server")


def test_roles_of_another_server_never_make_a_coordinator(served: Served, fake: FakeDiscord,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    add_other_guild(served, fake)
    everything = (NAMED_COORDINATOR, NAMED_AS_THE_ID, COORDINATOR_ROLE_ID)
    assert REFUSED in unanswered(fake, user_id=MEMBER_ID, guild_id=OTHER_GUILD_ID, channel_id=OTHER_CHANNEL_ID,
                                 roles=everything)
    mention = fake.send_message(f"<@{BOT_ID}> unanswered", author_id=MEMBER_ID, guild_id=OTHER_GUILD_ID,
                                channel_id=OTHER_CHANNEL_ID, mentions=[BOT_ID], roles=everything)
    assert REFUSED in fake.wait_reply(mention, timeout=ANSWER).text
    allowed = unanswered(fake, user_id=COORDINATOR_ID)  # the configured role id, in the configured server
    assert allowed and REFUSED not in allowed
    no_traceback(caplog)


def test_a_role_named_like_the_configured_id_is_not_the_role(served: Served, fake: FakeDiscord) -> None:
    """In the network's own server too, only the role's id counts: a role named as the id is another role."""
    impostor = snowflake()
    fake.dispatch("GUILD_ROLE_CREATE", {"guild_id": str(GUILD_ID), "role": role(impostor, str(COORDINATOR_ROLE_ID),
                                                                                2, 0)})
    wait_until(lambda: served.adapter.client.get_guild(GUILD_ID).get_role(impostor), ANSWER, "the new role")
    assert REFUSED in unanswered(fake, user_id=MEMBER_ID, roles=(impostor,))
    allowed = unanswered(fake, user_id=MEMBER_ID, roles=(COORDINATOR_ROLE_ID,))
    assert allowed and REFUSED not in allowed


@pytest.mark.parametrize("env, expected", [
    ({"RRR_DISCORD__COORDINATOR_ROLE": "coordinator", "RRR_DISCORD__GUILD_ID": str(GUILD_ID)},
     "coordinator_role (from RRR_DISCORD__COORDINATOR_ROLE)': Value error, must be the role's id"),
    ({"RRR_DISCORD__COORDINATOR_ROLE": str(COORDINATOR_ROLE_ID)}, "coordinator_guild"),
    ({"RRR_DISCORD__COORDINATOR_ROLE": str(GUILD_ID), "RRR_DISCORD__GUILD_ID": str(GUILD_ID)}, "@everyone"),
    ({"RRR_DISCORD__COORDINATOR_GUILD": "RRR network"}, "must be the server's id"),
])
def test_a_coordinator_role_by_name_or_without_its_server_is_refused_at_load(tmp_path: Path, env: dict[str, str],
                                                                             expected: str) -> None:
    with pytest.raises(ConfigError) as refused:
        make_settings(tmp_path, **env)
    assert expected in str(refused.value), str(refused.value)


def test_the_coordinator_server_may_differ_from_the_command_sync_server(tmp_path: Path) -> None:
    """Commands synced globally (no ``guild_id``) with the role counted in ``coordinator_guild``."""
    settings = make_settings(tmp_path, RRR_DISCORD__COORDINATOR_ROLE=str(COORDINATOR_ROLE_ID),
                             RRR_DISCORD__COORDINATOR_GUILD=str(GUILD_ID))
    discord_settings = DiscordSettings.of(settings)
    assert discord_settings.guild_id == "" and discord_settings.coordinator_server == str(GUILD_ID)
