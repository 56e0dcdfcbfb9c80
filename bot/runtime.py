"""Wiring: build the database, the use cases and the :class:`~bot.core.Bot` from :class:`~bot.config.Settings`.

The database, the directory and the knowledge base are opened at once; the outbox, introductions, sessions and the
:class:`~bot.core.Bot` are built on first use, so a command that only asks (``rrr-bot ask``) does not import them.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from knowledge import InvalidRecords, read_cities, read_solutions
from knowledge.corpus import CITIES_FILE, SOLUTION_PATHS

from .config import Settings
from .platforms import Platforms
from .services.directory import Directory
from .services.knowledge_base import EmbedderFactory, ImportSummary, KnowledgeBase, default_embedder_factory
from .store import Database

if TYPE_CHECKING:
    from .core import Bot
    from .services.intros import Introductions
    from .services.outbox import StoredOutbox
    from .sessions.service import Sessions

log = logging.getLogger(__name__)


class Runtime:
    """Everything a command or an adapter needs, built once from the settings and closed at the end."""

    def __init__(self, settings: Settings, db: Database, directory: Directory, knowledge: KnowledgeBase) -> None:
        self.settings = settings
        self.db = db
        self.directory = directory
        self.knowledge = knowledge
        self.platforms = Platforms(settings.platforms)
        """The chat platforms this runtime knows (from the settings; a running adapter adds its own)."""
        self._lock = threading.RLock()
        self._outbox: StoredOutbox | None = None
        self._intros: Introductions | None = None
        self._sessions: Sessions | None = None
        self._bot: Bot | None = None

    @classmethod
    def open(cls, settings: Settings, *, embedder_factory: EmbedderFactory = default_embedder_factory,
             migrate: bool = True) -> Runtime:
        """Open the database (applying migrations unless ``migrate`` is false) and build the services."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.database_url, echo=settings.database.echo)
        if migrate:
            db.upgrade()
        directory = Directory(db, settings.bot.coordinators)
        knowledge = KnowledgeBase(db, settings.knowledge, settings.index_dir, embedder_factory)
        return cls(settings, db, directory, knowledge)

    @property
    def outbox(self) -> StoredOutbox:
        """The stored outbox of messages waiting for delivery."""
        with self._lock:
            if self._outbox is None:
                from .services.outbox import StoredOutbox

                self._outbox = StoredOutbox(self.db)
            return self._outbox

    @property
    def intros(self) -> Introductions:
        """Introductions between cities that share challenges."""
        with self._lock:
            if self._intros is None:
                from .services.intros import Introductions

                self._intros = Introductions(self.directory, self.knowledge, self.settings.intros, self.outbox,
                                             self.platforms)
            return self._intros

    @property
    def sessions(self) -> Sessions:
        """Peer sessions and their reminders."""
        with self._lock:
            if self._sessions is None:
                from .sessions.service import Sessions

                self._sessions = Sessions(self.db, self.outbox, self.settings.sessions.reminders)
            return self._sessions

    @property
    def bot(self) -> Bot:
        """The platform-neutral bot over this runtime's services."""
        with self._lock:
            if self._bot is None:
                from .batching import Batcher
                from .core import Bot, features
                from .guards import RateLimiter
                from .metrics import Metrics

                metrics = Metrics()
                metrics.read_backlog_with(self.outbox.backlog)
                settings = self.settings.bot
                questions = Batcher(self.knowledge.queries, max_batch=settings.question_batch,
                                    max_wait=settings.question_wait_ms / 1000, capacity=settings.question_queue,
                                    name="question-embedder") if settings.question_batch > 1 else None
                self._bot = Bot(features(self.directory, self.knowledge, self.intros, self.sessions,
                                         name=settings.name),
                                name=settings.name, network_channels=settings.network_channels, metrics=metrics,
                                platforms=self.platforms, questions=questions,
                                limiter=RateLimiter(settings.rate_limit, settings.rate_window))
            return self._bot

    def scheduler(self):
        """The scheduler of this runtime's database (``await runtime.scheduler().run()``)."""
        from .scheduling import Scheduler

        return Scheduler(self.db, self.sessions, self.intros, self.settings.sessions, self.settings.intros,
                         metrics=self.bot.metrics, insights=self.bot.insights)

    def seed(self, progress=None) -> tuple[tuple[int, int], ImportSummary]:
        """Load the bundled RRR cities and solutions (idempotent: unchanged records are skipped)."""
        cities = read_cities(CITIES_FILE)
        solutions = read_solutions(SOLUTION_PATHS)
        problems = cities.problems + solutions.problems
        if problems:  # the bundled corpus is tested; this guards against a broken install
            raise InvalidRecords(problems)
        counts = self.directory.import_cities(cities.records)
        return counts, self.knowledge.import_records(solutions.records, progress=progress)

    def is_empty(self) -> bool:
        return not self.directory.city_names() and self.knowledge.is_empty()

    def close(self) -> None:
        if self._bot is not None:
            self._bot.close()
        self.db.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
