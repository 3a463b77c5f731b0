"""Command-line options made from a config model's fields: the flag from the name, the type and choices from
the annotation, the default and the help from the field (``Field(description=...)``), so each lives once."""

from __future__ import annotations

import argparse
import types
import typing
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def field_option(
    p: argparse._ActionsContainer, model: type[BaseModel], name: str, *, default: bool = True, **given: Any
) -> None:
    """Add ``--name`` for ``model``'s field ``name``; ``default=False`` leaves it None unless given (resume's
    options, where None means "keep the run's own"). ``given`` overrides any argparse keyword."""
    field = model.model_fields[name]
    kind: Any = field.annotation
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        kind = next(arg for arg in typing.get_args(kind) if arg is not type(None))
    options: dict[str, Any] = {"help": field.description}
    if typing.get_origin(kind) is Literal:
        options["choices"] = list(typing.get_args(kind))
    elif kind in (int, float):
        options["type"] = kind
    if field.is_required():
        options["required"] = True
    elif default:
        options["default"] = field.default
    p.add_argument(flag(name), **{**options, **given})


def field_options(
    p: argparse._ActionsContainer, model: type[BaseModel], names: Iterable[str], *, default: bool = True
) -> None:
    for name in names:
        field_option(p, model, name, default=default)
