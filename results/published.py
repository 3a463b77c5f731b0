"""Published results (results/published.toml) for a suite's table: matched by backbone and shots, always
labelled as published, never mixed with what the suite measured."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

AVERAGE = "Average"


@dataclass(frozen=True)
class PublishedTable:
    source: str
    backbone: str
    shots: int | None  # None: not verified, never shown
    protocol: str
    note: str
    rows: dict[str, dict[str, float]] = field(default_factory=dict)  # method or label -> column -> %


@cache
def published_tables() -> tuple[PublishedTable, ...]:
    text = resources.files("promptclimb.results").joinpath("published.toml").read_text("utf-8")
    tables = []
    for raw in tomllib.loads(text).get("tables", []):
        rows = {label: {col: float(v) for col, v in cells.items()} for label, cells in raw["rows"].items()}
        tables.append(
            PublishedTable(
                source=raw["source"],
                backbone=raw["backbone"],
                shots=raw.get("shots"),
                protocol=raw.get("protocol", ""),
                note=raw.get("note", ""),
                rows=rows,
            )
        )
    return tuple(tables)


# CLIP ids and paths -> the backbone names publications use ("openai/clip-vit-base-patch32" -> "ViT-B/32").
_BACKBONES = (
    (r"rn50x4", "RN50x4"),
    (r"rn50x16", "RN50x16"),
    (r"rn50x64", "RN50x64"),
    (r"rn101|resnet-?101", "RN101"),
    (r"rn50|resnet-?50", "RN50"),
    (r"vit-b-32|vit-base-patch32|vit-b/32", "ViT-B/32"),
    (r"vit-b-16|vit-base-patch16|vit-b/16", "ViT-B/16"),
    (r"(vit-l-14|vit-large-patch14).*336|vit-l/14@336", "ViT-L/14@336px"),
    (r"vit-l-14|vit-large-patch14|vit-l/14", "ViT-L/14"),
)


# Other weights of the same architectures (OpenCLIP pretrained tags, other vendors).
_OTHER_TRAININGS = ("laion", "datacomp", "commonpool", "metaclip", "dfn", "eva", "siglip", "yfcc", "cc12m")


def backbone_of(clip: str) -> str | None:
    """The published backbone name of a CLIP id or path, or None when it is none of OpenAI's."""
    lowered = clip.lower()
    if ("clip" not in lowered and "openai" not in lowered) or any(o in lowered for o in _OTHER_TRAININGS):
        return None  # the architecture trained by someone else is not the model publications measured
    for pattern, name in _BACKBONES:
        if re.search(pattern, lowered):
            return name
    return None


def matching(clip: str, shots: int) -> list[PublishedTable]:
    """The published tables with numbers for this CLIP's backbone at this many shots."""
    backbone = backbone_of(clip)
    return [t for t in published_tables() if t.rows and t.backbone == backbone and t.shots == shots]
