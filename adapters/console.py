"""Console adapter: chat with the core in a terminal, or script it through a pipe (one message a line)."""

from __future__ import annotations

import asyncio
import getpass
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rich.console import Console
from rich.style import Style
from rich.text import Text as RichText

from bot import Bot, Incoming, Reply
from bot.messages import Actions, Facts, Image, SolutionCard, Text, Time, passage_label
from bot.errors import UserError
from bot.services.safe_files import atomic_write
from bot.sessions.when import human_time
from knowledge.urls import check_url
from bot.actions import FEEDBACK_HELPFUL, SHOW_SOLUTION

EXIT_WORDS = {"quit", "exit", ":q"}
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


class ConsoleAdapter:
    """Reads messages from ``stdin`` and writes the core's replies to ``out`` (colours only on a terminal).

    Times are shown in their session's zone, others in ``zone`` (the reader's: by default this machine's). Files of
    a reply (a session's .ics, the insights charts) are written to ``files_dir`` and the reply says where; without
    one, only their names and sizes are shown."""

    def __init__(self, bot: Bot, stdin: TextIO, out: Console, *, user: str | None = None,
                 zone: ZoneInfo | None = None, files_dir: Path | None = None) -> None:
        self.bot = bot
        self.stdin = stdin
        self.out = out
        self.user = user or _whoami()
        self.zone = zone or reader_zone()
        self.files_dir = files_dir

    @property
    def interactive(self) -> bool:
        return self.stdin.isatty()

    async def run(self) -> int:
        """Chat until end of input or ``quit``; return the number of messages handled."""
        handled = 0
        if self.interactive:
            self.out.print("[bold]RRR peer-network bot[/bold] - type [cyan]help[/cyan], a question, or "
                           "[cyan]quit[/cyan].")
        while True:
            line = await asyncio.to_thread(self._read)
            if line is None:
                break
            text = line.strip()
            if not text:
                continue
            if text.lower() in EXIT_WORDS:
                break
            message = Incoming(platform="console", user=self.user, text=text, channel="console", is_direct=True,
                               user_name=self.user)
            for reply in await self.bot.handle(message):
                self.render(reply)
            handled += 1
        return handled

    def _read(self) -> str | None:
        if self.interactive:
            try:
                return self.out.input("[bold green]you>[/bold green] ")
            except (EOFError, KeyboardInterrupt):
                return None
        line = self.stdin.readline()
        return line if line else None

    def render(self, reply: Reply) -> None:
        """Print a reply: plain text when piped, lightly styled on a terminal."""
        if self.files_dir is not None:
            reply = self._saved(reply, self.files_dir)
        render_reply(self.out, reply, styled=self.interactive, zone=self.zone)

    @staticmethod
    def _saved(reply: Reply, files_dir: Path) -> Reply:
        """``reply`` with each file written to ``files_dir`` (replacing an older one of that name) and shown as a
        line saying where it is."""
        blocks = []
        for block in reply.blocks:
            if isinstance(block, Image):
                path = files_dir / Path(block.name).name
                try:
                    files_dir.mkdir(parents=True, exist_ok=True)
                    with atomic_write(path) as handle:
                        handle.write(block.data)
                except (OSError, UserError) as exc:
                    block = Text(f"Could not save {block.name} in {files_dir}: {exc}", "muted")
                else:
                    block = Text(f"Saved {block.name} to {path}", "muted")
            blocks.append(block)
        return replace(reply, blocks=tuple(blocks))


def render_reply(out: Console, reply: Reply, *, styled: bool, show_command: str = "show",
                 zone: ZoneInfo | None = None) -> None:
    """Print ``reply`` on ``out``; ``styled`` adds colours and links, otherwise plain text. Every text is cleaned of
    control and bidi-override characters (:func:`clean`); a card's "More" is the hint ``show_command ID``. A time
    is written in words in its own zone (a session's), else in ``zone`` (default: :func:`reader_zone`), with UTC:
    "Next: Tue 16 Mar 2027, 15:00 CET (14:00 UTC)", as Slack and Discord show each reader a local time."""
    for block in reply.blocks:
        if isinstance(block, Time):
            when = human_time(block.at, _zone_of(block) or zone or reader_zone())
            out.print(RichText(clean(f"{block.label} {when}".strip())), highlight=False, soft_wrap=True)
        elif isinstance(block, Actions):
            hint = _feedback_hint(block)
            if hint:
                out.print(RichText(clean(hint), style="dim" if styled else ""), highlight=False)
        elif isinstance(block, SolutionCard):
            _print_card(out, block, styled=styled, show_command=show_command)
        elif not styled:
            out.print(RichText(clean(Reply((block,)).as_text())), highlight=False, soft_wrap=True)
        elif isinstance(block, Text) and block.style in ("heading", "muted"):
            out.print(RichText(clean(block.text), style="bold" if block.style == "heading" else "dim"))
        elif isinstance(block, Image):
            out.print(RichText(clean(Reply((block,)).as_text()), style="dim"), highlight=False)
        elif isinstance(block, Facts):
            if block.title:
                out.print(RichText(clean(block.title), style="bold"))
            for field in block.fields:
                out.print(RichText.assemble("  ", (f"{clean(field.label)}:", "cyan"), " ", clean(field.value)),
                          highlight=False)
        else:
            out.print(RichText(clean(Reply((block,)).as_text()), style="red" if reply.is_error else ""),
                      highlight=False)
    out.print("")


def _print_card(out: Console, card: SolutionCard, *, styled: bool, show_command: str) -> None:
    """A card: title, place, match and provenance, its note, the matched passage, the summary, the source (a link
    only when it is a well-formed http(s) URL) and how to see the whole record."""
    more = [f"`{show_command} {b.value}` shows the whole record" for b in card.buttons
            if b.action_id == SHOW_SOLUTION and b.value]
    if not styled:
        text = Reply((replace(card, buttons=()),)).as_text()
        out.print(RichText(clean("\n".join([text, *(f"  more: {m}" for m in more)]))), highlight=False,
                  soft_wrap=True)
        return
    url = safe_url(card.source_url)
    out.print(RichText.assemble((clean(card.title), Style(bold=True, link=url)),
                                f" - {clean(card.place)}  ",
                                (clean(card.match or "not sure"), "bold cyan"), " · ", (clean(card.provenance), "dim")),
              highlight=False)
    if card.provenance_note:
        out.print(RichText(f"  note: {clean(card.provenance_note)}", style="dim"), highlight=False)
    if card.passage:
        out.print(RichText.assemble("  ", (f"{clean(passage_label(card))}: ", "italic"), f"“{clean(card.passage)}”"),
                  highlight=False)
    if card.summary:
        out.print(RichText(f"  {clean(card.summary)}"), highlight=False)
    if card.source_url:
        source = clean(card.source_url)
        out.print(RichText.assemble("  source: ", (source, Style(link=url) if url else "")), highlight=False)
    for hint in more:
        out.print(RichText(f"  more: {clean(hint)}", style="dim"), highlight=False)


def clean(text: str) -> str:
    """``text`` safe for a terminal: C0 and C1 control characters (other than newline and tab, ANSI escapes
    included) and bidi overrides (U+202A-U+202E, U+2066-U+2069) shown escaped (``\\x1b``, ``\\u202e``)."""
    return _UNSAFE.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}", text)


def safe_url(url: str | None) -> str | None:
    """``url`` normalised when it is a well-formed http(s) URL (:func:`knowledge.urls.check_url`), else None."""
    if not url:
        return None
    try:
        return check_url(url)
    except ValueError:
        return None


def reader_zone() -> ZoneInfo:
    """This machine's zone: ``TZ`` when it names an IANA zone, else /etc/localtime, else UTC."""
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        try:
            return ZoneInfo(name)
        except (ValueError, ZoneInfoNotFoundError, OSError):
            pass
    try:
        with open("/etc/localtime", "rb") as handle:
            return ZoneInfo.from_file(handle, key="localtime")
    except (OSError, ValueError):
        return ZoneInfo("UTC")


def _zone_of(block: Time) -> ZoneInfo | None:
    try:
        return ZoneInfo(block.tz) if block.tz else None
    except (ValueError, ZoneInfoNotFoundError, OSError):  # a zone this machine lacks: the reader's, then
        return None


def _feedback_hint(block: Actions) -> str:
    ids = {b.action_id: b.value for b in block.buttons}
    if FEEDBACK_HELPFUL in ids:
        value = ids[FEEDBACK_HELPFUL]
        return f"Was this useful? Type `helpful {value}` or `nothelpful {value} what was missing`."
    if "session_confirm" in ids:
        value = ids["session_confirm"]
        return f"Type `session confirm {value}` to save it, or `session discard {value}`."
    return ""


def _whoami() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in a container: any stable local id will do
        return "local"
