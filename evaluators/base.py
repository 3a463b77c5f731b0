"""The scorer interface the graph depends on: "score these templates on this split".

Any vision-language model (CLIP through transformers, OpenCLIP, SigLIP, a remote API) plugs in by
implementing ``Scorer``; the nodes never see models, tensors or images.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol

import numpy as np
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


class DualEncoder(Protocol):
    """A model that embeds inputs (images, texts, ...) and class prompts in one space: what ClipScorer
    needs to score templates by argmax cosine. CLIP and sentence encoders implement it; a plugin scorer
    (entry-point group ``promptclimb.scorers``) may return one."""

    identity: str  # everything that changes the features: the feature cache's key
    embed_dim: int
    modality: str  # "image" | "text": what the inputs are, for the meta-prompt
    random_weights: bool

    def input_key(self, item: Any) -> bytes | None:
        """The cache key of one dataset item under this model (None: the item cannot be read)."""
        ...

    def encode_inputs(self, items: Sequence[Any]) -> tuple[np.ndarray, list[int]]:
        """L2-normalised features of the readable items and their indices in ``items``."""
        ...

    def encode_text_groups(self, groups: Sequence[Sequence[str]]) -> list[tuple[np.ndarray, list[bool]]]:
        """Per group of class prompts: L2-normalised features and, per prompt, whether it was cut."""
        ...
