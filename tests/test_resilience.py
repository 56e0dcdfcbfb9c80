"""Surviving database trouble: one scheduler leader per database (and a leader that loses its connection knows
it), and platform events recorded once the database answers again."""

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


def test_an_event_is_claimed_once_the_database_answers_again(tmp_path: Path) -> None:
    """A claim made while the database cannot be reached waits for it (a restart) instead of losing the event."""
    import threading
    import time

    from bot.services.receipts import ReceiptBook

    path = tmp_path / "rrr.db"
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    book = ReceiptBook(db)
    assert book.claim("slack:Ev1") and not book.claim("slack:Ev1")
    blocker = tmp_path / "moved.db"
    path.rename(blocker)  # the file is gone: SQLite cannot open the tables ("no such table" is not a connection
    path.mkdir()          # error, so make the path a directory: opening it fails like an unreachable server)
    db.engine.dispose()

    def restore() -> None:
        time.sleep(1.0)
        path.rmdir()
        blocker.rename(path)

    threading.Thread(target=restore).start()
    started = time.monotonic()
    assert not book.claim("slack:Ev1")  # waited for the database, then saw it was a retry
    assert 0.8 < time.monotonic() - started < 8
    assert book.claim("slack:Ev2")
