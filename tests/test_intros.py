"""Peer introductions: similarity from challenge statements, groups, explanations, meeting slots, commands."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from typer.testing import CliRunner

from adapters.cli import app
from bot import Runtime
from bot.config import IntroSettings
from bot.errors import InvalidInput
from bot.services.intros import meeting_slots
from bot.testing import TestAdapter
from knowledge.similarity import city_similarity, plan_groups


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_city_similarity_is_the_mean_of_the_best_statement_pairs() -> None:
    vectors = unit(np.random.default_rng(7).normal(size=(9, 6)))
    owners = [0, 0, 0, 1, 1, 2, 3, 3, 3]  # city 4 has no statement
    sim = city_similarity(vectors, owners, 5, top=2)
    full = vectors @ vectors.T
    for i in range(5):
        for j in range(5):
            values = sorted((full[a, b] for a in range(9) for b in range(9) if owners[a] == i and owners[b] == j),
                            reverse=True)[:2]
            if i == j or not values:
                assert sim.scores[i, j] == -np.inf
            else:
                assert sim.scores[i, j] == pytest.approx(np.mean(values), abs=1e-5)
                a, b, _ = sim.pairs(i, j)[0]
                assert owners[a] == i and owners[b] == j and full[a, b] == pytest.approx(values[0], abs=1e-5)
    assert np.allclose(sim.scores, sim.scores.T)


def test_plan_groups_pairs_best_first_makes_a_trio_for_an_odd_city_and_skips_forbidden_pairs() -> None:
    scores = np.array([[-np.inf, .9, .1, .2, .3],
                       [.9, -np.inf, .2, .1, .4],
                       [.1, .2, -np.inf, .8, .5],
                       [.2, .1, .8, -np.inf, .6],
                       [.3, .4, .5, .6, -np.inf]], dtype=np.float32)
    groups = plan_groups(scores, [True] * 5, set())
    assert sorted(map(sorted, groups)) == [[0, 1], [2, 3, 4]]  # 4 joins the pair it fits best
    groups = plan_groups(scores, [True] * 5, {frozenset((0, 1))})
    assert all(not {0, 1} <= set(g) for g in groups)
    assert sorted(c for g in groups for c in g) == [0, 1, 2, 3, 4]
    groups = plan_groups(scores, [True, True, False, False, False], set())
    assert groups == [(0, 1)]


def test_a_city_without_challenges_is_left_out() -> None:
    vectors = unit(np.random.default_rng(1).normal(size=(4, 5)))
    sim = city_similarity(vectors, [0, 0, 1, 2], 4)
    groups = plan_groups(sim.scores, [True] * 4, set())
    assert 3 not in {c for g in groups for c in g}
    assert sorted(c for g in groups for c in g) == [0, 1, 2]


def test_meeting_slots_fall_inside_every_city_working_hours_on_two_weekdays() -> None:
    settings = IntroSettings()
    slots = meeting_slots(["Europe/Madrid", "America/Toronto", "America/Mexico_City"], settings,
                          start=date(2027, 3, 12))  # a Friday
    assert len(slots) == 2 and slots[0].date() != slots[1].date()
    for slot in slots:
        assert slot.weekday() < 5
        for zone in ("Europe/Madrid", "America/Toronto", "America/Mexico_City"):
            assert settings.work_start <= slot.astimezone(ZoneInfo(zone)).hour < settings.work_end
    # no shared working hour: the closest hour is offered rather than nothing
    far = meeting_slots(["Asia/Tokyo", "America/Los_Angeles"], settings, start=date(2027, 3, 15))
    assert len(far) == 2


def test_preview_of_the_seed_network_pairs_cities_with_shared_challenges(seeded: Runtime) -> None:
    groups, left_out = seeded.intros.preview()
    placed = [c for g in groups for c in g.cities]
    assert sorted(placed) == sorted(seeded.directory.city_names()) and not left_out
    assert len(placed) == len(set(placed))
    for group in groups:
        assert 2 <= len(group.cities) <= 3
        assert group.shared and max(s.similarity for s in group.shared) >= group.score  # the reason shown is the best
        assert {s.city_a for s in group.shared} | {s.city_b for s in group.shared} <= set(group.cities)
        assert group.learn, group  # each side is pointed to a solution of the other
        assert len(group.slots) == 2


def test_preview_never_repeats_a_forbidden_pair(seeded: Runtime) -> None:
    first, _ = seeded.intros.preview()
    recent = {frozenset(g.cities[:2]) for g in first}
    second, _ = seeded.intros.preview(forbidden=recent)
    for group in second:
        for pair in recent:
            assert not pair <= set(group.cities), (group.cities, pair)


def test_preview_needs_two_cities(runtime: Runtime) -> None:
    with pytest.raises(InvalidInput, match="two cities"):
        runtime.intros.preview()


def test_intro_command_for_a_member_and_for_a_topic(seeded: Runtime) -> None:
    adapter = TestAdapter(seeded.bot)
    asyncio.run(adapter.send("intro")).assert_error().assert_reply("iam CITY")
    seeded.directory.link("test", "U1", "Bilbao")  # `iam` asks the city to confirm first
    exchange = asyncio.run(adapter.send("intro"))
    exchange.assert_reply("Cities to talk to about Bilbao", "could learn from", "Contacts:")
    assert exchange.text.count(", on the closest challenges:") == 3
    assert "similarity" not in exchange.text  # no raw scores
    topic = asyncio.run(adapter.send("intro internet para familias de bajos ingresos @everyone"))
    topic.assert_reply("San Francisco", "You could learn from San Francisco").assert_no_reply("@everyone")


def test_intros_preview_json_from_the_cli(seeded_dir) -> None:
    result = CliRunner().invoke(app, ["intros", "preview", "--json"], env={"RRR_DATA_DIR": str(seeded_dir)})
    assert result.exit_code == 0, result.output
    groups = json.loads(result.stdout)
    assert groups and all(set(g) == {"cities", "score", "shared"} for g in groups)
    assert all(set(s) == {"a", "b", "similarity"} for g in groups for s in g["shared"])


def test_members_edit_their_city_challenges_and_coordinators_any_city(seeded_dir) -> None:
    from conftest import make_settings

    with Runtime.open(make_settings(seeded_dir, RRR_BOT__COORDINATORS='["test:BOSS"]')) as rt:
        member = TestAdapter(rt.bot, user="ANA")
        asyncio.run(member.send("challenge add Help street vendors sell online.")).assert_error().assert_reply("iam")
        rt.directory.link("test", "ANA", "Turin")  # `iam` asks the city to confirm first
        asyncio.run(member.send("challenge add Help street vendors sell online.")).assert_reply("Added to Turin")
        assert "Help street vendors sell online." in rt.directory.profile("Turin").challenges
        asyncio.run(member.send("challenge add Help street vendors sell online.")).assert_reply("already has")
        asyncio.run(member.send("challenge add " + "x" * 301)).assert_error().assert_reply("at most 300")
        asyncio.run(member.send("challenge add   ")).assert_error().assert_reply("Usage")
        asyncio.run(member.send("challenge add city:Bilbao Be nice.")).assert_error().assert_reply("Only coordinators")
        before = rt.directory.profile("Bilbao").challenges
        boss = TestAdapter(rt.bot, user="BOSS")
        asyncio.run(boss.send("challenge add city:Bilbao Grow the circular economy.")).assert_reply("Added to Bilbao")
        asyncio.run(boss.send("challenge remove city:Bilbao 99")).assert_error().assert_reply("from 1 to")
        asyncio.run(boss.send(f"challenge remove city:Bilbao {len(before) + 1}")).assert_reply("Removed: Grow")
        assert rt.directory.profile("Bilbao").challenges == before
        profile = asyncio.run(member.send("profile"))
        profile.assert_reply("Turin", "1. ", "Help street vendors sell online.")
        # a changed statement changes the matching: Turin's new challenge is matched at once
        matches = rt.intros.suggest("Turin")
        assert matches and all("Turin" in m.cities for m in matches)
