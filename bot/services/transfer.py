"""Move a whole network between databases (SQLite <-> PostgreSQL) and versions: one JSON Lines file.

The first line is a header (format, version, schema revision, time, row counts); each following line is one row:
``{"table": NAME, "row": {column: value}}``, tables in foreign-key order, ids kept. Dates and times are ISO 8601
strings. What can be rebuilt is left out: the vector index (rebuilt from the passages on the next start) and the
receipts of platform events (kept two days only). The scheduler's job table is not ours and is rebuilt by it.

Import goes into an empty database in one transaction: all or nothing. A file from an older schema imports (the
columns it lacks take their defaults); a file from a newer one is refused with its revision named.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import IO, Any

from sqlalchemy import DateTime, Date, Integer, Table, func, insert, select, text
from sqlmodel import SQLModel

from ..errors import InvalidInput
from ..store import Database
from ..store.db import HEAD_REVISION

FORMAT = "rrr-bot-export"
VERSION = 1
SKIPPED = {"receipt"}
BATCH = 500


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
    """Write every row to ``path`` (``.gz`` compresses); the file appears whole or not at all."""
    summary = TransferSummary()
    tmp = path.with_name(path.name + ".tmp")
    try:
        with db.engine.connect() as conn, _open(tmp, "wt", gz=path.suffix == ".gz") as out:
            counts = {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in tables()}
            out.write(json.dumps({"format": FORMAT, "version": VERSION, "schema": HEAD_REVISION,
                                  "exported_at": datetime.now(timezone.utc).isoformat(), "tables": counts}) + "\n")
            for table in tables():
                order = [c for c in table.primary_key.columns]
                written = 0
                for row in conn.execute(select(table).order_by(*order)).mappings():
                    out.write(json.dumps({"table": table.name, "row": {k: _plain(v) for k, v in row.items()}},
                                         ensure_ascii=False) + "\n")
                    written += 1
                summary.tables[table.name] = written
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return summary


def import_network(db: Database, path: Path, progress: Callable[[int, int], None] | None = None) -> TransferSummary:
    """Load an export into this (empty) database in one transaction; PostgreSQL id sequences are moved past it."""
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file.")
    header, rows = _read(path)
    schema = str(header.get("schema", ""))
    if header.get("format") != FORMAT or not isinstance(header.get("version"), int):
        raise InvalidInput(f"{path} is not an rrr-bot export (its first line is not the export header).")
    if header["version"] > VERSION or schema > HEAD_REVISION:
        raise InvalidInput(f"{path} was written by a newer rrr-bot (export format {header['version']}, schema "
                           f"{schema}); this one reads format {VERSION} up to schema {HEAD_REVISION}. Upgrade first.")
    known = {t.name: t for t in tables()}
    total = sum(int(v) for v in header.get("tables", {}).values())
    summary = TransferSummary()
    with db.engine.begin() as conn:
        busy = [name for name, t in known.items() if conn.execute(select(func.count()).select_from(t)).scalar_one()]
        if busy:
            raise InvalidInput(f"The database is not empty ({', '.join(busy)} hold rows); import into a new one "
                               "(a new RRR_DATA_DIR or [database] url).")
        batch: list[dict[str, Any]] = []
        current: Table | None = None
        for number, (name, row) in enumerate(rows, start=2):
            table = known.get(name)
            if table is None:
                if name in SKIPPED:
                    continue
                raise InvalidInput(f"{path}, line {number}: unknown table '{name}'.")
            if current is not None and table is not current and batch:
                conn.execute(insert(current), batch)
                batch = []
            current = table
            unknown = set(row) - set(table.columns.keys())
            if unknown:
                raise InvalidInput(f"{path}, line {number}: {name} has no column {', '.join(sorted(unknown))}.")
            batch.append({k: _typed(table, k, v, path, number) for k, v in row.items()})
            summary.tables[name] = summary.tables.get(name, 0) + 1
            if len(batch) >= BATCH:
                conn.execute(insert(table), batch)
                batch = []
            if progress is not None and summary.rows % BATCH == 0:
                progress(summary.rows, total)
        if batch and current is not None:
            conn.execute(insert(current), batch)
        expected = {k: int(v) for k, v in header.get("tables", {}).items() if k in known}
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


def _read(path: Path) -> tuple[dict[str, Any], Iterator[tuple[str, dict[str, Any]]]]:
    handle = _open(path, "rt")
    try:
        first = handle.readline()
        header = json.loads(first) if first.strip() else {}
    except (UnicodeDecodeError, json.JSONDecodeError, OSError, EOFError) as exc:
        handle.close()
        raise InvalidInput(f"{path} is not an rrr-bot export: {exc}") from None
    if not isinstance(header, dict):
        handle.close()
        raise InvalidInput(f"{path} is not an rrr-bot export (its first line is not the export header).")

    def rows() -> Iterator[tuple[str, dict[str, Any]]]:
        with handle:
            for number, line in enumerate(handle, start=2):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                    yield str(item["table"]), dict(item["row"])
                except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                    raise InvalidInput(f"{path}, line {number}: not a row of an rrr-bot export.") from None
    return header, rows()


def _open(path: Path, mode: str, *, gz: bool | None = None) -> IO[str]:
    if path.suffix == ".gz" if gz is None else gz:
        return gzip.open(path, mode, encoding="utf-8")  # type: ignore[return-value]
    return open(path, mode, encoding="utf-8")


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def _typed(table: Table, name: str, value: Any, path: Path, number: int) -> Any:
    """JSON value -> the column's Python type (times and dates come back from ISO strings)."""
    if value is None:
        return None
    column_type = table.columns[name].type
    impl = getattr(column_type, "impl", column_type)
    try:
        if isinstance(impl, DateTime):
            moment = datetime.fromisoformat(value)
            if getattr(impl, "timezone", False) and moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
            return moment
        if isinstance(impl, Date):
            return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{path}, line {number}: {table.name}.{name} is not a valid date or time: {value!r}."
                           ) from None
    return value
