"""Console adapter: chat with the core in a terminal, or script it through a pipe (one message a line)."""

from __future__ import annotations

import asyncio
import getpass
from typing import TextIO

from rich.console import Console
from rich.markup import escape

from bot import Bot, Incoming, Reply
from bot.messages import Actions, Facts, Image, SolutionCard, Text

EXIT_WORDS = {"quit", "exit", ":q"}


class ConsoleAdapter:
    """Reads messages from ``stdin`` and writes the core's replies to ``out`` (colours only on a terminal)."""

    def __init__(self, bot: Bot, stdin: TextIO, out: Console, *, user: str | None = None) -> None:
        self.bot = bot
        self.stdin = stdin
        self.out = out
        self.user = user or _whoami()

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
        render_reply(self.out, reply, styled=self.interactive)


def render_reply(out: Console, reply: Reply, *, styled: bool) -> None:
    """Print ``reply`` on ``out``; ``styled`` adds colours and links, otherwise plain text."""
    for block in reply.blocks:
        if isinstance(block, Actions):
            hint = _feedback_hint(block)
            if hint:
                out.print(f"[dim]{_esc(hint)}[/dim]" if styled else hint, markup=styled, highlight=False)
        elif not styled:
            out.print(Reply((block,)).as_text(), markup=False, highlight=False, soft_wrap=True)
        elif isinstance(block, SolutionCard):
            out.print(f"[bold]{_esc(block.title)}[/bold] - {_esc(block.city)}, {_esc(block.country)} "
                      f"[dim]({_esc(block.provenance)}, score {block.score:.2f})[/dim]")
            out.print(f"  {_esc(block.summary)}", highlight=False)
            if block.source_url:
                out.print(f"  [link={block.source_url}]{_esc(block.source_url)}[/link]")
        elif isinstance(block, Text) and block.style in ("heading", "muted"):
            style = "bold" if block.style == "heading" else "dim"
            out.print(f"[{style}]{_esc(block.text)}[/{style}]")
        elif isinstance(block, Image):
            out.print(f"[dim]{_esc(Reply((block,)).as_text())}[/dim]", highlight=False)
        elif isinstance(block, Facts):
            if block.title:
                out.print(f"[bold]{_esc(block.title)}[/bold]")
            for field in block.fields:
                out.print(f"  [cyan]{_esc(field.label)}:[/cyan] {_esc(field.value)}")
        else:
            out.print(_esc(Reply((block,)).as_text()), style="red" if reply.is_error else "", highlight=False)
    out.print("")


def _feedback_hint(block: Actions) -> str:
    ids = {b.action_id: b.value for b in block.buttons}
    if "feedback_helpful" in ids:
        value = ids["feedback_helpful"]
        return f"Was this useful? Type `helpful {value}` or `nothelpful {value} what was missing`."
    return ""


def _esc(text: str) -> str:
    return escape(text)


def _whoami() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in a container: any stable local id will do
        return "local"
