"""Initial template pools: named built-in pools or a user file, validated, deduplicated, optionally sampled.

Built-in pools (sources in prompts/handmade.py):

- ``single``: ``a photo of a {}.``, CLIP's default prompt.
- ``clip-imagenet``: CLIP's 80 hand-made ImageNet templates.
- ``clip-imagenet-selected``: the 7 of them the CLIP notebook selects.
- ``clip-<dataset>``: CLIP's hand-made list for a CoOp dataset (``clip-dtd``, ``clip-ucf101``, ...).
- ``caption``: natural caption-style templates written for this project (no external source).

A user file holds one template per line; blank lines and lines starting with ``#`` are ignored (a ``#``
inside a template is kept).
"""

from __future__ import annotations

import random
from pathlib import Path

from promptclimb.prompts.handmade import (
    CLIP_TEMPLATES,
    IMAGENET_TEMPLATES_SELECTED,
    coop_template,
    dataset_key,
    handmade_templates,
    imagenet_classname_by_wnid,
    imagenet_classnames,
    imagenet_templates,
    imagenet_wnids,
)
from promptclimb.prompts.template import TemplateError, normalize, validate

__all__ = [
    "CAPTION_TEMPLATES",
    "POOLS",
    "coop_template",
    "dataset_key",
    "handmade_templates",
    "imagenet_classname_by_wnid",
    "imagenet_classnames",
    "imagenet_wnids",
    "load_pool",
]

# Written for promptclimb: everyday caption phrasings (photo kinds, framing, context), no style words like
# "sketch" or "origami" that the CLIP ImageNet set already covers.
CAPTION_TEMPLATES: tuple[str, ...] = (
    "a close-up photo of a {}.",
    "an image showing a {} in the wild.",
    "a photo of a {} taken outdoors.",
    "a photo of a {} taken indoors.",
    "a snapshot of a {}.",
    "a picture of a {}.",
    "a high-resolution photo of a {}.",
    "a professional photo of a {}.",
    "an amateur photo of a {}.",
    "a phone photo of a {}.",
    "a cropped image of a {}.",
    "a centered photo of a {}.",
    "a photo of a {} on a plain background.",
    "a photo of a {} against a white background.",
    "a photo of a {} in natural light.",
    "a blurry snapshot of a {}.",
    "a well-lit photo of a {}.",
    "a photo of a {} seen from the side.",
    "a photo of a {} seen from above.",
    "a photo with a {} in the foreground.",
    "a photo with a {} in the background.",
    "a photo of a single {}.",
    "a photo of a {} next to other things.",
    "a photo of someone holding a {}.",
    "a detailed photo of a {}.",
    "a typical example of a {}.",
    "a real photo of a {}.",
    "this is a photo of a {}.",
    "there is a {} in this photo.",
    "a photo that shows a {}.",
    "an everyday photo of a {}.",
    "a stock photo of a {}.",
    "a product photo of a {}.",
    "an online listing photo of a {}.",
    "a documentary photo of a {}.",
    "a wide shot of a {}.",
    "a zoomed-in photo of the {}.",
    "a photo of the {}, in focus.",
    "a small photo of a {}.",
    "a colorful photo of a {}.",
    "a photo of a {} in its usual surroundings.",
    "a candid photo of a {}.",
    "a {} photographed up close.",
    "my photo of a {}.",
    "an image of a {}.",
    "a clear photo showing one {}.",
)

POOLS: dict[str, list[str]] = {
    "single": ["a photo of a {}."],
    "clip-imagenet": imagenet_templates(),
    "clip-imagenet-selected": list(IMAGENET_TEMPLATES_SELECTED),
    "caption": list(CAPTION_TEMPLATES),
    **{f"clip-{key}": list(templates) for key, templates in CLIP_TEMPLATES.items()},
}


def load_pool(name_or_path: str, *, size: int | None = None, seed: int = 0) -> list[str]:
    """The templates of a built-in pool or of a user file, validated and deduplicated (first spelling
    wins); with ``size``, a seeded random sample of that many (all of them when the pool is smaller),
    kept in pool order."""
    if size is not None and size < 1:
        raise TemplateError(f"pool size must be at least 1, got {size}")
    if name_or_path in POOLS:
        templates = _dedupe(validate(t) for t in POOLS[name_or_path])
    elif Path(name_or_path).is_file():
        templates = _read_pool_file(Path(name_or_path))
    else:
        known = ", ".join(sorted(POOLS))
        raise TemplateError(f"unknown pool '{name_or_path}' (not a file either); known pools: {known}")
    return _sample(templates, size, seed)


def _read_pool_file(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"{path}: cannot read pool file ({exc.__class__.__name__})") from exc
    templates = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            templates.append(validate(line))
        except TemplateError as exc:
            raise TemplateError(f"{path}:{number}: {exc}") from exc
    if not templates:
        raise TemplateError(f"{path}: no templates (one per line, '#' starts a comment line)")
    return _dedupe(templates)


def _dedupe(templates) -> list[str]:
    seen: set[str] = set()
    unique = []
    for template in templates:
        key = normalize(template)
        if key not in seen:
            seen.add(key)
            unique.append(template)
    return unique


def _sample(templates: list[str], size: int | None, seed: int) -> list[str]:
    if size is None or size >= len(templates):
        return templates
    chosen = set(random.Random(f"promptclimb-pool:{seed}").sample(range(len(templates)), size))
    return [t for i, t in enumerate(templates) if i in chosen]
