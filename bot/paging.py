"""Pages of a long list: each page fits any platform's message (a number of items and of characters), and its
footer says in plain words which command shows the next one."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from .errors import InvalidInput
from .messages import Actions, Button, Text

T = TypeVar("T")
#: Items a page of each list shows (fewer when they are long: a page also stays within :data:`PAGE_CHARS`). The
#: chat commands, the console and the CLI's ``--page`` count the same pages.
SESSIONS_PAGE = 10
CHALLENGES_PAGE = 15
CITIES_PAGE = 15
QUESTIONS_PAGE = 10
SOLUTIONS_PAGE = 20
REVIEW_PAGE = 10
#: The most results of one question that ``rrr-bot ask --page`` pages through (``--k`` a page), the nearest first.
RESULTS_MAX = 50
#: The longest text of one item of a chat list (a question, a title): longer ones are cut with "…".
ITEM_CHARS = 300
#: Characters of one page's items: well within Discord's 2,000-character message and Slack's 3,000-character section.
PAGE_CHARS = 1400
#: The actions of the "Next page" / "Previous page" buttons (two, since Slack wants unique action ids in a row);
#: the value is the command that shows that page.
PAGE_ACTION = "list_page"
PREVIOUS_PAGE_ACTION = "list_page_previous"
PAGE_ACTIONS = (PAGE_ACTION, PREVIOUS_PAGE_ACTION)
#: The longest command a page button carries (Discord keeps a button's action and value in 100 characters).
PAGE_VALUE = 80


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list: its ``items``, the number of their first one (1-based), and where it stands."""

    items: tuple[T, ...]
    number: int
    count: int
    first: int
    total: int

    @property
    def last(self) -> int:
        """The number (1-based) of the page's last item."""
        return self.first + len(self.items) - 1

    def footer(self, command: str) -> Text | None:
        """"Page 1 of 7: `session list 2` for the next." (None when everything fits one page)."""
        if self.count <= 1:
            return None
        words = f"Page {self.number} of {self.count}"
        if self.number < self.count:
            words += f": `{command} {self.number + 1}` for the next"
            if self.number > 1:
                words += f", `{command} {self.number - 1}` for the previous"
        else:
            words += f", the last: `{command} {self.number - 1}` for the previous"
        return Text(words + ".", "muted")

    def buttons(self, command: str) -> Actions | None:
        """"Previous page" / "Next page" buttons, each carrying the command of its page (None on a single page or
        when the command is too long for a button)."""
        if self.count <= 1 or len(command) > PAGE_VALUE - 4:
            return None
        buttons = []
        if self.number > 1:
            buttons.append(Button("Previous page", PREVIOUS_PAGE_ACTION, f"{command} {self.number - 1}"))
        if self.number < self.count:
            buttons.append(Button("Next page", PAGE_ACTION, f"{command} {self.number + 1}", "primary"))
        return Actions(tuple(buttons))

    def end(self, command: str) -> tuple[Text | Actions, ...]:
        """The blocks that close a page: the footer in words and the page buttons (nothing on a single page)."""
        return tuple(b for b in (self.footer(command), self.buttons(command)) if b is not None)


def shorten(text: str, limit: int = ITEM_CHARS) -> str:
    """``text`` on one line and at most ``limit`` characters, cut at a word with "…", never inside ``<...>`` markup
    (a Discord timestamp, a mention)."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    head = text[:limit - 1]
    if " " in head[limit // 2:]:
        head = head[:head.rindex(" ")]
    if head.rfind("<") > head.rfind(">"):
        head = head[:head.rindex("<")]
    return head.rstrip() + "…"


def text_length(text: str) -> int:
    """The length of ``text`` once a platform has escaped it, at the most (Slack writes ``&`` as ``&amp;``, ``<`` and
    ``>`` as ``&lt;`` ``&gt;``; Discord puts a backslash before ``[``, ``]`` and ``\\``): what a page's items are
    measured by, so an escaped page still fits."""
    return len(text) + 4 * sum(map(text.count, "&<>")) + sum(map(text.count, "[]\\"))


def paginate(items: Sequence[T], number: int, *, size: int, chars: int = PAGE_CHARS,
             length: Callable[[T], int] = lambda item: text_length(str(item)), command: str = "") -> Page[T]:
    """Page ``number`` (1-based) of ``items``: at most ``size`` items and ``chars`` characters (by ``length``) a
    page, at least one item. A page past the last is a polite :class:`InvalidInput` naming the last one."""
    pages: list[tuple[int, int]] = []
    start = 0
    while start < len(items):
        end, used = start, 0
        while end < len(items) and end - start < size and (end == start or used + length(items[end]) <= chars):
            used += length(items[end])
            end += 1
        pages.append((start, end))
        start = end
    if number < 1 or number > max(1, len(pages)):
        raise InvalidInput(past_the_end(number, max(1, len(pages)), command))
    begin, end = pages[number - 1] if pages else (0, 0)
    return Page(tuple(items[begin:end]), number, max(1, len(pages)), begin + 1, len(items))


def past_the_end(number: int, count: int, command: str = "") -> str:
    """"There is no page 9: there are only 3 pages; try `cities 3`." (one line, saying what to type instead)."""
    pages = "there is only 1 page" if count == 1 else f"there are only {count} pages"
    if number < 1:
        pages = "pages start at 1"
        count = 1
    return f"There is no page {number}: {pages}" + (f"; try `{command} {count}`." if command else ".")


def page_argument(rest: str, command: str) -> int:
    """The page number a list command was given: none is page 1; anything but a number is a usage line."""
    if not rest.strip():
        return 1
    if not rest.strip().isdecimal():
        raise InvalidInput(f"Usage: `{command} [PAGE]`, e.g. `{command} 2` for the second page.")
    return int(rest.strip())


def page_number(text: str) -> tuple[str, int]:
    """``"Belo Horizonte 2"`` -> ``("Belo Horizonte", 2)``; no trailing number is page 1."""
    head, _, last = text.strip().rpartition(" ")
    if last.isdecimal():
        return head.strip(), int(last)
    if not head and text.strip().isdecimal():
        return "", int(text.strip())
    return text.strip(), 1
