"""Move a whole network between databases (SQLite <-> PostgreSQL) and versions: one JSON Lines file.

The first line is a header (format, version, schema revision, time, row counts); each following line is one row:
``{"table": NAME, "row": {column: value}}``, tables in foreign-key order, ids kept. Dates and times are ISO 8601
strings. What can be rebuilt is left out: the vector index (rebuilt from the passages on the next start) and the
receipts of platform events (kept two days only). The scheduler's job table is not ours and is rebuilt by it.

Documents keep their passages (page, heading path, character span) and content hashes, so the index is rebuilt from
them and importing the same file again embeds nothing; saved answers waiting for review stay pending, and each
solution's history (``solution_change``) moves with it. Ids are kept; new rows get ids past the imported ones (SQLite
moves its AUTOINCREMENT sequence itself on an explicit id, PostgreSQL's sequences are set after the load).

Import goes into an empty database in one transaction: all or nothing. A file from an older schema imports (the
columns it lacks take their defaults); a file from a newer one is refused with its revision named. Every row is
checked before the database sees it (types, column lengths, NUL characters, unique keys, references to rows earlier
in the file), so a bad row is reported as one line naming the file, the line and the table, never with its data.

The export holds personal data (members, their questions, feedback and RSVPs): it is written with mode 0600.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any

from sqlalchemy import (JSON, BigInteger, Boolean, Date, DateTime, Float, Integer, String, Table, UniqueConstraint,
                        func, insert, select, text)
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import SQLModel

from ..errors import InvalidInput
from ..store import Database
from ..store.db import HEAD_REVISION
from .safe_files import PRIVATE, atomic_write

FORMAT = "rrr-bot-export"
VERSION = 1
SKIPPED = frozenset({"receipt"})
BATCH = 500
#: The longest line read from an export (a row with a long document is far shorter); a longer one is refused.
MAX_LINE = 64 * 1024 * 1024
#: PostgreSQL's bigint and integer.
_INT_RANGES = MappingProxyType({BigInteger: (-2**63, 2**63 - 1), Integer: (-2**31, 2**31 - 1)})


@dataclass
class TransferSummary:
    """Rows per table, written or read."""

    tables: dict[str, int] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


def tables() -> list[Table]:
    """Our tables in foreign-key order (parents first), without the ones rebuilt on their own."""
    return [t for t in SQLModel.metadata.sorted_tables if t.name not in SKIPPED]


def export_network(db: Database, path: Path) -> TransferSummary:
    """Write every row to ``path`` (``.gz`` compresses), mode 0600; the file appears whole or not at all.

    :class:`InvalidInput` when ``path`` exists and is not a regular file (it is never replaced).
    """
    summary = TransferSummary()
    with atomic_write(path, mode=PRIVATE) as raw, db.engine.connect() as conn, _writer(raw, path) as write:
        counts = {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in tables()}
        write(json.dumps({"format": FORMAT, "version": VERSION, "schema": HEAD_REVISION,
                          "exported_at": datetime.now(timezone.utc).isoformat(), "tables": counts}) + "\n")
        for table in tables():
            order = [c for c in table.primary_key.columns]
            written = 0
            for row in conn.execute(select(table).order_by(*order)).mappings():
                write(json.dumps({"table": table.name, "row": {k: _plain(v) for k, v in row.items()}},
                                 ensure_ascii=False) + "\n")
                written += 1
            summary.tables[table.name] = written
    return summary


@contextmanager
def _writer(raw: IO[bytes], path: Path) -> Iterator[Callable[[str], object]]:
    """A function writing UTF-8 text to ``raw``, gzip-compressed for a ``.gz`` name (``raw`` stays open)."""
    if path.suffix != ".gz":
        yield lambda line: raw.write(line.encode("utf-8"))
        return
    with gzip.GzipFile(filename=path.name, mode="wb", fileobj=raw) as packed:  # closing it leaves ``raw`` open
        yield lambda line: packed.write(line.encode("utf-8"))


def import_network(db: Database, path: Path, progress: Callable[[int, int], None] | None = None) -> TransferSummary:
    """Load an export into this (empty) database in one transaction; PostgreSQL id sequences are moved past it."""
    header, rows = _read(path)
    schema = str(header.get("schema", ""))
    counts = header.get("tables", {})
    if (header.get("format") != FORMAT or not isinstance(header.get("version"), int) or not isinstance(counts, dict)
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in counts.values())):
        raise InvalidInput(f"{path} is not an rrr-bot export (its first line is not the export header).")
    if header["version"] > VERSION or schema > HEAD_REVISION:
        raise InvalidInput(f"{path} was written by a newer rrr-bot (export format {header['version']}, schema "
                           f"{schema}); this one reads format {VERSION} up to schema {HEAD_REVISION}. Upgrade first.")
    known = {t.name: t for t in tables()}
    total = sum(counts.values())
    summary = TransferSummary()
    checker = _RowChecker(path, known.values())
    with db.engine.begin() as conn:
        busy = [name for name, t in known.items() if conn.execute(select(func.count()).select_from(t)).scalar_one()]
        if busy:
            raise InvalidInput(f"The database is not empty ({', '.join(busy)} hold rows); import into a new one "
                               "(a new RRR_DATA_DIR or [database] url).")
        batch: list[tuple[int, dict[str, Any]]] = []
        current: Table | None = None
        refs: list[dict[str, Any]] = []  # an export before schema 0009: sessions' Discord events, as external refs
        for number, name, row in rows:
            if name == "peer_session" and "discord_event_id" in row and schema < "0009":
                refs += _discord_event_ref(row.pop("discord_event_id"), row.get("id"))
            table = known.get(name)
            if table is None:
                if name in SKIPPED:
                    continue
                raise InvalidInput(f"{path}, line {number}: unknown table '{name}'.")
            if current is not None and table is not current and batch:
                _insert(conn, current, batch, path)
                batch = []
            current = table
            batch.append((number, checker.check(table, row, number)))
            summary.tables[name] = summary.tables.get(name, 0) + 1
            if len(batch) >= BATCH:
                _insert(conn, table, batch, path)
                batch = []
            if progress is not None and summary.rows % BATCH == 0:
                progress(summary.rows, total)
        if batch and current is not None:
            _insert(conn, current, batch, path)
        if refs:
            _insert(conn, known["external_ref"], list(enumerate(refs, start=1)), path)
        expected = {k: v for k, v in counts.items() if k in known}
        short = {k: (summary.tables.get(k, 0), v) for k, v in expected.items() if summary.tables.get(k, 0) != v}
        if short:
            name, (got, want) = next(iter(short.items()))
            raise InvalidInput(f"{path} is incomplete: {name} has {got} rows, its header says {want}. Nothing was "
                               "imported.")
        if db.dialect == "postgresql":
            for table in known.values():
                pk = list(table.primary_key.columns)
                if len(pk) == 1 and isinstance(pk[0].type, Integer) and summary.tables.get(table.name):
                    conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', '{pk[0].name}'), "
                                      f"(SELECT max({pk[0].name}) FROM {table.name}))"))
    if progress is not None:
        progress(summary.rows, total)
    return summary


def _discord_event_ref(event_id: object, session_id: object) -> list[dict[str, Any]]:
    """The external reference (migration 0009) of a session's Discord event from an older export's column."""
    if not event_id or not isinstance(event_id, str) or not isinstance(session_id, int):
        return []
    return [{"platform": "discord", "kind": "session-event", "local_id": str(session_id),
             "external_id": event_id[:200]}]


def _insert(conn: Any, table: Table, batch: list[tuple[int, dict[str, Any]]], path: Path) -> None:
    """Insert checked rows; should the database still refuse one, say where, without the rows' data."""
    try:
        conn.execute(insert(table), [values for _, values in batch])
    except SQLAlchemyError as exc:
        first, last = batch[0][0], batch[-1][0]
        where = f"line {first}" if first == last else f"lines {first}-{last}"
        reason = type(getattr(exc, "orig", None) or exc).__name__
        raise InvalidInput(f"{path}, {where}: the database refused a {table.name} row ({reason}). Nothing was "
                           "imported.") from None


class _RowChecker:
    """Checks each row before the database sees it: known columns, types, lengths, no NUL, unique keys, and
    references to rows earlier in the file (the tables come parents first). Errors name the file, the line, the
    table and the column, never the values."""

    def __init__(self, path: Path, known: Iterable[Table]) -> None:
        self.path = path
        self.unique: dict[str, list[tuple[str, ...]]] = {}
        self.refs: dict[str, list[tuple[str, str, str]]] = {}
        self.seen: dict[tuple[str, tuple[str, ...]], set[tuple[Any, ...]]] = {}
        for table in known:
            keys = [tuple(c.name for c in table.primary_key.columns)]
            keys += [tuple(c.name for c in u.columns) for u in table.constraints if isinstance(u, UniqueConstraint)]
            keys += [tuple(c.name for c in i.columns) for i in table.indexes if i.unique]
            keys += [(c.name,) for c in table.columns if c.unique]
            self.unique[table.name] = list(dict.fromkeys(k for k in keys if k))
            self.refs[table.name] = [(c.name, fk.column.table.name, fk.column.name)
                                     for c in table.columns for fk in c.foreign_keys]
        for refs in self.refs.values():
            for _, parent, column in refs:
                self.unique.setdefault(parent, [])
                if (column,) not in self.unique[parent]:
                    self.unique[parent].append((column,))

    def check(self, table: Table, row: dict[str, Any], number: int) -> dict[str, Any]:
        """The row with its values in the columns' Python types; :class:`InvalidInput` when it cannot go in."""
        where = f"{self.path}, line {number}: {table.name}"
        unknown = set(row) - set(table.columns.keys())
        if unknown:
            raise InvalidInput(f"{where} has no column {', '.join(sorted(unknown))}.")
        values = {name: _typed(table, name, value, where) for name, value in row.items()}
        for name, value in values.items():
            if value is None and not table.columns[name].nullable:
                raise InvalidInput(f"{where}.{name} must have a value.")
        for column, parent, parent_column in self.refs[table.name]:
            value = values.get(column)
            if value is not None and (value,) not in self.seen.get((parent, (parent_column,)), ()):
                raise InvalidInput(f"{where}.{column} refers to a {parent} row that is not in the file before this "
                                   "line.")
        for columns in self.unique[table.name]:
            if not set(columns) <= values.keys():
                continue
            key = tuple(values[c] for c in columns)
            if any(v is None for v in key):
                continue
            seen = self.seen.setdefault((table.name, columns), set())
            if key in seen:
                raise InvalidInput(f"{where} repeats the {', '.join(columns)} of an earlier {table.name} row.")
            seen.add(key)
        return values


def _read(path: Path) -> tuple[dict[str, Any], Iterator[tuple[int, str, dict[str, Any]]]]:
    """The header, and ``(line number, table, row)`` for each following line; only a regular file is read."""
    raw = _open_export(path)
    handle = io.TextIOWrapper(gzip.GzipFile(fileobj=raw, mode="rb") if path.suffix == ".gz" else raw,
                              encoding="utf-8")

    def close() -> None:
        handle.close()
        raw.close()  # a GzipFile leaves the file it was given open

    lines = _lines(handle, path)
    try:
        first = next(lines, (1, ""))[1]
        header = json.loads(first) if first.strip() else {}
    except (json.JSONDecodeError, InvalidInput):
        close()
        raise InvalidInput(f"{path} is not an rrr-bot export (its first line is not the export header).") from None
    if not isinstance(header, dict):
        close()
        raise InvalidInput(f"{path} is not an rrr-bot export (its first line is not the export header).")

    def rows() -> Iterator[tuple[int, str, dict[str, Any]]]:
        try:
            for number, line in lines:
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                    table, row = item["table"], item["row"]
                    if not isinstance(table, str) or not isinstance(row, dict):
                        raise TypeError
                except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                    raise InvalidInput(f"{path}, line {number}: not a row of an rrr-bot export.") from None
                yield number, table, row
        finally:
            close()
    return header, rows()


def _open_export(path: Path) -> IO[bytes]:
    """``path`` opened for reading; :class:`InvalidInput` unless it is a regular file (a device or a pipe would
    never end)."""
    try:
        # O_NONBLOCK: a named pipe must not hang the open; it changes nothing for a regular file
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file.") from None
    except OSError as exc:
        raise InvalidInput(f"{path} cannot be read: {exc.strerror or exc}.") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file (a device, pipe or socket)"
        raise InvalidInput(f"{path} is {kind}; give an export file.")
    return open(fd, "rb")  # noqa: SIM115 - the caller closes it


def _lines(handle: IO[str], path: Path) -> Iterator[tuple[int, str]]:
    """Numbered lines, each at most ``MAX_LINE`` characters; a file that cannot be read is one clear error."""
    number = 0
    while True:
        number += 1
        try:
            line = handle.readline(MAX_LINE + 1)
        except UnicodeDecodeError:
            raise InvalidInput(f"{path}, line {number}: not UTF-8 text.") from None
        except (OSError, EOFError) as exc:
            raise InvalidInput(f"{path}, line {number}: cannot be read ({type(exc).__name__}: damaged or "
                               "truncated file).") from None
        if not line:
            return
        if len(line) > MAX_LINE:
            raise InvalidInput(f"{path}, line {number}: longer than {MAX_LINE // (1024 * 1024)} MB; not an rrr-bot "
                               "export.")
        yield number, line


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def _typed(table: Table, name: str, value: Any, where: str) -> Any:
    """JSON value -> the column's Python type (times and dates come back from ISO strings), checked against the
    column: its type, its length, and no NUL character (PostgreSQL cannot store one)."""
    if value is None:
        return None
    column = table.columns[name]
    impl = getattr(column.type, "impl", column.type)
    what = f"{where}.{name}"
    if isinstance(impl, JSON):
        if _has_nul(value):
            raise InvalidInput(f"{what} contains a NUL character.")
        return value
    if isinstance(impl, Boolean):
        if not isinstance(value, bool):
            raise InvalidInput(f"{what} must be true or false, not {_json_type(value)}.")
        return value
    if isinstance(impl, Integer):
        low, high = next(r for kind, r in _INT_RANGES.items() if isinstance(impl, kind))
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidInput(f"{what} must be a whole number, not {_json_type(value)}.")
        if not low <= value <= high:
            raise InvalidInput(f"{what} is out of range ({low} to {high}).")
        return value
    if isinstance(impl, Float):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise InvalidInput(f"{what} must be a number, not {_json_type(value)}.")
        return value
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be text, not {_json_type(value)}.")
    if "\x00" in value:
        raise InvalidInput(f"{what} contains a NUL character.")
    try:
        if isinstance(impl, DateTime):
            moment = datetime.fromisoformat(value)
            if getattr(impl, "timezone", False) and moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
            elif not getattr(impl, "timezone", False) and moment.tzinfo is not None:
                raise ValueError("a local time has no UTC offset")
            return moment
        if isinstance(impl, Date):
            return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{what} is not a valid date or time.") from None
    length = getattr(impl, "length", None) if isinstance(impl, String) else None
    if length is not None and len(value) > length:
        raise InvalidInput(f"{what} is longer than its column ({len(value)} characters, at most {length}).")
    return value


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _json_type(value: Any) -> str:
    return {bool: "true/false", int: "a number", float: "a number", str: "text", list: "a list",
            dict: "an object"}.get(type(value), type(value).__name__)
