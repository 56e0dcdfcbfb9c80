"""Read knowledge files: JSON Lines, CSV (same columns), Markdown with a YAML front-matter header, and documents
(PDF, Word, HTML: see :mod:`knowledge.documents`).

Readers never stop at the first bad line: they return every valid record and a :class:`Problem` for each bad one,
so the caller can refuse the whole import (the default) or skip the bad lines (``--skip-invalid``).
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Generic, TypeVar

import yaml

from .documents import DOCUMENT_SUFFIXES, Document, DocumentMeta, read_document
from .errors import Problem
from .records import CityRecord, SolutionRecord, city_from_mapping, solution_from_mapping
from .text import summary_of

R = TypeVar("R")
SUFFIXES = MappingProxyType({".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv",
                             ".md": "markdown", ".markdown": "markdown",
                             **dict.fromkeys(DOCUMENT_SUFFIXES, "document")})
UNKNOWN_TYPE = "use .pdf, .docx, .html, .md, .jsonl or .csv (save the file in one of those formats)"


@dataclass
class Loaded(Generic[R]):
    """Valid records in file order, and the problems met on the way."""

    records: list[R] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files named directly, and the importable files inside named folders (sorted)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES
                            and p.name.lower() != "readme.md")
        else:
            found.append(path)
    return found


def read_solutions(paths: Iterable[str | Path], *, documents: DocumentMeta | None = None,
                   max_bytes: int | None = None, passage_words: int = 180) -> Loaded[SolutionRecord | Document]:
    """Read solution records (and documents, described by ``documents``) from files or folders; the same id twice
    is a problem. A file larger than ``max_bytes`` (default :data:`MAX_FILE_BYTES`) is refused unread."""
    loaded: Loaded[SolutionRecord | Document] = Loaded()
    seen: dict[str, str] = {}
    limit = max_bytes or MAX_FILE_BYTES
    readers = {"jsonl": _jsonl_rows, "csv": _csv_rows, "markdown": _markdown_rows}
    files = expand_paths(paths)
    meta = documents or DocumentMeta()
    several = sum(SUFFIXES.get(p.suffix.lower()) == "document" for p in files) > 1
    for path in files:
        kind = SUFFIXES.get(path.suffix.lower())
        if kind is None:
            loaded.problems.append(Problem(str(path), None, f"unknown file type {path.suffix or '(none)'!r}; "
                                           f"{UNKNOWN_TYPE}"))
            continue
        if kind == "document":
            if several and (meta.title or meta.id) and not sidecar_of(path).is_file():
                loaded.problems.append(Problem(str(path), None, "--title names one document; import the files one "
                                                                "at a time to give each its title"))
                continue
            _collect(loaded, seen, path, _document_rows(path, meta, limit, passage_words), lambda row: row["doc"],
                     lambda r: r.id, lambda r: f"duplicate id {r.id!r} (give the file another name)")
            continue
        _collect(loaded, seen, path, readers[kind](path, limit), solution_from_mapping, lambda r: r.id,
                 lambda r: f"duplicate id {r.id!r}")
    return loaded


def _document_rows(path: Path, meta: DocumentMeta, limit: int, passage_words: int) -> Iterable[Row]:
    data, error = _read_bytes(path, limit)
    if error:
        yield None, {}, error
        return
    assert data is not None
    meta, error = _with_sidecar(path, meta)
    if error:
        yield None, {}, error
        return
    try:
        yield None, {"doc": read_document(path, data, meta, passage_words)}, None
    except ValueError as exc:
        yield None, {}, str(exc)


SIDECAR_KEYS = ("id", "city", "country", "provenance", "source_url", "language", "title", "challenge", "tags", "kind")


def sidecar_of(path: Path) -> Path:
    """Where a document's own metadata may be: ``guide.pdf`` -> ``guide.pdf.yaml``."""
    return path.with_name(path.name + ".yaml")


def _with_sidecar(path: Path, meta: DocumentMeta) -> tuple[DocumentMeta, str | None]:
    """``meta`` with the values of the document's sidecar file, if it has one (they win over the options)."""
    sidecar = sidecar_of(path)
    if not sidecar.is_file():
        return meta, None
    text, error = _read_text(sidecar, 1024 * 1024)
    if error:
        return meta, f"its metadata file {sidecar.name}: {error}"
    try:
        values = yaml.safe_load(text or "") or {}
    except yaml.YAMLError as exc:
        return meta, f"its metadata file {sidecar.name} is not valid YAML ({getattr(exc, 'problem', exc)})"
    if not isinstance(values, dict):
        return meta, f"its metadata file {sidecar.name} must be a mapping of key: value lines"
    unknown = sorted(str(k) for k in values if k not in SIDECAR_KEYS)
    if unknown:
        return meta, f"its metadata file {sidecar.name} has unknown key(s) {', '.join(unknown)}; use " \
                     f"{', '.join(SIDECAR_KEYS)}"
    tags = values.pop("tags", None)
    if tags is not None and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
        return meta, f"its metadata file {sidecar.name}: tags must be a list of strings"
    if any(not isinstance(v, str) for v in values.values()):
        return meta, f"its metadata file {sidecar.name}: values must be text (quote numbers)"
    changes = {k: v.strip() for k, v in values.items()}
    if tags is not None:
        changes["tags"] = tuple(tags)
    return replace(meta, **changes), None


def read_cities(path: str | Path) -> Loaded[CityRecord]:
    """Read a cities JSON Lines file; the same name twice is a problem."""
    loaded: Loaded[CityRecord] = Loaded()
    path = Path(path)
    _collect(loaded, {}, path, _jsonl_rows(path, MAX_FILE_BYTES), city_from_mapping, lambda c: c.name.casefold(),
             lambda c: f"duplicate city {c.name!r}")
    return loaded


def _collect(loaded: Loaded[R], seen: dict[str, str], path: Path, rows: Iterable[Row],
             build: Callable[[dict[str, Any]], R], key: Callable[[R], str], duplicate: Callable[[R], str]) -> None:
    """Validate ``rows`` into ``loaded``; ``seen`` maps keys to where they first appeared (across files)."""
    for line, row, problem in rows:
        if problem:
            loaded.problems.append(Problem(str(path), line, problem))
            continue
        try:
            record = build(row)
        except ValueError as exc:
            loaded.problems.append(Problem(str(path), line, str(exc)))
            continue
        if key(record) in seen:
            loaded.problems.append(Problem(str(path), line, f"{duplicate(record)} (first at {seen[key(record)]})"))
            continue
        seen[key(record)] = f"{path}:{line}" if line else str(path)
        loaded.records.append(record)


Row = tuple[int | None, dict[str, Any], str | None]


#: The largest import file read (the bundled corpus is well under 1 MB); a bigger one is refused, not read.
MAX_FILE_BYTES = 64 * 1024 * 1024


def _read_bytes(path: Path, limit: int) -> tuple[bytes | None, str | None]:
    """The file's bytes, or why it cannot be imported; only a regular file of at most ``limit`` bytes is read
    (a device such as /dev/zero or a pipe would never end)."""
    try:
        # O_NONBLOCK: opening a named pipe must not wait for a writer; it changes nothing for a regular file
        with open(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb", buffering=0) as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                return None, "not a regular file (a device, pipe or socket); give a file"
            data = handle.read(limit + 1)
        if len(data) > limit:
            return None, f"larger than {_megabytes(limit)} (the import limit, [knowledge] max_file_mb); split it " \
                         "into smaller files or raise the limit"
        return data, None
    except FileNotFoundError:
        return None, "file not found"
    except IsADirectoryError:
        return None, "is a directory"
    except OSError as exc:
        return None, f"cannot be read: {exc.strerror}"


def _megabytes(size: int) -> str:
    return f"{round(size / (1024 * 1024), 2):g} MB"


def _read_text(path: Path, limit: int) -> tuple[str | None, str | None]:
    """The file's text (UTF-8), or why it cannot be imported."""
    data, error = _read_bytes(path, limit)
    if error:
        return None, error
    assert data is not None
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 text (bad byte at offset {exc.start}); save the file as UTF-8"


def _jsonl_rows(path: Path, limit: int) -> Iterable[Row]:
    text, error = _read_text(path, limit)
    if error:
        yield None, {}, error
        return
    assert text is not None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, {}, f"not valid JSON ({exc.msg} at column {exc.colno})"
            continue
        yield number, row, None


def _csv_rows(path: Path, limit: int) -> Iterable[Row]:
    text, error = _read_text(path, limit)
    if error:
        yield None, {}, error
        return
    assert text is not None
    reader = csv.DictReader(io.StringIO(text))
    try:
        for row in reader:
            if None in row:
                yield reader.line_num, {}, "more cells than header columns"
                continue
            yield reader.line_num, {k.strip(): v for k, v in row.items() if k and v not in (None, "")}, None
    except csv.Error as exc:
        yield reader.line_num, {}, f"malformed CSV: {exc}"


def _markdown_rows(path: Path, limit: int) -> Iterable[Row]:
    text, error = _read_text(path, limit)
    if error:
        yield None, {}, error
        return
    assert text is not None
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        yield 1, {}, "missing front-matter header: the file must start with a line '---'"
        return
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        yield 1, {}, "front-matter header is not closed by a line '---'"
        return
    try:
        meta = yaml.safe_load("\n".join(lines[1:end])) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        yield (mark.line + 2 if mark else 1), {}, f"front matter is not valid YAML: {getattr(exc, 'problem', exc)}"
        return
    if not isinstance(meta, dict):
        yield 2, {}, "front matter must be a mapping of key: value lines"
        return
    body = "\n".join(lines[end + 1:]).strip()
    meta = {k: (str(v) if isinstance(v, (int, float)) and k != "tags" else v) for k, v in meta.items()}
    meta.setdefault("summary", _first_paragraph(body))
    meta["body"] = body
    yield None, meta, None


def _first_paragraph(body: str) -> str:
    """The default summary: the first paragraph's whole sentences (:func:`~knowledge.text.summary_of`)."""
    for block in body.split("\n\n"):
        block = block.strip()
        if block and not block.startswith("#"):
            return summary_of(block)
    return ""
