"""Discord cards people act on (issue #14): a session card leads with its title and its local time, ``/home`` shows
the member's city, next sessions and open introductions with buttons that work, and a missing Manage Events
permission is told to the coordinator once.

The real discord.py client runs on its own loop thread against the local fake Discord (``discord_fake.FakeDiscord``);
the core runs for real. Nothing of ours is mocked; every wait polls with a deadline.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import Runtime
from discord_fake import COORDINATOR_ID, FakeDiscord
from discord_harness import (Served, discord_settings, fake, fake_discord, no_traceback,  # noqa: F401
                             restore_discord_endpoints, served, slash_deferred)

pytestmark = pytest.mark.timeout(120)

ANSWER = 20.0
DAY = date.today() + timedelta(days=40)
AGENDA = "Share figures on citizen-owned solar roofs."


@pytest.fixture
def rt(tmp_path: Path, fake: FakeDiscord) -> Iterator[Runtime]:
    with Runtime.open(discord_settings(tmp_path / "data", fake, RRR_SESSIONS__SYNC_SECONDS="300")) as runtime:
        yield runtime


def add_session(fake: FakeDiscord, **changes: Any) -> list:
    """``/session-add`` by the coordinator; the private note and the public card."""
    options = {"title": "Energy communities", "start": f"{DAY}T15:00", "tz": "Europe/Rome", "repeat": "weekly",
               "count": 4, "agenda": AGENDA, **changes}
    interaction, _ = slash_deferred(fake, "session-add", options, timeout=ANSWER, user_id=COORDINATOR_ID)
    return fake.wait_followups(interaction, 2, timeout=ANSWER)


# -- 2. the session card leads with its title and local time ---------------------------------------------------------

def test_a_session_card_leads_with_its_title_then_the_local_time(served: Served, fake: FakeDiscord,
                                                                 rt: Runtime) -> None:
    add_session(fake)
    shown = fake.wait_followups(fake.slash("session-show", {"id": 1}), timeout=ANSWER)[0]
    (embed,) = shown.embeds
    assert embed["title"] == "#1 Energy communities"
    first, *rest = embed["description"].split("\n")
    start = int(rt.sessions.next_occurrence(rt.sessions.get(1)).start_utc.timestamp())
    assert first == f"Next: <t:{start}:F> (<t:{start}:R>)", embed["description"]
    assert AGENDA in "\n".join(rest)
    content = shown.body.get("content") or ""
    assert AGENDA not in content and "<t:" not in content, "nothing of the card sits above its title"
    assert {f["name"] for f in embed["fields"]} >= {"When", "Zone", "Duration"}
