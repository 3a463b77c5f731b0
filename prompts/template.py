"""Prompt templates: safe substitution, normalization and validation.

A template is plain text with one or more ``{}`` placeholders, each replaced by the class name.
Substitution is plain text replacement, never ``str.format``: LLM text such as ``{0.__class__}`` must stay
inert.
"""

from __future__ import annotations

import re

from promptclimb.errors import UserError

PLACEHOLDER = "{}"
MAX_TEMPLATE_CHARS = 300
MAX_PLACEHOLDERS = 3

_WHITESPACE = re.compile(r"\s+")
# C0 and C1 controls (ESC starts terminal escape sequences, \x9b is a one-byte CSI) and the bidi and
# invisible formatting characters that make a template read differently from what CLIP is given.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


class TemplateError(UserError, ValueError):
    """A template that cannot be scored; the message says why in one line."""


def has_controls(text: str) -> bool:
    """Whether ``text`` holds a control, bidi or invisible formatting character (templates refuse them)."""
    return _CONTROL.search(text) is not None


def shown_controls(text: str) -> str:
    """``text`` with those characters written as visible escapes (\\x1b, \\u202e), for documents and
    meta-prompts: what a terminal, an editor or an LLM sees is what is there."""
    return _CONTROL.sub(lambda match: ascii(match.group())[1:-1], text)


def apply_template(template: str, classname: str) -> str:
    """Replace every ``{}`` with the class name (plain replacement, no formatting)."""
    return template.replace(PLACEHOLDER, classname)


def normalize(template: str) -> str:
    """The key used to detect duplicates: collapsed whitespace, lower case."""
    return _WHITESPACE.sub(" ", template).strip().lower()


def validate(template: str, max_chars: int = MAX_TEMPLATE_CHARS) -> str:
    """Return the cleaned template or raise TemplateError with the reason."""
    cleaned = _WHITESPACE.sub(" ", template).strip()
    if not cleaned:
        raise TemplateError("empty template")
    if has_controls(template):
        raise TemplateError("contains control characters")  # bidi and escapes included
    if len(cleaned) > max_chars:
        raise TemplateError(f"longer than {max_chars} characters")
    if PLACEHOLDER not in cleaned:
        raise TemplateError("no {} placeholder for the class name")
    if cleaned.count(PLACEHOLDER) > MAX_PLACEHOLDERS:
        raise TemplateError(f"more than {MAX_PLACEHOLDERS} {{}} placeholders")
    if "{" in cleaned.replace(PLACEHOLDER, "") or "}" in cleaned.replace(PLACEHOLDER, ""):
        raise TemplateError("braces other than the {} placeholder")
    return cleaned
