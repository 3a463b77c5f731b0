"""Scorer specs ("hf:<id>", "openai:RN50", "text:<id>", "<plugin>:<arg>") read without importing torch:
the bench names its cells and the CLI checks a run's config before any model loads."""

from __future__ import annotations

from promptclimb.errors import UserError

BUILT_IN = ("hf", "clip", "text", "siglip", "openai", "open_clip")
HF_KINDS = ("hf", "clip")  # CLIP through transformers: what the --clip option and a bare id mean


class ModelLoadError(UserError, RuntimeError):
    """A model that cannot be loaded; the one-line message says what to do."""


def split_spec(spec: str) -> tuple[str, str]:
    """("hf", "openai/clip-vit-base-patch32") for "hf:openai/..." and for a bare id or path."""
    kind, sep, target = spec.partition(":")
    if not sep or "/" in kind or not kind.isidentifier():  # a bare hub id or a path (C:\\ aside)
        return "hf", spec
    if not target:
        raise ModelLoadError(f"scorer spec '{spec}' names no model after '{kind}:'")
    return kind, target


def is_plugin_spec(spec: str) -> bool:
    return split_spec(spec)[0] not in BUILT_IN
