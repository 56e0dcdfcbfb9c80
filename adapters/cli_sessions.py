"""``rrr-bot sessions ...``: schedule peer sessions, list their dates, export calendars."""

from __future__ import annotations

import sys
from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Optional, TypeVar
from zoneinfo import ZoneInfo

import typer

from bot.errors import InvalidInput

from .cli import JsonOpt, PageOpt, emit_json, emit_page, fail, out, page_of, print_footer, runtime

if TYPE_CHECKING:  # the services are imported by the commands that use them (tests/test_cold_start.py)
    from bot.sessions.service import SessionInfo

T = TypeVar("T")
V = TypeVar("V")
sessions_app = typer.Typer(help="Peer sessions: schedule, list, calendars.", no_args_is_help=True)

Title = Annotated[Optional[str], typer.Option(help="What the session is called.")]
Start = Annotated[Optional[str], typer.Option(help="First start, local wall-clock time in --tz: 2027-03-16T15:00, or "
                                                  'as people type it: "16 March 15:00", "tomorrow 3pm", "next '
                                                  'Tuesday 15:00", "mardi prochain 15h", "el martes a las 15:00" '
                                                  "(en, es, pt, fr, it, pl, nl). A time of day is needed; a past, "
                                                  "vague or ambiguous one is refused.")]
Zone = Annotated[Optional[str], typer.Option("--tz", help="IANA time zone of the start: Europe/Madrid.")]
Repeat = Annotated[Optional[str], typer.Option(help='none, weekly, "every 2 weeks", monthly (nth weekday of the '
                                                    'start), daily, or an RRULE such as FREQ=WEEKLY;BYDAY=TU.')]
Count = Annotated[Optional[int], typer.Option(help="How many occurrences in all.")]
Until = Annotated[Optional[str], typer.Option(help="Last date (YYYY-MM-DD, local).")]
Duration = Annotated[Optional[int], typer.Option(help="Minutes (default 60).")]
Agenda = Annotated[Optional[str], typer.Option(help="What the session is about.")]
Channel = Annotated[Optional[list[str]], typer.Option("--channel", help="Announce and remind here: "
                                                                         "slack:C0123 or discord:1234 (repeatable).")]
Video = Annotated[Optional[str], typer.Option(help="Video call link.")]
Reminder = Annotated[Optional[list[int]], typer.Option("--reminder", help="Minutes before each occurrence "
                                                                          "(repeatable; default [sessions] "
                                                                          "reminders).")]


def _print(info: SessionInfo, as_json: bool, *, skipped: bool = False, starts: bool = False) -> None:
    """The session as JSON, or as one line (and, with ``skipped``, a line listing its skipped dates; with ``starts``,
    a line echoing its start in words, to confirm how a typed start was read)."""
    if as_json:
        emit_json(info.as_dict())
        return
    state = " (cancelled)" if info.cancelled else ""
    out.print(f"#{info.id} {info.title}{state}: {info.schedule.describe()}, from "
              f"{info.schedule.start:%Y-%m-%d %H:%M} {info.schedule.tz}, "
              f"{int(info.schedule.duration.total_seconds() // 60)} min", markup=False, highlight=False)
    dates = info.schedule.skipped_occurrences() if skipped else []
    if dates:
        out.print("Skipped: " + ", ".join(f"{o.start_local:%Y-%m-%d %H:%M %Z}" for o in dates), markup=False,
                  highlight=False)
    if starts:
        from bot.sessions.when import human_time

        first = info.schedule.start.replace(tzinfo=ZoneInfo(info.schedule.tz), fold=0)
        out.print(f"Starts {human_time(first, info.schedule.tz)}.", markup=False, highlight=False)


def _read(reader: Callable[[str], T | None], text: str | None) -> T | None:
    """An option's text read as its session field reads it (None when not given)."""
    return None if text is None else reader(text)


def _tuple(items: list[V] | None) -> tuple[V, ...] | None:
    return None if items is None else tuple(items)


@sessions_app.command("add")
def sessions_add(ctx: typer.Context, title: Title = None, start: Start = None, tz: Zone = None,
                 repeat: Repeat = None, count: Count = None, until: Until = None, duration: Duration = 60,
                 agenda: Agenda = "", channel: Channel = None, video: Video = None, reminder: Reminder = None,
                 as_json: JsonOpt = False) -> None:
    """Schedule a session (validated as a whole: nothing is saved when a part is wrong).

    --start takes 2027-03-16T15:00 or typed words ("next Tuesday 15:00", "16 de marzo de 2027 15:00"), read in
    the --tz zone; the start is echoed back as read, e.g. "Starts Tue 16 Mar 2027, 15:00 CET (14:00 UTC)."
    """
    missing = [name for name, value in (("--title", title), ("--start", start), ("--tz", tz)) if not value]
    if missing:
        fail(f"missing {', '.join(missing)}; e.g. sessions add --title 'Working group' --start 2027-03-16T15:00 "
             "--tz Europe/Madrid --repeat weekly", 2)
    from bot.sessions.draft import SessionDraft, local_date

    with runtime(ctx) as rt:
        draft = SessionDraft(title=title or "", start=start or "", tz=tz or "", repeat=repeat, count=count,
                             until=_read(local_date, until), duration=duration, agenda=agenda or "",
                             channels=tuple(channel or ()), video=video, reminders=_tuple(reminder))
        info = rt.sessions.add(draft, created_by="cli")
    _print(info, as_json, starts=True)


@sessions_app.command("edit")
def sessions_edit(ctx: typer.Context, session_id: int, title: Title = None, start: Start = None, tz: Zone = None,
                  repeat: Repeat = None, count: Count = None, until: Until = None, duration: Duration = None,
                  agenda: Agenda = None, channel: Channel = None, video: Video = None, reminder: Reminder = None,
                  as_json: JsonOpt = False) -> None:
    """Change a session; only the options given change."""
    from bot.sessions.draft import local_date

    with runtime(ctx) as rt:  # (its errors, the option's date too, are one line and a non-zero exit)
        given = {"title": title, "start": start, "tz": tz, "repeat": repeat, "count": count,
                 "until": _read(local_date, until), "duration": duration, "agenda": agenda,
                 "channels": _tuple(channel), "video": video, "reminders": _tuple(reminder)}
        info = rt.sessions.edit(session_id, {k: v for k, v in given.items() if v is not None})
    _print(info, as_json, starts=start is not None or tz is not None)


@sessions_app.command("list")
def sessions_list(ctx: typer.Context, as_json: JsonOpt = False,
                  everything: Annotated[bool, typer.Option("--all", help="Include cancelled sessions.")] = False,
                  page: PageOpt = None) -> None:
    """The scheduled sessions, by id; --page N: 10 a page, the nearest next date first (the pages of `session list
    N` in chat)."""
    from bot.sessions.commands import sessions_page

    with runtime(ctx) as rt:
        infos = rt.sessions.list(include_cancelled=everything)
        dated = rt.sessions.nearest_first(infos) if page else []
    command = "rrr-bot sessions list" + (" --all" if everything else "") + " --page"
    shown = page_of(lambda: sessions_page(dated, page, command)) if page else None
    items = [info for info, _ in shown.items] if shown else infos
    if as_json:
        data = [i.as_dict() for i in items]
        emit_page(shown, data) if shown else emit_json(data)
        return
    if not infos:
        out.print("No session is scheduled.")
    for info in items:
        _print(info, False)
    if shown is not None:
        print_footer(shown, command)


@sessions_app.command("show")
def sessions_show(ctx: typer.Context, session_id: int, as_json: JsonOpt = False) -> None:
    """One session, with its skipped dates (and, in JSON, its Google Calendar link)."""
    with runtime(ctx) as rt:
        info = rt.sessions.get(session_id)
        link = rt.sessions.calendar_link(info)
    if as_json:
        emit_json({**info.as_dict(), "google_calendar_url": link})
        return
    _print(info, False, skipped=True)


@sessions_app.command("occurrences")
def sessions_occurrences(ctx: typer.Context, session_id: int,
                         count: Annotated[int, typer.Option(help="How many dates (1-500).")] = 10,
                         upcoming: Annotated[bool, typer.Option("--upcoming", help="From now on (default: from "
                                                                "the first).")] = False,
                         as_json: JsonOpt = False) -> None:
    """The dates of a session: UTC and local wall-clock time (skipped ones left out)."""
    from bot.sessions.service import occurrence_dict
    from bot.store.models import utcnow

    with runtime(ctx) as rt:
        occurrences = rt.sessions.occurrences(session_id, count, utcnow() if upcoming else None)
    if as_json:
        emit_json([occurrence_dict(o) for o in occurrences])
        return
    for o in occurrences:
        out.print(f"{o.start_local:%Y-%m-%d %H:%M %Z}  ({o.start_utc:%Y-%m-%d %H:%M} UTC)", markup=False)


@sessions_app.command("ics")
def sessions_ics(ctx: typer.Context, session_id: int,
                 output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write to this file "
                                                                "(default: standard output); an existing regular "
                                                                "file is replaced whole, anything else (a link, a "
                                                                "device) is refused.")] = None) -> None:
    """The session as an iCalendar (.ics) file, to import into any calendar."""
    from bot.services.safe_files import atomic_write

    with runtime(ctx) as rt:
        data = rt.sessions.ics(session_id)
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        with atomic_write(output) as handle:
            handle.write(data)
    except InvalidInput as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    out.print(f"Wrote {output}", markup=False)


@sessions_app.command("cancel")
def sessions_cancel(ctx: typer.Context, session_id: int, as_json: JsonOpt = False) -> None:
    """Cancel a session: no more reminders, RSVPs refused."""
    with runtime(ctx) as rt:
        info = rt.sessions.cancel(session_id)
    if as_json:
        emit_json(info.as_dict())
        return
    out.print(f"Cancelled #{info.id} {info.title}.", markup=False)


@sessions_app.command("skip-next")
def sessions_skip_next(ctx: typer.Context, session_id: int, as_json: JsonOpt = False) -> None:
    """Skip the next occurrence only."""
    from bot.sessions.service import occurrence_dict

    with runtime(ctx) as rt:
        occ = rt.sessions.skip_next(session_id)
        info = rt.sessions.get(session_id)
        nxt = rt.sessions.next_occurrence(info)
    if as_json:
        emit_json({"id": info.id, "title": info.title, "skipped": occurrence_dict(occ),
                   "next": None if nxt is None else occurrence_dict(nxt)})
        return
    out.print(f"Skipped {occ.start_local:%Y-%m-%d %H:%M %Z}.", markup=False)
