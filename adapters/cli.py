"""The ``rrr-bot`` command line (typer + rich). It is the outer ring: it wires settings, core and adapters."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bot.config import load_settings
from bot.errors import BotError, ConfigError
from bot.paging import RESULTS_MAX

from .platforms import PLATFORMS

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.paging import Page
    from bot.runtime import Runtime
    from bot.services.asking import AskResult, Search
    from knowledge.evaluation import EvalQuestion

# Only typer, rich and the settings are imported here: each command imports what it uses (the database, the
# services, the embedder), so `rrr-bot ask` starts without the sessions, insights or chat platforms
# (tests/test_cold_start.py).

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

app = typer.Typer(help="RRR peer-network bot: ask peer cities' past solutions, from the terminal, Slack or Discord.",
                  no_args_is_help=True, add_completion=False, rich_markup_mode=None)
kb_app = typer.Typer(help="Manage the knowledge base of solutions.", no_args_is_help=True)
cities_app = typer.Typer(help="Manage the cities of the network.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
intros_app = typer.Typer(help="Introductions between cities that share challenges.", no_args_is_help=True)
run_app = typer.Typer(help="Run the bot on a chat platform.", no_args_is_help=True)
role_app = typer.Typer(help="Who coordinates the network (the first coordinator is set here).", no_args_is_help=True)
app.add_typer(run_app, name="run")
app.add_typer(role_app, name="role")
app.add_typer(kb_app, name="kb")
app.add_typer(cities_app, name="cities")
app.add_typer(intros_app, name="intros")
app.add_typer(db_app, name="db")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
PageOpt = Annotated[Optional[int], typer.Option("--page", min=1, help="Only page N of the list, with a line saying "
                                               "how to see the next (with --json: the page, the number of pages "
                                               "and the items). Without it, the whole list.")]
SkipOpt = Annotated[bool, typer.Option("--skip-invalid", help="Import the valid records and report the bad ones.")]


@app.callback()
def _main(ctx: typer.Context,
          config: Annotated[Optional[Path], typer.Option("--config", "-c", help="TOML settings file "
                                                         "(default: $RRR_CONFIG).")] = None,
          verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at DEBUG level.")] = False) -> None:
    ctx.obj = {"config": config, "verbose": verbose}


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"error: {message}", markup=False, highlight=False)
    raise typer.Exit(code)


@contextmanager
def runtime(ctx: typer.Context, *, migrate: bool = True, settings: Settings | None = None) -> Iterator[Runtime]:
    """Open the runtime for one command; known errors become one line on stderr and a non-zero exit."""
    settings = settings or settings_of(ctx)
    from bot.runtime import Runtime

    with known_errors():
        with Runtime.open(settings, migrate=migrate) as rt:
            yield rt


@contextmanager
def known_errors() -> Iterator[None]:
    """The errors raised on purpose become one line on stderr and exit 2 (configuration) or 1."""
    from knowledge import KnowledgeError

    try:
        yield
    except ConfigError as exc:
        fail(str(exc), 2)
    except (BotError, KnowledgeError) as exc:
        fail(str(exc))


def settings_of(ctx: typer.Context) -> Settings:
    try:
        settings = load_settings(ctx.obj["config"], platforms=PLATFORMS)
    except ConfigError as exc:
        fail(str(exc), 2)
    configure_logging(settings, verbose=ctx.obj["verbose"])
    return settings


class JsonLines(logging.Formatter):
    """One JSON object per log record, for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        data = {"time": self.formatTime(record), "level": record.levelname, "logger": record.name,
                "message": record.getMessage()}
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def configure_logging(settings: Settings, *, verbose: bool = False) -> None:
    """Log to stderr at the configured level, as text or (``[logging] json_lines``) JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines() if settings.logging.json_lines
                         else logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level="DEBUG" if verbose else settings.logging.level, handlers=[handler], force=True)
    if not verbose:
        logging.getLogger("alembic").setLevel(logging.WARNING)
        logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # imported after this now, it logs its CPU probe
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        # pypdf warns about each oddity of a damaged PDF it still reads (or refuses with a one-line error anyway)
        logging.getLogger("pypdf").setLevel(logging.ERROR)  # a line per job run otherwise; misfires still show


def emit_json(data: Any) -> None:
    out.print_json(json.dumps(data, ensure_ascii=False, default=str))


def page_of(pager: Callable[[], Page]) -> Page:
    """The page ``pager`` cuts (the same pages as the chat command's); a page past the end is one line on stderr
    naming the last page, and exit 2."""
    try:
        return pager()
    except BotError as exc:
        fail(str(exc), 2)


def emit_page(page: Page, items: list) -> None:
    """A page as JSON: its number, the number of pages, the total of items and the items (as given)."""
    emit_json({"page": page.number, "pages": page.count, "total": page.total, "first": page.first, "items": items})


def print_footer(page: Page, command: str) -> None:
    """"Page 2 of 5: `rrr-bot cities list --page 3` for the next." (nothing on a single page)."""
    footer = page.footer(command)
    if footer is not None:
        out.print(footer.text, markup=False, highlight=False)


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int], None]]:
    """A progress callback drawing a bar on stderr (only on a terminal)."""
    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err,
                  transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


# -- chat and ask ----------------------------------------------------------------------------------------------


async def serve_until_stopped(start, stop=None, grace: float = 10.0) -> None:
    """Run ``start()`` until it ends or SIGTERM / SIGINT arrives, then stop cleanly within ``grace`` seconds.

    On a signal, ``stop()`` (a clean disconnect) runs first; the serving task is then cancelled, again every second
    if it swallows the cancellation (Python 3.11's ``wait_for`` can), so the process always exits.
    """
    import asyncio
    import signal

    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(start())
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    signalled = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({task, signalled}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        signalled.cancel()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    if stopping.is_set():
        err.print("Stopping.")
    deadline = loop.time() + grace
    if stop is not None:
        try:
            await asyncio.wait_for(stop(), grace)
        except Exception as exc:  # noqa: BLE001 - a failed disconnect must not hide the stop itself
            logging.getLogger(__name__).warning("clean disconnect failed: %r", exc)
    while not task.done() and loop.time() < deadline:
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)
    if task.done() and not task.cancelled() and not stopping.is_set():
        task.result()  # an error that ended the serving on its own is the caller's to report


def seed_on_first_start(rt: Runtime) -> None:
    if rt.settings.bot.seed_on_first_start and rt.is_empty():
        err.print("First start: loading the bundled RRR network and knowledge base...")
        with progress_bar("Embedding solutions") as progress:
            rt.seed(progress)


@app.command()
def chat(ctx: typer.Context,
         seed: Annotated[bool, typer.Option(help="Load the bundled RRR data on first start.")] = True) -> None:
    """Chat with the bot in the terminal (reads one message a line when piped)."""
    import asyncio

    from .console import ConsoleAdapter

    with runtime(ctx) as rt:
        if seed:
            seed_on_first_start(rt)
        asyncio.run(ConsoleAdapter(rt.bot, sys.stdin, out, files_dir=rt.settings.data_dir / "files").run())


@run_app.command("slack")
def run_slack(ctx: typer.Context,
              http: Annotated[bool, typer.Option("--http", help="Serve the Events API over HTTP instead of "
                                                 "Socket Mode.")] = False,
              port: Annotated[Optional[int], typer.Option(help="HTTP port (default [slack] port).")] = None,
              host: Annotated[Optional[str], typer.Option(help="HTTP address (default [slack] host).")] = None) -> None:
    """Serve Slack: Socket Mode by default, or the Events API at /slack/events with --http."""
    import asyncio
    import os

    from aiohttp import web

    from .ops import add_ops_routes, ops_context
    from .slack import EVENTS_PATH, SlackAdapter, SlackSecrets

    with runtime(ctx) as rt:
        try:
            adapter = SlackAdapter(rt.bot, rt.settings, SlackSecrets.from_env(os.environ))
            if not http and not adapter.secrets.app_token:
                fail("Socket Mode needs SLACK_APP_TOKEN (xapp-...) in the environment; or use --http", 2)
        except ConfigError as exc:
            fail(str(exc), 2)
        seed_on_first_start(rt)
        rt.knowledge.warm_up(challenges=True)
        if http:
            bind_host = host or adapter.slack_settings.host
            bind_port = port or adapter.slack_settings.port
            web_app = adapter.web_app()
            add_ops_routes(web_app, rt, metrics=False)  # public port: /metrics only on the [ops] port
            web_app.cleanup_ctx.append(ops_context(rt))
            if rt.settings.sessions.scheduler:
                web_app.cleanup_ctx.append(_scheduler_context(rt))
            serving = f"Serving Slack events at http://{bind_host}:{bind_port}{EVENTS_PATH}"
            try:  # the line is printed once the port is bound
                web.run_app(web_app, host=bind_host, port=bind_port, print=lambda _: err.print(serving))
            except OSError as exc:  # the port is taken, or the address is not this machine's
                fail(f"cannot serve Slack events on {bind_host}:{bind_port}: {exc.strerror or exc}")
        else:
            err.print("Connecting to Slack through Socket Mode...")
            asyncio.run(serve_until_stopped(with_scheduler(rt, adapter.start_socket_mode)))


@run_app.command("discord")
def run_discord(ctx: typer.Context) -> None:
    """Serve Discord through the gateway (DISCORD_TOKEN from the environment)."""
    import asyncio
    import os

    from .discord import DiscordAdapter, DiscordSecrets

    with runtime(ctx) as rt:
        try:
            adapter = DiscordAdapter(rt.bot, rt.settings, DiscordSecrets.from_env(os.environ))
        except ConfigError as exc:
            fail(str(exc), 2)
        seed_on_first_start(rt)
        rt.knowledge.warm_up(challenges=True)
        err.print("Connecting to Discord...")
        try:
            asyncio.run(serve_until_stopped(with_scheduler(rt, adapter.start, adapter.client.is_ready), adapter.close))
        except Exception as exc:  # discord.py raises LoginFailure, PrivilegedIntentsRequired, HTTPException ...
            fail(f"Discord connection failed: {exc}")


@run_app.command("scheduler")
def run_scheduler(ctx: typer.Context) -> None:
    """Run only the scheduler (reminders, follow-ups, the weekly pulse); the platform adapters deliver."""
    import asyncio

    with runtime(ctx) as rt:
        err.print("Scheduler: waiting for the lock (one process per database runs it)...")
        asyncio.run(serve_until_stopped(with_scheduler(rt, _forever, scheduler=True)))


async def _forever() -> None:
    import asyncio

    await asyncio.Event().wait()


@asynccontextmanager
async def _scheduler_beside(rt: Runtime) -> AsyncIterator[None]:
    """The scheduler runs (standing by for its lock, or leading) while the block runs, and stops with it."""
    import asyncio
    from contextlib import suppress

    leader = asyncio.ensure_future(rt.scheduler().run())
    try:
        yield
    finally:
        leader.cancel()
        with suppress(asyncio.CancelledError):
            await leader


def with_scheduler(rt: Runtime, start: Callable[[], Any], connected: Callable[[], bool] = lambda: True, *,
                   scheduler: bool | None = None) -> Callable[[], Any]:
    """``start`` with the scheduler (unless ``[sessions] scheduler = false``) and the ops endpoints (when
    ``[ops] port`` is set) beside it; they all end together."""

    async def both() -> None:
        from contextlib import AsyncExitStack

        from .ops import serve_ops

        ops = await serve_ops(rt, connected)
        try:
            async with AsyncExitStack() as beside:
                if rt.settings.sessions.scheduler if scheduler is None else scheduler:
                    await beside.enter_async_context(_scheduler_beside(rt))
                await start()
        finally:
            if ops is not None:
                await ops.cleanup()

    return both


def _scheduler_context(rt: Runtime):
    """An aiohttp cleanup context running the scheduler while the web app serves."""

    async def context(_app):
        async with _scheduler_beside(rt):
            yield

    return context


@app.command()
def ask(ctx: typer.Context,
        question: Annotated[str, typer.Argument(help='The question, or "-" to read one question a line from stdin.')],
        k: Annotated[Optional[int], typer.Option("--k", min=1, max=50, help="How many results (a page, with "
                                                 "--page).")] = None,
        city: Annotated[Optional[str], typer.Option(help="Only solutions from this city.")] = None,
        tag: Annotated[Optional[str], typer.Option(help="Only solutions with this tag.")] = None,
        page: Annotated[Optional[int], typer.Option("--page", min=1, help="Page N of the results, the nearest "
                                                    f"first, --k a page, among the {RESULTS_MAX} best.")] = None,
        as_json: JsonOpt = False) -> None:
    """Find the past solutions that match a question."""
    if page and question == "-":
        fail("--page pages the results of one question; it does not go with \"-\" (one question a line).", 2)
    if question == "-":  # the questions already piped in are embedded together
        with runtime(ctx) as rt:
            from .line_batches import line_batches

            batching = rt.settings.bot
            for batch in line_batches(sys.stdin, batching.question_batch, batching.question_wait_ms / 1000):
                for row in _ask_batch(rt, batch, k=k, city=city, tag=tag):
                    print(json.dumps(row, ensure_ascii=False), flush=True)
        return
    settings = settings_of(ctx)
    with known_errors():
        # One question: asked read-only with sqlite3 (no SQLAlchemy to import) when the database allows it, else
        # through the runtime; both run the same search code (bot.services.asking) and give the same answer.
        from bot.services.readonly import Unavailable, open_read_only

        try:
            with open_read_only(settings) as search:
                shown = _ask_one(search, search.is_city, question, page, k=k, city=city, tag=tag)
        except Unavailable as why:
            logging.getLogger(__name__).debug("asking through the runtime: %s", why)
            with runtime(ctx, settings=settings) as rt:
                shown = _ask_one(rt.knowledge, rt.directory.is_city, question, page, k=k, city=city, tag=tag)
    result, paged = shown
    if as_json:
        emit_json(result.as_dict() if paged is None else {
            **result.as_dict(), "page": paged.number, "pages": paged.count, "total": paged.total,
            "first": paged.first})
        return
    _print_result(result)
    if paged is not None:
        print_footer(paged, paged_command(question, k or settings.knowledge.top_k, city, tag))


def _ask_one(search: Search, is_city: Callable[[str], bool], question: str, page: int | None, *,
             k: int | None, city: str | None, tag: str | None) -> tuple[AskResult, Page | None]:
    """One question's result, and its page when ``page`` is given (a usage hint or a bad question: exit 2)."""
    if page:
        return _ask_page(search, question, page, k=k or search.settings.top_k, city=city, tag=tag)
    hint = _usage_hint(is_city, question)
    if hint:
        fail(hint, 2)
    try:
        return search.ask(question, k=k, city=city, tag=tag), None
    except BotError as exc:
        fail(str(exc), 2)


def _usage_hint(is_city: Callable[[str], bool], question: str) -> str | None:
    """Why ``question`` is not worth a search (a greeting, emoji, a link, a city's name: the chat's hints), or
    None."""
    from bot.guards import USAGE_HINTS, not_a_question

    words = " ".join(question.split())
    kind = not_a_question(words, is_city) if words else None  # a blank one: ask's own usage error
    return None if kind is None else USAGE_HINTS[kind].format(text=words[:60])


def _ask_batch(rt: Runtime, questions: list[str], **options) -> list[dict]:
    """One JSON row per question: its result, or its error (a greeting, emoji, a link or a city's name gets the
    usage hint; a batch that fails is asked one question at a time, so each error belongs to its own question)."""
    knowledge = rt.knowledge
    hints = {i: hint for i, text in enumerate(questions) if (hint := _usage_hint(rt.directory.is_city, text))}
    asked = [text for i, text in enumerate(questions) if i not in hints]
    try:
        answers = iter([r.as_dict() for r in knowledge.ask_many(asked, **options)] if asked else [])
    except BotError:
        rows: list[dict] = []
        for text in asked:
            try:
                rows.append(knowledge.ask(text, **options).as_dict())
            except BotError as exc:
                rows.append({"question": text.strip(), "error": str(exc)})
        answers = iter(rows)
    return [{"question": text.strip(), "error": hints[i]} if i in hints else next(answers)
            for i, text in enumerate(questions)]


def paged_command(question: str, k: int, city: str | None, tag: str | None) -> str:
    """The command that shows a page of a question's results (``--page`` follows)."""
    import shlex

    filters = "".join(f" --{name} {shlex.quote(v)}" for name, v in (("city", city), ("tag", tag)) if v)
    return f"rrr-bot ask {shlex.quote(question)}{filters} --k {k} --page"


def _ask_page(search: Search, question: str, page: int, *, k: int, city: str | None,
              tag: str | None) -> tuple[AskResult, Page]:
    """Page ``page`` of a question's results, ``k`` a page, among the :data:`RESULTS_MAX` nearest."""
    from dataclasses import replace

    from bot.paging import paginate

    try:
        result = search.ask(question, k=RESULTS_MAX, city=city, tag=tag)
    except BotError as exc:
        fail(str(exc), 2)
    command = paged_command(question, k, city, tag)
    shown = page_of(lambda: paginate(result.results, page, size=k, chars=sys.maxsize, command=command))
    return replace(result, results=shown.items), shown


def _print_result(result) -> None:
    from bot.replies import answer_reply

    from .console import render_reply

    render_reply(out, answer_reply(result), styled=out.is_terminal, show_command="rrr-bot kb show")


# -- knowledge base --------------------------------------------------------------------------------------------


@kb_app.command("import")
def kb_import(ctx: typer.Context,
              paths: Annotated[list[Path], typer.Argument(help="PDF, Word (.docx), HTML, Markdown, JSON Lines or "
                                                               "CSV files, or folders of them.")],
              provenance: Annotated[Optional[str], typer.Option(
                  help="Documents: where the knowledge comes from (required): rrr, rrr-city, context, post-rrr, "
                       "reference, network.", show_default=False)] = None,
              city: Annotated[Optional[str], typer.Option(help="Documents: the city they are about (required; "
                                                               "e.g. International).", show_default=False)] = None,
              country: Annotated[Optional[str], typer.Option(help="Documents: its country (required).",
                                                             show_default=False)] = None,
              source_url: Annotated[Optional[str], typer.Option(help="Documents: where the document is published "
                                                                     "(a PDF's link opens at the cited page).",
                                                                show_default=False)] = None,
              language: Annotated[Optional[str], typer.Option(help="Documents: ISO 639-1 code; detected when "
                                                                   "absent.", show_default=False)] = None,
              title: Annotated[Optional[str], typer.Option(help="Documents: the title; taken from the document "
                                                                "when absent.", show_default=False)] = None,
              challenge: Annotated[Optional[str], typer.Option(help="Documents: the challenge they answer; the "
                                                                    "title when absent.", show_default=False)] = None,
              tag: Annotated[Optional[list[str]], typer.Option("--tag", help="Documents: a tag (repeatable).",
                                                              show_default=False)] = None,
              skip_invalid: SkipOpt = False, as_json: JsonOpt = False) -> None:
    """Import solutions and documents; re-importing an id updates it (a changed document only in its changed
    passages). Nothing is imported if a record or a document is bad."""
    from knowledge import InvalidRecords, read_solutions
    from knowledge.documents import DocumentMeta

    settings = settings_of(ctx)
    meta = DocumentMeta(city=city or "", country=country or "", provenance=provenance or "",
                        source_url=source_url, language=(language or "").strip().lower(), title=title or "",
                        challenge=challenge or "", tags=tuple(tag or ()))
    loaded = read_solutions(paths, documents=meta, max_bytes=int(settings.knowledge.max_file_mb * 1024 * 1024),
                            passage_words=settings.knowledge.passage_words)
    if loaded.problems and not skip_invalid:
        fail(str(InvalidRecords(loaded.problems)) + "\n(use --skip-invalid to import the valid records)")
    with runtime(ctx) as rt, progress_bar("Embedding") as progress:
        summary = rt.knowledge.import_records(loaded.records, progress=progress)
    report = {"added": summary.added, "updated": summary.updated, "unchanged": summary.unchanged,
              "passages": summary.passages, "kept": summary.kept, "ids": summary.ids,
              "skipped": [str(p) for p in loaded.problems]}
    if as_json:
        emit_json(report)
        return
    kept = f", {summary.kept} unchanged passages kept" if summary.kept else ""
    out.print(f"Imported {summary.added} new, {summary.updated} updated, {summary.unchanged} unchanged "
              f"solution(s) ({summary.passages} passages embedded{kept}).")
    for problem in loaded.problems:
        err.print(f"skipped {problem}", markup=False)


@kb_app.command("seed")
def kb_seed(ctx: typer.Context,
            if_empty: Annotated[bool, typer.Option("--if-empty", help="Do nothing if data exists.")] = False) -> None:
    """Load the bundled RRR cities and solutions (safe to run again)."""
    with runtime(ctx) as rt:
        if if_empty and not rt.is_empty():
            out.print("The network already has data; nothing to do.")
            return
        with progress_bar("Embedding solutions") as progress:
            (created, updated), summary = rt.seed(progress)
    out.print(f"Seeded {created + updated} cities and {summary.added + summary.updated + summary.unchanged} "
              f"solutions ({summary.added} new, {summary.updated} updated).")


@kb_app.command("list")
def kb_list(ctx: typer.Context, city: Annotated[Optional[str], typer.Option()] = None,
            tag: Annotated[Optional[str], typer.Option()] = None, page: PageOpt = None,
            as_json: JsonOpt = False) -> None:
    """List solutions (id, city, title, provenance), by city and id; --page N: 20 a page."""
    import shlex

    from bot.paging import SOLUTIONS_PAGE, paginate

    with runtime(ctx) as rt:
        rows = rt.knowledge.list(city, tag)
    filters = "".join(f" --{k} {shlex.quote(v)}" for k, v in (("city", city), ("tag", tag)) if v)
    command = f"rrr-bot kb list{filters} --page"
    shown = page_of(lambda: paginate(rows, page, size=SOLUTIONS_PAGE, chars=sys.maxsize, command=command)) \
        if page else None
    items = list(shown.items) if shown else rows
    data = [{"id": s.id, "city": s.city, "country": s.country, "title": s.title, "tags": s.tags,
             "provenance": s.provenance} for s in items]
    if as_json:
        emit_page(shown, data) if shown else emit_json(data)
        return
    table = Table("id", "city", "title", "provenance")
    for s in items:
        table.add_row(*(escape(v) for v in (s.id, s.city, s.title, s.provenance)))
    out.print(table)
    if shown is None:
        out.print(f"{len(rows)} solution(s)")
        return
    out.print(f"Solutions {shown.first}-{shown.last} of {shown.total}", highlight=False)
    print_footer(shown, command)


@kb_app.command("show")
def kb_show(ctx: typer.Context, solution_id: str, as_json: JsonOpt = False) -> None:
    """Show one solution in full."""
    from .console import clean

    with runtime(ctx) as rt:
        s = rt.knowledge.get(solution_id)
    data = s.model_dump(exclude={"content_hash"})
    if as_json:
        emit_json(data)
        return
    for key, value in data.items():
        if value not in (None, "", []):
            out.print(f"[cyan]{key}:[/cyan] {escape(clean(str(value)))}", highlight=False)


@kb_app.command("remove")
def kb_remove(ctx: typer.Context, solution_id: str) -> None:
    """Remove a solution and its passages."""
    with runtime(ctx) as rt:
        rt.knowledge.remove(solution_id, "operator")
    out.print(f"Removed {solution_id}.")


@kb_app.command("pending")
def kb_pending(ctx: typer.Context, page: PageOpt = None, as_json: JsonOpt = False) -> None:
    """Peers' saved answers waiting for a coordinator's review (searchable meanwhile only as unreviewed); --page N:
    10 a page."""
    from bot.paging import REVIEW_PAGE, paginate

    with runtime(ctx) as rt:
        rows = rt.knowledge.pending()
    command = "rrr-bot kb pending --page"
    shown = page_of(lambda: paginate(rows, page, size=REVIEW_PAGE, chars=sys.maxsize, command=command)) \
        if page else None
    items = list(shown.items) if shown else rows
    if as_json:
        data = [{"id": s.id, "title": s.title, "city": s.city, "saved_by": s.saved_by,
                 "saved_at": s.created_at.isoformat(), "summary": s.summary} for s in items]
        emit_page(shown, data) if shown else emit_json(data)
        return
    if not rows:
        out.print("Nothing is waiting for review.")
    for s in items:
        out.print(f"{s.id}  {s.title} ({s.city}) saved by {s.saved_by or '?'} on {s.created_at:%Y-%m-%d}",
                  markup=False)
    if shown is not None:
        print_footer(shown, command)


@kb_app.command("approve")
def kb_approve(ctx: typer.Context, solution_id: str) -> None:
    """Approve a saved answer: it becomes network knowledge (no longer marked unreviewed)."""
    with runtime(ctx) as rt:
        rt.knowledge.approve(solution_id, "operator")
    out.print(f"Approved {solution_id}: it is network knowledge now.", markup=False)


@kb_app.command("reject")
def kb_reject(ctx: typer.Context, solution_id: str) -> None:
    """Reject a saved answer: it leaves the review queue and the search (its history stays)."""
    with runtime(ctx) as rt:
        rt.knowledge.reject(solution_id, "operator")
    out.print(f"Rejected {solution_id}.", markup=False)


@kb_app.command("edit")
def kb_edit(ctx: typer.Context, solution_id: str,
            title: Annotated[Optional[str], typer.Option(show_default=False)] = None,
            challenge: Annotated[Optional[str], typer.Option(show_default=False)] = None,
            summary: Annotated[Optional[str], typer.Option(show_default=False)] = None,
            source_url: Annotated[Optional[str], typer.Option(show_default=False)] = None,
            tag: Annotated[Optional[list[str]], typer.Option("--tag", help="Replaces the tags (repeatable).",
                                                            show_default=False)] = None,
            by: Annotated[str, typer.Option(help="Who edits, for the history.")] = "operator") -> None:
    """Edit a solution (a pending one stays pending); `kb history ID` shows who changed what, when."""
    changes = {"title": title, "challenge": challenge, "summary": summary, "source_url": source_url,
               "tags": list(tag) if tag else None}
    if all(value is None for value in changes.values()):
        fail("Nothing to change: give --title, --challenge, --summary, --source-url or --tag.", 2)
    with runtime(ctx) as rt:
        rt.knowledge.edit(solution_id, by, **{k: v for k, v in changes.items() if v is not None})
    out.print(f"Edited {solution_id}.", markup=False)


@kb_app.command("history")
def kb_history(ctx: typer.Context, solution_id: str, as_json: JsonOpt = False) -> None:
    """Who saved, edited, approved, rejected or removed a solution, what changed and when, oldest first."""
    from bot.review import step_lines

    from .console import clean

    with runtime(ctx) as rt:
        steps = rt.knowledge.history(solution_id)
    if as_json:
        emit_json([{"at": s.at.isoformat(), "by": s.changed_by, "action": s.action, "changes": s.changes}
                   for s in steps])
        return
    for step in steps:
        for line in step_lines(step):  # the same lines as the chat's `history ID`, values whole
            out.print(clean(line), markup=False, highlight=False)


#: What a user id looks like on each platform, so that a typo never creates a member who matches nobody.
USER_ID_SHAPES = {
    "slack": re.compile(r"[UW][A-Z0-9]{2,20}"),
    "discord": re.compile(r"[0-9]{15,21}"),
    "console": re.compile(r"[\w.-]{1,64}"),
}


@role_app.command("add")
def role_add(ctx: typer.Context,
             who: Annotated[str, typer.Argument(
                 help="PLATFORM:USER_ID, e.g. slack:U024BE7LH or discord:80351110224678912")],
             role: Annotated[str, typer.Argument(help="coordinator or member")] = "coordinator") -> None:
    """Give someone a role, even before they wrote to the bot (how the first coordinator is made)."""
    platform, _, user_id = who.partition(":")
    shape = USER_ID_SHAPES.get(platform)
    if shape is None or not shape.fullmatch(user_id):
        fail(f"'{who}' is not PLATFORM:USER_ID, e.g. slack:U024BE7LH or discord:80351110224678912 (a Slack member "
             "id starts with U or W; a Discord user id is 15 to 21 digits: copy it from the person's profile).", 2)
    with runtime(ctx) as rt:
        rt.directory.set_role(platform, user_id, role, create=True)
    out.print(f"{platform}:{user_id} is now a {role}.", markup=False)


@role_app.command("list")
def role_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The coordinators: those of `[bot] coordinators` and those given the role."""
    with runtime(ctx) as rt:
        rows = rt.directory.coordinators()
        configured = set(rt.settings.bot.coordinators)
    if as_json:
        emit_json([{"id": r, "configured": r in configured} for r in rows])
        return
    for row in rows:
        out.print(f"{row}{'  (configured)' if row in configured else ''}", markup=False)
    if not rows:
        out.print("No coordinator yet: `rrr-bot role add slack:U024BE7LH coordinator`.")


@kb_app.command("unanswered")
def kb_unanswered(ctx: typer.Context, page: PageOpt = None, as_json: JsonOpt = False) -> None:
    """The questions the knowledge base could not answer, the newest first; --page N: 10 a page."""
    from bot.replies import questions_page

    from .console import clean

    with runtime(ctx) as rt:
        questions = rt.knowledge.unanswered(None)
    command = "rrr-bot kb unanswered --page"
    shown = page_of(lambda: questions_page(questions, page, command)) if page else None
    items = list(shown.items) if shown else questions
    data = [{"id": q.id, "text": q.text, "asked_at": q.asked_at.isoformat(), "platform": q.platform}
            for q in items]
    if as_json:
        emit_page(shown, data) if shown else emit_json(data)
        return
    if not questions:
        out.print("Every question asked so far found a close match.")
    for q in items:
        out.print(f"#{q.id} ({q.asked_at:%Y-%m-%d}) {clean(' '.join(q.text.split()))}", markup=False,
                  highlight=False)
    if shown is not None:
        print_footer(shown, command)


@kb_app.command("stats")
def kb_stats(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Counts by city, provenance and language."""
    with runtime(ctx) as rt:
        stats = rt.knowledge.stats()
    if as_json:
        emit_json(stats)
        return
    out.print(f"{stats['solutions']} solutions in {stats['passages']} passages; "
              f"{stats['unanswered_questions']} unanswered question(s)")
    for name, counts in (("by city", stats["by_city"]), ("by provenance", stats["by_provenance"]),
                         ("by language", stats["by_language"])):
        out.print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


@kb_app.command("eval")
def kb_eval(ctx: typer.Context, file: Path,
            split: Annotated[str, typer.Option(help="which questions to report: test, calibrate or all")] = "test",
            as_json: JsonOpt = False) -> None:
    """Recall@1/3/5, MRR and abstention accuracy per language and category, beside the raw model with one
    threshold fit on the calibration split, and how well the score separates answerable questions from each
    refusable category (ROC AUC). The set: JSON Lines {"q", "relevant", "lang", "category", "split"}."""
    from knowledge import InvalidRecords
    from knowledge.evaluation import evaluate, fit_thresholds, read_eval, refit, select, separability

    if split not in ("test", "calibrate", "all"):
        fail("--split must be test, calibrate or all.", 2)
    try:
        questions = read_eval(file)
    except InvalidRecords as exc:
        fail(str(exc), 2)
    with runtime(ctx) as rt:
        check_eval_against(rt, questions)
        outcomes = {id(q): rt.knowledge.evaluate(q.q) for q in questions}
        bars = rt.knowledge.calibration
    calibration = select(questions, "calibrate") or questions
    baseline_t, _, _ = fit_thresholds(calibration, [outcomes[id(q)][1] for q in calibration],
                                      separate_reference=False)
    chosen = select(questions, split)
    if not chosen:
        fail(f"{file} has no question in the {split} split.", 2)
    ours = evaluate(chosen, [outcomes[id(q)][0] for q in chosen])
    raw = evaluate(chosen, refit([outcomes[id(q)][1] for q in chosen], baseline_t, baseline_t))
    apart = {"ours": separability(chosen, [outcomes[id(q)][0] for q in chosen], bars.close, bars.reference),
             "raw_model": separability(chosen, [outcomes[id(q)][1] for q in chosen], 0.0, 0.0)}
    if as_json:
        emit_json({"split": split, "ours": ours, "raw_model": raw, "raw_model_threshold": round(baseline_t, 4),
                   "separability": apart})
        return
    table = Table("", "n", "answ", "r@1", "r@3", "r@5", "mrr", "abst", "answ abst", "raw r@3", "raw abst",
                  title=f"{file.name}, {split} split: r@k recall, abst abstention accuracy, answ abst share of "
                        "answerable questions not answered")
    for key, row in ours.items():
        base = raw[key]
        table.add_row(key.split(":")[-1], str(int(row["questions"])), str(int(row["answerable"])),
                      *(f"{row[c]:.2f}" for c in ("recall@1", "recall@3", "recall@5", "mrr", "abstention_acc",
                                                   "answerable_abstain")),
                      f"{base['recall@3']:.2f}", f"{base['abstention_acc']:.2f}")
    out.print(table)
    out.print(f"raw model: multilingual cosine, one threshold ({baseline_t:.3f}) fit on the calibration split",
              markup=False)
    for name, found in (("ours", apart["ours"]), ("raw model", apart["raw_model"])):
        out.print(f"separability, answerable vs each refusable category (ROC AUC of the score, any threshold), "
                  f"{name}: " + ", ".join(f"{c} {v:.2f}" for c, v in found.items()), markup=False)


def check_eval_against(rt: Runtime, questions: list[EvalQuestion]) -> None:
    """Refuse an evaluation that could only print zeros: an empty knowledge base, or relevant ids it lacks."""
    if rt.knowledge.is_empty():
        fail("The knowledge base is empty: run `rrr-bot kb seed` or `rrr-bot kb import FILE` first.", 2)
    known = {s.id for s in rt.knowledge.list()}
    unknown = sorted({sid for q in questions for sid in q.relevant} - known)
    if unknown:
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        fail(f"The evaluation set names solutions this knowledge base does not hold: {', '.join(unknown[:5])}{more}.",
             2)


@kb_app.command("calibrate")
def kb_calibrate(ctx: typer.Context, file: Path) -> None:
    """Fit the answer thresholds (peer practice, reference reading) on the calibration split of an evaluation
    set, and show how they do on its test split."""
    from knowledge import InvalidRecords
    from knowledge.evaluation import evaluate, fit_thresholds, read_eval, refit, select

    try:
        questions = read_eval(file)
    except InvalidRecords as exc:
        fail(str(exc), 2)
    with runtime(ctx) as rt:
        check_eval_against(rt, questions)
        outcomes = {id(q): rt.knowledge.evaluate(q.q)[0] for q in questions}
        name = rt.knowledge.embedder.name
    calibration = select(questions, "calibrate") or questions
    practice, reference, accuracy = fit_thresholds(calibration, [outcomes[id(q)] for q in calibration])
    out.print(f"{name}: close={practice:.4f} reference={reference:.4f} give abstention accuracy {accuracy:.3f} on "
              f"{len(calibration)} calibration questions", markup=False)
    test = select(questions, "test")
    if test and test != calibration:
        held = evaluate(test, refit([outcomes[id(q)] for q in test], practice, reference))["all"]
        out.print(f"on the {len(test)} test questions: abstention accuracy {held['abstention_acc']:.3f}",
                  markup=False)


# -- cities ----------------------------------------------------------------------------------------------------


@cities_app.command("list")
def cities_list(ctx: typer.Context, page: PageOpt = None, as_json: JsonOpt = False) -> None:
    """List the cities of the network, by name; --page N: 15 a page, the pages of `cities N` in chat."""
    from bot.replies import cities_page

    with runtime(ctx) as rt:
        profiles = rt.directory.profiles()
    command = "rrr-bot cities list --page"
    shown = page_of(lambda: cities_page(profiles, page, command)) if page else None
    items = list(shown.items) if shown else profiles
    if as_json:
        data = [p.as_dict() for p in items]
        emit_page(shown, data) if shown else emit_json(data)
        return
    table = Table("city", "country", "time zone", "peer group", "challenges")
    for p in items:
        table.add_row(*(escape(v) for v in (p.name, p.country, p.timezone, ", ".join(p.peer_groups),
                                             str(len(p.challenges)))))
    out.print(table)
    if shown is not None:
        print_footer(shown, command)


@cities_app.command("show")
def cities_show(ctx: typer.Context, name: str, page: PageOpt = None, as_json: JsonOpt = False) -> None:
    """Show one city with its contacts and its challenges, 15 a page (--page N for the others)."""
    import shlex

    from bot.replies import challenges_page, city_reply

    from .console import render_reply

    with runtime(ctx) as rt:
        profile = rt.directory.profile(name)
    command = f"rrr-bot cities show {shlex.quote(profile.name)} --page"
    shown = page_of(lambda: challenges_page(profile, page or 1, command))
    reply = city_reply(profile, page or 1, command=command, numbered=True)
    if as_json:
        data = profile.as_dict()
        if page:  # the page's challenges and where it stands; without --page, every challenge as before
            data = {**data, "challenges": [text for _, text in shown.items], "page": shown.number,
                    "pages": shown.count, "total": shown.total, "first": shown.first}
        emit_json(data)
        return
    render_reply(out, reply, styled=out.is_terminal)


@cities_app.command("import")
def cities_import(ctx: typer.Context, file: Path, skip_invalid: SkipOpt = False, as_json: JsonOpt = False) -> None:
    """Import cities from JSON Lines (name, country, timezone, languages, peer_group, challenges, contacts)."""
    from knowledge import InvalidRecords, read_cities

    loaded = read_cities(file)
    if loaded.problems and not skip_invalid:
        fail(str(InvalidRecords(loaded.problems)) + "\n(use --skip-invalid to import the valid records)")
    with runtime(ctx) as rt:
        created, updated = rt.directory.import_cities(loaded.records)
    if as_json:
        emit_json({"created": created, "updated": updated, "skipped": [str(p) for p in loaded.problems]})
        return
    out.print(f"Imported {created} new and {updated} updated cities.")
    for problem in loaded.problems:
        err.print(f"skipped {problem}", markup=False)


# -- introductions ---------------------------------------------------------------------------------------------


@intros_app.command("preview")
def intros_preview(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The groups the next round of introductions would make, with the shared challenges."""
    from bot.replies import preview_lines

    with runtime(ctx) as rt:
        groups, left_out = rt.intros.preview()
    if as_json:
        emit_json([g.as_dict() for g in groups])
        return
    for group in groups:
        out.print("\n".join(preview_lines(group)), markup=False, highlight=False)
        out.print("")
    if left_out:
        out.print(f"Left out: {', '.join(left_out)}", markup=False)


@intros_app.command("run")
def intros_run(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Make the next round: store the introductions and queue their messages for the running adapters."""
    with runtime(ctx) as rt:
        groups, queued = rt.intros.run()
    if as_json:
        emit_json({"groups": [g.as_dict() for g in groups], "messages_queued": queued})
        return
    for group in groups:
        out.print(f"{' + '.join(group.cities)} (similarity {group.score:.2f})", markup=False)
    out.print(f"{len(groups)} introduction(s), {queued} message(s) queued for delivery.")


@intros_app.command("followup")
def intros_followup(ctx: typer.Context) -> None:
    """Queue the "Did you meet?" follow-ups that are due (a running bot does this by itself)."""
    with runtime(ctx) as rt:
        queued = rt.intros.queue_followups()
    out.print(f"{queued} follow-up message(s) queued.")


# -- database --------------------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply pending schema migrations (also done on every start)."""
    with runtime(ctx) as rt:
        current, head = rt.db.revision()
    out.print(f"Database {rt.db.safe_url} is at revision {current} (newest {head}).")


@db_app.command("status")
def db_status(ctx: typer.Context) -> None:
    """Show the schema revision without changing anything."""
    with runtime(ctx, migrate=False) as rt:
        current, head = rt.db.revision()
    state = "up to date" if current == head else "needs `rrr-bot db upgrade`"
    out.print(f"Database {rt.db.safe_url}: revision {current or 'none'}, newest {head} ({state}).")


from .cli_sessions import sessions_app  # noqa: E402 - it uses the helpers above
from .cli_insights import insights_app  # noqa: E402 - it uses the helpers above
from .cli_transfer import export, import_all  # noqa: E402
from .cli_members import member_app  # noqa: E402

app.add_typer(sessions_app, name="sessions")
app.add_typer(insights_app, name="insights")
app.add_typer(member_app, name="member")
app.command("export")(export)
app.command("import-all")(import_all)


def main() -> None:
    """Entry point of the ``rrr-bot`` command."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
