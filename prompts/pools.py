"""Initial template pools: named built-in pools or a user file, validated, deduplicated, optionally sampled.

Built-in pools (sources in prompts/handmade.py):

- ``single``: ``a photo of a {}.``, CLIP's default prompt.
- ``clip-imagenet``: CLIP's 80 hand-made ImageNet templates.
- ``clip-imagenet-selected``: the 7 of them the CLIP notebook selects.
- ``clip-<dataset>``: CLIP's hand-made list for a CoOp dataset (``clip-dtd``, ``clip-ucf101``, ...).
- ``caption``: natural caption-style templates written for this project (no external source).
- ``caption-standin``: 100 caption-style templates written for this project (CC0, prompts/data/
  caption_standin.txt), a stand-in for the LAION-COCO captions of Liu et al.'s released code.

A user file holds one template per line; blank lines and lines starting with ``#`` are ignored (a ``#``
inside a template is kept).

Two draws of ``size`` templates: promptclimb's (a seeded sample kept in pool order) and the released code's
of Liu et al. (``draw="liu2024"``: ``random.seed(seed); random.sample(lines, min(size, len(lines)))`` over
the file's lines, kept in sample order; the lines drawn are then used as templates, their ``{}`` filled
with the class name, and a drawn line that is not a usable template is skipped, as the release skips a
template whose scoring fails).
"""

from __future__ import annotations

import random
from importlib import resources
from pathlib import Path
from typing import Literal

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


# Built-in pools kept as files in prompts/data (read on use).
FILE_POOLS: dict[str, str] = {"caption-standin": "caption_standin.txt"}
Draw = Literal["promptclimb", "liu2024"]


def load_pool(
    name_or_path: str, *, size: int | None = None, seed: int = 0, draw: Draw = "promptclimb"
) -> list[str]:
    """The templates of a built-in pool or of a user file, validated and deduplicated (first spelling
    wins); with ``size``, a seeded random sample of that many (all of them when the pool is smaller),
    kept in pool order, or drawn as Liu et al.'s released code draws (``draw="liu2024"``)."""
    if size is not None and size < 1:
        raise TemplateError(f"pool size must be at least 1, got {size}")
    path = _pool_path(name_or_path)
    if draw == "liu2024" and path is not None:
        return _release_draw(path, size, seed)
    if name_or_path in POOLS:
        templates = _dedupe(validate(t) for t in POOLS[name_or_path])
    elif path is not None:
        templates = _read_pool_file(path)
    else:
        known = ", ".join(sorted([*POOLS, *FILE_POOLS]))
        raise TemplateError(f"unknown pool '{name_or_path}' (not a file either); known pools: {known}")
    return _sample(templates, size, seed)


def _pool_path(name_or_path: str) -> Path | None:
    """The file behind a pool: the shipped stand-in, a user file, or None (a built-in list)."""
    if name_or_path in FILE_POOLS:
        return Path(str(resources.files("promptclimb.prompts.data").joinpath(FILE_POOLS[name_or_path])))
    if name_or_path in POOLS:
        return None
    return Path(name_or_path) if Path(name_or_path).is_file() else None


def _pool_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, stripped line) of every template line: blank and '#' comment lines left out."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"{path}: cannot read pool file ({exc.__class__.__name__})") from exc
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), start=1) if _is_template(line)]


def _is_template(line: str) -> bool:
    return bool(line.strip()) and not line.lstrip().startswith("#")


def _release_draw(path: Path, size: int | None, seed: int) -> list[str]:
    """Liu et al.'s draw: the global-RNG sample of the released code, in sample order; unusable lines
    drawn are skipped (the release skips a template whose scoring raises)."""
    lines = [line for _, line in _pool_lines(path)]
    if size is not None:
        lines = random.Random(seed).sample(lines, min(size, len(lines)))  # = random.seed(s); random.sample
    templates = []
    for line in lines:
        try:
            templates.append(validate(line))
        except TemplateError:
            continue
    if not templates:
        raise TemplateError(f"{path}: no usable template among the {len(lines)} lines drawn")
    return _dedupe(templates)


def _read_pool_file(path: Path) -> list[str]:
    templates = []
    for number, line in _pool_lines(path):
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
