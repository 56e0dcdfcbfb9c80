"""Typed query helpers: SQLModel types a primary key ``int | None`` (None until a new row is flushed) and types
``select`` for at most four columns; these say what a query reads instead of silencing the type checker."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar, cast

from sqlalchemy.orm import Mapped
from sqlmodel import col, select
from sqlmodel.sql.expression import Select

_T = TypeVar("_T")


class Stored(Protocol):
    """A table row with an integer primary key."""

    @property
    def id(self) -> int | None: ...


def id_of(row: Stored) -> int:
    """A stored row's primary key (a row read back or flushed always has one)."""
    if row.id is None:
        raise ValueError(f"this {type(row).__name__} is not stored yet: it has no id")
    return row.id


def not_null(column: _T | None) -> Mapped[_T]:
    """A nullable column typed without None, for a query whose rows cannot hold NULL there (a primary key, or a
    column the query filters with ``.is_not(None)``)."""
    return cast("Mapped[_T]", col(column))


def pk(column: int | None) -> Mapped[int]:
    """A primary key column as stored rows have it: ``select(pk(Passage.id))`` yields ``int``, not ``int | None``."""
    return not_null(column)


def select_wide(*columns: Any) -> Select[*tuple[Any, ...]]:
    """``select`` of five or more columns: SQLModel's typed overloads stop at four, so these rows are ``Any``."""
    return select(*columns)
