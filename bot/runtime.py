"""Wiring: build the database, the use cases and the :class:`~bot.core.Bot` from :class:`~bot.config.Settings`."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from knowledge import InvalidRecords, read_cities, read_solutions
from knowledge.corpus import CITIES_FILE, SOLUTION_PATHS

from .config import Settings
from .core import Bot
from .metrics import Metrics
from .guards import RateLimiter
from .services import Directory, ImportSummary, Introductions, KnowledgeBase, Sessions, StoredOutbox
from .services.knowledge_base import EmbedderFactory, default_embedder_factory
from .store import Database

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Everything a command or an adapter needs, built once from the settings and closed at the end."""

    settings: Settings
    db: Database
    directory: Directory
    knowledge: KnowledgeBase
    intros: Introductions
    outbox: StoredOutbox
    sessions: Sessions
    bot: Bot

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
        outbox = StoredOutbox(db)
        intros = Introductions(directory, knowledge, settings.intros, outbox)
        sessions = Sessions(db, outbox, settings.sessions.reminders)
        metrics = Metrics()
        metrics.read_backlog_with(outbox.backlog)
        bot = Bot(directory, knowledge, intros, sessions, name=settings.bot.name,
                  network_channels=settings.bot.network_channels, metrics=metrics,
                  limiter=RateLimiter(settings.bot.rate_limit, settings.bot.rate_window))
        return cls(settings, db, directory, knowledge, intros, outbox, sessions, bot)

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
        self.db.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
