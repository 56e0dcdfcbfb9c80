"""Discord shows at most 25 buttons a message: a coordinator's /home with many saved answers waiting keeps each
answer's Approve / Edit / Reject / More whole or leaves them out, and says so."""

from __future__ import annotations

import asyncio
from pathlib import Path

from conftest import make_settings

from adapters.discord.render import MAX_BUTTONS, render
from bot import Runtime
from bot.messages import Actions
from bot.sessions.draft import SessionDraft


def test_a_coordinators_home_with_many_saved_answers_keeps_each_answers_buttons_whole(seeded_dir: Path) -> None:
    with Runtime.open(make_settings(seeded_dir, RRR_BOT__COORDINATORS='["discord:1001"]')) as rt:
        for n in range(5):
            rt.knowledge.save_answer(title=f"Shared answer {n}", city="Turin", country="Italy", saved_by=f"discord:{n}",
                                     summary=f"Volunteers ran {n + 2} repair cafes in the district libraries.")
        for n in range(3):
            rt.sessions.add(SessionDraft(title=f"Working group {n}", start=f"2031-03-1{n + 1}T15:00", tz="Europe/Rome"))
        home = asyncio.run(rt.bot.home("discord", "1001"))
    groups = [block.buttons for block in home.blocks if isinstance(block, Actions)]
    assert sum(len(g) for g in groups) > MAX_BUTTONS  # the home has more buttons than Discord shows
    drawn = render(home)
    assert len(drawn.buttons) <= MAX_BUTTONS
    shown, rest = list(drawn.buttons), []
    for group in groups:  # the buttons drawn are whole groups, in order
        if shown[:len(group)] == [b for b in group if b.url is None]:
            shown = shown[len(group):]
        else:
            rest.append(group)
    assert not shown and rest and all(len(g) == 4 for g in rest)  # only whole review rows were left out
    assert f"Discord shows {MAX_BUTTONS} buttons a message" in drawn.content
