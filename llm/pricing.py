"""Estimated cost of LLM calls: USD per million input/output tokens, by model.

The built-in table holds list prices of common OpenAI and Anthropic chat models (mid-2025; estimates, check
the provider's page for billing). Local and scripted models cost nothing. Users add or override entries with
a TOML or JSON file named by the environment variable PROMPTCLIMB_PRICES::

    # prices.toml: keys are "model" or "provider:model"; prices in USD per 1M tokens
    "gpt-4o-mini" = { input = 0.15, output = 0.60 }
    "openai:my-finetune" = { input = 0.30, output = 1.20 }

A model found nowhere costs 0 and its backend's ``price`` is None: its calls are counted as unpriced, and
``cost_text`` writes "unknown" instead of a made-up $0.0000.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

from pydantic import BaseModel

from promptclimb.errors import UserError

PRICES_ENV = "PROMPTCLIMB_PRICES"
FREE_PROVIDERS = frozenset({"local", "gguf", "scripted"})


class ModelPrice(BaseModel):
    """USD per one million tokens."""

    input_per_mtok: float
    output_per_mtok: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1_000_000


class PriceFileError(UserError, ValueError):
    """The PROMPTCLIMB_PRICES file is unreadable or malformed (one-line message)."""


def _p(input_per_mtok: float, output_per_mtok: float) -> ModelPrice:
    return ModelPrice(input_per_mtok=input_per_mtok, output_per_mtok=output_per_mtok)


BUILTIN_PRICES: dict[str, ModelPrice] = {
    # OpenAI (the paper used gpt-3.5-turbo)
    "gpt-3.5-turbo": _p(0.50, 1.50),
    "gpt-4": _p(30.00, 60.00),
    "gpt-4-turbo": _p(10.00, 30.00),
    "gpt-4o": _p(2.50, 10.00),
    "gpt-4o-mini": _p(0.15, 0.60),
    "gpt-4.1": _p(2.00, 8.00),
    "gpt-4.1-mini": _p(0.40, 1.60),
    "gpt-4.1-nano": _p(0.10, 0.40),
    "gpt-5": _p(1.25, 10.00),
    "gpt-5-mini": _p(0.25, 2.00),
    "gpt-5-nano": _p(0.05, 0.40),
    "o1": _p(15.00, 60.00),
    "o1-mini": _p(1.10, 4.40),
    "o3": _p(2.00, 8.00),
    "o3-mini": _p(1.10, 4.40),
    "o4-mini": _p(1.10, 4.40),
    # Anthropic
    "claude-3-haiku": _p(0.25, 1.25),
    "claude-3-5-haiku": _p(0.80, 4.00),
    "claude-haiku-4-5": _p(1.00, 5.00),
    "claude-3-5-sonnet": _p(3.00, 15.00),
    "claude-3-7-sonnet": _p(3.00, 15.00),
    "claude-sonnet-4": _p(3.00, 15.00),
    "claude-sonnet-4-5": _p(3.00, 15.00),
    "claude-3-opus": _p(15.00, 75.00),
    "claude-opus-4": _p(15.00, 75.00),
    "claude-opus-4-1": _p(15.00, 75.00),
}

# Dated or aliased snapshots share their family's price: "gpt-4o-2024-08-06", "claude-3-5-haiku-20241022".
_SNAPSHOT_SUFFIX = re.compile(r"-(latest|\d{8}|\d{4}-\d{2}-\d{2}|\d{4})$")


def price_for(provider: str, model: str) -> ModelPrice | None:
    """The price of ``provider:model``, or None when it is not known."""
    if provider in FREE_PROVIDERS:
        return _p(0.0, 0.0)
    table = {**BUILTIN_PRICES, **load_user_prices()}
    for name in (f"{provider}:{model}", model, _SNAPSHOT_SUFFIX.sub("", model)):
        if name in table:
            return table[name]
    return None


def load_user_prices() -> dict[str, ModelPrice]:
    """Entries of the file named by PROMPTCLIMB_PRICES ({} when the variable is unset)."""
    location = os.environ.get(PRICES_ENV)
    if not location:
        return {}
    path = Path(location)
    raw = _read_price_file(path)
    if not isinstance(raw, dict):
        raise PriceFileError(f"{PRICES_ENV} file {path}: expected a table of model names")
    return {str(name): _parse_entry(path, str(name), entry) for name, entry in raw.items()}


def _read_price_file(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PriceFileError(f"{PRICES_ENV} file {path}: {exc.strerror or exc}") from None
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # Python 3.10: the same parser, from PyPI (a dependency there)
            import tomli as tomllib

        return tomllib.loads(text)
    except ValueError as exc:  # json.JSONDecodeError and tomllib.TOMLDecodeError both are ValueErrors
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise PriceFileError(f"{PRICES_ENV} file {path}: {first_line}") from None


def _parse_entry(path: Path, name: str, entry: object) -> ModelPrice:
    if isinstance(entry, dict):
        try:
            return _p(float(entry["input"]), float(entry["output"]))
        except (KeyError, TypeError, ValueError):
            pass
    raise PriceFileError(
        f'{PRICES_ENV} file {path}: entry "{name}" needs numbers "input" and "output" (USD per 1M tokens)'
    )


def cost_text(cost_usd: float, unpriced_calls: int = 0) -> str:
    """A run's LLM cost as printed: "$0.0123", "unknown" (no call priced), "$0.0123 + unknown" (some)."""
    if not unpriced_calls:
        return f"${cost_usd:.4f}"
    return "unknown" if cost_usd == 0 else f"${cost_usd:.4f} + unknown"


def usage_cost_text(usage: dict | None) -> str:
    """``cost_text`` of a summary's ``usage`` (None: no call yet)."""
    usage = usage or {}
    return cost_text(usage.get("cost_usd", 0.0), usage.get("unpriced_calls", 0))
