"""Asking the default SQLite database read-only, with the standard library's ``sqlite3`` (issue #15, cold start).

``rrr-bot ask`` is one question in a fresh process: importing SQLAlchemy, SQLModel and the table models costs it
more than the question itself. :func:`open_read_only` answers it with the very same search code
(:class:`~bot.services.asking.Search`) over a :class:`SqliteReader`, which runs the same queries as the repositories
in :mod:`bot.store.repos` on a read-only connection. It is used only when nothing needs writing:

- the database is the default SQLite file (``[database] url`` empty) and exists;
- its schema is at :data:`~bot.rows.HEAD_REVISION` (otherwise the full path migrates it);
- the saved faiss index matches the passages in the database at this moment (the same manifest check as the full
  path: count and fingerprint of passage ids and content hashes); otherwise the full path rebuilds it.

Any other case raises :class:`Unavailable` and the caller takes the full path (``Runtime.open``). The database is
read on every question, the index only when its manifest matches it, so an answer is never staler than the full
path's after ``kb import``, ``kb edit``, approve or reject.
"""

from __future__ import annotations

import builtins
import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING, NamedTuple

from knowledge import IndexError_
from knowledge.text import fold

from ..rows import HEAD_REVISION, SolutionMeta
from .asking import EmbedderFactory, Rows, Search, default_embedder_factory

if TYPE_CHECKING:
    from knowledge import Searcher

    from ..config import Settings


class Unavailable(Exception):
    """The read-only path cannot answer here (another database, an old schema, a stale index): use the full one."""


class _Solution(NamedTuple):
    id: str
    title: str
    city: str
    country: str
    summary: str
    source_url: str | None
    provenance: str
    provenance_note: str
    kind: str
    status: str
    saved_by: str | None
    created_at: datetime


class _Passage(NamedTuple):
    id: int
    text: str
    position: int
    heading: str
    page: int | None


_SOLUTION_COLUMNS = ", ".join(_Solution._fields)
_PASSAGE_COLUMNS = ", ".join(_Passage._fields)
_CHUNK = 500  # ids a query binds at most (SQLite's limit is far above)


def _utc(value: str | None) -> datetime:
    """A stored time as the table models read it: SQLite keeps no zone, so UTC is put back."""
    if value is None:
        raise Unavailable("a solution without a creation time")
    moment = datetime.fromisoformat(value)
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


class SqliteReader:
    """The reads of the ask path (:class:`~bot.services.asking.Reader`) on a read-only ``sqlite3`` connection.

    Each read is one transaction, as each of the repositories' sessions is."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        connection = self.connection
        connection.execute("BEGIN")
        try:
            yield connection
        finally:
            connection.execute("COMMIT")

    def index_rows(self, *, texts: bool = True) -> tuple[builtins.list[tuple[int, str, str, str]],
                                                         dict[str, SolutionMeta]]:
        with self._read():
            return self._passages(texts), self._meta()

    def passages(self) -> builtins.list[tuple[int, str, str, str]]:
        with self._read():
            return self._passages()

    def meta(self) -> dict[str, SolutionMeta]:
        with self._read():
            return self._meta()

    def _passages(self, texts: bool = True) -> builtins.list[tuple[int, str, str, str]]:
        column = "passage.text" if texts else "''"
        return [(pid, sid, text, h) for pid, sid, text, h in self.connection.execute(
            f"SELECT passage.id, passage.solution_id, {column}, solution.content_hash FROM passage "
            "JOIN solution ON solution.id = passage.solution_id ORDER BY passage.id")]

    def _meta(self) -> dict[str, SolutionMeta]:
        rows = self.connection.execute("SELECT id, city, tags, kind FROM solution").fetchall()
        folded = {city: fold(city) for city in {row[1] for row in rows}}  # each city once, not once a solution
        return {sid: SolutionMeta(folded[city], tuple(json.loads(tags) or ()) if tags
                                  else (), kind or "practice")
                for sid, city, tags, kind in rows}

    def passage_signature(self) -> tuple[int, int]:
        with self._read() as connection:
            count, highest = connection.execute("SELECT count(passage.id), max(passage.id) FROM passage").fetchone()
        return int(count or 0), int(highest or 0)

    def passage_ids_all(self) -> builtins.list[int]:
        with self._read() as connection:
            return [pid for (pid,) in connection.execute("SELECT passage.id FROM passage")]

    def changed_passages(self, new: Sequence[int]) -> tuple[builtins.list[tuple[int, str, str]],
                                                            dict[str, SolutionMeta]]:
        with self._read() as connection:
            ids = list(new)
            rows: builtins.list[tuple[int, str, str]] = []
            for i in range(0, len(ids), _CHUNK):
                part = ids[i:i + _CHUNK]
                rows += connection.execute(f"SELECT id, solution_id, text FROM passage WHERE id IN "
                                           f"({', '.join('?' * len(part))})", part).fetchall()
            return rows, self._meta()

    def answer_rows(self, solution_ids: Sequence[str], passage_ids: Sequence[int]) -> Rows:
        with self._read() as connection:
            solutions: dict[str, _Solution] = {}
            for row in self._in(connection, "solution", _SOLUTION_COLUMNS, "id", list(dict.fromkeys(solution_ids))):
                solution = _Solution._make((*row[:-1], _utc(row[-1])))
                solutions[solution.id] = solution
            passages = {row[0]: _Passage(*row) for row in self._in(connection, "passage", _PASSAGE_COLUMNS, "id",
                                                                    list(dict.fromkeys(passage_ids)))}
            names: dict[str, str | None] = {s.saved_by: self._display_name(connection, s.saved_by)
                                            for s in solutions.values() if s.saved_by}
        return Rows(solutions, passages, names)

    @staticmethod
    def _in(connection: sqlite3.Connection, table: str, columns: str, key: str,
            values: builtins.list) -> builtins.list[tuple]:
        out: builtins.list[tuple] = []
        for i in range(0, len(values), _CHUNK):
            part = values[i:i + _CHUNK]
            out += connection.execute(f"SELECT {columns} FROM {table} WHERE {key} IN ({', '.join('?' * len(part))})",
                                      part).fetchall()
        return out

    @staticmethod
    def _display_name(connection: sqlite3.Connection, saved_by: str) -> str:
        """``slack:U123`` -> the member's name when known, else the id as stored (as knowledge_base's)."""
        platform, _, user_id = saved_by.partition(":")
        row = connection.execute("SELECT name FROM member WHERE platform = ? AND user_id = ? LIMIT 1",
                                 (platform, user_id)).fetchone()
        return row[0] if row is not None and row[0] else saved_by

    def all_challenges(self) -> builtins.list[tuple[str, str]]:
        with self._read() as connection:
            return [(name, text) for name, text in connection.execute(
                "SELECT city.name, challenge.text FROM city JOIN challenge ON challenge.city_id = city.id "
                "ORDER BY city.name, challenge.position")]

    def city_of(self, platform: str, user_id: str) -> str | None:
        with self._read() as connection:
            row = connection.execute(
                "SELECT city.name FROM member JOIN city ON city.id = member.city_id "
                "WHERE member.platform = ? AND member.user_id = ? LIMIT 1", (platform, user_id)).fetchone()
        return row[0] if row is not None else None

    def is_city(self, name: str) -> bool:
        """Whether ``name`` (case and accents ignored) is a city of the network (as the directory's)."""
        with self._read() as connection:
            return connection.execute("SELECT 1 FROM city WHERE key = ? LIMIT 1", (fold(name),)).fetchone() \
                is not None


class ReadOnlySearch(Search):
    """:class:`~bot.services.asking.Search` that never writes the database or the index: a saved index that does
    not match the database raises :class:`Unavailable` instead of being rebuilt."""

    reader: SqliteReader

    def _stale_index(self, exc: IndexError_) -> None:
        raise Unavailable(str(exc))

    def _save(self, searcher: Searcher) -> None:  # a new index (empty knowledge base) or one caught up
        raise Unavailable("the index would be saved")

    def is_city(self, name: str) -> bool:
        return self.reader.is_city(name)

    def close(self) -> None:
        self.reader.connection.close()


@contextmanager
def open_read_only(settings: Settings, *,
                   embedder_factory: EmbedderFactory = default_embedder_factory) -> Iterator[ReadOnlySearch]:
    """A read-only search of the default SQLite database, or :class:`Unavailable` (see the module's docstring)."""
    if settings.database.url:
        raise Unavailable("not the default SQLite database")
    path = settings.data_dir / "rrr.db"
    if not path.is_file():
        raise Unavailable("no database yet")
    try:
        connection = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=30,
                                     isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise Unavailable(f"cannot open {path} read-only: {exc}") from None
    search = ReadOnlySearch(SqliteReader(connection), settings.knowledge, settings.index_dir, embedder_factory)
    try:
        try:
            found = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.Error as exc:
            raise Unavailable(f"no schema revision: {exc}") from None
        if found is None or found[0] != HEAD_REVISION:
            raise Unavailable(f"schema revision {found[0] if found else None}, not {HEAD_REVISION}")
        try:
            yield search
        except sqlite3.Error as exc:
            raise Unavailable(f"reading {path}: {exc}") from None
    finally:
        search.close()
