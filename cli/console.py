"""The consoles of the command line and the one safe way to print text that came from outside.

Templates, LLM replies, class names, paths and server messages are printed as text, never parsed as rich
markup (``[/]`` would crash, ``[link=...]`` would become a live hyperlink), and their control characters,
escape sequences and bidi overrides are shown escaped (``\\x1b``, ``\\u202e``), never sent to the terminal.
Imported by every cli module and by nothing outside cli/, so imports stay one-way.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from rich.console import Console, ConsoleDimensions
from rich.table import Table
from rich.text import Text

# C0 and C1 controls (ESC, CSI 0x9b, OSC ...), DEL, and the bidi/invisible formatting characters that can
# reorder or hide what a reader sees; tab and newline are handled by the caller's layout, not escaped.
UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
# Not a terminal (nohup, SLURM, CI): lines are never wrapped at 80 columns nor cut.
PLAIN_WIDTH = 100_000


def escape(text: object) -> str:
    """``text`` with every unsafe character shown as a Python escape (``\\x1b``, ``\\u202e``)."""
    return UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(text))


def safe(text: object, style: str = "") -> Text:
    """A rich Text of outside text: escaped, never read as markup."""
    return Text(escape(text), style=style)


class _Console(Console):
    """A rich Console that, when its stream is not a terminal, never wraps nor cuts a line at 80 columns.

    The stream is looked up at each print (rich's default), so redirections and pytest's capture work.
    """

    @property
    def size(self) -> ConsoleDimensions:
        size = Console.size.fget(self)
        return size if self.is_terminal else ConsoleDimensions(PLAIN_WIDTH, size.height)


out = _Console(highlight=False)
err = _Console(stderr=True, highlight=False)


def say(text: object, *, to_err: bool = False, style: str = "") -> None:
    """One line (or more) of plain text, escaped; long lines are never wrapped."""
    (err if to_err else out).print(safe(text, style), soft_wrap=True)


def warn(text: object) -> None:
    """A warning on stderr, printed once per command however many times it is raised."""
    line = f"WARNING: {escape(text)}"
    if line not in _warned:
        _warned.add(line)
        say(line, to_err=True, style="bold yellow")


def error(text: object) -> None:
    """The one-line message of a bad-input error (exit status 2)."""
    err.print(Text.assemble(("error:", "bold red"), " ", safe(" ".join(str(text).split()))), soft_wrap=True)


_warned: set[str] = set()


def one_line(exc: BaseException) -> str:
    """A bad-input error in one line; pydantic's errors name the first invalid field."""
    errors = getattr(exc, "errors", None)
    if callable(errors) and type(exc).__name__ == "ValidationError":
        first = errors()[0]
        return f"{'.'.join(map(str, first['loc']))}: {first['msg']}"
    return str(exc)


def table(
    title: object, columns: list[str], rows: list[list[object]], right_from: int | None = None, **options: Any
) -> Table:
    """A table whose title and cells are outside text (never markup); numbers right-aligned from a column."""
    t = Table(title=safe(title), **options)
    for k, column in enumerate(columns):
        right = right_from is not None and k >= right_from
        t.add_column(safe(column), overflow="fold", justify="right" if right else "left")
    for row in rows:
        t.add_row(*(safe(cell) for cell in row))
    return t


class WarningHandler(logging.Handler):
    """The library's logged warnings, printed by the CLI (nodes never print), each once."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a malformed log call must not break a run
            message = str(record.msg)
        if record.levelno >= logging.WARNING:
            warn(message)
        else:
            say(f"{record.levelname.lower()}: {message}", to_err=True)


def setup_logging(debug: bool) -> None:
    """Route promptclimb's loggers to stderr (warnings; everything with --debug), fresh for each command."""
    _warned.clear()
    root = logging.getLogger("promptclimb")
    for handler in [h for h in root.handlers if isinstance(h, WarningHandler)]:
        root.removeHandler(handler)
    root.addHandler(WarningHandler())
    # With a handler here Python's last-resort handler stays silent: each warning is printed once.
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
