"""Insights for coordinators: figures per week and city, coverage gaps across languages, charts, the report files,
the ``insights`` chat command and the weekly digest.

One scenario is played once for the module on a copy of the seeded network, through the chat core where a member
would act (``iam``, questions, ratings, "Save as solution", "Did you meet?") and through the services otherwise
(a round of introductions, a session and its RSVPs). The figures are then checked against SQL counts of the same
database, never against the code under test.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import matplotlib.image
import numpy as np
import pytest
from PIL import Image as PILImage
from rich.console import Console
from sqlalchemy import text
from typer.testing import CliRunner

from adapters.cli import app
from adapters.console import render_reply
from bot import Runtime
from bot.messages import Image, Reply, Text, reply_from_dict, reply_to_dict
from bot.services.insights import UNKNOWN, Insights, window
from bot.services.insights_charts import gaps_png, network_png, weekly_png
from bot.services.insights_messages import queue_digest
from bot.store import Question
from bot.testing import TestAdapter
from bot.sessions.draft import SessionDraft
from conftest import make_settings
from knowledge.clustering import average_linkage, language_basis, neutralise, probe_texts
from knowledge.records import CityRecord

COORDINATOR = '["test:BOSS"]'
PNG = b"\x89PNG\r\n\x1a\n"
#: who acts in the scenario: user id -> (city or None, display name); none of these may appear in any output
PEOPLE = {"ANA-7731": ("Bilbao", "Ana Zubizarretaxq"), "PIOTR-5512": ("Warsaw", "Piotr Wojtaszekxq"),
          "GIULIA-4410": ("Turin", "Giulia Bertolottixq"), "LUC-9023": ("Montréal", "Luc Tremblayxq"),
          "NOBODY-3141": (None, "Anon Nobodyxq")}
STRAY = {"es": "¿Qué hacen las ciudades con los perros y gatos abandonados en la calle?",
         "pl": "Co miasta robią z bezdomnymi psami i kotami na ulicach?",
         "en": "What do cities do with stray dogs and cats living on the streets?"}
CAKE = {"it": "Qual è la migliore ricetta per una torta al cioccolato?",
        "fr": "Quelle est la meilleure recette de gâteau au chocolat ?"}
VOUCHERS = "how did cities support local shops with vouchers?"
CHILDCARE = "How can social cooperatives run affordable childcare centres?"
SHELTER = "Turin shelter network for stray dogs and cats"


def run(coro):
    return asyncio.run(coro)


@dataclass
class Scenario:
    data_dir: Path
    questions: dict[str, int]
    session_id: int


def settings_for(data_dir: Path):
    return make_settings(data_dir, RRR_BOT__COORDINATORS=COORDINATOR, RRR_BOT__NETWORK_CHANNELS='{"test": "CNET"}')


@pytest.fixture(scope="module")
def scenario(seeded_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    data_dir = tmp_path_factory.mktemp("insights") / "data"
    shutil.copytree(seeded_template, data_dir)
    now = datetime.now(timezone.utc)
    with Runtime.open(settings_for(data_dir)) as rt:
        people = {user: TestAdapter(rt.bot, user=user, user_name=name) for user, (_, name) in PEOPLE.items()}
        for user, (city, name) in PEOPLE.items():
            if city:  # linked as a coordinator's approval would (iam by a member is a request, see test_consent)
                rt.directory.link("test", user, city, name)

        def ask(user: str, question: str) -> int:
            exchange = run(people[user].send(question))
            assert exchange.replies[0].question_id, exchange.text
            return int(exchange.replies[0].question_id)

        q = {"vouchers": ask("ANA-7731", VOUCHERS), "childcare": ask("GIULIA-4410", CHILDCARE),
             "stray_es": ask("ANA-7731", STRAY["es"]), "stray_pl": ask("PIOTR-5512", STRAY["pl"]),
             "stray_en": ask("NOBODY-3141", STRAY["en"]), "cake_it": ask("GIULIA-4410", CAKE["it"]),
             "cake_fr": ask("LUC-9023", CAKE["fr"]), "old": ask("LUC-9023", VOUCHERS)}
        with rt.db.session() as session:
            answered = {name: session.get(Question, qid).answered for name, qid in q.items()}
        assert answered["vouchers"] and answered["childcare"], answered  # the corpus covers these
        assert not any(answered[k] for k in ("stray_es", "stray_pl", "cake_it", "cake_fr")), answered

        run(people["ANA-7731"].send(f"helpful {q['vouchers']}"))
        run(people["ANA-7731"].send(f"nothelpful {q['vouchers']} no budget figures"))  # only the latest counts
        run(people["PIOTR-5512"].send(f"helpful {q['stray_pl']}"))  # feedback goes on one's own questions
        run(people["GIULIA-4410"].send(f"nothelpful {q['childcare']} we need the staffing costs"))
        run(people["NOBODY-3141"].send(f"nothelpful {q['stray_en']} nothing about animals"))

        # Ana asks the network; Giulia saves the answer she gave in its thread (only such a question can be named)
        run(people["ANA-7731"].click("ask_network", str(q["stray_es"]))).assert_reply("posted to the network")
        saved = run(people["GIULIA-4410"].click(
            "save_solution", title=SHELTER, city="Turin", question_id=str(q["stray_es"]),
            summary="Turin's municipal shelter works with volunteer associations to sterilise, care for and rehome "
                    "stray dogs and cats, with adoption days in neighbourhood markets."))
        saved.assert_reply("Saved as")
        run(TestAdapter(rt.bot, user="BOSS").send(f"approve {rt.knowledge.pending()[0].id}")).assert_reply(
            "Approved")

        groups, _ = rt.intros.run()
        assert len(groups) == 2, [g.cities for g in groups]
        with rt.db.session() as session:
            links = session.execute(text(
                "SELECT im.id, im.introduction_id, m.user_id FROM introduction_member im "
                "JOIN member m ON m.id = im.member_id ORDER BY im.introduction_id, im.id")).all()
        first, second = sorted({intro for _, intro, _ in links})
        link_met = next((link, user) for link, intro, user in links if intro == first)
        link_not = next((link, user) for link, intro, user in links if intro == second)
        run(people[link_met[1]].click("intro_met", str(link_met[0]))).assert_reply("Great")
        run(people[link_not[1]].click("intro_could_not", str(link_not[0])))

        start = (now + timedelta(days=10)).astimezone(ZoneInfo("Europe/Madrid"))
        info = rt.sessions.add(SessionDraft(title="Shops working group", start=start.strftime("%Y-%m-%dT15:00"),
                                            tz="Europe/Madrid", repeat="weekly", count=4), created_by="test")
        second_date = rt.sessions.occurrences(info.id, count=2)[1].key()
        for user, status in (("ANA-7731", "going"), ("PIOTR-5512", "going"), ("GIULIA-4410", "maybe"),
                             ("NOBODY-3141", "no")):
            rt.sessions.rsvp(info.id, None, "test", user, status)
        rt.sessions.rsvp(info.id, second_date, "test", "LUC-9023", "going")

        with rt.db.session() as session:  # one question three weeks ago, one long before the period
            session.get(Question, q["stray_pl"]).asked_at = now - timedelta(weeks=3)
            session.get(Question, q["old"]).asked_at = now - timedelta(weeks=20)
    return Scenario(data_dir, q, info.id)


@pytest.fixture
def rt(scenario: Scenario):
    with Runtime.open(settings_for(scenario.data_dir)) as runtime:
        yield runtime


def sql(rt: Runtime, query: str, **params) -> list[tuple]:
    with rt.db.session() as session:
        return [tuple(row) for row in session.execute(text(query), params).all()]


def stamp(moment: datetime) -> str:
    """A UTC moment as SQLite stores it (text), for comparisons in raw SQL."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def assert_private(*outputs: str | bytes) -> None:
    """No user id and no member name in anything shown or written."""
    for output in outputs:
        data = output if isinstance(output, bytes) else output.encode("utf-8")
        for user, (_, name) in PEOPLE.items():
            assert user.encode() not in data and name.encode() not in data, (user, data[:300])


def assert_png(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG
    pixels = matplotlib.image.imread(io.BytesIO(data))
    assert pixels.shape[0] > 0 and pixels.shape[1] > 0
    with PILImage.open(io.BytesIO(data)) as picture:
        picture.verify()
    with PILImage.open(io.BytesIO(data)) as picture:
        assert picture.size == (pixels.shape[1], pixels.shape[0])
        return picture.size


def png_title(data: bytes) -> str:
    with PILImage.open(io.BytesIO(data)) as picture:
        return picture.text.get("Title", "")


# -- figures -------------------------------------------------------------------------------------------------------


def test_figures_equal_sql_counts_per_week_and_city(rt: Runtime, scenario: Scenario) -> None:
    figures = Insights(rt.directory, rt.knowledge).figures(12)
    since, until = stamp(figures.since), stamp(figures.until)
    window = dict(since=since, until=until)
    assert len(figures.weeks) == 12 and figures.weeks[-1].start <= datetime.now(timezone.utc).date()

    # questions and answers, per week
    for week in figures.weeks:
        start = datetime.combine(week.start, datetime.min.time(), tzinfo=timezone.utc)
        [(asked, answered)] = sql(rt, "SELECT COUNT(*), COALESCE(SUM(answered), 0) FROM question "
                                      "WHERE asked_at >= :a AND asked_at < :b",
                                  a=stamp(start), b=stamp(start + timedelta(days=7)))
        assert (week.activity.questions, week.activity.answered) == (asked, answered), week
    assert figures.weeks[-4].activity.questions == 1  # the Polish question, moved three weeks back
    [(all_questions,)] = sql(rt, "SELECT COUNT(*) FROM question")
    assert figures.totals.questions == all_questions - 1  # the one of twenty weeks ago is outside the period

    # per city, with "unknown" for the unlinked asker
    per_city = dict((name or UNKNOWN, (n, a)) for name, n, a in sql(
        rt, "SELECT c.name, COUNT(*), SUM(q.answered) FROM question q LEFT JOIN city c ON c.id = q.city_id "
            "WHERE q.asked_at >= :since AND q.asked_at < :until GROUP BY c.name", **window))
    rows = {c.city: c for c in figures.cities}
    assert set(rows) == {n for (n,) in sql(rt, "SELECT name FROM city")} | {UNKNOWN}
    for city, row in rows.items():
        assert (row.activity.questions, row.activity.answered) == per_city.get(city, (0, 0)), city
    assert rows[UNKNOWN].activity.questions == 1 and rows["Bilbao"].activity.questions == 2

    # ratings: each person's latest verdict on each question
    latest = dict(sql(rt, "SELECT f.helpful, COUNT(*) FROM feedback f WHERE f.id = (SELECT MAX(g.id) FROM feedback g "
                          "WHERE g.question_id = f.question_id AND g.platform = f.platform "
                          "AND g.user_id = f.user_id) GROUP BY f.helpful"))
    assert (figures.totals.helpful, figures.totals.not_helpful) == (latest[1], latest[0]) == (1, 3)
    [(raw_ratings,)] = sql(rt, "SELECT COUNT(*) FROM feedback")
    assert raw_ratings == 5  # Piotr's change of mind is one verdict, not two
    assert rows["Bilbao"].activity.not_helpful == 1  # Piotr rated a Bilbao member's question

    # solutions saved from a conversation
    [(saved,)] = sql(rt, "SELECT COUNT(*) FROM solution WHERE provenance = 'network' AND saved_by IS NOT NULL")
    assert figures.totals.solutions_saved == saved == 1 and rows["Turin"].activity.solutions_saved == 1

    # introductions and the share that met
    [(made,)] = sql(rt, "SELECT COUNT(*) FROM introduction")
    [(met,)] = sql(rt, "SELECT COUNT(DISTINCT introduction_id) FROM introduction_member WHERE outcome = 'met'")
    assert (figures.totals.introductions, figures.totals.introductions_met) == (made, met) == (2, 1)
    assert figures.totals.met_share == 0.5
    assert {i.id for i in figures.introductions} == {i for (i,) in sql(rt, "SELECT id FROM introduction")}
    assert sorted((i.met, i.could_not) for i in figures.introductions) == [(0, 1), (1, 0)]
    for city in ("Bilbao", "Warsaw", "Turin", "Montréal"):
        assert rows[city].activity.introductions == 1, city

    # RSVPs: given in the period, per status, and per occurrence (attendance = going)
    statuses = dict(sql(rt, "SELECT status, COUNT(*) FROM rsvp WHERE updated_at >= :since AND updated_at < :until "
                            "GROUP BY status", **window))
    t = figures.totals
    assert (t.rsvp_going, t.rsvp_maybe, t.rsvp_no) == (statuses["going"], statuses["maybe"], statuses["no"])
    assert (t.rsvp_going, t.rsvp_maybe, t.rsvp_no) == (3, 1, 1)
    assert rows[UNKNOWN].activity.rsvp_no == 1 and rows["Montréal"].activity.rsvp_going == 1
    occurrences = sql(rt, "SELECT occurrence, SUM(status = 'going'), SUM(status = 'maybe'), SUM(status = 'no') "
                          "FROM rsvp WHERE session_id = :s GROUP BY occurrence ORDER BY occurrence",
                      s=scenario.session_id)
    assert [(s.occurrence.strftime("%Y%m%dT%H%M%SZ"), s.going, s.maybe, s.no) for s in figures.sessions] == \
        occurrences
    assert all(s.title == "Shops working group" and not s.cancelled for s in figures.sessions)


def test_a_member_scope_holds_only_that_city(rt: Runtime) -> None:
    insights = Insights(rt.directory, rt.knowledge)
    whole = {c.city: c.activity for c in insights.figures(12).cities}
    warsaw = insights.figures(12, city="warsaw")  # case does not matter
    assert warsaw.city == "Warsaw" and [c.city for c in warsaw.cities] == ["Warsaw"]
    assert warsaw.totals == whole["Warsaw"]
    assert all("Warsaw" in i.cities for i in warsaw.introductions) and len(warsaw.introductions) == 1
    assert sum(s.going + s.maybe + s.no for s in warsaw.sessions) == 1  # Piotr's own RSVP only


def test_charts_are_deterministic(rt: Runtime) -> None:
    insights = Insights(rt.directory, rt.knowledge)
    network = insights.network()
    assert len(network.cities) == 9 and network.links and network.cut is not None
    linked = {city for link in network.links for city in (link.a, link.b)}
    assert linked == {city for city, _ in network.cities}  # each city keeps at least its closest peer
    assert all(link.similarity is not None for link in network.links)  # no introductions passed in here
    assert network_png(network) == network_png(insights.network())  # seeded layout, no timestamp
    figures = insights.figures(12)
    assert weekly_png(figures) == weekly_png(insights.figures(12))


# -- coverage gaps -------------------------------------------------------------------------------------------------


def test_gaps_group_one_topic_across_languages_and_name_the_cities(rt: Runtime, scenario: Scenario) -> None:
    [(before,)] = sql(rt, "SELECT COUNT(*) FROM question")
    gaps = Insights(rt.directory, rt.knowledge).gaps(12)
    [(after,)] = sql(rt, "SELECT COUNT(*) FROM question")
    assert after == before  # looking up the closest solutions records no question

    q = scenario.questions
    by_question = {question.id: cluster for cluster in gaps.clusters for question in cluster.questions}
    stray = by_question[q["stray_es"]]
    assert {x.id for x in stray.questions} == {q["stray_es"], q["stray_pl"], q["stray_en"]}
    assert dict(stray.cities) == {"Bilbao": 1, "Warsaw": 1, UNKNOWN: 1}
    assert stray.label in STRAY.values()
    assert SHELTER in [s.title for s in stray.closest]  # the answer saved from the chat is now the nearest
    assert "nothing about animals" in stray.reasons
    cake = by_question[q["cake_it"]]
    assert {x.id for x in cake.questions} == {q["cake_it"], q["cake_fr"]} and cake is not stray
    assert dict(cake.cities) == {"Turin": 1, "Montréal": 1}

    # answered questions are gaps only when someone's latest rating says "not helpful"
    found = {question.id: question for cluster in gaps.clusters for question in cluster.questions}
    assert found[q["childcare"]].reasons == ("we need the staffing costs",) and not found[q["childcare"]].unanswered
    assert found[q["vouchers"]].not_helpful and found[q["vouchers"]].reasons == ("no budget figures",)
    assert q["old"] not in found  # outside the period
    since, until = window(12)
    expected = sql(rt, "SELECT q.id FROM question q WHERE q.asked_at >= :since AND q.asked_at < :until AND "
                       "(q.answered = 0 OR EXISTS (SELECT 1 FROM feedback f WHERE f.question_id = q.id AND "
                       "f.helpful = 0 AND f.id = (SELECT MAX(g.id) FROM feedback g WHERE g.question_id = q.id AND "
                       "g.platform = f.platform AND g.user_id = f.user_id)))", since=stamp(since), until=stamp(until))
    assert set(found) == {i for (i,) in expected} and gaps.questions == len(expected)
    sizes = [c.size for c in gaps.clusters]
    assert sizes == sorted(sizes, reverse=True) and gaps.groups == len(gaps.clusters)


def test_average_linkage_matches_the_textbook_algorithm() -> None:
    def naive(x: np.ndarray, threshold: float) -> list[list[int]]:
        sim = x @ x.T
        np.fill_diagonal(sim, -np.inf)
        groups = [[i] for i in range(len(x))]
        while len(groups) > 1:
            best, pair = -np.inf, None
            for a in range(len(groups)):
                for b in range(a + 1, len(groups)):
                    score = np.mean([sim[i, j] for i in groups[a] for j in groups[b]])
                    if score > best + 1e-12:
                        best, pair = score, (a, b)
            if best < threshold:
                break
            a, b = pair
            groups[a] += groups.pop(b)
        return sorted((sorted(g) for g in groups), key=lambda g: (-len(g), g[0]))

    rng = np.random.default_rng(3)
    for _ in range(40):
        x = rng.normal(size=(int(rng.integers(1, 25)), 4))
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        threshold = float(rng.uniform(0.0, 0.8))
        assert average_linkage(x, threshold) == naive(x, threshold)
    assert average_linkage(np.zeros((0, 4))) == []


def test_language_directions_bring_translations_together(rt: Runtime) -> None:
    embedder = rt.knowledge.embedder
    directions, centre = language_basis(embedder.embed_queries(probe_texts()))
    raw = embedder.embed_queries([STRAY["es"], STRAY["pl"], CAKE["it"], "¿Cuál es la mejor receta de tarta?"])
    x = neutralise(raw, directions, centre)
    assert np.allclose(np.linalg.norm(x, axis=1), 1.0)
    # without their language directions, translations are closer than two topics in one language
    assert x[0] @ x[1] > x[0] @ x[3] + 0.2 and x[2] @ x[3] > x[0] @ x[3] + 0.2


# -- the report ----------------------------------------------------------------------------------------------------


def report(data_dir: Path, out: Path, *args: str):
    result = CliRunner().invoke(app, ["insights", "report", "--out", str(out), *args],
                                env={"RRR_DATA_DIR": str(data_dir)})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_report_writes_markdown_csv_and_charts(rt: Runtime, scenario: Scenario, tmp_path: Path) -> None:
    out = tmp_path / "reports" / "2027"
    result = report(scenario.data_dir, out, "--json")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    files = {p.name for p in out.iterdir()}
    assert set(printed["files"]) == files
    assert {"report.md", "weekly.csv", "cities.csv", "gaps.csv", "gap_questions.csv", "introductions.csv",
            "sessions.csv", "network.csv", "network.png", "weekly.png", "gaps.png"} <= files
    assert not [p for p in out.parent.iterdir() if p != out]  # the staging folder is gone

    md = (out / "report.md").read_text("utf-8")
    for picture in ("network.png", "weekly.png", "gaps.png"):
        assert f"]({picture})" in md
        width, height = assert_png((out / picture).read_bytes())
        assert width > 100 and height > 100
    assert "Who asked, rated or answered is never shown" in md and "perros y gatos" in md
    assert "network map: 9 cities" in png_title((out / "network.png").read_bytes()).lower()

    figures = Insights(rt.directory, rt.knowledge).figures(12)
    weekly = read_csv(out / "weekly.csv")
    assert [r["week"] for r in weekly] == [w.week for w in figures.weeks]
    for row, week in zip(weekly, figures.weeks):
        for name in ("questions", "answered", "helpful", "not_helpful", "solutions_saved", "introductions",
                     "introductions_met", "rsvp_going", "rsvp_maybe", "rsvp_no"):
            assert int(row[name]) == getattr(week.activity, name), (week.week, name)
    cities = {r["city"]: r for r in read_csv(out / "cities.csv")}
    assert set(cities) == {c.city for c in figures.cities}
    for city in figures.cities:
        assert int(cities[city.city]["questions"]) == city.activity.questions
        assert int(cities[city.city]["rsvp_going"]) == city.activity.rsvp_going
    intros = read_csv(out / "introductions.csv")
    assert sorted(int(r["met"]) for r in intros) == [0, 1] and len(intros) == figures.totals.introductions
    sessions = read_csv(out / "sessions.csv")
    assert [int(r["going"]) for r in sessions] == [s.going for s in figures.sessions]
    gaps = read_csv(out / "gaps.csv")
    assert int(gaps[0]["questions"]) == 3 and "Bilbao (1)" in gaps[0]["cities"] and SHELTER in gaps[0][
        "closest_solutions"]
    questions = read_csv(out / "gap_questions.csv")
    assert {int(r["question_id"]) for r in questions} >= set(scenario.questions.values()) - {scenario.questions["old"]}
    assert set(questions[0]) == {"rank", "question_id", "asked_at", "city", "unanswered", "not_helpful", "text",
                                 "what_was_missing"}  # no user column
    assert_private(result.stdout, *((out / name).read_bytes() for name in files))


def test_report_into_a_folder_that_cannot_be_written_fails_cleanly(scenario: Scenario, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", "utf-8")
    for target in (blocker / "report", blocker):
        result = report(scenario.data_dir, target)
        assert result.exit_code == 1, result.output
        assert result.stderr.startswith("error: ") and "cannot write the report" in result.stderr
        assert "Traceback" not in result.output and result.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"] and blocker.read_text("utf-8") == "not a folder"


def test_report_replaces_files_in_an_existing_folder(scenario: Scenario, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine", "utf-8")
    (out / "report.md").write_text("old", "utf-8")
    result = report(scenario.data_dir, out, "--weeks", "2")
    assert result.exit_code == 0, result.output
    assert (out / "notes.txt").read_text("utf-8") == "mine"  # other files are left alone
    assert (out / "report.md").read_text("utf-8").startswith("# Network insights")
    assert len(read_csv(out / "weekly.csv")) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# -- chat ----------------------------------------------------------------------------------------------------------


def test_coordinators_get_the_network_summary_and_charts(rt: Runtime) -> None:
    boss = TestAdapter(rt.bot, user="BOSS")
    exchange = run(boss.send("insights"))
    assert not any(r.is_error for r in exchange.replies), exchange.text
    exchange.assert_reply("Network insights", "Questions asked:", "Introductions: 2 made, 1 met (50%)",
                          "3 going, 1 maybe, 1 can't", "Coverage gaps:", "Bilbao, Warsaw, unknown", SHELTER,
                          "[image: network.png,", "[image: weekly.png,", "[image: gaps.png,")
    images = exchange.blocks(Image)
    assert [i.name for i in images] == ["network.png", "weekly.png", "gaps.png"]
    for image in images:
        assert_png(image.data)
        assert image.alt
    gaps = Insights(rt.directory, rt.knowledge).gaps(12)
    assert f"Coverage gaps: {gaps.questions} question(s) in {gaps.groups} group(s)" in png_title(images[2].data)
    assert_private(exchange.text)
    # the stored outbox keeps pictures as base64 and gives them back intact
    reply = exchange.replies[0]
    again = reply_from_dict(json.loads(json.dumps(reply_to_dict(reply))))
    assert again == reply and again.blocks[-1].data == images[-1].data


def test_a_member_sees_only_their_city_and_an_unlinked_member_is_asked_to_link(rt: Runtime) -> None:
    piotr = TestAdapter(rt.bot, user="PIOTR-5512")
    exchange = run(piotr.send("insights"))
    exchange.assert_reply("Insights for Warsaw", "Questions asked: 1", "Rated helpful / not helpful: 1 / 0",
                          "Introductions: 1 made", "Session RSVPs: 1 going", "[image: weekly-warsaw.png,")
    exchange.assert_no_reply("Bilbao", "Turin", "Montréal", "unknown", "perros", "psami", "Coverage gaps",
                             "network.png")
    [image] = exchange.blocks(Image)
    assert "Warsaw" in png_title(image.data)
    assert_private(exchange.text)

    stranger = TestAdapter(rt.bot, user="STRANGER-1")
    polite = run(stranger.send("insights"))
    assert not polite.replies[0].is_error
    polite.assert_reply("iam CITY").assert_no_reply("Questions asked")
    run(stranger.send("/insights forty")).assert_error().assert_reply("Usage: `insights [WEEKS]`")
    run(piotr.send("insights 0")).assert_error().assert_reply("from 1 to")
    run(piotr.send("insights 2 weeks")).assert_reply("Insights for Warsaw")


def test_console_prints_a_line_for_each_picture() -> None:
    buffer = io.StringIO()
    reply = Reply((Text("Charts:"), Image("network.png", b"\x89PNG" + b"0" * 96, "map")))
    render_reply(Console(file=buffer, width=100), reply, styled=False)
    assert "[image: network.png, 100 bytes]" in buffer.getvalue()
    styled = io.StringIO()
    render_reply(Console(file=styled, width=100, color_system=None), reply, styled=True)
    assert "[image: network.png, 100 bytes]" in styled.getvalue()


# -- the weekly digest ---------------------------------------------------------------------------------------------


def test_the_digest_is_queued_once_per_iso_week_and_platform(rt: Runtime) -> None:
    insights = Insights(rt.directory, rt.knowledge)
    now = datetime.now(timezone.utc)
    channels = {"slack": "C0DIGEST", "discord": "112233"}
    assert queue_digest(insights, rt.outbox, channels, now) == 2
    assert queue_digest(insights, rt.outbox, channels, now + timedelta(minutes=5)) == 0
    assert queue_digest(insights, rt.outbox, {**channels, "teams": "T1"}, now) == 1  # a new platform only
    [pending] = rt.outbox.claim("slack", now=now + timedelta(minutes=1))
    assert pending.channel == "C0DIGEST"
    text_ = pending.reply.as_text()
    assert "Weekly insights digest" in text_ and "Coverage gaps" in text_
    assert [b.name for b in pending.reply.blocks if isinstance(b, Image)] == ["network.png", "weekly.png", "gaps.png"]
    for block in pending.reply.blocks:
        if isinstance(block, Image):
            assert_png(block.data)
    assert_private(text_)
    assert queue_digest(insights, rt.outbox, channels, now + timedelta(days=7)) == 2  # next ISO week


# -- an empty network, one city ------------------------------------------------------------------------------------


def test_an_empty_network_gets_honest_words_and_empty_charts(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with Runtime.open(settings_for(data_dir)) as rt:
        insights = Insights(rt.directory, rt.knowledge)
        figures = insights.figures(4)
        assert figures.is_empty and figures.cities == () and len(figures.weeks) == 4
        assert insights.gaps(4).clusters == ()
        exchange = run(TestAdapter(rt.bot, user="BOSS").send("insights 4"))
        exchange.assert_reply("No activity in the network yet", "Coverage gaps: none")
        assert not any(r.is_error for r in exchange.replies)
        titles = [png_title(i.data) for i in exchange.blocks(Image)]
        assert len(titles) == 3 and all("no data yet" in t for t in titles), titles
        run(TestAdapter(rt.bot, user="U9").send("insights")).assert_reply("iam CITY")
    result = report(data_dir, tmp_path / "out")
    assert result.exit_code == 0, result.output
    md = (tmp_path / "out" / "report.md").read_text("utf-8")
    assert "No activity in the network yet" in md and "No introduction was made" in md and "No RSVP yet" in md
    assert read_csv(tmp_path / "out" / "cities.csv") == [] and len(read_csv(tmp_path / "out" / "weekly.csv")) == 12
    for picture in ("network.png", "weekly.png", "gaps.png"):
        assert "no data yet" in png_title(assert_png_bytes(tmp_path / "out" / picture))


def assert_png_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    assert_png(data)
    return data


def test_a_single_city_is_drawn_alone(tmp_path: Path) -> None:
    with Runtime.open(settings_for(tmp_path / "data")) as rt:
        rt.directory.import_cities([CityRecord("Bilbao", "Spain", "Europe/Madrid", ("es",), ("local-economy",),
                                               ("Keep neighbourhood shops open.",))])
        insights = Insights(rt.directory, rt.knowledge)
        network = insights.network()
        assert network.cities == (("Bilbao", "local-economy"),) and network.links == ()
        assert png_title(network_png(network)) == "Network map: one city, no links yet"
        figures = insights.figures(3)
        assert [c.city for c in figures.cities] == ["Bilbao"] and figures.is_empty
        assert "no data yet" in png_title(weekly_png(figures))
        assert "no data yet" in png_title(gaps_png(insights.gaps(3)))


def test_figures_gaps_and_chat_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    settings = make_settings(tmp_path / "data", RRR_DATABASE__URL=postgres_url, RRR_BOT__COORDINATORS=COORDINATOR)
    with Runtime.open(settings) as rt:
        rt.directory.import_cities([
            CityRecord("Bilbao", "Spain", "Europe/Madrid", ("es",), ("local-economy",),
                       ("Keep neighbourhood shops open.",)),
            CityRecord("Warsaw", "Poland", "Europe/Warsaw", ("pl",), ("sse-collaboration",),
                       ("Help local shops survive.",)),
        ])
        ana, piotr = TestAdapter(rt.bot, user="ANA-7731"), TestAdapter(rt.bot, user="PIOTR-5512")
        rt.directory.link("test", "ANA-7731", "Bilbao")
        rt.directory.link("test", "PIOTR-5512", "Warsaw")
        for adapter, question in ((ana, STRAY["es"]), (piotr, STRAY["pl"]), (ana, CAKE["it"])):
            run(adapter.send(question))  # an empty knowledge base: nothing is answered
        ids = dict(sql(rt, "SELECT text, id FROM question"))
        run(ana.send(f"nothelpful {ids[CAKE['it']]} not what I asked"))  # feedback on one's own question
        info = rt.sessions.add(SessionDraft(title="Kick-off",
                                            start=(datetime.now(timezone.utc) + timedelta(days=3)).strftime(
            "%Y-%m-%dT10:00"), tz="UTC"), created_by="test")
        rt.sessions.rsvp(info.id, None, "test", "ANA-7731", "going")
        rt.sessions.rsvp(info.id, None, "test", "PIOTR-5512", "maybe")
        rt.intros.run()

        insights = Insights(rt.directory, rt.knowledge)
        figures = insights.figures(2)
        per_city = dict((name, (n, a)) for name, n, a in sql(
            rt, "SELECT c.name, COUNT(*), SUM(CASE WHEN q.answered THEN 1 ELSE 0 END) FROM question q "
                "JOIN city c ON c.id = q.city_id GROUP BY c.name"))
        assert {c.city: (c.activity.questions, c.activity.answered) for c in figures.cities} == per_city
        assert (figures.totals.not_helpful, figures.totals.rsvp_going, figures.totals.rsvp_maybe) == (1, 1, 1)
        assert (figures.totals.introductions, len(figures.introductions[0].cities)) == (1, 2)
        [(going, maybe)] = [(s.going, s.maybe) for s in figures.sessions]
        assert (going, maybe) == (1, 1)

        gaps = insights.gaps(2)
        groups = [{q.text for q in c.questions} for c in gaps.clusters]
        assert {STRAY["es"], STRAY["pl"]} in groups and {CAKE["it"]} in groups
        exchange = run(TestAdapter(rt.bot, user="BOSS").send("insights 2"))
        assert len(exchange.blocks(Image)) == 3 and not any(r.is_error for r in exchange.replies)
        assert_private(exchange.text)
