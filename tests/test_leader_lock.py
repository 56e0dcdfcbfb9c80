"""The scheduler's leader lock: one holder per database, and a holder that loses its connection knows it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from bot.scheduling import LeaderLock
from bot.store import Database


def test_sqlite_file_lock_has_one_holder(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rrr.db'}"
    first, second = LeaderLock(Database(url)), LeaderLock(Database(url))
    assert first.try_acquire() and first.still_held()
    assert not second.try_acquire() and not second.still_held()
    first.release()
    assert not first.still_held()
    assert second.try_acquire()
    second.release()


def test_postgres_lock_lost_with_its_connection_is_taken_over(postgres_url: str) -> None:
    leader, standby = LeaderLock(Database(postgres_url)), LeaderLock(Database(postgres_url))
    assert leader.try_acquire()
    assert not standby.try_acquire()
    pid = leader._conn.execute(text("SELECT pg_backend_pid()")).scalar()  # type: ignore[union-attr]
    leader._conn.commit()  # type: ignore[union-attr]
    killer = Database(postgres_url)
    with killer.engine.connect() as conn:  # what a PostgreSQL restart does to the leader's session
        assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
    assert not leader.still_held()  # the leader notices, and stops leading
    assert standby.try_acquire() and standby.still_held()
    assert not leader.try_acquire()  # and cannot take it back while the new leader holds it
    standby.release()
    assert leader.try_acquire()
    leader.release()
