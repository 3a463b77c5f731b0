"""Exceptions of the llm package. Messages are one line: the CLI prints them as they are."""

from __future__ import annotations

from promptclimb.errors import UserError


class BackendError(UserError, RuntimeError):
    """A chat backend cannot be opened: unknown provider, missing package or key, bad model file..."""


class LLMUnavailable(RuntimeError):
    """The chat model cannot be reached: retries exhausted, server gone, request refused (4xx)."""


def one_line(text: object, limit: int = 300) -> str:
    """Collapse a message (often a multi-line traceback-ish text) into one bounded line."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."
