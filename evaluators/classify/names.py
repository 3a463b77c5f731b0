"""Readable class names from folder and file names ("AnnualCrop" -> "Annual Crop",
"001.Black_footed_Albatross" -> "Black footed Albatross")."""

from __future__ import annotations

import re
from collections.abc import Sequence

_CAMEL_WORDS = re.compile(r"^[A-Z][a-z]+(?:[A-Z][a-z]+)+$")
_ORDER_PREFIX = re.compile(r"^\d+[._\-\s]+(?=\S)")


def clean_classname(raw: str) -> str:
    """A readable class name from a folder or file name: underscores to spaces, CamelCase words split
    ("AnnualCrop" -> "Annual Crop"); hyphens are kept ("t-shirt")."""
    name = raw.replace("_", " ")
    if _CAMEL_WORDS.match(name):
        name = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name)
    name = " ".join(name.split())
    return name or raw


def clean_classnames(raw_names: Sequence[str]) -> list[str]:
    """clean_classname for a whole class list: numeric ordering prefixes ("001.Black_footed_Albatross") are
    dropped when every class has one, and names that would collide stay raw."""
    names = list(raw_names)
    if names and all(_ORDER_PREFIX.match(n) for n in names):
        names = [_ORDER_PREFIX.sub("", n) for n in names]
    cleaned = [clean_classname(n) for n in names]
    counts: dict[str, int] = {}
    for name in cleaned:
        counts[name] = counts.get(name, 0) + 1
    return [c if counts[c] == 1 else raw for c, raw in zip(cleaned, raw_names, strict=True)]
