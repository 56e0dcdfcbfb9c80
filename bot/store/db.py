"""Database engine, sessions and schema migrations (Alembic, applied on start)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlmodel import Session

from ..errors import StorageError
from ..rows import HEAD_REVISION

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"


class Database:
    """One database (SQLite file or PostgreSQL), its sessions and its migrations."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine = _create_engine(url, echo)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed on success and rolled back on error."""
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def ping(self) -> None:
        """Raise :class:`StorageError` when the database does not answer a trivial query."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise StorageError(f"the database does not answer: {exc.__class__.__name__}") from exc

    def upgrade(self) -> None:
        """Apply every pending migration (nothing to do, and no Alembic import, when already at the head)."""
        if self._stored_revision() == HEAD_REVISION:
            return
        from alembic import command

        try:
            with self.engine.begin() as connection:
                config = _alembic_config()
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot migrate the database at {self.safe_url}: {_reason(exc, self.url)}") from None

    def revision(self) -> tuple[str | None, str]:
        """The schema revision of the database and the newest one this code knows."""
        from alembic.script import ScriptDirectory

        head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
        return self._stored_revision(), head or ""

    def _stored_revision(self) -> str | None:
        try:
            with self.engine.connect() as connection:
                if not inspect(connection).has_table("alembic_version"):
                    return None
                return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot open the database at {self.safe_url}: {_reason(exc, self.url)}") from None

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden."""
        return safe_url(self.url)

    def close(self) -> None:
        self.engine.dispose()


def _alembic_config():
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def safe_url(url: str) -> str:
    """``url`` with its password replaced by ``***``, even when it cannot be parsed (a bad port, an unescaped
    ``@`` in the password): everything between ``user:`` and the last ``@`` is hidden."""
    try:
        url = make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError, TypeError):
        pass
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    userinfo, _, host = rest.rpartition("@")
    user, colon, _ = userinfo.partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{host}"


def _scrub(text: str, url: str) -> str:
    """``text`` (an error message) without the password of ``url`` in it."""
    _, sep, rest = url.partition("://")
    userinfo = rest.rpartition("@")[0] if sep else ""
    password = userinfo.partition(":")[2]
    for secret in {password, unquote(password)} - {""}:
        text = text.replace(secret, "***")
    return text


def _create_engine(url: str, echo: bool) -> Engine:
    if "@" in url.partition("://")[2].rpartition("@")[0]:  # read as part of the host: it would show in errors
        raise StorageError(f"bad database URL {safe_url(url)!r}: the user name or password holds an unescaped "
                           "'@'; write it as %40")
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError, TypeError):
        raise StorageError(f"bad database URL {safe_url(url)!r}: expected e.g. sqlite:///path/rrr.db or "
                           "postgresql+psycopg://user:password@host:5432/dbname") from None
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(parsed, echo=echo, connect_args={"timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(parsed, echo=echo, pool_pre_ping=True)
    except ImportError as exc:
        raise StorageError(f"the database driver for {parsed.render_as_string(hide_password=True)} is not "
                           f"installed ({exc.name or exc}); SQLite and PostgreSQL (psycopg) are supported") from None
    except (NoSuchModuleError, ArgumentError, ValueError, TypeError) as exc:
        raise StorageError(f"unsupported database URL {safe_url(url)}: {_scrub(str(exc), url)}") from None
    except OSError as exc:
        raise StorageError(f"cannot create the database directory for {safe_url(url)}: {exc.strerror}") from None
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _reason(exc: SQLAlchemyError, url: str = "") -> str:
    lines = str(getattr(exc, "orig", exc)).strip().splitlines()
    return _scrub(lines[0] if lines else type(exc).__name__, url)
