"""The paper's class names for the CoOp datasets: OpenAI CLIP's readable names, in CoOp's label order.

Two sets of names exist for the 11 CoOp benchmark datasets (RunConfig ``class_names``):

- ``coop``: the names CoOp's split files (or variants.txt, classnames.txt) store, cleaned as CoOp does
  ("car side", "indoor apse", "Annual Crop Land"). promptclimb's default for ordinary runs.
- ``clip``: OpenAI CLIP's readable names ("side of a car", "apse indoor", "annual crop land"), which the
  official code of Liu et al. (CVPR 2024, arXiv 2309.05950) puts in place of CoOp's for ImageNet, Caltech101,
  EuroSAT, Flowers102, StanfordCars, SUN397 and UCF101; DTD, Food101, OxfordPets and FGVCAircraft keep
  their split names. The paper's suite uses these (its published numbers were measured with them).

Source (reference data, prompts/data/clip_classnames.json): the ``OPENAI_*`` lists of
github.com/shihongl1998/LLM-as-a-blackbox-optimizer, commit 6612c846366eda5c0b135d2645caeabe927ea6a7,
engine/datasets/<dataset>.py. That code assigns them by label index (``lab2cname = {i: name}``), so the
lists are in CoOp's label order: sorted folder names for Caltech101 (upper case first: "Faces", "Leopards",
"Motorbikes", "accordion", ...) and EuroSAT, ClassName.txt order for SUN397, the dataset's own label order
for Flowers102, StanfordCars and UCF101, sorted WordNet ids for ImageNet. They come from OpenAI CLIP's
data/prompts.md (github.com/openai/CLIP, commit e184f608c5d5e58165682f7c332c3a8b4c1545f2, MIT License) and
its ImageNet notebook; where the paper's code differs from those, the paper's code is kept (it is what the
published numbers used):

- Caltech101: OpenAI's 'background' is dropped and 'off-center face' / 'centered face' become one 'face'
  (CoOp ignores BACKGROUND_Google and Faces_easy); 'head of a  crocodile' keeps its double space.
- EuroSAT: the same ten names as prompts.md, reordered into CoOp's (sorted folder) label order.
- SUN397: 'treehouse' where prompts.md has 'tree house'.
- ImageNet: 'eft', 'maillot', 'projectile', 'sunglass' where the bundled notebook list
  (prompts/data/imagenet_classes.tsv) has 'newt', 'tights', 'missile', 'sunglasses'.

Alignment is by position, as in the paper's code, so a split file whose classes are not CoOp's would be
mislabelled silently; ``published_classnames`` therefore checks the class count and that most names share
a word with the split's own names (every published dataset passes with its CoOp split), and says which
position disagrees when they do not.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources

CLASS_NAMES = ("coop", "clip")  # RunConfig.class_names
# Datasets whose names the paper's code replaces; the others keep their split names.
PUBLISHED_DATASETS = (
    "imagenet", "caltech101", "oxford_flowers", "stanford_cars", "sun397", "eurosat", "ucf101"
)  # fmt: skip
# The share of classes whose published and split names must have a word in common (EuroSAT, the dataset
# renamed most, has 9 of 10: 'brushland or shrubland' for 'Herbaceous Vegetation Land').
MIN_SHARED_WORDS = 0.5


class ClassNamesError(ValueError):
    """Published names that do not fit a dataset's classes; the message says where."""


@cache
def _table() -> dict[str, tuple[str, ...]]:
    text = resources.files("promptclimb.prompts.data").joinpath("clip_classnames.json").read_text("utf-8")
    raw = json.loads(text)
    return {key: tuple(raw[key]) for key in PUBLISHED_DATASETS}


def clip_classnames(key: str) -> list[str] | None:
    """The paper's (OpenAI CLIP's) names of a CoOp dataset in CoOp's label order; None for the datasets
    that keep their split names (DTD, Food101, OxfordPets, FGVCAircraft)."""
    names = _table().get(key)
    return list(names) if names is not None else None


def imagenet_clip_names_by_wnid() -> dict[str, str]:
    """WordNet id -> the paper's ImageNet name (label i is the i-th sorted WordNet id)."""
    from promptclimb.prompts.handmade import imagenet_wnids

    return dict(zip(imagenet_wnids(), _table()["imagenet"], strict=True))


def published_classnames(key: str, split_names: list[str]) -> list[str]:
    """The names a ``clip`` run uses for a CoOp dataset whose split names (label order) are given:
    the published list for the seven renamed datasets, the split names for the other four."""
    published = clip_classnames(key)
    if published is None:
        return list(split_names)
    if len(published) != len(split_names):
        raise ClassNamesError(
            f"{key}: the published class names list {len(published)} classes, the split has "
            f"{len(split_names)}; use class_names 'coop' for a split that is not CoOp's"
        )
    _check_alignment(key, published, split_names)
    return published


def _words(name: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", name.lower()))


def _check_alignment(key: str, published: list[str], split_names: list[str]) -> None:
    pairs = list(zip(published, split_names, strict=True))
    shared = [bool(_words(a) & _words(b)) for a, b in pairs]
    if sum(shared) < MIN_SHARED_WORDS * len(pairs):
        first = shared.index(False)
        raise ClassNamesError(
            f"{key}: the split's classes do not line up with the published names (label {first}: "
            f"'{split_names[first]}' vs '{published[first]}'); is it CoOp's split file?"
        )
