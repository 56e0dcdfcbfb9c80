"""Storage on real databases: migrations and repositories on a SQLite file and on a PostgreSQL server.

The PostgreSQL variants use the ``postgres_url`` fixture (a fresh database per test); they skip with the reason
when no server answers on 127.0.0.1 (and fail on CI).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel, select

from bot import StorageError
from bot.store import (
    Challenge, Cities, City, Database, Feedback, Member, Members, Passage, Question, Questions, Receipts, Solutions,
)
from knowledge.records import CityRecord, SolutionRecord

TABLES = {"city", "challenge", "member", "solution", "passage", "question", "feedback"}
BACKENDS = ["sqlite", "postgresql"]


def _url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'rrr.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture(params=BACKENDS)
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A database with no schema yet."""
    db = Database(_url(request.param, request, tmp_path))
    try:
        yield db
    finally:
        db.close()


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database."""
    database = Database(_url(request.param, request, tmp_path))
    database.upgrade()
    try:
        yield database
    finally:
        database.close()


def city(name: str, challenges: tuple[str, ...] = ("A challenge.",), **kw) -> CityRecord:
    defaults = dict(country="Spain", timezone="Europe/Madrid", languages=("es",), peer_groups=("local-economy",))
    return CityRecord(name=name, challenges=challenges, **{**defaults, **kw})


def solution(sid: str, **kw) -> SolutionRecord:
    defaults = dict(city="Bilbao", country="Spain", title="Vouchers", challenge="Shops were closed.",
                    summary="The city paid half of each voucher.", tags=("vouchers",), provenance="rrr")
    return SolutionRecord(id=sid, **{**defaults, **kw})


# -- migrations -------------------------------------------------------------------------------------------------


def test_migrations_from_empty(empty_db: Database) -> None:
    current, head = empty_db.revision()
    assert current is None
    assert head  # the code knows a newest revision
    assert not TABLES & set(inspect(empty_db.engine).get_table_names())

    empty_db.upgrade()

    current, head2 = empty_db.revision()
    assert current == head == head2
    assert TABLES <= set(inspect(empty_db.engine).get_table_names())


def test_upgrade_twice_is_a_no_op(db: Database) -> None:
    with db.session() as session:
        Cities(session).upsert(city("Bilbao"))
    db.upgrade()
    current, head = db.revision()
    assert current == head
    with db.session() as session:
        assert [c.name for c in Cities(session).all()] == ["Bilbao"]


def test_migrated_schema_matches_the_models(db: Database) -> None:
    """Tables, columns, indexes, foreign keys and unique constraints of the migrations equal the models'."""
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []


def test_dialect(db: Database) -> None:
    assert db.dialect in ("sqlite", "postgresql")


# -- cities -----------------------------------------------------------------------------------------------------


def test_city_upsert_replaces_challenges(db: Database) -> None:
    with db.session() as session:
        created, is_new = Cities(session).upsert(city("Bilbao", ("old one", "old two", "old three")))
        assert is_new
        city_id = created.id
    with db.session() as session:
        updated, is_new = Cities(session).upsert(city("Bilbao", ("new one", "new two"), country="España",
                                                      timezone="Atlantic/Canary"))
        assert not is_new
        assert updated.id == city_id
    with db.session() as session:
        cities = Cities(session)
        assert cities.challenges(city_id) == ["new one", "new two"]  # replaced, in order
        stored = cities.by_id(city_id)
        assert (stored.country, stored.timezone) == ("España", "Atlantic/Canary")
        assert len(session.exec(select(Challenge)).all()) == 2  # old rows are gone, not orphaned
        assert len(cities.all()) == 1


def test_city_lookup_ignores_case_and_accents(db: Database) -> None:
    with db.session() as session:
        Cities(session).upsert(city("Montréal", country="Canada", timezone="America/Toronto"))
        Cities(session).upsert(city("Bilbao"))
    with db.session() as session:
        cities = Cities(session)
        for name in ("montreal", "MONTREAL", "Montréal", "  montréal "):
            found = cities.by_key(name)
            assert found is not None and found.name == "Montréal", name
        assert cities.by_key("montreux") is None
        assert [c.name for c in cities.all()] == ["Bilbao", "Montréal"]


def test_city_upsert_by_folded_name_keeps_one_row(db: Database) -> None:
    with db.session() as session:
        Cities(session).upsert(city("Montreal", country="Canada", timezone="America/Toronto"))
    with db.session() as session:
        _, is_new = Cities(session).upsert(city("Montréal", country="Canada", timezone="America/Toronto"))
        assert not is_new
    with db.session() as session:
        assert [c.name for c in Cities(session).all()] == ["Montréal"]


def test_all_challenges_in_city_and_position_order(db: Database) -> None:
    with db.session() as session:
        Cities(session).upsert(city("Turin", ("t1", "t2"), country="Italy", timezone="Europe/Rome"))
        Cities(session).upsert(city("Bilbao", ("b1",)))
    with db.session() as session:
        pairs = Cities(session).all_challenges()
    assert pairs == [("Bilbao", "b1"), ("Turin", "t1"), ("Turin", "t2")]


def test_deleting_a_city_cascades_challenges_and_unlinks_members(db: Database) -> None:
    with db.session() as session:
        c, _ = Cities(session).upsert(city("Bilbao", ("b1", "b2")))
        Members(session).ensure("slack", "U1", "Ane").city_id = c.id
        city_id = c.id
    with db.engine.begin() as connection:
        connection.execute(text("DELETE FROM city WHERE id = :id"), {"id": city_id})
    with db.session() as session:
        assert session.exec(select(Challenge)).all() == []
        member = Members(session).get("slack", "U1")
        assert member is not None and member.city_id is None


# -- members ----------------------------------------------------------------------------------------------------


def test_members_are_unique_per_platform_and_user(db: Database) -> None:
    with db.session() as session:
        members = Members(session)
        first = members.ensure("slack", "U1", "Ane")
        again = members.ensure("slack", "U1", "Ane Etxeberria")
        other_platform = members.ensure("discord", "U1")
        assert again.id == first.id
        assert other_platform.id != first.id
    with db.session() as session:
        rows = session.exec(select(Member).order_by(Member.id)).all()
        assert [(m.platform, m.user_id) for m in rows] == [("slack", "U1"), ("discord", "U1")]
        assert rows[0].name == "Ane Etxeberria"  # a new display name updates the row
        assert rows[0].role == "member"


def test_duplicate_member_row_is_refused_by_the_database(db: Database) -> None:
    with db.session() as session:
        session.add(Member(platform="slack", user_id="U1"))
    with pytest.raises(IntegrityError):
        with db.session() as session:
            session.add(Member(platform="slack", user_id="U1"))
    with db.session() as session:
        assert len(session.exec(select(Member)).all()) == 1


def test_members_of_city_and_coordinators(db: Database) -> None:
    with db.session() as session:
        c, _ = Cities(session).upsert(city("Bilbao"))
        members = Members(session)
        members.ensure("slack", "U2", "Bea").city_id = c.id
        members.ensure("slack", "U1", "Ane").city_id = c.id
        members.ensure("slack", "U3", "Carla").role = "coordinator"
        city_id = c.id
    with db.session() as session:
        assert [m.name for m in Members(session).of_city(city_id)] == ["Ane", "Bea"]
        assert [m.user_id for m in Members(session).coordinators()] == ["U3"]


# -- solutions and passages -------------------------------------------------------------------------------------


def test_solution_upsert_inserts_then_updates(db: Database) -> None:
    record = solution("bilbao-vouchers")
    with db.session() as session:
        Solutions(session).upsert(record, saved_by="slack:U1")
    with db.session() as session:
        stored = Solutions(session).get("bilbao-vouchers")
        assert stored.title == "Vouchers"
        assert stored.tags == ["vouchers"]
        assert stored.content_hash == record.content_hash()
        assert stored.saved_by == "slack:U1"
    changed = solution("bilbao-vouchers", title="Bono Bilbao", tags=("vouchers", "retail"))
    with db.session() as session:
        Solutions(session).upsert(changed)
    with db.session() as session:
        repo = Solutions(session)
        assert repo.count() == 1
        stored = repo.get("bilbao-vouchers")
        assert stored.title == "Bono Bilbao"
        assert stored.tags == ["vouchers", "retail"]
        assert stored.saved_by == "slack:U1"  # not cleared by an update without saved_by
        assert repo.hashes() == {"bilbao-vouchers": changed.content_hash()}


def test_replace_passages_and_remove_cascades(db: Database) -> None:
    with db.session() as session:
        repo = Solutions(session)
        repo.upsert(solution("a"))
        repo.upsert(solution("b", city="Turin", country="Italy"))
        session.flush()
        first = repo.replace_passages("a", [(0, "", "a one"), (1, "Figures", "a two")])
        repo.replace_passages("b", [(0, "", "b one")])
        first_ids = [p.id for p in first]
    with db.session() as session:
        repo = Solutions(session)
        assert sorted(repo.passage_ids("a")) == sorted(first_ids)
        second = repo.replace_passages("a", [(0, "", "a new")])
        assert repo.passage_ids("a") == [second[0].id]  # replaced, not appended
        assert [p[2] for p in repo.passages()] == ["b one", "a new"]
    with db.session() as session:
        removed = Solutions(session).remove("a")
        assert removed == [second[0].id]
    with db.session() as session:
        repo = Solutions(session)
        assert repo.get("a") is None
        assert repo.passage_ids("a") == []
        assert [row[1] for row in repo.passages()] == ["b"]
        assert repo.count() == 1


def test_deleting_a_solution_row_cascades_passages_in_the_database(db: Database) -> None:
    with db.session() as session:
        repo = Solutions(session)
        repo.upsert(solution("a"))
        session.flush()
        repo.replace_passages("a", [(0, "", "one"), (1, "", "two")])
    with db.engine.begin() as connection:
        connection.execute(text("DELETE FROM solution WHERE id = 'a'"))
    with db.session() as session:
        assert session.exec(select(Passage)).all() == []


def test_solution_list_filters_and_stats(db: Database) -> None:
    with db.session() as session:
        repo = Solutions(session)
        repo.upsert(solution("m1", city="Montréal", country="Canada", tags=("procurement",), language="fr"))
        repo.upsert(solution("b1", tags=("vouchers",)))
        repo.upsert(solution("b2", tags=("procurement",), provenance="context"))
    with db.session() as session:
        repo = Solutions(session)
        assert [s.id for s in repo.list()] == ["b1", "b2", "m1"]
        assert [s.id for s in repo.list(city="montreal")] == ["m1"]
        assert [s.id for s in repo.list(tag="Procurement")] == ["b2", "m1"]
        assert set(repo.many(["b1", "m1", "nope"])) == {"b1", "m1"}
        assert repo.many([]) == {}
        stats = repo.stats()
        assert stats["solutions"] == 3
        assert stats["by_city"] == {"Bilbao": 2, "Montréal": 1}
        assert stats["by_provenance"] == {"context": 1, "rrr": 2}
        assert stats["by_language"] == {"en": 2, "fr": 1}


# -- questions and feedback -------------------------------------------------------------------------------------


def test_questions_unanswered_newest_first_with_limit(db: Database) -> None:
    now = datetime.now(timezone.utc)
    with db.session() as session:
        repo = Questions(session)
        for i, answered in enumerate([False, True, False, False]):
            repo.add(Question(platform="slack", user_id="U1", text=f"q{i}", answered=answered,
                              asked_at=now - timedelta(minutes=10 - i)))
    with db.session() as session:
        repo = Questions(session)
        assert [q.text for q in repo.unanswered()] == ["q3", "q2", "q0"]
        assert [q.text for q in repo.unanswered(limit=2)] == ["q3", "q2"]


def test_feedback_is_stored_and_cascades_with_its_question(db: Database) -> None:
    with db.session() as session:
        repo = Questions(session)
        question = repo.add(Question(platform="slack", user_id="U1", text="how?", answered=True, best_score=0.9,
                                     result_ids=["a", "b"]))
        qid = question.id
        repo.add_feedback(Feedback(question_id=qid, platform="slack", user_id="U1", helpful=False,
                                   reason="no figures"))
        repo.add_feedback(Feedback(question_id=qid, platform="slack", user_id="U2", helpful=True))
    with db.session() as session:
        repo = Questions(session)
        assert repo.get(qid).result_ids == ["a", "b"]
        feedback = sorted(repo.feedback_for(qid), key=lambda f: f.user_id)
        assert [(f.user_id, f.helpful, f.reason) for f in feedback] == [("U1", False, "no figures"),
                                                                        ("U2", True, "")]
    with db.engine.begin() as connection:
        connection.execute(text("DELETE FROM question WHERE id = :id"), {"id": qid})
    with db.session() as session:
        assert session.exec(select(Feedback)).all() == []


def test_feedback_for_unknown_question_is_refused(db: Database) -> None:
    with pytest.raises(IntegrityError):
        with db.session() as session:
            Questions(session).add_feedback(Feedback(question_id=999, platform="slack", user_id="U1",
                                                     helpful=True))


def test_session_rolls_back_on_error(db: Database) -> None:
    with pytest.raises(RuntimeError):
        with db.session() as session:
            Cities(session).upsert(city("Bilbao"))
            raise RuntimeError("boom")
    with db.session() as session:
        assert Cities(session).all() == []


@pytest.mark.parametrize("backend", [
    "sqlite",
    "postgresql",
])
def test_datetimes_read_back_utc_aware(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    database = Database(_url(backend, request, tmp_path))
    try:
        database.upgrade()
        with database.session() as session:
            qid = Questions(session).add(Question(platform="p", user_id="u", text="t", answered=False)).id
        with database.session() as session:
            asked_at = Questions(session).get(qid).asked_at
            city_row = Cities(session).upsert(city("Bilbao"))[0]
        with database.session() as session:
            created_at = session.get(City, city_row.id).created_at
        for value in (asked_at, created_at):
            assert value.tzinfo is not None
            assert value.utcoffset() == timedelta(0)
            assert abs(datetime.now(timezone.utc) - value) < timedelta(minutes=5)
    finally:
        database.close()


# -- errors -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url, expected", [
    ("not a url", "bad database URL"),
    ("nonsense://x", "unsupported database URL"),
])
def test_bad_database_url_is_a_storage_error(url: str, expected: str) -> None:
    with pytest.raises(StorageError) as info:
        Database(url)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message


def test_url_whose_driver_is_missing_is_a_storage_error() -> None:
    with pytest.raises(StorageError, match="mysql"):
        Database("mysql://rrr@127.0.0.1/rrr")


def test_unreachable_postgresql_is_a_storage_error() -> None:
    db = Database("postgresql+psycopg://rrr:hunter2@127.0.0.1:1/rrr?connect_timeout=3")
    try:
        with pytest.raises(StorageError) as info:
            db.upgrade()
        message = str(info.value)
        assert "127.0.0.1" in message
        assert "hunter2" not in message  # the password is hidden
        assert "\n" not in message
        with pytest.raises(StorageError, match="cannot open the database"):
            db.revision()
    finally:
        db.close()


def test_plain_postgresql_url_uses_psycopg_3() -> None:
    db = Database("postgresql://rrr@127.0.0.1:1/rrr")
    try:
        assert db.engine.dialect.driver == "psycopg"
    finally:
        db.close()


def test_sqlite_parent_directory_is_created(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "rrr.db"
    db = Database(f"sqlite:///{path}")
    try:
        db.upgrade()
        assert path.is_file()
    finally:
        db.close()


def test_sqlite_directory_that_cannot_be_created_is_a_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StorageError, match="cannot create the database directory"):
        Database(f"sqlite:///{blocker / 'sub' / 'rrr.db'}")


def test_head_revision_constant_matches_alembic_head(tmp_path: Path) -> None:
    """Database.upgrade skips Alembic at HEAD_REVISION; that shortcut is only right while it is the real head."""
    from bot.store.db import HEAD_REVISION

    database = Database(f"sqlite:///{tmp_path / 'h.db'}")
    try:
        assert database.revision() == (None, HEAD_REVISION)
        database.upgrade()
        assert database.revision() == (HEAD_REVISION, HEAD_REVISION)
        database.upgrade()  # at the head: a no-op
        assert database.revision() == (HEAD_REVISION, HEAD_REVISION)
    finally:
        database.close()


def test_old_receipts_are_forgotten_but_a_question_posted_to_the_network_stays_posted(db: Database) -> None:
    """Retried events are recognised for two days; a question posted to the network channel for good, so it is
    never posted (and its contacts pinged) again, and answers to it can be saved with it later."""
    from bot.store.models import Receipt

    from bot.services.receipts import KEEP, KEEP_FOR_GOOD, ReceiptBook

    book = ReceiptBook(db)
    assert book.claim("slack:Ev1") and book.claim("slack:ask_network:7")
    with db.session() as session:
        for row in session.exec(select(Receipt)):
            row.received_at = datetime.now(timezone.utc) - KEEP - timedelta(hours=1)
    with db.session() as session:
        assert Receipts(session).forget_before(datetime.now(timezone.utc) - KEEP, keep=KEEP_FOR_GOOD) == 1
    assert not book.seen("slack:Ev1") and book.seen("slack:ask_network:7")
    assert not book.claim("slack:ask_network:7")
