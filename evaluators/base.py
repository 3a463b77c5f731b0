"""The scorer interface the graph depends on: "score these templates on this split".

Any vision-language model (CLIP through transformers, OpenCLIP, SigLIP, a remote API) plugs in by
implementing ``Scorer``; the nodes never see models, tensors or images.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

from pydantic import BaseModel

Split = Literal["train", "val", "test"]


class TemplateScore(BaseModel):
    """Zero-shot classification result of one template (or one ensemble) on one split."""

    template: str
    split: Split
    accuracy: float  # fraction in [0, 1]
    n_images: int
    n_correct: int
    margin: float  # mean (correct-class cosine - best wrong-class cosine), for tie-breaks
    per_class: list[float] = []  # accuracy per class, in class order
    truncated: bool = False  # some class prompt exceeded the text encoder's limit and was cut
    seconds: float = 0.0


class Scorer(Protocol):
    """Scores prompt templates by zero-shot accuracy; caches whatever it can."""

    classnames: list[str]

    def has_split(self, split: Split) -> bool:
        """Whether the dataset has this split (val is optional)."""
        ...

    def score(self, templates: Sequence[str], split: Split) -> list[TemplateScore]:
        """One result per template, in order. Templates are already validated."""
        ...

    def score_ensemble(self, templates: Sequence[str], split: Split) -> TemplateScore:
        """Mean of the normalized text embeddings of the templates, per class."""
        ...
