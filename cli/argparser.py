"""The argument parser of every promptclimb command: strict, one-line errors, and the nearest flag suggested.

``--iter`` is not taken for ``--iterations`` (no abbreviations: a later option could make it ambiguous), a
typo is refused by the command it was given to with the flag it most likely meant, and every argparse error
is the one ``error:`` line of any bad input (exit 2), not a screen of usage.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Iterable, Sequence
from typing import Any, NoReturn

from promptclimb.cli.console import error

# A negative number is a value, not a flag (argparse's own rule, for options such as --temperature -1).
NEGATIVE_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$")


def nearest(word: str, choices: Iterable[str]) -> str | None:
    """The choice ``word`` most likely meant: one it abbreviates, else the closest spelling (difflib)."""
    choices = list(choices)
    started = [c for c in choices if c.startswith(word)]
    if len(started) == 1:
        return started[0]
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return close[0] if close else None


class Parser(argparse.ArgumentParser):
    """An ArgumentParser without abbreviations whose errors are one line naming the command."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        error(f"{self.prog}: {message} (see {self.prog} --help)")
        sys.exit(2)

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[Any, list[str]]:
        words = list(sys.argv[1:] if args is None else args)
        self.refuse_unknown_flags(words)
        return super().parse_known_args(words, namespace)

    def refuse_unknown_flags(self, words: list[str]) -> None:
        """An unknown ``--flag`` is refused here, before argparse complains of a missing required option or
        hands the flag to the top-level parser (whose usage names no command)."""
        takes_command = self._subparsers is not None
        for word in words:
            if word == "--":
                return
            if not word.startswith("-") or word == "-" or " " in word or NEGATIVE_NUMBER.match(word):
                if takes_command:
                    return  # the command's own parser checks the rest
                continue
            flag = word.split("=", 1)[0]
            if flag in self._option_string_actions:
                continue
            guess = nearest(flag, [f for f in self._option_string_actions if f.startswith("--")])
            hint = f"; did you mean {guess}?" if guess else ""
            if guess and guess.startswith(flag):
                hint += " (options are never abbreviated)"
            self.error(f"unknown option {flag}{hint}")

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        """A choice (a command, a --meta style) that is not one is refused with the nearest one named."""
        choices = action.choices
        if choices is None or value in choices:
            return
        known = [str(c) for c in choices]
        guess = nearest(str(value), known)
        hint = f"; did you mean {guess}?" if guess else f" (choose from {', '.join(known)})"
        raise argparse.ArgumentError(action, f"invalid choice: {value!r}{hint}")
