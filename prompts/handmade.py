"""Hand-made CLIP prompt templates and ImageNet class names, as published by CLIP and CoOp.

Sources (all MIT License):

- OpenAI CLIP, ``notebooks/Prompt_Engineering_for_ImageNet.ipynb``: the 1000 readable ImageNet class names
  (``data/imagenet_classes.tsv``), the 80 ImageNet templates (``data/imagenet_templates.txt``) and the
  7-template subset the notebook selects.
- OpenAI CLIP, ``data/prompts.md``: the per-dataset template lists (``CLIP_TEMPLATES``).
- CoOp (KaiyangZhou/CoOp), ``trainers/zsclip.py``: one template per dataset (``COOP_TEMPLATES``), the
  zero-shot CLIP baseline of CoOp and of Liu et al. (CVPR 2024).

Templates use ``{}`` for the class name and are kept verbatim (including "a origami {}.").
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

# Canonical keys are CoOp's dataset config names (configs/datasets/<key>.yaml).
COOP_DATASETS = (
    "imagenet",
    "caltech101",
    "oxford_pets",
    "stanford_cars",
    "oxford_flowers",
    "food101",
    "fgvc_aircraft",
    "sun397",
    "dtd",
    "eurosat",
    "ucf101",
)

# Spellings people use for the same datasets, compared after lower-casing and dropping non-alphanumerics.
_ALIASES = {
    "imagenet": "imagenet",
    "imagenet1k": "imagenet",
    "ilsvrc2012": "imagenet",
    "caltech101": "caltech101",
    "oxfordpets": "oxford_pets",
    "pets": "oxford_pets",
    "oxfordiiitpet": "oxford_pets",
    "stanfordcars": "stanford_cars",
    "cars": "stanford_cars",
    "oxfordflowers": "oxford_flowers",
    "flowers102": "oxford_flowers",
    "flowers": "oxford_flowers",
    "food101": "food101",
    "fgvcaircraft": "fgvc_aircraft",
    "aircraft": "fgvc_aircraft",
    "sun397": "sun397",
    "dtd": "dtd",
    "describabletextures": "dtd",
    "eurosat": "eurosat",
    "ucf101": "ucf101",
}


def dataset_key(name: str) -> str | None:
    """The canonical CoOp key of a dataset name ("OxfordPets", "oxford-pets" -> "oxford_pets"), or None."""
    return _ALIASES.get(re.sub(r"[^a-z0-9]", "", name.lower()))


# CoOp's trainers/zsclip.py CUSTOM_TEMPLATES: the single hand-made prompt per dataset.
COOP_TEMPLATES: dict[str, str] = {
    "oxford_pets": "a photo of a {}, a type of pet.",
    "oxford_flowers": "a photo of a {}, a type of flower.",
    "fgvc_aircraft": "a photo of a {}, a type of aircraft.",
    "dtd": "{} texture.",
    "eurosat": "a centered satellite photo of {}.",
    "stanford_cars": "a photo of a {}.",
    "food101": "a photo of {}, a type of food.",
    "sun397": "a photo of a {}.",
    "caltech101": "a photo of a {}.",
    "ucf101": "a photo of a person doing {}.",
    "imagenet": "a photo of a {}.",
}

# The 7 templates the CLIP notebook selects from the 80 (CoOp: IMAGENET_TEMPLATES_SELECT).
IMAGENET_TEMPLATES_SELECTED: tuple[str, ...] = (
    "itap of a {}.",
    "a bad photo of the {}.",
    "a origami {}.",
    "a photo of the large {}.",
    "a {} in a video game.",
    "art of the {}.",
    "a photo of the small {}.",
)

_UCF101_STEMS = ("a photo of", "a video of", "a example of", "a demonstration of")
_UCF101_VERBS = ("", "using ", "doing ", "during ", "performing ", "practicing ")


def _ucf101_templates() -> tuple[str, ...]:
    # CLIP's published UCF101 list, in its order: verb groups x (a/the person) x stems.
    return tuple(
        f"{stem} {article} person {verb}{{}}."
        for verb in _UCF101_VERBS
        for article in ("a", "the")
        for stem in _UCF101_STEMS
    )


# CLIP's data/prompts.md template lists for the CoOp datasets (ImageNet's 80 live in data/).
CLIP_TEMPLATES: dict[str, tuple[str, ...]] = {
    "caltech101": (
        "a photo of a {}.",
        "a painting of a {}.",
        "a plastic {}.",
        "a sculpture of a {}.",
        "a sketch of a {}.",
        "a tattoo of a {}.",
        "a toy {}.",
        "a rendition of a {}.",
        "a embroidered {}.",
        "a cartoon {}.",
        "a {} in a video game.",
        "a plushie {}.",
        "a origami {}.",
        "art of a {}.",
        "graffiti of a {}.",
        "a drawing of a {}.",
        "a doodle of a {}.",
        "a photo of the {}.",
        "a painting of the {}.",
        "the plastic {}.",
        "a sculpture of the {}.",
        "a sketch of the {}.",
        "a tattoo of the {}.",
        "the toy {}.",
        "a rendition of the {}.",
        "the embroidered {}.",
        "the cartoon {}.",
        "the {} in a video game.",
        "the plushie {}.",
        "the origami {}.",
        "art of the {}.",
        "graffiti of the {}.",
        "a drawing of the {}.",
        "a doodle of the {}.",
    ),
    "oxford_pets": ("a photo of a {}, a type of pet.",),
    "stanford_cars": (
        "a photo of a {}.",
        "a photo of the {}.",
        "a photo of my {}.",
        "i love my {}!",
        "a photo of my dirty {}.",
        "a photo of my clean {}.",
        "a photo of my new {}.",
        "a photo of my old {}.",
    ),
    "oxford_flowers": ("a photo of a {}, a type of flower.",),
    "food101": ("a photo of {}, a type of food.",),
    "fgvc_aircraft": (
        "a photo of a {}, a type of aircraft.",
        "a photo of the {}, a type of aircraft.",
    ),
    "sun397": ("a photo of a {}.", "a photo of the {}."),
    "dtd": (
        "a photo of a {} texture.",
        "a photo of a {} pattern.",
        "a photo of a {} thing.",
        "a photo of a {} object.",
        "a photo of the {} texture.",
        "a photo of the {} pattern.",
        "a photo of the {} thing.",
        "a photo of the {} object.",
    ),
    "eurosat": (
        "a centered satellite photo of {}.",
        "a centered satellite photo of a {}.",
        "a centered satellite photo of the {}.",
    ),
    "ucf101": _ucf101_templates(),
}


def _data_lines(filename: str) -> list[str]:
    """Non-comment, non-blank lines of a file in prompts/data/."""
    text = resources.files("promptclimb.prompts.data").joinpath(filename).read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


@cache
def _imagenet_table() -> tuple[tuple[str, str], ...]:
    rows = []
    for line in _data_lines("imagenet_classes.tsv"):
        wnid, name = line.split("\t")
        rows.append((wnid, name))
    return tuple(rows)


def imagenet_classnames() -> list[str]:
    """CLIP's 1000 readable ImageNet class names in label order."""
    return [name for _, name in _imagenet_table()]


def imagenet_wnids() -> list[str]:
    """The 1000 ImageNet WordNet ids in label order (sorted)."""
    return [wnid for wnid, _ in _imagenet_table()]


def imagenet_classname_by_wnid() -> dict[str, str]:
    """WordNet id -> CLIP's readable name."""
    return dict(_imagenet_table())


@cache
def _imagenet_templates() -> tuple[str, ...]:
    return tuple(_data_lines("imagenet_templates.txt"))


def imagenet_templates() -> list[str]:
    """CLIP's 80 hand-made ImageNet templates."""
    return list(_imagenet_templates())


def handmade_templates(dataset_name: str) -> list[str]:
    """The hand-made template ensemble for a dataset: CLIP's own list for the CoOp datasets, ImageNet's 80
    for ImageNet and for any dataset CLIP has no list for (the usual default)."""
    key = dataset_key(dataset_name)
    if key in CLIP_TEMPLATES:
        return list(CLIP_TEMPLATES[key])
    return imagenet_templates()


def coop_template(dataset_name: str) -> str:
    """CoOp's single hand-made template for a dataset; "a photo of a {}." for unknown datasets."""
    return COOP_TEMPLATES.get(dataset_key(dataset_name) or "", "a photo of a {}.")


# The hypothesis template of NLI zero-shot text classifiers: what a user types for texts.
TEXT_HANDMADE = "This example is {}."


def baseline_templates(dataset_name: str, modality: str) -> list[str]:
    """What a user would try first: the bare class name and the single hand-made template."""
    handmade = TEXT_HANDMADE if modality == "text" else coop_template(dataset_name)
    return ["{}", handmade]
