"""``promptclimb export RUN [--clip MODEL]``: the selected templates and a zero-shot classifier head.

Writes into RUN/export/ (or --out):

- ``templates.json``: the selected template, the ensemble, their accuracies and the class order;
- ``classifier.safetensors`` (``classifier-<model>.safetensors`` for another CLIP than the run's): one
  float32 tensor ``class_embeddings`` [classes, dim], the ensemble's class text embeddings (per template:
  L2-normalized embeddings of the filled prompts; mean over templates; L2-normalized again, exactly as the
  scorer's ensemble), and string metadata: ``classnames`` and ``templates`` (JSON lists, class order = row
  order), ``clip`` (model id or directory), ``run_id``. See docs/export.md for loading it.

It never reads the test split: the class names come from the training split's listing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

from promptclimb.errors import UserError
from promptclimb.graph.runs import load_config
from promptclimb.results.atomic import write_text, write_with
from promptclimb.results.summary import summarize

FORMAT = "promptclimb-zero-shot-head"
FORMAT_VERSION = "1"
TENSOR = "class_embeddings"
CLASS_PROMPTS_FILE = "class_prompts.json"


class ExportError(UserError, ValueError):
    """A run that cannot be exported; the one-line message says why."""


@dataclass
class ExportResult:
    clip: str
    classnames: list[str]
    templates: list[str]
    dim: int
    templates_path: Path
    head_path: Path
    random_weights: bool
    classifier: str = ""  # a class-specific head: what it holds ("1 template + 4 class texts"); else ""


def head_name(clip: str, run_clip: str) -> str:
    if clip == run_clip:
        return "classifier.safetensors"
    base = Path(clip).name if Path(clip).exists() else clip.split("/")[-1]
    return f"classifier-{re.sub(r'[^A-Za-z0-9.]+', '-', base).strip('-').lower()}.safetensors"


def export(
    run_dir: Path,
    *,
    clip: str | None = None,
    out_dir: Path | None = None,
    device: str | None = None,
    precision: str | None = None,
) -> ExportResult:
    from promptclimb.evaluators.classify.class_prompts import ClassPrompts
    from promptclimb.evaluators.classify.registry import load_any_dataset, load_backbone
    from promptclimb.evaluators.classify.scorer import ClipScorer, default_cache_dir

    summary = summarize(run_dir)
    if not summary["leaderboard"]:
        raise ExportError(f"run {run_dir.name} has no scored template yet: nothing to export")
    config = load_config(run_dir)
    final = summary["final"]
    board = summary["leaderboard"]
    selected = final["template"] if final else board[0]["template"]
    ensemble = (
        final["ensemble_templates"] if final else [r["template"] for r in board[: config.ensemble_size]]
    )
    out = out_dir or run_dir / "export"
    if out_dir is None and out.is_symlink():  # the run's own folder: a planted link never leads out of it
        raise ExportError(f"{out} is a symbolic link: remove it, or give --out DIR")
    # Text runs and any scorer spec (text:, openai:, siglip:, plugins), not only CLIP on image folders.
    dataset = load_any_dataset(
        config.data, **config.draw(), text_column=config.text_column, label_column=config.label_column
    )  # type: ignore[arg-type]
    model = clip or config.scorer or config.clip
    # what the run itself loaded (--clip means CLIP through transformers, never an openai: checkpoint file)
    spec = clip or config.scorer_spec()
    backbone = load_backbone(spec, device=device or config.device, precision=precision or config.precision)
    scorer = ClipScorer(backbone, dataset, config.cache_dir or default_cache_dir())
    classes = None
    if final and final.get("selected") == "classes" and final.get("class_templates"):
        # The reported classifier is class-specific: the head holds its class vectors, and the prompts go
        # to a file that `score --class-prompts` and `transfer` read.
        classes = ClassPrompts(final["class_templates"], final.get("class_prompts") or {})
        head = scorer.class_embeddings(classes.templates, classes.by_index(dataset.classnames))
    else:
        head = scorer.ensemble_text_features(ensemble)

    out.mkdir(parents=True, exist_ok=True)
    head_path = out / head_name(model, config.scorer or config.clip)
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "classnames": json.dumps(dataset.classnames, ensure_ascii=False),
        "templates": json.dumps(classes.templates if classes else ensemble, ensure_ascii=False),
        "class_prompts": "class_prompts.json" if classes else "",
        "clip": model,
        "run_id": run_dir.name,
        "dataset": dataset.name,
        "normalized": "true",
        "random_weights": str(bool(backbone.random_weights)).lower(),
    }
    tensors = {TENSOR: np.ascontiguousarray(head)}
    write_with(head_path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))

    by_template = {r["template"]: r for r in board}
    record = {
        "run_id": run_dir.name,
        "clip": config.scorer or config.clip,
        "dataset": dataset.name,
        "classnames": dataset.classnames,
        "selected": {
            "template": selected,
            "train_acc": by_template.get(selected, {}).get("train_acc"),
            "test_acc": final["test_acc"] if final else None,
        },
        "ensemble": {
            "templates": ensemble,
            "train_acc": [by_template.get(t, {}).get("train_acc") for t in ensemble],
            "test_acc": final["ensemble_test_acc"] if final else None,
        },
        "baselines": final["baselines"] if final else {},
        "class_specific": None
        if classes is None
        else {
            "file": CLASS_PROMPTS_FILE,
            "templates": classes.templates,
            "texts": sum(len(v) for v in classes.classes.values()),
            "selection_acc": final.get("classes_selection_acc"),
            "test_acc": final.get("classes_test_acc"),
        },
        "heads": sorted(p.name for p in out.glob("classifier*.safetensors")),
    }
    if classes is not None:
        write_text(out / CLASS_PROMPTS_FILE, classes.to_json())
    templates_path = out / "templates.json"
    write_text(templates_path, json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    return ExportResult(
        clip=model,
        classnames=dataset.classnames,
        templates=ensemble,
        dim=int(head.shape[1]),
        templates_path=templates_path,
        head_path=head_path,
        random_weights=bool(backbone.random_weights),
        classifier=class_summary(classes),
    )


def class_summary(classes: Any) -> str:
    """What a class-specific head holds, in words; "" for a template head."""
    if classes is None:
        return ""
    texts = sum(len(v) for v in classes.classes.values())
    return f"class-specific: {len(classes.templates)} template(s) + {texts} class texts"


def load_head(path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    """The class embeddings [classes, dim] and the decoded metadata (classnames, templates as lists)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as handle:
        metadata = dict(handle.metadata() or {})
    if metadata.get("format") != FORMAT:
        raise ExportError(f"{path} is not a promptclimb classifier head")
    tensors = load_file(str(path))
    meta: dict[str, Any] = dict(metadata)
    meta["classnames"] = json.loads(metadata["classnames"])
    meta["templates"] = json.loads(metadata["templates"])
    return tensors[TENSOR], meta
