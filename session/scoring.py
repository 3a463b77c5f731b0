"""``promptclimb score``: templates and class-prompt files scored by hand, with the caches runs use.

The session owns it like a run: the data, the scorer model and the scorer are loaded here; the CLI only
parses and prints the rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from promptclimb.evaluators.classify.class_prompts import ClassPrompts, read_class_prompts
from promptclimb.evaluators.classify.errors import DataError
from promptclimb.evaluators.classify.scorer import ClipScorer, default_cache_dir
from promptclimb.graph.config import RunConfig
from promptclimb.nodes.finalize import PHOTO_BASELINE
from promptclimb.prompts.pools import handmade_templates, load_pool
from promptclimb.prompts.template import TemplateError, validate
from promptclimb.session.classify import load_data, open_scorer_model

ROW_KEYS = ("template", "split", "accuracy", "n_images", "seconds")


def score_rows(
    scorer: ClipScorer, templates: list[str], split: str, baselines: bool, class_prompts: ClassPrompts | None
) -> list[dict[str, Any]]:
    results = scorer.score(templates, split) if templates else []  # type: ignore[arg-type]
    if class_prompts is not None:
        per_class = class_prompts.by_index(scorer.classnames)
        results.append(scorer.score_classes(class_prompts.templates, per_class, split))  # type: ignore[arg-type]
    if baselines:
        photo = scorer.score([PHOTO_BASELINE], split)[0]  # type: ignore[arg-type]
        photo.template = f"baseline: {PHOTO_BASELINE}"
        handmade = scorer.score_ensemble(handmade_templates(scorer.dataset.name), split)  # type: ignore[arg-type]
        handmade.template = "baseline: hand-made ensemble"
        results += [photo, handmade]
    return [{k: getattr(r, k) for k in ROW_KEYS} for r in results]


def score_prompts(
    config: RunConfig,
    templates: list[str],
    templates_file: str | None,
    class_prompts_file: str | None,
    split: str,
    baselines: bool,
) -> tuple[str, list[dict[str, Any]]]:
    """The dataset's name and one row per template (then the class-specific classifier, the baselines)."""
    checked = [validate(t) for t in templates]
    if templates_file:
        checked += load_pool(templates_file)
    class_prompts = read_class_prompts(Path(class_prompts_file)) if class_prompts_file else None
    if not checked and not baselines and class_prompts is None:
        raise TemplateError(
            "no templates: give TEMPLATE arguments, --templates FILE, --class-prompts FILE or --baselines"
        )
    dataset = load_data(config)
    if not dataset.has_split(split):
        raise DataError(f"dataset '{dataset.name}' has no {split} split")
    backbone = open_scorer_model(config, dataset)
    scorer = ClipScorer(backbone, dataset, config.cache_dir or default_cache_dir())
    return dataset.name, score_rows(scorer, checked, split, baselines, class_prompts)
